//! Hot-loaded plugins: what is in the plugins folder when a run starts is
//! what the run uses, without a restart; bad files are refused by name and
//! change nothing else.

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use surveyor_engine::host::{Origin, PluginCatalog, Registry, Runtime, RuntimeOptions};
use surveyor_engine::scan::{RunReport, ScanOptions, ScanSource, run_scan};
use surveyor_engine::sink::LocalFolderSink;
use surveyor_engine::sources::Grants;
use surveyor_engine::storage::LocalStorage;

fn built(name: &str) -> PathBuf {
    Path::new(surveyor_engine::BUILD_OUT_DIR).join(format!("{name}.wasm"))
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions { cache_dir: Some(support::cache_dir()) }).unwrap()
}

fn scan(runtime: &Runtime, registry: &Arc<Registry>, dir: &Path, out: &Path) -> RunReport {
    let source = ScanSource {
        name: "t".into(),
        source_type: "local-folder".into(),
        config: serde_json::json!({}),
        grants: Grants::storage(Arc::new(LocalStorage::open(dir).unwrap()), "file://t/lake"),
        scope: vec![],
        modified_since: None,
    };
    run_scan(runtime, registry, &source, &ScanOptions::default(), &LocalFolderSink::new(out)).unwrap()
}

#[test]
fn adding_replacing_and_removing_a_plugin_takes_effect_for_the_next_run() {
    let runtime = runtime();
    let folder = tempfile::tempdir().unwrap();
    let catalog = PluginCatalog::new(Some(folder.path().to_path_buf()));
    let first = catalog.current(&runtime);
    assert!(first.get("psv").is_none());
    assert!(Arc::ptr_eq(&first, &catalog.current(&runtime)), "nothing changed: the same registry");

    let lake = tempfile::tempdir().unwrap();
    std::fs::write(lake.path().join("people.psv"), "id|name\n1|Ada\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    assert_eq!(scan(&runtime, &first, lake.path(), out.path()).counts.schemas, 0);

    std::fs::copy(built("psv-connector"), folder.path().join("psv.wasm")).unwrap();
    let added = catalog.current(&runtime);
    assert_eq!(added.get("psv").unwrap().origin, Origin::Folder(folder.path().join("psv.wasm")));
    assert_eq!(scan(&runtime, &added, lake.path(), out.path()).counts.schemas, 1, "the next run uses it");
    assert!(first.get("psv").is_none(), "a run that started before keeps its plugins");

    // Replace the file's content with another plugin.
    std::fs::copy(built("hostile-format"), folder.path().join("psv.wasm")).unwrap();
    let replaced = catalog.current(&runtime);
    assert!(replaced.get("psv").is_none());
    assert!(replaced.get("hostile-format").is_some());

    std::fs::remove_file(folder.path().join("psv.wasm")).unwrap();
    let removed = catalog.current(&runtime);
    assert!(removed.get("hostile-format").is_none());
    assert!(removed.get("parquet").is_some(), "built-ins stay");
}

#[test]
fn a_higher_version_in_the_folder_replaces_the_built_in_one() {
    let runtime = runtime();
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(built("parquet-next"), folder.path().join("parquet-next.wasm")).unwrap();
    let registry = Arc::new(Registry::load(&runtime, Some(folder.path())));
    let parquet = registry.get("parquet").unwrap();
    assert_eq!(parquet.info.version, "9.9.9");
    assert!(matches!(parquet.origin, Origin::Folder(_)));
    assert!(registry.rejected().is_empty(), "{:?}", registry.rejected());

    let lake = tempfile::tempdir().unwrap();
    surveyor_lakegen::write_lake(lake.path(), &surveyor_lakegen::LakeSpec { files: 3, ..Default::default() }).unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = scan(&runtime, &registry, lake.path(), out.path());
    assert_eq!(report.counts.schemas, 3);
    let used = report.plugins.iter().find(|p| p.name == "parquet").unwrap();
    assert_eq!(used.version, "9.9.9");
    let run = support::Run::latest(out.path());
    assert!(run.entities().any(|e| e["customAttributes"]["readBy"] == "parquet-next"));
}

#[test]
fn broken_incompatible_and_duplicate_files_are_refused_by_name_and_nothing_else_changes() {
    let runtime = runtime();
    let folder = tempfile::tempdir().unwrap();
    let f = |name: &str| folder.path().join(name);
    std::fs::copy(built("psv-connector"), f("a-psv.wasm")).unwrap();
    std::fs::copy(built("psv-connector"), f("b-psv-copy.wasm")).unwrap();
    std::fs::copy(built("parquet"), f("c-old-parquet.wasm")).unwrap();
    std::fs::copy(built("incompatible"), f("d-future.wasm")).unwrap();
    std::fs::write(f("e-garbage.wasm"), b"this is not wasm at all").unwrap();
    std::fs::write(f("f-core-module.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::copy(built("hostile-net"), f("g-net.wasm")).unwrap();

    let registry = Registry::load(&runtime, Some(folder.path()));
    let reason = |name: &str| {
        registry
            .rejected()
            .iter()
            .find(|r| r.file == f(name))
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("{name} not rejected: {:?}", registry.rejected()))
    };
    assert!(reason("b-psv-copy.wasm").contains("duplicate"), "{}", reason("b-psv-copy.wasm"));
    assert!(reason("b-psv-copy.wasm").contains("a-psv.wasm"), "names the file it duplicates");
    assert!(reason("c-old-parquet.wasm").contains("already loaded from built-in"), "{}", reason("c-old-parquet.wasm"));
    assert!(reason("d-future.wasm").contains("surveyor:connector@0.2.0"), "{}", reason("d-future.wasm"));
    assert!(reason("e-garbage.wasm").contains("not a valid WebAssembly component"), "{}", reason("e-garbage.wasm"));
    assert!(
        reason("f-core-module.wasm").contains("not a valid WebAssembly component"),
        "{}",
        reason("f-core-module.wasm")
    );
    assert!(reason("g-net.wasm").contains("sockets"), "{}", reason("g-net.wasm"));
    assert_eq!(registry.rejected().len(), 6);

    assert_eq!(registry.get("psv").unwrap().origin, Origin::Folder(f("a-psv.wasm")));
    assert_eq!(registry.get("parquet").unwrap().origin, Origin::BuiltIn);
    let builtin = registry.plugins().filter(|p| p.origin == Origin::BuiltIn).count();
    assert!(builtin >= 6, "local-folder, parquet, csv, json, azure-blob, adls-gen2 at least: {builtin}");
    assert_eq!(registry.plugins().count(), builtin + 1, "the built-ins and psv, nothing else");
}
