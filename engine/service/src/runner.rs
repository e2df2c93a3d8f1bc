//! The scheduler and the run queue.
//!
//! One loop: queue a run for every scan whose next run time has come (once,
//! however many times it would have run while the service was down), start
//! queued runs while fewer than the concurrency are in progress, purge run
//! history past its retention, then sleep until the next run time, a wake-up
//! (a scan or a run changed) or a run's end. A run is the same scan as
//! `surveyor scan`, on a blocking thread, with its output in
//! `<data-dir>/output/<scan>/runs/<id>/`.
//!
//! Runs of scans with an integration runtime are not started here: the
//! runtime's nodes claim them ([`super::agent`]). The loop only queues them
//! again when their node went offline or was removed.

use super::schedule::advance;
use super::state::{RunCounts, RunView};
use super::{Service, ServiceError, now_ms};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use surveyor_engine::scan::resource_sets::GroupingConfig;
use surveyor_engine::scan::state::SourceState;
use surveyor_engine::scan::{ScanOptions, ScanSource, run_scan};
use surveyor_engine::sink::LocalFolderSink;
use surveyor_engine::sources::SourceDefinition;
use tokio::sync::watch;

const RETENTION_EVERY_MS: i64 = 3_600_000;

pub async fn run(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_purge = 0i64;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = now_ms();
        if let Err(e) = queue_due(&service, now).await {
            tracing::warn!(error = %e, "scheduling");
        }
        let alive_since = now - service.config.node_offline_after.as_millis() as i64;
        match service.db.requeue_orphaned(alive_since).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "runs of nodes gone offline or removed are queued again"),
            Err(e) => tracing::warn!(error = %e, "checking nodes' runs"),
        }
        if now - last_purge > RETENTION_EVERY_MS {
            last_purge = now;
            purge(&service).await;
        }
        while tasks.len() < service.concurrency {
            match service.db.claim_queued_run().await {
                Ok(Some(run)) => {
                    tasks.spawn(execute(service.clone(), run));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the run queue");
                    break;
                }
            }
        }
        let next = service.db.earliest_next_run().await.ok().flatten();
        // At most 30 s, and half the node-offline threshold, to notice a node gone with its runs.
        let longest = (service.config.node_offline_after.as_millis() as i64 / 2).clamp(500, 30_000);
        let wait = next.map(|n| (n - now_ms()).clamp(0, longest)).unwrap_or(longest) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait + 5)) => {}
            _ = service.wake.notified() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stop.changed() => {}
        }
    }
    // Shutting down: running scans get the grace period to finish; the rest
    // are stopped and stay `in_progress`, to be queued again at the next start.
    if !tasks.is_empty() {
        tracing::info!(runs = tasks.len(), "waiting for runs in progress");
        let deadline = tokio::time::sleep(service.config.grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = tasks.join_next() => if r.is_none() { break },
                _ = &mut deadline => {
                    let flags: Vec<_> = service.running.lock().unwrap().values().cloned().collect();
                    tracing::warn!(runs = flags.len(), "grace period over: stopping runs; they run again at the next start");
                    for flag in flags {
                        flag.store(true, Ordering::SeqCst);
                    }
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }
}

async fn queue_due(service: &Service, now: i64) -> Result<(), ServiceError> {
    let now_ts = jiff::Timestamp::from_millisecond(now).unwrap_or_else(|_| jiff::Timestamp::now());
    for scan in service.db.due_scans(now).await? {
        let schedule = match scan.trigger.schedule() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(scan = %scan.name, error = %e, "unusable trigger; the scan is no longer scheduled");
                service.db.set_next_run(&scan.id, None).await?;
                continue;
            }
        };
        let due = scan.next_run_at.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
        let (fire, next) = advance(&schedule, due, now_ts);
        if fire {
            let id = super::new_run_id();
            service.db.queue_run(&id, &scan, "schedule").await?;
            tracing::info!(scan = %scan.name, run = %id, "scheduled run queued");
        }
        service.db.set_next_run(&scan.id, next.map(|t| t.as_millisecond())).await?;
    }
    Ok(())
}

async fn purge(service: &Service) {
    let before = now_ms() - service.config.retention.as_millis() as i64;
    match service.db.purge_runs(before).await {
        Ok(locations) => {
            let output = service.data.root.join("output");
            for location in locations.into_iter().flatten() {
                let path = std::path::PathBuf::from(&location);
                if path.starts_with(&output) {
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "purging run history"),
    }
}

/// What a run needs, read from the database: run by the service itself, or
/// sent as is to the node that claimed the run (with the source's connection,
/// so only to an authenticated node; use TLS between machines).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    pub run_id: String,
    pub scan: String,
    pub attempt: i64,
    /// The source's definition, with its connection.
    #[schema(value_type = Object)]
    pub source: SourceDefinition,
    pub scope: Vec<String>,
    /// The scan's grouping rules (else the source's).
    #[schema(value_type = Option<Object>)]
    pub resource_sets: Option<GroupingConfig>,
    /// Incremental: read schemas only of files modified since (ms since the epoch).
    pub modified_since: Option<i64>,
    pub schema_formats: Option<Vec<String>>,
}

/// How a run ended: recorded by the service, or reported by a node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finished {
    /// `succeeded`, `completed_with_exceptions`, `failed` or `canceled`.
    pub state: String,
    pub counts: RunCounts,
    pub error: Option<String>,
    /// The run's output folder.
    pub location: Option<String>,
}

impl Finished {
    pub fn failed(error: String) -> Finished {
        Finished { state: "failed".into(), counts: RunCounts::default(), error: Some(error), location: None }
    }
}

pub async fn prepare(service: &Service, run: &RunView) -> Result<Job, String> {
    let (scan, _) = service.db.scan(&run.scan_id).await.map_err(|_| "the scan was deleted".to_string())?;
    let source = service.source_definition(&scan.source_id).await.map_err(|e| e.to_string())?;
    let modified_since = if scan.incremental {
        service.db.last_complete_run_start(&scan.id).await.map_err(|e| e.to_string())?
    } else {
        None
    };
    Ok(Job {
        run_id: run.id.clone(),
        scan: scan.name.clone(),
        attempt: run.attempt,
        source,
        scope: scan.scope.clone(),
        resource_sets: scan.rule_set.get("resource_sets").cloned().and_then(|v| serde_json::from_value(v).ok()),
        modified_since,
        schema_formats: scan.rule_set.get("schema_formats").cloned().and_then(|v| serde_json::from_value(v).ok()),
    })
}

async fn execute(service: Arc<Service>, run: RunView) {
    let cancel = Arc::new(AtomicBool::new(false));
    service.running.lock().unwrap().insert(run.id.clone(), cancel.clone());
    tracing::info!(run = %run.id, scan = %run.scan, "run started");
    let started = std::time::Instant::now();
    let finished = match prepare(&service, &run).await {
        Err(e) => Finished::failed(e),
        Ok(job) => {
            let runtime = service.runtime.clone();
            let registry = service.registry.clone();
            let workers = service.config.schema_workers;
            let output = service.data.root.join("output");
            let cancel = cancel.clone();
            tokio::task::spawn_blocking(move || run_job(&runtime, &registry, job, &output, workers, cancel))
                .await
                .unwrap_or_else(|e| Finished::failed(format!("the run crashed: {e}")))
        }
    };
    service.running.lock().unwrap().remove(&run.id);
    let user_canceled = service.user_canceled.lock().unwrap().remove(&run.id);
    let stopped = cancel.load(Ordering::SeqCst);
    if stopped && !user_canceled && service.shutting_down.load(Ordering::SeqCst) {
        // Stopped by the shutdown: left `in_progress`, queued again at the next start.
        tracing::info!(run = %run.id, "run stopped by the shutdown; it runs again at the next start");
        return;
    }
    let f = finished.canceled_if(stopped && user_canceled);
    if let Err(e) = service.db.finish_run(&run.id, &f.state, &f.counts, f.error.as_deref(), f.location.as_deref()).await
    {
        tracing::error!(run = %run.id, error = %e, "recording the run's end");
    }
    service.metrics.record_run(&f.state, started.elapsed().as_secs_f64(), &f.counts);
    tracing::info!(run = %run.id, scan = %run.scan, state = %f.state, assets = f.counts.assets, errors = f.counts.item_errors, "run finished");
    service.wake.notify_one();
}

impl Finished {
    /// A run stopped by a cancel is `canceled` unless it had already
    /// succeeded; items cut short by the cancel are item errors in its report.
    pub fn canceled_if(mut self, canceled: bool) -> Finished {
        if canceled && self.state != "succeeded" {
            self.state = "canceled".to_string();
            self.error.get_or_insert_with(|| "canceled".to_string());
        }
        self
    }
}

/// Runs a job: the same scan as `surveyor scan`, with its output in
/// `<output>/<scan>/runs/<id>/` and the scan's state (for deletions) in
/// `<output>/<scan>/state/`. Blocking.
pub fn run_job(
    runtime: &surveyor_engine::host::Runtime,
    registry: &Arc<surveyor_engine::host::Registry>,
    job: Job,
    output: &std::path::Path,
    workers: Option<usize>,
    cancel: Arc<AtomicBool>,
) -> Finished {
    scan_job(runtime, registry, job, output, workers, cancel).unwrap_or_else(Finished::failed)
}

fn scan_job(
    runtime: &surveyor_engine::host::Runtime,
    registry: &Arc<surveyor_engine::host::Registry>,
    job: Job,
    output: &std::path::Path,
    workers: Option<usize>,
    cancel: Arc<AtomicBool>,
) -> Result<Finished, String> {
    let def = &job.source;
    let grants = surveyor_engine::sources::grant(def).map_err(|e| format!("cannot scan '{}': {e}", def.name))?;
    let config = def.connector_config(registry).map_err(|e| e.to_string())?;
    let remote = !matches!(def.connection(), Ok(surveyor_engine::sources::Connection::LocalFolder(_)));
    let source = ScanSource {
        name: def.name.clone(),
        source_type: def.source_type.clone(),
        config,
        grants,
        scope: job.scope,
        modified_since: job.modified_since,
    };
    let sink_root = output.join(&job.scan);
    // Per scan, next to its output: deletions are reported against the scan's last complete run.
    let state = SourceState::new(&sink_root.join("state"), &def.name, &def.source_type, &source.grants.root_uri);
    let mut options = ScanOptions {
        grouping: job.resource_sets.or_else(|| def.resource_sets.clone()).unwrap_or_default(),
        cancel,
        state: Some(state),
        schema_formats: job.schema_formats,
        ..ScanOptions::default()
    };
    options.schema_workers = workers.unwrap_or(if remote { 16 } else { options.schema_workers }).max(1);
    let sink = LocalFolderSink::new(&sink_root);
    let report = run_scan(runtime, registry, &source, &options, &sink).map_err(|e| e.to_string())?;
    let c = &report.counts;
    let counts = RunCounts {
        assets: c.assets as i64,
        files: c.files as i64,
        schemas: c.schemas as i64,
        resource_sets: c.resource_sets as i64,
        entities: c.entities as i64,
        item_errors: c.item_errors as i64,
        bytes_read: c.bytes_read as i64,
    };
    Ok(Finished {
        state: report.status.as_str().to_string(),
        counts,
        error: report.error.clone(),
        location: report.location.clone(),
    })
}
