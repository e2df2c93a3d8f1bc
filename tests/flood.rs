//! A connector that emits a million assets: they stream through to the sink
//! with bounded memory (backpressure), so the host's peak RSS stays flat.
//! Alone in its test binary so that the process's peak RSS is this test's.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use surveyor_engine::host::{Registry, Runtime, RuntimeOptions};
use surveyor_engine::scan::{RunStatus, ScanOptions, ScanSource, run_scan};
use surveyor_engine::sink::LocalFolderSink;
use surveyor_engine::sources::Grants;
use surveyor_engine::storage::LocalStorage;

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn a_million_assets_stream_through_with_flat_memory() {
    let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(support::cache_dir()) }).unwrap();
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(Path::new(surveyor_engine::BUILD_OUT_DIR).join("hostile-source.wasm"), plugins.path().join("h.wasm"))
        .unwrap();
    let registry = Arc::new(Registry::load(&runtime, Some(plugins.path())));
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let source = ScanSource {
        name: "flood".into(),
        source_type: "hostile".into(),
        config: serde_json::json!({"mode": "flood", "count": 1_000_000}),
        grants: Grants::storage(Arc::new(LocalStorage::open(empty.path()).unwrap()), "file://test/flood"),
        scope: vec![],
        modified_since: None,
    };
    let before = peak_rss_mib();
    let report =
        run_scan(&runtime, &registry, &source, &ScanOptions::default(), &LocalFolderSink::new(out.path())).unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.counts.assets, 1_000_001);
    let growth = peak_rss_mib().saturating_sub(before);
    eprintln!("peak RSS grew by {growth} MiB for 1,000,001 assets");
    // The output is ~200 MB of JSON; memory must not follow it.
    assert!(growth < 150, "peak RSS grew by {growth} MiB");
}
