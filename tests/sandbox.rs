//! The sandbox holds: connectors that loop, allocate without bound, crash,
//! emit garbage or floods, or try to open sockets are stopped or refused with
//! a clear error, the rest of the scan goes on, and the host keeps working.
//! The hostile connectors are real components, built from
//! `tests/connectors/` by the engine's build script.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use surveyor_engine::host::{Limits, Registry, Runtime, RuntimeOptions};
use surveyor_engine::scan::{RunReport, RunStatus, ScanOptions, ScanSource, run_scan};
use surveyor_engine::sink::LocalFolderSink;
use surveyor_engine::sources::Grants;
use surveyor_engine::storage::LocalStorage;

fn plugins_with_hostile() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hostile-source", "hostile-format", "hostile-net"] {
        let built = Path::new(surveyor_engine::BUILD_OUT_DIR).join(format!("{name}.wasm"));
        std::fs::copy(&built, dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}

fn setup() -> (Runtime, Arc<Registry>, tempfile::TempDir) {
    let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(support::cache_dir()) }).unwrap();
    let plugins = plugins_with_hostile();
    let registry = Registry::load(&runtime, Some(plugins.path()));
    (runtime, Arc::new(registry), plugins)
}

/// Limits these tests set themselves, rather than the product's defaults (30 s
/// per file, 60 s idle): a looping connector must be stopped in seconds. The
/// time limits are still far above what a well-behaved call takes (well
/// under a second, even on a loaded machine), so they trip on the looping
/// connectors only, whatever the machine's speed; `SURVEYOR_TEST_TIME_SCALE`
/// raises them further.
fn tight() -> ScanOptions {
    let limits = Limits {
        memory_bytes: 64 << 20,
        call_timeout: Some(support::scaled(Duration::from_secs(10))),
        idle_timeout: support::scaled(Duration::from_secs(6)),
    };
    let source = Limits { call_timeout: None, ..limits.clone() };
    ScanOptions { schema_workers: 1, source_limits: source, format_limits: limits, ..ScanOptions::default() }
}

fn scan(
    runtime: &Runtime,
    registry: &Arc<Registry>,
    dir: &Path,
    source_type: &str,
    config: serde_json::Value,
    out: &Path,
) -> RunReport {
    let source = ScanSource {
        name: "test".into(),
        source_type: source_type.into(),
        config,
        grants: Grants::storage(Arc::new(LocalStorage::open(dir).unwrap()), "file://test/lake"),
        scope: vec![],
        modified_since: None,
    };
    run_scan(runtime, registry, &source, &tight(), &LocalFolderSink::new(out)).unwrap()
}

#[test]
fn a_connector_that_wants_sockets_is_refused_at_load_and_nothing_else_changes() {
    let (_runtime, registry, _plugins) = setup();
    let rejected = registry.rejected();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].file.ends_with("hostile-net.wasm"));
    assert!(rejected[0].reason.contains("sockets"), "{}", rejected[0].reason);
    for name in ["hostile-source", "hostile-format", "parquet", "local-folder"] {
        assert!(registry.get(name).is_some(), "{name} loaded");
    }
}

#[test]
fn format_connector_failures_are_per_file_errors_and_later_files_are_still_read() {
    let (runtime, registry, _plugins) = setup();
    let lake = tempfile::tempdir().unwrap();
    let names = [
        "a.hostile",
        "loop.hostile",
        "alloc.hostile",
        "trap.hostile",
        "wide.hostile",
        "unsorted.hostile",
        "fanout.hostile",
        "z.hostile",
    ];
    for name in names {
        std::fs::write(lake.path().join(name), b"data").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let report = scan(&runtime, &registry, lake.path(), "local-folder", serde_json::json!({}), out.path());
    assert_eq!(report.status, RunStatus::CompletedWithExceptions, "{:?}", report.error);
    assert_eq!(report.counts.schemas, 2, "a.hostile and z.hostile, read after the failures");
    let kind =
        |item: &str| report.item_errors.iter().find(|e| e.item == item).map(|e| (e.kind.as_str(), e.message.as_str()));
    let (k, m) = kind("loop.hostile").unwrap();
    assert_eq!(k, "timeout", "{m}");
    let (k, m) = kind("alloc.hostile").unwrap();
    assert_eq!(k, "out-of-memory", "{m}");
    assert!(m.contains("64 MiB"), "{m}");
    let (k, m) = kind("trap.hostile").unwrap();
    assert_eq!(k, "crashed");
    assert!(m.contains("deliberate panic in hostile-format"), "the panic message is reported: {m}");
    let (k, m) = kind("wide.hostile").unwrap();
    assert_eq!(k, "limit-exceeded", "{m}");
    // A packed schema that does not add up, or would unpack far beyond
    // what the connector could have returned.
    let (k, m) = kind("unsorted.hostile").unwrap();
    assert_eq!(k, "malformed-answer", "{m}");
    assert!(m.contains("hostile-format") && m.contains("string 1 ends at"), "{m}");
    let (k, m) = kind("fanout.hostile").unwrap();
    assert_eq!(k, "malformed-answer", "{m}");
    assert!(m.contains("paths unpack to more than 64 MiB"), "{m}");
    assert_eq!(report.item_errors.len(), 6);
    let run = support::Run::latest(out.path());
    assert_eq!(run.columns_of("file://test/lake/z.hostile").unwrap(), [("only".to_string(), "int32".to_string())]);
}

#[test]
fn source_connector_failures_fail_the_run_cleanly_and_the_host_goes_on() {
    let (runtime, registry, _plugins) = setup();
    let empty = tempfile::tempdir().unwrap();
    for (mode, expect) in [
        ("loop", "without calling the host"),
        ("alloc", "memory limit"),
        ("trap", "deliberate panic in hostile-source"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let report = scan(&runtime, &registry, empty.path(), "hostile", serde_json::json!({"mode": mode}), out.path());
        assert_eq!(report.status, RunStatus::Failed, "{mode}");
        let error = report.error.clone().unwrap();
        assert!(error.contains("hostile-source") && error.contains(expect), "{mode}: {error}");
        // What was emitted before the failure is committed, under a manifest that says the run failed.
        assert!(!out.path().join("LATEST").exists(), "LATEST names completed runs only");
        let run = support::Run::read(&out.path().join("runs").join(&report.run_id));
        assert_eq!(run.manifest["status"], "failed");
        assert!(run.by_name().contains_key("file://test/lake/first"), "{mode}");
    }
    let out = tempfile::tempdir().unwrap();
    let report = scan(&runtime, &registry, empty.path(), "hostile", serde_json::json!({"mode": "ok"}), out.path());
    assert_eq!(report.status, RunStatus::Succeeded, "the same host runs the next scan normally");
}

#[test]
fn malformed_assets_are_rejected_one_by_one() {
    let (runtime, registry, _plugins) = setup();
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let report =
        scan(&runtime, &registry, empty.path(), "hostile", serde_json::json!({"mode": "malformed"}), out.path());
    assert_eq!(report.status, RunStatus::CompletedWithExceptions);
    assert_eq!(report.item_errors.len(), 4, "{:?}", report.item_errors);
    assert!(report.item_errors.iter().all(|e| e.kind == "malformed-asset" && e.plugin == "hostile-source"));
    let run = support::Run::latest(out.path());
    assert!(run.by_name().contains_key("file://test/lake/good"));
    assert_eq!(report.counts.assets, 2);
}

#[test]
fn a_flood_of_assets_streams_through_to_the_sink() {
    let (runtime, registry, _plugins) = setup();
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = scan(
        &runtime,
        &registry,
        empty.path(),
        "hostile",
        serde_json::json!({"mode": "flood", "count": 300_000}),
        out.path(),
    );
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.counts.assets, 300_001);
    assert_eq!(report.counts.entities, 300_001);
}
