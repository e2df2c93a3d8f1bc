//! The same source gives the same output: scans of an unchanged lake whose
//! files drift in schema write the same batches, byte for byte, whatever the
//! number of schema-reading threads and however the run is cut into work
//! units; ties between members are broken by the documented rule
//! (docs/resource-sets.md); an incremental run of an unchanged source writes
//! what the full run before it wrote. (The same across nodes: tests/distributed.rs.)

#[path = "support/mod.rs"]
mod support;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::{Run, scan};

/// A Parquet file with the given columns.
fn write_parquet(path: &Path, columns: &[(String, DataType)]) {
    let schema = Arc::new(Schema::new(columns.iter().map(|(n, t)| Field::new(n, t.clone(), true)).collect::<Vec<_>>()));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|(_, t)| match t {
            DataType::Utf8 => Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            DataType::Int64 => Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            _ => Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
    writer.write(&RecordBatch::try_new(schema, arrays).unwrap()).unwrap();
    writer.close().unwrap();
}

fn set_modified(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)).unwrap();
}

/// `files` part files of one partitioned table whose schemas drift (almost
/// every file its own), modified at 40 distinct times (so that many share
/// the newest), plus a few loose files.
fn drifting_lake(root: &Path, files: usize) {
    for i in 0..files {
        let mut columns = vec![("id".to_string(), DataType::Int32)];
        for k in 0..(i % 11) {
            let t = if (i + k) % 3 == 0 { DataType::Int64 } else { DataType::Utf8 };
            columns.push((format!("c{}", (i * 7 + k * 3) % 37), t));
        }
        columns.dedup_by(|a, b| a.0 == b.0);
        let path = root.join(format!("events/day=2024-01-{:02}/part-{i:05}.parquet", 1 + i % 28));
        write_parquet(&path, &columns);
        set_modified(&path, (i % 40) as u64);
    }
    for name in ["ref/regions.parquet", "ref/products.parquet", "top.parquet"] {
        let path = root.join(name);
        write_parquet(&path, &[("code".into(), DataType::Int32), ("label".into(), DataType::Utf8)]);
        set_modified(&path, 5);
    }
}

/// What a run wrote that does not name the run itself: its batches (by
/// checksum, in order), its typedefs, and its report without ids and times.
fn content(out: &Path, report: &Value) -> (Vec<(String, String)>, Value) {
    let run = Run::read(&out.join("runs").join(report["runId"].as_str().unwrap()));
    let files = run.manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] != "report.json")
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string()))
        .collect();
    let mut report = report.clone();
    for field in [
        "runId",
        "startedAt",
        "finishedAt",
        "durationMs",
        "filesPerSecond",
        "location",
        "previousRunId",
        "modifiedSince",
    ] {
        report.as_object_mut().unwrap().remove(field);
    }
    (files, report)
}

#[test]
fn a_drifting_lake_gives_the_same_output_whatever_the_threads_and_units() {
    let lake = tempfile::tempdir().unwrap();
    drifting_lake(lake.path(), 400);
    let mut first: Option<(Vec<(String, String)>, Value)> = None;
    for round in 0..3 {
        for (workers, unit_files) in [("1", "0"), ("2", "37"), ("8", "150")] {
            let out = tempfile::tempdir().unwrap();
            let (output, report) = scan(lake.path(), out.path(), &["--workers", workers, "--unit-files", unit_files]);
            assert!(output.status.success(), "{report}");
            assert_eq!(report["counts"]["files"], 403);
            let sets = report["resourceSets"].as_array().unwrap();
            assert_eq!(sets.len(), 1, "{report:#}");
            assert!(sets[0]["schemaCount"].as_u64().unwrap() > 100, "the files drift: {report:#}");
            let got = content(out.path(), &report);
            match &first {
                None => first = Some(got),
                Some(expected) => {
                    assert_eq!(got.1, expected.1, "round {round}, {workers} workers, units of {unit_files}: report");
                    assert_eq!(got.0, expected.0, "round {round}, {workers} workers, units of {unit_files}: batches");
                }
            }
        }
    }
}

/// The set of `t/part-*.parquet` and the paths of its schema's columns.
fn set_columns(out: &Path) -> Vec<String> {
    let run = Run::latest(out);
    let set = run.entities().find(|e| e["typeName"] == "fs_resource_set").expect("one set");
    let qn = set["attributes"]["qualifiedName"].as_str().unwrap();
    let mut columns: Vec<String> = run.columns_of(qn).unwrap().into_iter().map(|(path, _)| path).collect();
    columns.sort();
    columns
}

#[test]
fn members_modified_at_the_same_time_are_decided_by_path() {
    let lake = tempfile::tempdir().unwrap();
    let a: &[(String, DataType)] = &[("id".into(), DataType::Int32), ("from_a".into(), DataType::Utf8)];
    let b: &[(String, DataType)] = &[("id".into(), DataType::Int32), ("from_b".into(), DataType::Utf8)];
    let old: &[(String, DataType)] = &[("id".into(), DataType::Int32), ("old".into(), DataType::Utf8)];
    let place = |name: &str, columns: &[(String, DataType)], seconds: u64| {
        let path = lake.path().join("t").join(name);
        write_parquet(&path, columns);
        set_modified(&path, seconds);
    };
    place("part-0001.parquet", a, 100);
    place("part-0002.parquet", b, 100);
    place("part-0003.parquet", old, 50);
    let out = tempfile::tempdir().unwrap();
    assert!(scan(lake.path(), out.path(), &[]).0.status.success());
    assert_eq!(set_columns(out.path()), ["from_b", "id"], "of two newest members, the path that sorts last");

    // The same times, the schemas swapped: the rule follows the path, not the content or the order read.
    place("part-0001.parquet", b, 100);
    place("part-0002.parquet", a, 100);
    let out = tempfile::tempdir().unwrap();
    assert!(scan(lake.path(), out.path(), &["--workers", "1"]).0.status.success());
    assert_eq!(set_columns(out.path()), ["from_a", "id"]);
}

#[test]
fn an_incremental_run_of_an_unchanged_source_writes_what_the_full_run_wrote() {
    let lake = tempfile::tempdir().unwrap();
    drifting_lake(lake.path(), 120);
    std::fs::write(lake.path().join("broken.parquet"), b"not parquet at all").unwrap();
    let out = tempfile::tempdir().unwrap();
    let (output, full) = scan(lake.path(), out.path(), &["--unit-files", "50"]);
    assert!(output.status.success(), "{full}");
    assert_eq!(full["counts"]["itemErrors"], 1);
    let (output, incremental) = scan(lake.path(), out.path(), &["--incremental", "--unit-files", "50"]);
    assert!(output.status.success(), "{incremental}");
    assert_eq!(incremental["counts"]["schemas"], 0, "nothing changed, nothing read: {incremental}");
    assert_eq!(incremental["counts"]["reads"], 1, "only the file that failed last time is read again");
    assert_eq!(incremental["counts"]["deleted"], 0);
    let (full_files, _) = content(out.path(), &full);
    let (incremental_files, _) = content(out.path(), &incremental);
    let batches = |files: &[(String, String)]| -> Vec<(String, String)> {
        files.iter().filter(|(p, _)| p.starts_with("batches/")).cloned().collect()
    };
    assert_eq!(batches(&incremental_files), batches(&full_files), "the same entities, resource set included");
}
