//! The service's side of a run's commit: unit results in, one run out.
//!
//! Unit results wait in the database (`blob_parts`, one blob per unit and
//! attempt) until every unit of the run is done. The commit copies them to a
//! scratch folder, merges them with [`surveyor_engine::scan::commit`] into
//! the runtime's ingestion target (the service's output folder by default,
//! or the Azure Blob container of `PUT /v1/integration-runtimes/{name}/ingestion`),
//! keeps the report and the assets for the API, replaces the source's
//! state, and deletes the unit results. A failed or canceled run writes
//! nothing to ingestion storage: its report is in the service.

use crate::{Service, ServiceError, now_ms};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use surveyor_engine::scan::commit::{CommitPlan, Indexed, commit};
use surveyor_engine::scan::unit::UnitSummary;
use surveyor_engine::scan::{SourceSummary, canceled_unit, failed_unit};
use surveyor_engine::sink::{LocalFolderSink, Sink, SinkDefinition};

/// Failed paths handed to an incremental run to read again, at most.
const MAX_RETRY: usize = 10_000;

fn unit_blob(run: &str, seq: i64, attempt: i64) -> String {
    format!("unit/{run}/{seq}/{attempt}")
}

fn state_blob(scan_id: &str) -> String {
    format!("state/{scan_id}")
}

/// A scratch folder, removed with what is in it.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(service: &Service, name: &str) -> Result<Scratch, ServiceError> {
    let dir =
        service.data.root.join("tmp").join(format!("{name}-{}", crate::crypto::hex(&crate::crypto::random_bytes(4))));
    std::fs::create_dir_all(&dir).map_err(|e| ServiceError::Io { path: dir.display().to_string(), source: e })?;
    Ok(Scratch(dir))
}

/// Keeps a finished unit's result (the file `result`) and records the unit
/// done; refused (and nothing kept) when `node` no longer holds the unit.
pub async fn store_unit_result(
    service: &Service,
    node: &str,
    run: &str,
    seq: i64,
    attempt: i64,
    result: &Path,
    summary: &UnitSummary,
) -> Result<(), ServiceError> {
    let blob = unit_blob(run, seq, attempt);
    service.db.put_blob(&blob, result).await?;
    if let Err(e) = service.db.finish_unit(node, run, seq, attempt, summary).await {
        let _ = service.db.delete_blob(&blob).await;
        return Err(e);
    }
    tracing::info!(run = %run, unit = seq, node = %node, files = summary.counts.files, "unit done");
    service.wake.notify_one();
    Ok(())
}

/// Files whose schema could not be read by the scan's last complete run.
pub async fn failed_last_time(service: &Service, scan_id: &str) -> Vec<String> {
    let Ok(tmp) = scratch(service, "state") else { return Vec::new() };
    let path = tmp.0.join("state.svs");
    match service.db.blob_to_file(&state_blob(scan_id), &path).await {
        Ok(true) => {
            let mut paths = surveyor_engine::scan::state::failed_paths(&path).unwrap_or_default();
            paths.truncate(MAX_RETRY);
            paths
        }
        _ => Vec::new(),
    }
}

/// Where the runs of a runtime go: its ingestion target, or the service's
/// output folder (per scan) by default. Built by the commit's blocking
/// thread (the storage clients block).
pub enum Target {
    Defined(SinkDefinition),
    Local(PathBuf),
}

impl Target {
    pub async fn of(service: &Service, ir_id: Option<&str>, scan: &str) -> Result<Target, ServiceError> {
        if let Some(ir) = ir_id
            && let Some((_, sealed)) = service.db.ingestion(ir).await?
        {
            let definition: SinkDefinition = serde_json::from_slice(&service.secrets.open(&sealed)?)
                .map_err(|e| ServiceError::Invalid(format!("the stored ingestion target is unreadable: {e}")))?;
            return Ok(Target::Defined(definition));
        }
        Ok(Target::Local(service.data.root.join("output").join(scan)))
    }

    fn build(self) -> Result<Box<dyn Sink>, ServiceError> {
        match self {
            Target::Defined(definition) => definition.build().map_err(|e| ServiceError::Invalid(e.to_string())),
            Target::Local(path) => Ok(Box::new(LocalFolderSink::new(path))),
        }
    }
}

/// Commits a run whose units are all done (its state is `committing`).
pub async fn commit_run(service: Arc<Service>, run_id: String) {
    let started = std::time::Instant::now();
    if let Err(e) = try_commit(&service, &run_id).await {
        tracing::error!(run = %run_id, error = %e, "the run could not be committed");
        let _ =
            service.db.finish_run(&run_id, "failed", &Default::default(), Some(&format!("commit: {e}")), None).await;
    }
    if let Ok(run) = service.db.run(&run_id).await {
        service.metrics.record_run(&run.state, started.elapsed().as_secs_f64().max(0.0), &run.counts);
        tracing::info!(run = %run_id, scan = %run.scan, state = %run.state, assets = run.counts.assets, errors = run.counts.item_errors, "run finished");
    }
    service.wake.notify_one();
}

async fn try_commit(service: &Arc<Service>, run_id: &str) -> Result<(), ServiceError> {
    let run = service.db.run(run_id).await?;
    let (settings, _, root_uri) = service.db.run_plan_state(run_id).await?;
    let settings: Option<crate::units::RunSettings> = settings.and_then(|s| serde_json::from_str(&s).ok());
    let ir_id = service.db.run_ir(run_id).await?;
    let tmp = scratch(service, "commit")?;
    let io = |p: &Path, e: std::io::Error| ServiceError::Io { path: p.display().to_string(), source: e };

    // The units' results, in order; a unit that ended without one (canceled
    // while queued, or a plan that failed) says so in a result of its own.
    let mut units = Vec::new();
    for unit in service.db.done_units(run_id).await? {
        let path = tmp.0.join(format!("unit-{:06}.svu", unit.seq));
        let stored = unit.seq > 0 && service.db.blob_to_file(&unit_blob(run_id, unit.seq, unit.attempt), &path).await?;
        if !stored {
            match unit.outcome.as_str() {
                "completed" if unit.seq == 0 => continue,
                "failed" => failed_unit(&path, unit.error.clone().unwrap_or_else(|| "the unit failed".into())),
                _ => canceled_unit(&path),
            }
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        }
        units.push(path);
    }
    if units.is_empty() {
        canceled_unit(&tmp.0.join("canceled.svu")).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        units.push(tmp.0.join("canceled.svu"));
    }
    let previous = tmp.0.join("previous.svs");
    let previous = service.db.blob_to_file(&state_blob(&run.scan_id), &previous).await?.then_some(previous);
    let target = Target::of(service, ir_id.as_deref(), &run.scan).await?;
    let started_at_ms = settings.as_ref().map(|s| s.started_at_ms).unwrap_or_else(now_ms);
    let plan = CommitPlan {
        run_id: run_id.to_string(),
        source: SourceSummary {
            name: run.source.clone(),
            source_type: settings.as_ref().map(|s| s.source_type.clone()).unwrap_or_default(),
            root: root_uri.unwrap_or_default(),
        },
        started_at: crate::state::rfc3339(started_at_ms),
        started_at_ms,
        modified_since: settings.as_ref().and_then(|s| s.modified_since),
        whole_source: settings.as_ref().is_some_and(|s| s.scope.is_empty()),
        grouping: settings.as_ref().and_then(|s| s.resource_sets.clone()).unwrap_or_default(),
        batch_entities: 1000,
        max_reported_errors: 1000,
        write_incomplete: false,
        keep_state: true,
        classification: settings.as_ref().and_then(|s| s.classification_fingerprint.clone()),
    };
    let new_state = tmp.0.join("state.svs");
    let index_path = tmp.0.join("assets.jsonl");
    let (committed, index_path) = {
        let (new_state, index_path, previous) = (new_state.clone(), index_path.clone(), previous.clone());
        tokio::task::spawn_blocking(move || -> Result<_, ServiceError> {
            let sink = target.build()?;
            let mut index =
                std::io::BufWriter::new(std::fs::File::create(&index_path).map_err(|e| io(&index_path, e))?);
            let mut failure = None;
            let committed = commit(&plan, &units, previous.as_deref(), &new_state, sink.as_ref(), &mut |a| {
                if failure.is_none()
                    && let Err(e) = writeln!(index, "{}", index_line(&a))
                {
                    failure = Some(e);
                }
            })
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            if let Some(e) = failure {
                return Err(io(&index_path, e));
            }
            index.flush().map_err(|e| io(&index_path, e))?;
            Ok((committed, index_path))
        })
        .await
        .map_err(|e| ServiceError::Invalid(format!("the commit crashed: {e}")))??
    };
    let report = &committed.report;
    service.db.store_results(run_id, &serde_json::to_string_pretty(report).expect("serializes"), &index_path).await?;
    if committed.state_written {
        service.db.put_blob(&state_blob(&run.scan_id), &new_state).await?;
    }
    service
        .db
        .finish_run(
            run_id,
            report.status.as_str(),
            &super::run_counts(report),
            report.error.as_deref(),
            report.location.as_deref(),
        )
        .await?;
    service.db.delete_blobs(&format!("unit/{run_id}/")).await?;
    Ok(())
}

/// One line of the asset index: what `GET /v1/runs/{id}/assets` shows.
fn index_line(a: &Indexed<'_>) -> String {
    let columns: Vec<serde_json::Value> = a
        .columns
        .unwrap_or(&[])
        .iter()
        .map(|c| {
            serde_json::json!({
                "path": c.path.join("."),
                "type": c.data_type,
                "physicalType": c.physical_type,
                "logicalType": c.logical_type,
                "nullable": c.nullable,
                "depth": c.path.len(),
            })
        })
        .collect();
    let mut detail = serde_json::json!({
        "parent": a.asset.parent.as_ref().map(|p| &p.qualified_name),
        "path": a.asset.path,
        "columns": columns,
    });
    if let Some(set) = a.set {
        detail["resourceSet"] = serde_json::json!({
            "pattern": set.pattern,
            "partitions": set.partitions,
            "failedPartitions": set.failed_partitions,
            "schemaCount": set.schema_count,
            "partitionKeys": set.partition_keys,
            "variants": set.variants,
        });
    }
    serde_json::json!({
        "type": a.asset.type_name,
        "qualified_name": a.asset.qualified_name,
        "name": a.asset.name,
        "detail": detail,
    })
    .to_string()
}
