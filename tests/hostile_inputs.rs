//! Hostile inputs, each with a clear per-item error while the rest of the
//! scan completes: a garbage footer, a file that cannot be read (permissions),
//! a file that vanishes during the scan, a 1,500-column file, and names in
//! non-Latin scripts.

#[path = "support/mod.rs"]
mod support;

use arrow_array::{ArrayRef, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use std::path::Path;
use std::sync::Arc;
use support::{Run, root_uri, scan, stderr};
use surveyor_engine::host::bindings::storage::ObjectMeta;
use surveyor_engine::host::{Registry, Runtime, RuntimeOptions};
use surveyor_engine::scan::{ScanOptions, ScanSource, run_scan};
use surveyor_engine::sink::LocalFolderSink;
use surveyor_engine::sources::Grants;
use surveyor_engine::storage::{Listing, LocalStorage, Storage, StorageError};

fn write_parquet(path: &Path, columns: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let schema =
        Arc::new(Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Int32, true)).collect::<Vec<_>>()));
    let arrays: Vec<ArrayRef> = columns.iter().map(|_| Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn a_garbage_footer_is_an_error_on_that_file() {
    let lake = tempfile::tempdir().unwrap();
    write_parquet(&lake.path().join("good.parquet"), &["a", "b"]);
    let mut bytes = std::fs::read(lake.path().join("good.parquet")).unwrap();
    let n = bytes.len();
    let footer = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    bytes[n - 8 - footer..n - 8].fill(0x5a);
    std::fs::write(lake.path().join("garbage-footer.parquet"), bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let errors = report["itemErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["item"], "garbage-footer.parquet");
    assert!(errors[0]["message"].as_str().unwrap().starts_with("corrupt footer"), "{}", errors[0]["message"]);
    assert_eq!(report["counts"]["schemas"], 1);
}

#[test]
fn fifteen_hundred_columns_and_non_latin_names_come_through_intact() {
    let lake = tempfile::tempdir().unwrap();
    let wide: Vec<String> = (0..1500).map(|i| format!("column_{i:04}")).collect();
    write_parquet(&lake.path().join("wide.parquet"), &wide.iter().map(String::as_str).collect::<Vec<_>>());
    let names = ["顧客番号", "氏名", "العمر", "città", "😀_emoji"];
    write_parquet(&lake.path().join("データ/売上_東京.parquet"), &names);
    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["status"], "succeeded");
    let run = Run::latest(out.path());
    let root = root_uri(lake.path());
    let wide_cols = run.columns_of(&format!("{root}/wide.parquet")).unwrap();
    assert_eq!(wide_cols.len(), 1500);
    assert!(wide_cols.contains(&("column_1499".to_string(), "int32".to_string())));
    let qn = format!("{root}/データ/売上_東京.parquet");
    let cols: Vec<String> = run.columns_of(&qn).unwrap_or_else(|| panic!("no {qn}")).into_iter().map(|c| c.0).collect();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(cols, expected);
    assert_eq!(run.by_name()[&qn]["attributes"]["name"], "売上_東京.parquet");
}

#[test]
fn an_unreadable_file_is_a_permission_error_and_the_rest_is_scanned() {
    use std::os::unix::fs::PermissionsExt;
    let lake = tempfile::tempdir().unwrap();
    write_parquet(&lake.path().join("ok.parquet"), &["a"]);
    write_parquet(&lake.path().join("locked.parquet"), &["a"]);
    std::fs::set_permissions(lake.path().join("locked.parquet"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cmd = support::surveyor();
    if rustix::process::geteuid().is_root() {
        // root reads anything: run the scan as an unprivileged user instead.
        for dir in [lake.path(), out.path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_surveyor")]);
        cmd.env("SURVEYOR_PLUGINS_DIR", "/nonexistent").arg("--no-cache");
    }
    let output = cmd
        .arg("scan")
        .arg(lake.path())
        .arg("--out")
        .arg(out.path())
        .args(["--json", "--no-progress"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let errors = report["itemErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["item"], "locked.parquet");
    assert_eq!(errors[0]["kind"], "permission-denied");
    assert_eq!(report["counts"]["schemas"], 1);
    assert_eq!(report["counts"]["files"], 2, "the locked file is still catalogued");
}

/// A real local folder whose listing deletes one file right after listing
/// it, so that it is gone when its footer is read.
struct Vanishing {
    inner: LocalStorage,
    root: std::path::PathBuf,
    victim: &'static str,
}

impl Storage for Vanishing {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let (root, victim) = (self.root.clone(), self.victim);
        let listing = self.inner.list(prefix, recursive)?;
        Ok(Box::new(listing.inspect(move |entry: &Result<ObjectMeta, StorageError>| {
            if let Ok(meta) = entry
                && meta.path == victim
            {
                std::fs::remove_file(root.join(victim)).unwrap();
            }
        })))
    }
    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        self.inner.stat(path)
    }
    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read_range(path, offset, length)
    }
}

#[test]
fn a_file_that_vanishes_during_the_scan_is_reported_and_not_catalogued() {
    let lake = tempfile::tempdir().unwrap();
    for name in ["a.parquet", "b.parquet", "c.parquet"] {
        write_parquet(&lake.path().join(name), &["x"]);
    }
    let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(support::cache_dir()) }).unwrap();
    let registry = Arc::new(Registry::load(&runtime, None));
    let storage = Vanishing {
        inner: LocalStorage::open(lake.path()).unwrap(),
        root: lake.path().to_path_buf(),
        victim: "b.parquet",
    };
    let source = ScanSource {
        name: "t".into(),
        source_type: "local-folder".into(),
        config: serde_json::json!({}),
        grants: Grants::storage(Arc::new(storage), "file://t/lake"),
        scope: vec![],
        modified_since: None,
    };
    let out = tempfile::tempdir().unwrap();
    // One unit, so that the file vanishes between the listing it is found in and its read
    // (a planned run lists twice: the planner's listing would make it vanish before the scan).
    let options = ScanOptions { unit_files: 0, ..ScanOptions::default() };
    let report = run_scan(&runtime, &registry, &source, &options, &LocalFolderSink::new(out.path())).unwrap();
    assert_eq!(report.counts.schemas, 2);
    assert_eq!(report.item_errors.len(), 1);
    assert_eq!(report.item_errors[0].item, "b.parquet");
    assert_eq!(report.item_errors[0].kind, "not-found");
    assert!(report.item_errors[0].message.contains("vanished"));
    let run = Run::latest(out.path());
    assert!(run.by_name().contains_key("file://t/lake/a.parquet"));
    assert!(!run.by_name().contains_key("file://t/lake/b.parquet"), "a file that is gone is not catalogued");
}
