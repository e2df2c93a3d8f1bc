//! The run: its inputs, its outcome, and the code that drives it.

use super::pipeline::{self, Counters};
use super::resource_sets::{Grouper, GroupingConfig, RuleError, SetSummary};
use super::state::{self, LastRun, SourceState, StateError};
use crate::host::{Limits, PluginError, Registry, Runtime};
use crate::report::ItemError;
use crate::sink::atlas::TYPEDEFS;
use crate::sink::{RunOutput, Sink, SinkError};
use crate::sources::Grants;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What to scan.
pub struct ScanSource {
    /// The source's name, for reports.
    pub name: String,
    /// Source type (`local-folder`, ...): selects the source connector.
    pub source_type: String,
    /// The connector's configuration.
    pub config: serde_json::Value,
    /// The capabilities granted to the source's connector, and its root URI.
    pub grants: Grants,
    /// Paths to scan (relative to the root); empty for everything.
    pub scope: Vec<String>,
    /// Incremental runs: only files modified after this (ms since the epoch) get a schema read.
    pub modified_since: Option<i64>,
}

/// How to scan.
#[derive(Clone)]
pub struct ScanOptions {
    /// Threads reading schemas; by default one per CPU.
    pub schema_workers: usize,
    /// Bytes read speculatively from the end of each file and handed to the
    /// format connector with the call (a Parquet footer usually fits).
    pub tail_bytes: u64,
    /// Atlas entities per batch file.
    pub batch_entities: usize,
    pub source_limits: Limits,
    pub format_limits: Limits,
    /// Set to stop the run; it ends as `canceled`.
    pub cancel: Arc<AtomicBool>,
    /// Live counters (for a progress bar).
    pub counters: Arc<RunCounters>,
    /// Per-item errors (and resource sets) listed in the report (all are counted).
    pub max_reported_errors: usize,
    /// Resource-set grouping: built-in heuristics and user rules.
    pub grouping: GroupingConfig,
    /// Where the source's last successful run is remembered: deletions are
    /// reported against it, and a successful run replaces it.
    pub state: Option<SourceState>,
    /// The format connectors (`parquet`, `csv`…) whose files get their schema
    /// read, as a scan rule set's file types; `None`: every known format.
    /// Other files are still catalogued, without a schema.
    pub schema_formats: Option<Vec<String>>,
    /// Benchmarks only: parse Parquet natively, outside the sandbox.
    #[cfg(feature = "bench-native")]
    pub native_parquet: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            schema_workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            tail_bytes: 64 * 1024,
            batch_entities: 1000,
            source_limits: Limits::source(),
            format_limits: Limits::format(),
            cancel: Arc::new(AtomicBool::new(false)),
            counters: Arc::new(RunCounters::default()),
            max_reported_errors: 1000,
            grouping: GroupingConfig::default(),
            state: None,
            schema_formats: None,
            #[cfg(feature = "bench-native")]
            native_parquet: false,
        }
    }
}

pub use super::pipeline::Counters as RunCounters;

/// A run's outcome, as catalog users know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    CompletedWithExceptions,
    Failed,
    Canceled,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::CompletedWithExceptions => "completed_with_exceptions",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    pub root: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginUse {
    pub name: String,
    pub version: String,
    pub origin: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Assets written: folders, files that are not in a resource set, resource sets.
    pub assets: u64,
    /// Files found (members of resource sets included).
    pub files: u64,
    /// Resource sets the files were grouped into.
    pub resource_sets: u64,
    /// Files whose schema was read.
    pub schemas: u64,
    /// Atlas entities written (assets, schemas, columns).
    pub entities: u64,
    pub item_errors: u64,
    /// Bytes read from the source's storage.
    pub bytes_read: u64,
    /// Storage reads made (speculative tails plus connector reads).
    pub reads: u64,
    /// Assets found by the last successful run and not by this one (listed in `deletions.json`).
    pub deleted: u64,
}

/// The report of one run, written as `report.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub run_id: String,
    pub source: SourceSummary,
    pub status: RunStatus,
    /// Why the run failed, when it did.
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub files_per_second: f64,
    /// Incremental runs: schemas were read only of files modified after this time.
    pub modified_since: Option<String>,
    /// The run deletions are reported against.
    pub previous_run_id: Option<String>,
    pub counts: Counts,
    pub plugins: Vec<PluginUse>,
    /// The first per-item errors (all are counted in `counts.itemErrors`).
    pub item_errors: Vec<ItemError>,
    pub item_errors_omitted: u64,
    /// Resource sets, with their partitions and schema variants.
    pub resource_sets: Vec<SetSummary>,
    /// Where the run's output is (set once committed).
    pub location: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("no connector handles sources of type '{0}' (see `surveyor plugins list`)")]
    NoConnector(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    State(#[from] StateError),
}

fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// A new run id: UTC time plus a random suffix, sortable by start time.
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    let ts = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    format!("{ts}-{:06x}", h.finish() & 0xff_ffff)
}

/// Runs one scan to the end and commits its output. Per-item problems end up
/// in the report; the run fails only when the source itself cannot be
/// scanned (the source connector failed, or the sink could not be written),
/// and even then the output written so far is committed with a `failed`
/// manifest, so that nothing is half-visible.
pub fn run_scan(
    runtime: &Runtime,
    registry: &Arc<Registry>,
    source: &ScanSource,
    options: &ScanOptions,
    sink: &dyn Sink,
) -> Result<RunReport, ScanError> {
    let plugin =
        registry.source(&source.source_type).ok_or_else(|| ScanError::NoConnector(source.source_type.clone()))?.clone();
    let grouper = Grouper::new(&options.grouping)?;
    let started = Instant::now();
    let started_at_ms = jiff::Timestamp::now().as_millisecond();
    let started_at = now();
    let (previous_run, previous_inventory) = match &options.state {
        Some(state) => (state.last_run()?, state.inventory()?),
        None => (None, None),
    };
    let run_id = new_run_id();
    let mut output = RunOutput::new(sink.begin(&run_id)?, &run_id);
    output.put("typedefs.json", TYPEDEFS.as_bytes(), None)?;

    let outcome = pipeline::run(runtime, registry, &plugin, source, options, grouper, &mut output);
    let counters: &Counters = &options.counters;

    let (status, error) = match &outcome.source_result {
        _ if outcome.fatal.is_some() => (RunStatus::Failed, outcome.fatal.clone()),
        _ if outcome.sink_error.is_some() => {
            (RunStatus::Failed, outcome.sink_error.as_ref().map(|e| format!("writing the output failed: {e}")))
        }
        Err(PluginError::Canceled { .. }) => (RunStatus::Canceled, Some("canceled".to_string())),
        Err(_) if options.cancel.load(Ordering::Relaxed) => (RunStatus::Canceled, Some("canceled".to_string())),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
        Ok(_) if counters.item_errors.load(Ordering::Relaxed) > 0 => (RunStatus::CompletedWithExceptions, None),
        Ok(_) => (RunStatus::Succeeded, None),
    };
    // Deletions only from a run that saw the whole source.
    let complete =
        matches!(status, RunStatus::Succeeded | RunStatus::CompletedWithExceptions) && source.scope.is_empty();
    let mut inventory = outcome.inventory;
    let mut deleted = 0;
    if complete && let Some(before) = &previous_inventory {
        inventory.sort();
        inventory.dedup();
        let gone = state::deletions(before, &inventory);
        deleted = gone.len() as u64;
        let body = serde_json::json!({
            "previousRunId": previous_run.as_ref().map(|r| &r.run_id),
            "entities": gone.iter().map(|id| serde_json::json!({
                "typeName": id.type_name,
                "uniqueAttributes": {"qualifiedName": id.qualified_name},
            })).collect::<Vec<_>>(),
        });
        output.put("deletions.json", &serde_json::to_vec_pretty(&body).expect("serializes"), None)?;
    }
    let elapsed = started.elapsed();
    let mut counts = counters.snapshot();
    counts.deleted = deleted;
    let mut plugins: Vec<PluginUse> = outcome
        .plugins_used
        .iter()
        .map(|p| PluginUse {
            name: p.info.name.clone(),
            version: p.info.version.clone(),
            origin: p.origin.to_string(),
            sha256: p.sha256.clone(),
        })
        .collect();
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    let item_errors_total = counts.item_errors;
    let mut report = RunReport {
        run_id: run_id.clone(),
        source: SourceSummary {
            name: source.name.clone(),
            source_type: source.source_type.clone(),
            root: source.grants.root_uri.clone(),
        },
        status,
        error,
        started_at,
        finished_at: now(),
        duration_ms: elapsed.as_millis() as u64,
        files_per_second: if elapsed.as_secs_f64() > 0.0 { counts.files as f64 / elapsed.as_secs_f64() } else { 0.0 },
        modified_since: source
            .modified_since
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms + 1).ok())
            .map(|t| t.to_string()),
        previous_run_id: previous_run.map(|r| r.run_id),
        counts,
        plugins,
        item_errors_omitted: item_errors_total.saturating_sub(outcome.item_errors.len() as u64),
        item_errors: outcome.item_errors,
        resource_sets: outcome.resource_sets,
        location: None,
    };
    let report_bytes = serde_json::to_vec_pretty(&report).expect("report serializes");
    output.put("report.json", &report_bytes, None)?;
    let (location, _) = output.commit(report.status.as_str(), report.finished_at.clone())?;
    report.location = Some(location);
    // Remembered only once the output is committed: a run that never became
    // visible must not move the next incremental run's starting point.
    if complete && let Some(state) = &options.state {
        let last = LastRun { run_id: run_id.clone(), started_at_ms, status: report.status.as_str().to_string() };
        if let Err(e) = state.record(&last, &mut inventory) {
            tracing::warn!(error = %e, "the run is committed but the source's state could not be saved");
        }
    }
    Ok(report)
}
