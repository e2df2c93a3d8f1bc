//! Running one work unit, wherever it runs: on a node (`surveyor node
//! run`, results uploaded over the API) or in the service itself (results
//! stored directly). A unit is either a run's plan (unit 0: list the source
//! and post its slices as they are found) or one slice, scanned by
//! [`surveyor_engine::scan::unit::run_unit`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use surveyor_engine::host::{PluginCatalog, Runtime};
use surveyor_engine::scan::resource_sets::GroupingConfig;
use surveyor_engine::scan::unit::{UnitSummary, run_unit};
use surveyor_engine::scan::units::{PlanCursor, PlanError, UnitSpec, plan};
use surveyor_engine::scan::{ScanOptions, ScanSource};
use surveyor_engine::sources::SourceDefinition;

/// Units posted by a plan at a time.
const PLAN_BATCH: usize = 64;

/// What every unit of a run shares, frozen when the run starts (no secrets:
/// stored with the run).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunSettings {
    pub scan: String,
    pub source_name: String,
    pub source_type: String,
    pub scope: Vec<String>,
    /// The scan's grouping rules (else the source's).
    #[schema(value_type = Option<Object>)]
    pub resource_sets: Option<GroupingConfig>,
    pub schema_formats: Option<Vec<String>>,
    /// Classification settings of the scan's rule set (none: metadata only).
    #[serde(default)]
    pub classification: Option<surveyor_engine::classify::ClassificationConfig>,
    /// Its fingerprint with the service's classifier plugins
    /// ([`surveyor_engine::classify::Classifier::fingerprint`]), kept in the
    /// source's state: an incremental run under another one reads every file.
    #[serde(default)]
    pub classification_fingerprint: Option<String>,
    /// Incremental: read schemas only of files modified after this (ms since the epoch)…
    pub modified_since: Option<i64>,
    /// …and of these, whose schema could not be read last time.
    #[serde(default)]
    pub retry: Vec<String>,
    /// Files per unit.
    pub unit_files: u64,
    /// When the run started (ms since the epoch).
    pub started_at_ms: i64,
}

/// A unit handed to whoever runs it: the run's settings, the source's
/// definition with its connection (so only to an authenticated node; use
/// TLS between machines), and what to do.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitJob {
    pub run_id: String,
    pub seq: i64,
    /// The claim: a report carries it back, so that one from a node that
    /// lost the unit is refused.
    pub attempt: i64,
    pub settings: RunSettings,
    #[schema(value_type = Object)]
    pub source: SourceDefinition,
    /// The slice to scan; unset for the plan (unit 0).
    pub spec: Option<UnitSpec>,
    /// The plan: where a plan taken over resumes.
    #[schema(value_type = Option<Object>)]
    pub cursor: Option<PlanCursor>,
    /// The source's root as the plan saw it: every unit names assets from it.
    pub root_uri: Option<String>,
}

/// Where a unit's outcome goes: the service's API, or its database.
pub trait Delivery {
    /// Units a plan found; `done`: the plan is complete. An error stops the plan.
    fn planned(&mut self, units: Vec<UnitSpec>, cursor: &PlanCursor, root_uri: &str, done: bool) -> Result<(), String>;
    /// The plan could not list the source: the run fails with `error`.
    fn plan_failed(&mut self, error: &str) -> Result<(), String>;
    /// A slice's result, in the file `result`.
    fn result(&mut self, result: &Path, summary: &UnitSummary) -> Result<(), String>;
}

/// How the units of this process run.
#[derive(Clone)]
pub struct UnitRunner {
    pub runtime: Arc<Runtime>,
    /// The plugins folder, looked at when a unit starts: a plugin dropped
    /// in (a connector or a classifier) is used by the next unit.
    pub plugins: Arc<PluginCatalog>,
    /// Threads reading schemas per unit (`None`: one per CPU, 16 for remote storage).
    pub schema_workers: Option<usize>,
    /// Where unit results wait for their delivery.
    pub work_dir: PathBuf,
}

impl UnitRunner {
    /// Runs `job` until it is done or `cancel` is set, and delivers its outcome.
    pub fn run(&self, job: &UnitJob, cancel: Arc<AtomicBool>, delivery: &mut dyn Delivery) -> Result<(), String> {
        let def = &job.source;
        let mut grants =
            surveyor_engine::sources::grant(def).map_err(|e| format!("cannot scan '{}': {e}", def.name))?;
        if let Some(root) = &job.root_uri {
            grants.root_uri = root.clone();
        }
        let Some(spec) = &job.spec else {
            let root_uri = grants.root_uri.clone();
            let Some(storage) = grants.storage.clone() else {
                // Sources without storage are one unit.
                return delivery.planned(vec![UnitSpec::whole()], &PlanCursor::default(), &root_uri, true);
            };
            let cursor = job.cursor.clone().unwrap_or_default();
            let target = surveyor_engine::scan::units::UnitSize::fixed(job.settings.unit_files);
            let planned = plan(&*storage, &job.settings.scope, target, cursor, PLAN_BATCH, &mut |units, at| {
                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(PlanError::Stopped("the unit was stopped".into()));
                }
                delivery.planned(units, at, &root_uri, false).map_err(PlanError::Stopped)
            });
            return match planned {
                Ok(()) => {
                    let end = PlanCursor { root: usize::MAX, after: None };
                    delivery.planned(Vec::new(), &end, &root_uri, true)
                }
                Err(PlanError::Stopped(why)) => Err(why),
                Err(e) => delivery.plan_failed(&e.to_string()),
            };
        };
        let registry = self.plugins.current(&self.runtime);
        let config = def.connector_config(&registry).map_err(|e| e.to_string())?;
        let remote = !matches!(def.connection(), Ok(surveyor_engine::sources::Connection::LocalFolder(_)));
        let source = ScanSource {
            name: def.name.clone(),
            source_type: def.source_type.clone(),
            config,
            grants,
            scope: job.settings.scope.clone(),
            modified_since: job.settings.modified_since,
        };
        let unit_dir = self.work_dir.join(format!("{}-{}-{}", job.run_id, job.seq, job.attempt));
        std::fs::create_dir_all(&unit_dir).map_err(|e| format!("{}: {e}", unit_dir.display()))?;
        let _cleanup = RemoveOnDrop(unit_dir.clone());
        let mut options = ScanOptions {
            grouping: job.settings.resource_sets.clone().or_else(|| def.resource_sets.clone()).unwrap_or_default(),
            cancel,
            schema_formats: job.settings.schema_formats.clone(),
            retry: (!job.settings.retry.is_empty()).then(|| Arc::new(job.settings.retry.iter().cloned().collect())),
            work_dir: Some(unit_dir.clone()),
            classifier: match job.settings.classification.as_ref().filter(|c| c.enabled) {
                Some(config) => {
                    Some(Arc::new(surveyor_engine::classify::Classifier::new(config).map_err(|e| e.to_string())?))
                }
                None => None,
            },
            ..ScanOptions::default()
        };
        options.schema_workers = self.schema_workers.unwrap_or(if remote { 16 } else { options.schema_workers }).max(1);
        let path = unit_dir.join("result.svu");
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (summary, _) = run_unit(&self.runtime, &registry, &source, spec, &options, std::io::BufWriter::new(file))
            .map_err(|e| e.to_string())?;
        delivery.result(&path, &summary)
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
