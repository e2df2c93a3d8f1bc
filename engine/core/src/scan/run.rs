//! The run: its inputs, its outcome, and the code that drives it in one
//! process (the command line): plan units, scan them one after the other,
//! commit. The service spreads the same units over nodes instead.

use super::commit::{CommitPlan, commit};
use super::resource_sets::{GroupingConfig, RuleError, SetSummary};
use super::state::{SourceState, StateError};
use super::unit::{UnitCollector, UnitCounts, UnitOutcome, scan_planned_unit};
use super::units::{PlanError, PlannedUnit, UnitSize, UnitSpec, plan_listed};
use crate::host::{Limits, Plugin, Registry, Runtime};
use crate::report::ItemError;
use crate::sink::{Sink, SinkError};
use crate::sources::Grants;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Incremental runs: files whose schema failed last time, read again
    /// although unchanged (filled from the state by [`run_scan`]).
    pub retry: Option<Arc<HashSet<String>>>,
    /// Files per work unit of a storage source, at first: a run in one
    /// process lets them grow ([`UnitSize::growing`]); 0: the whole source is one unit.
    pub unit_files: u64,
    /// Where unit results wait for the commit (default: the system's temporary folder).
    pub work_dir: Option<PathBuf>,
    /// Classification of sampled values (scan level L3); `None`: metadata only, nothing sampled.
    pub classifier: Option<Arc<crate::classify::Classifier>>,
    /// Benchmarks only: parse Parquet natively, outside the sandbox.
    #[cfg(feature = "bench-native")]
    pub native_parquet: bool,
}

/// Files per work unit, by default: large enough that a unit's fixed costs
/// (a connector instance, a listing, a result) are small beside its files,
/// small enough that a run of thousands of files spreads over several nodes.
pub const DEFAULT_UNIT_FILES: u64 = 2000;

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
            retry: None,
            unit_files: DEFAULT_UNIT_FILES,
            work_dir: None,
            classifier: None,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    pub root: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginUse {
    pub name: String,
    pub version: String,
    pub origin: String,
    pub sha256: String,
}

impl PluginUse {
    pub fn of(plugin: &Plugin) -> PluginUse {
        PluginUse {
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            origin: plugin.origin.to_string(),
            sha256: plugin.sha256.clone(),
        }
    }
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
    /// Entities written for relations: foreign keys and lineage processes.
    pub relationships: u64,
    /// Relation targets left out because neither this run nor the source's
    /// last one wrote them (a table of an excluded schema, another source's asset).
    pub unresolved_relations: u64,
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
    /// Classified columns written, per classification (scans that classify).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub classifications: std::collections::BTreeMap<String, u64>,
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
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A unit's result could not be written or read.
    #[error("{0}")]
    Unit(String),
}

/// RFC 3339 with exactly three fractional digits, so that the strings sort as the times do.
pub(super) fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
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

/// Waits for a unit's result to be written; its error, if writing failed.
fn written(writing: Option<std::thread::ScopedJoinHandle<'_, Result<(), ScanError>>>) -> Result<(), ScanError> {
    writing.map_or(Ok(()), |w| {
        w.join().unwrap_or_else(|_| Err(ScanError::Unit("writing a unit's result failed (panicked)".into())))
    })
}

/// A folder removed with everything in it when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unit result that says only that the run could not go on (its plan failed).
pub fn failed_unit(path: &Path, error: String) -> Result<(), ScanError> {
    empty_unit(path, UnitOutcome::Failed(error))
}

/// A unit result that says only that the unit was canceled before it ran.
pub fn canceled_unit(path: &Path) -> Result<(), ScanError> {
    empty_unit(path, UnitOutcome::Canceled)
}

fn empty_unit(path: &Path, outcome: UnitOutcome) -> Result<(), ScanError> {
    let file = std::fs::File::create(path).map_err(|e| ScanError::Unit(format!("{}: {e}", path.display())))?;
    UnitCollector::new(0, None)
        .write(outcome, UnitCounts::default(), Vec::new(), std::io::BufWriter::new(file))
        .map_err(|e| ScanError::Unit(format!("{}: {e}", path.display())))?;
    Ok(())
}

/// Runs one scan to the end in this process and commits its output: the
/// source is planned into units (a thread lists ahead while units are
/// scanned), each unit is scanned in turn, and the commit merges them.
/// Per-item problems end up in the report; the run fails only when the
/// source itself cannot be scanned (the source connector failed, its storage
/// went away, or the sink could not be written), and even then the output
/// written so far is committed with a `failed` manifest, so that nothing is
/// half-visible.
pub fn run_scan(
    runtime: &Runtime,
    registry: &Arc<Registry>,
    source: &ScanSource,
    options: &ScanOptions,
    sink: &dyn Sink,
) -> Result<RunReport, ScanError> {
    registry.source(&source.source_type).ok_or_else(|| ScanError::NoConnector(source.source_type.clone()))?;
    super::resource_sets::Grouper::new(&options.grouping)?;
    let started_at_ms = jiff::Timestamp::now().as_millisecond();
    let started_at = now();
    let run_id = new_run_id();
    let work = WorkDir(options.work_dir.clone().unwrap_or_else(std::env::temp_dir).join(format!("surveyor-{run_id}")));
    std::fs::create_dir_all(&work.0).map_err(|e| ScanError::Unit(format!("{}: {e}", work.0.display())))?;
    let previous = options.state.as_ref().and_then(SourceState::file);
    let mut options = options.clone();
    options.work_dir = Some(work.0.clone());
    if source.modified_since.is_some()
        && let Some(previous) = &previous
    {
        let failed = super::state::failed_paths(previous).map_err(|e| ScanError::Unit(e.to_string()))?;
        options.retry = Some(Arc::new(failed.into_iter().collect()));
    }

    let mut results: Vec<PathBuf> = Vec::new();
    std::thread::scope(|scope| -> Result<(), ScanError> {
        // One unit planned ahead: each may hold its slice's listing.
        let (tx, rx) = crossbeam_channel::bounded::<Result<PlannedUnit, PlanError>>(1);
        match source.grants.storage.clone().filter(|_| options.unit_files > 0) {
            None => {
                let _ = tx.send(Ok(PlannedUnit { spec: UnitSpec::whole(), listing: None }));
                drop(tx);
            }
            Some(storage) => {
                let (scope_paths, cancel) = (&source.scope, options.cancel.clone());
                let target = UnitSize::growing(options.unit_files);
                std::thread::Builder::new()
                    .name("surveyor-plan".into())
                    .spawn_scoped(scope, move || {
                        let sent = plan_listed(&*storage, scope_paths, target, &mut |unit| {
                            if cancel.load(Ordering::Relaxed) || tx.send(Ok(unit)).is_err() {
                                return Err(PlanError::Stopped("the run stopped".into()));
                            }
                            Ok(())
                        });
                        if let Err(e) = sent
                            && !matches!(e, PlanError::Stopped(_))
                        {
                            let _ = tx.send(Err(e));
                        }
                    })
                    .expect("spawn planner");
            }
        }
        // A unit's result is written on a thread of its own while the next
        // unit starts: written on this thread, the 5-10 ms it takes left the
        // other core idle at every unit's end (BENCHMARKS.md §1).
        let mut writing = None;
        for next in rx {
            let path = work.0.join(format!("unit-{:06}.svu", results.len()));
            results.push(path.clone());
            let unit = match next {
                Ok(unit) => unit,
                Err(e) => {
                    failed_unit(&path, e.to_string())?;
                    break;
                }
            };
            let scanned = scan_planned_unit(runtime, registry, source, &unit.spec, unit.listing, &options)?;
            let completed = scanned.outcome == UnitOutcome::Completed;
            // At most one result waits to be written (units bound memory).
            written(writing.take())?;
            let file = std::fs::File::create(&path).map_err(|e| ScanError::Unit(format!("{}: {e}", path.display())))?;
            let write = move || scanned.write(std::io::BufWriter::new(file)).map(drop);
            writing = Some(
                std::thread::Builder::new()
                    .name("surveyor-unit-out".into())
                    .spawn_scoped(scope, write)
                    .expect("a thread starts"),
            );
            if !completed {
                options.cancel.store(true, Ordering::Relaxed);
                break;
            }
        }
        written(writing)
    })?;

    let plan = CommitPlan {
        run_id,
        source: SourceSummary {
            name: source.name.clone(),
            source_type: source.source_type.clone(),
            root: source.grants.root_uri.clone(),
        },
        started_at,
        started_at_ms,
        modified_since: source.modified_since,
        whole_source: source.scope.is_empty(),
        grouping: options.grouping.clone(),
        batch_entities: options.batch_entities,
        max_reported_errors: options.max_reported_errors,
        write_incomplete: true,
        keep_state: options.state.is_some(),
        classification: options.classifier.as_ref().map(|c| c.fingerprint(registry)),
    };
    let staged = work.0.join("state.svs");
    let committed = commit(&plan, &results, previous.as_deref(), &staged, sink, &mut |_| {})?;
    // Remembered only once the output is committed: a run that never became
    // visible must not move the next incremental run's starting point.
    if committed.state_written
        && let Some(state) = &options.state
    {
        let saved = state.staging().and_then(|dest| {
            // Moved when the work folder is on the same file system (the
            // sink's sync has already put it on disk), copied otherwise.
            std::fs::rename(&staged, &dest)
                .or_else(|_| std::fs::copy(&staged, &dest).map(drop))
                .map_err(|e| StateError::io(&dest, e))?;
            state.replace(&dest)
        });
        if let Err(e) = saved {
            tracing::warn!(error = %e, "the run is committed but the source's state could not be saved");
        }
    }
    Ok(committed.report)
}
