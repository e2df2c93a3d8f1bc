//! The scheduler, the service's own units, and the commit of runs.
//!
//! One loop. Every replica runs the units of scans without an integration
//! runtime (the service is their node) while fewer than its concurrency are
//! in progress, and renews their leases. The leader ([`crate::replicas`])
//! also queues a run for every scan whose next run time has come (once,
//! however many times it would have run while the service was down; a
//! compare-and-set on the scan's next run time, so a slot fires once across
//! replicas and takeovers), queues again the units whose lease expired,
//! commits every run whose units are all done, and purges run history past
//! its retention. Then it sleeps until the next run time, a wake-up or a
//! unit's end (a follower at most [`crate::replicas::TRY_EVERY`], to take
//! over a dead leader).
//!
//! A run is planned (unit 0) into slices of its source's listing, each
//! scanned by any node of the scan's integration runtime ([`crate::agent`])
//! or by the service; the commit merges the units' results into the run's
//! output in the runtime's ingestion target ([`commit`]).

use super::RunningUnit;
use super::schedule::advance;
use super::state::{ClaimedUnit, RunCounts, SERVICE_NODE};
use super::units::{Delivery, RunSettings, UnitJob, UnitRunner};
use super::{Service, ServiceError, now_ms};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use surveyor_engine::scan::unit::UnitSummary;
use surveyor_engine::scan::units::{PlanCursor, UnitSpec};
use tokio::sync::watch;

const RETENTION_EVERY_MS: i64 = 3_600_000;

pub mod commit;

pub async fn run(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut commits = tokio::task::JoinSet::new();
    let mut last_purge = 0i64;
    let mut was_leading = false;
    let node = service.node_id();
    let lease = service.config.node_offline_after.as_millis() as i64;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = now_ms();
        renew_own_leases(&service, now + lease).await;
        let leading = service.leadership.lead().await;
        if leading && !was_leading {
            // Runs a stopped leader was committing are committed again.
            match service.db.committing_runs().await {
                Ok(runs) => {
                    for id in runs {
                        commits.spawn(commit::commit_run(service.clone(), id));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading runs being committed"),
            }
        }
        was_leading = leading;
        if leading {
            if let Err(e) = queue_due(&service, now).await {
                tracing::warn!(error = %e, "scheduling");
            }
            match service.db.requeue_lost_units().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(units = n, "units of nodes gone offline or removed are queued again"),
                Err(e) => tracing::warn!(error = %e, "checking nodes' units"),
            }
            if now - last_purge > RETENTION_EVERY_MS {
                last_purge = now;
                purge(&service).await;
            }
        }
        while tasks.len() < service.concurrency && !*stop.borrow() {
            match service.db.claim_unit(None, &node, SERVICE_NODE, lease).await {
                Ok(Some(unit)) => {
                    tasks.spawn(execute(service.clone(), unit));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the unit queue");
                    break;
                }
            }
        }
        if leading {
            match service.db.settled_runs().await {
                Ok(runs) => {
                    for id in runs {
                        if let Ok(true) = service.db.begin_commit(&id).await {
                            commits.spawn(commit::commit_run(service.clone(), id));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking for runs to commit"),
            }
        }
        let next = service.db.earliest_next_run().await.ok().flatten();
        // At most 30 s, and half the node-offline threshold, to notice a node gone with its units;
        // a follower tries for the leadership more often.
        let mut longest = (lease / 2).clamp(500, 30_000);
        if !leading {
            longest = longest.min(super::replicas::TRY_EVERY.as_millis() as i64);
        }
        let wait = next.map(|n| (n - now_ms()).clamp(0, longest)).unwrap_or(longest) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait + 5)) => {}
            _ = service.wake.notified() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            Some(_) = commits.join_next(), if !commits.is_empty() => {}
            _ = stop.changed() => {}
        }
    }
    // Shutting down: units in progress get the grace period to finish; the
    // rest are stopped and queued again (a node, or the next start, goes on
    // from them). Commits finish.
    if !tasks.is_empty() {
        tracing::info!(units = tasks.len(), "waiting for units in progress");
        let deadline = tokio::time::sleep(service.config.grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = tasks.join_next() => if r.is_none() { break },
                _ = &mut deadline => {
                    let flags: Vec<_> = service.running.lock().unwrap().values().map(|u| u.cancel.clone()).collect();
                    tracing::warn!(units = flags.len(), "grace period over: stopping units; they are queued again");
                    for flag in flags {
                        flag.store(true, Ordering::SeqCst);
                    }
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }
    while commits.join_next().await.is_some() {}
}

/// Renews the leases of this replica's own units, and stops those it no
/// longer holds or whose run was canceled.
async fn renew_own_leases(service: &Service, lease_until: i64) {
    let held: Vec<(String, i64, i64)> =
        service.running.lock().unwrap().values().map(|u| (u.run_id.clone(), u.seq, u.attempt)).collect();
    if held.is_empty() {
        return;
    }
    match service.db.renew_leases(&service.node_id(), &held, lease_until).await {
        Ok(stop) => {
            let running = service.running.lock().unwrap();
            for (run, seq) in stop {
                if let Some(u) = running.get(&format!("{run}#{seq}")) {
                    u.cancel.store(true, Ordering::SeqCst);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "renewing the service's own leases"),
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
        let run = fire.then(super::new_run_id);
        // Fires only if no other replica moved the scan on since it was read.
        if service.db.fire_scan(&scan, run.as_deref(), next.map(|t| t.as_millisecond())).await?
            && let Some(id) = run
        {
            tracing::info!(scan = %scan.name, run = %id, "scheduled run queued");
        }
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

/// The settings every unit of a run shares, frozen at the first claim of its plan.
async fn settings(service: &Service, run_id: &str) -> Result<RunSettings, String> {
    let (frozen, _, _) = service.db.run_plan_state(run_id).await.map_err(|e| e.to_string())?;
    if let Some(frozen) = frozen {
        return serde_json::from_str(&frozen).map_err(|e| format!("the run's settings are unreadable: {e}"));
    }
    let run = service.db.run(run_id).await.map_err(|e| e.to_string())?;
    let (scan, _) = service.db.scan(&run.scan_id).await.map_err(|_| "the scan was deleted".to_string())?;
    let source = service.db.source_row(&scan.source_id).await.map_err(|e| e.to_string())?;
    let classification: Option<surveyor_engine::classify::ClassificationConfig> =
        scan.rule_set.get("classification").cloned().and_then(|v| serde_json::from_value(v).ok());
    let fingerprint = classification
        .as_ref()
        .filter(|c| c.enabled)
        .and_then(|c| surveyor_engine::classify::Classifier::new(c).ok())
        .map(|c| c.fingerprint(&service.registry()));
    let last =
        if scan.incremental { service.db.last_complete_run(&scan.id).await.map_err(|e| e.to_string())? } else { None };
    let modified_since = last.and_then(|(started_at, frozen)| {
        // Labels of unchanged files come from the last run: only when it
        // classified the same way.
        let before: Option<RunSettings> = frozen.and_then(|f| serde_json::from_str(&f).ok());
        let before = before.and_then(|s| s.classification_fingerprint);
        if before != fingerprint {
            tracing::info!(scan = %scan.name, "classification settings changed since the last run: every file is read again");
            return None;
        }
        Some(started_at.div_euclid(1000) * 1000 - 1)
    });
    let retry = if modified_since.is_some() { commit::failed_last_time(service, &scan.id).await } else { Vec::new() };
    let settings = RunSettings {
        scan: scan.name.clone(),
        source_name: source.name.clone(),
        source_type: source.source_type.clone(),
        scope: scan.scope.clone(),
        resource_sets: scan.rule_set.get("resource_sets").cloned().and_then(|v| serde_json::from_value(v).ok()),
        schema_formats: scan.rule_set.get("schema_formats").cloned().and_then(|v| serde_json::from_value(v).ok()),
        classification,
        classification_fingerprint: fingerprint,
        modified_since,
        retry,
        unit_files: scan
            .rule_set
            .get("unit_files")
            .and_then(|v| v.as_u64())
            .unwrap_or(service.config.unit_files)
            .max(1),
        started_at_ms: now_ms(),
    };
    let text = serde_json::to_string(&settings).expect("serializes");
    let frozen = service.db.freeze_settings(run_id, &text).await.map_err(|e| e.to_string())?;
    serde_json::from_str(&frozen).map_err(|e| e.to_string())
}

/// The job of a claimed unit: the run's settings, the source's definition
/// (with its connection), and the unit's slice or the plan's cursor.
pub async fn prepare(service: &Service, unit: &ClaimedUnit) -> Result<UnitJob, String> {
    let settings = settings(service, &unit.run_id).await?;
    let (_, cursor, root_uri) = service.db.run_plan_state(&unit.run_id).await.map_err(|e| e.to_string())?;
    let source = service.source_definition(&settings.source_name).await.map_err(|e| e.to_string())?;
    Ok(UnitJob {
        run_id: unit.run_id.clone(),
        seq: unit.seq,
        attempt: unit.attempt,
        settings,
        source,
        spec: unit.spec.clone(),
        cursor: cursor.and_then(|c| serde_json::from_str(&c).ok()),
        root_uri,
    })
}

/// Runs one of the service's own units on a blocking thread.
async fn execute(service: Arc<Service>, unit: ClaimedUnit) {
    let key = format!("{}#{}", unit.run_id, unit.seq);
    let cancel = Arc::new(AtomicBool::new(false));
    let node = service.node_id();
    service.running.lock().unwrap().insert(
        key.clone(),
        RunningUnit { run_id: unit.run_id.clone(), seq: unit.seq, attempt: unit.attempt, cancel: cancel.clone() },
    );
    let job = match prepare(&service, &unit).await {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(run = %unit.run_id, unit = unit.seq, error = %e, "the run cannot start");
            if let Err(e) = service.db.fail_plan(&node, &unit.run_id, unit.attempt, &e).await {
                tracing::warn!(run = %unit.run_id, error = %e, "recording the failure");
            }
            service.running.lock().unwrap().remove(&key);
            return;
        }
    };
    let runner = UnitRunner {
        runtime: service.runtime.clone(),
        plugins: service.plugins.clone(),
        schema_workers: service.config.schema_workers,
        work_dir: service.data.root.join("tmp"),
    };
    let handle = tokio::runtime::Handle::current();
    let (svc, flag) = (service.clone(), cancel.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let mut delivery = DbDelivery { service: svc.clone(), handle, unit: &unit, cancel: flag.clone() };
        let result = runner.run(&job, flag, &mut delivery);
        (unit, result)
    })
    .await;
    service.running.lock().unwrap().remove(&key);
    match outcome {
        Ok((unit, Err(e))) => {
            if service.shutting_down.load(Ordering::SeqCst) && cancel.load(Ordering::SeqCst) {
                let _ = service.db.release_unit(&node, &unit.run_id, unit.seq, unit.attempt).await;
                tracing::info!(run = %unit.run_id, unit = unit.seq, "unit stopped by the shutdown; queued again");
            } else {
                tracing::warn!(run = %unit.run_id, unit = unit.seq, error = %e, "unit failed");
                let failed = if unit.seq == 0 {
                    service.db.fail_plan(&node, &unit.run_id, unit.attempt, &e).await
                } else {
                    let summary = surveyor_engine::scan::unit::UnitSummary {
                        outcome: surveyor_engine::scan::unit::UnitOutcome::Failed(e),
                        counts: Default::default(),
                        errors: Vec::new(),
                        plugins: Vec::new(),
                        records: 0,
                    };
                    service.db.finish_unit(&node, &unit.run_id, unit.seq, unit.attempt, &summary).await
                };
                if let Err(e) = failed {
                    tracing::warn!(run = %unit.run_id, error = %e, "recording a unit's failure");
                }
            }
        }
        Ok((_, Ok(()))) => {}
        Err(e) => tracing::error!(error = %e, "a unit's thread panicked"),
    }
    service.wake.notify_one();
}

/// The service's own units report straight to its database.
struct DbDelivery<'a> {
    service: Arc<Service>,
    handle: tokio::runtime::Handle,
    unit: &'a ClaimedUnit,
    cancel: Arc<AtomicBool>,
}

impl DbDelivery<'_> {
    /// A unit stopped by the shutdown is given back, not reported.
    fn stopping(&self) -> Result<(), String> {
        if self.service.shutting_down.load(Ordering::SeqCst) && self.cancel.load(Ordering::SeqCst) {
            return Err("the service is stopping".into());
        }
        Ok(())
    }
}

impl Delivery for DbDelivery<'_> {
    fn planned(&mut self, units: Vec<UnitSpec>, cursor: &PlanCursor, root_uri: &str, done: bool) -> Result<(), String> {
        self.stopping()?;
        let cursor = serde_json::to_string(cursor).expect("serializes");
        self.handle
            .block_on(self.service.db.add_planned(
                &self.service.node_id(),
                &self.unit.run_id,
                self.unit.attempt,
                None,
                &units,
                &cursor,
                root_uri,
                done,
            ))
            .map_err(|e| e.to_string())?;
        self.service.wake.notify_one();
        Ok(())
    }

    fn plan_failed(&mut self, error: &str) -> Result<(), String> {
        self.stopping()?;
        self.handle
            .block_on(self.service.db.fail_plan(&self.service.node_id(), &self.unit.run_id, self.unit.attempt, error))
            .map_err(|e| e.to_string())
    }

    fn result(&mut self, result: &Path, summary: &UnitSummary) -> Result<(), String> {
        self.stopping()?;
        let u = self.unit;
        self.handle
            .block_on(commit::store_unit_result(
                &self.service,
                &self.service.node_id(),
                &u.run_id,
                u.seq,
                u.attempt,
                result,
                summary,
            ))
            .map_err(|e| e.to_string())
    }
}

/// The counts of a committed run, from its report.
pub fn run_counts(report: &surveyor_engine::scan::RunReport) -> RunCounts {
    let c = &report.counts;
    RunCounts {
        assets: c.assets as i64,
        files: c.files as i64,
        schemas: c.schemas as i64,
        resource_sets: c.resource_sets as i64,
        entities: c.entities as i64,
        item_errors: c.item_errors as i64,
        bytes_read: c.bytes_read as i64,
    }
}
