//! Work units in the database: a run's plan (unit 0) and the slices it
//! finds, claimed under leases by nodes (or by the service, as node
//! `service`), their results kept in `blob_parts` until the run commits, and
//! the committed run's assets for the API.
//!
//! Every step is a compare-and-set on the unit's row (state, node, attempt),
//! so that a unit is run by one node at a time, a late report from a node
//! that lost its lease is refused, and nothing finished is run again.

use super::{Db, db};
use crate::{ServiceError, now_ms};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use surveyor_engine::scan::unit::{UnitOutcome, UnitSummary};
use surveyor_engine::scan::units::UnitSpec;

/// The name shown for units the service runs itself; each replica claims
/// them as the pseudo-node `service:<replica id>`.
pub const SERVICE_NODE: &str = "service";
/// Parts of a blob (a unit result, a source's state) in the database.
const PART: usize = 1 << 20;

/// A unit just claimed.
#[derive(Debug, Clone)]
pub struct ClaimedUnit {
    pub run_id: String,
    pub seq: i64,
    pub attempt: i64,
    /// The slice; `None` for the plan (unit 0).
    pub spec: Option<UnitSpec>,
}

/// Where a run's units stand, for `GET /v1/runs/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitProgress {
    /// Units known so far (the plan included); final once `planned`.
    pub total: i64,
    pub done: i64,
    /// Done, but failed (the run fails) or canceled.
    pub failed: i64,
    pub queued: i64,
    pub in_progress: i64,
    /// Every unit of the run is known (the plan finished).
    pub planned: bool,
    /// Units done, by the node that did them (`service`: the service itself).
    pub by_node: BTreeMap<String, i64>,
    /// Units in progress, by the node that has them.
    pub in_progress_by_node: BTreeMap<String, i64>,
    /// Units claimed more than once (their node was lost or stopped).
    pub retried: i64,
    /// Files the plan counted, and files done.
    pub planned_files: i64,
    pub files_done: i64,
}

/// A finished unit, for the commit.
#[derive(Debug, Clone)]
pub struct DoneUnit {
    pub seq: i64,
    pub attempt: i64,
    pub outcome: String,
    pub error: Option<String>,
}

/// An asset of a committed run, for `GET /v1/runs/{id}/assets`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunAsset {
    #[serde(rename = "type")]
    pub type_name: String,
    pub qualified_name: String,
    pub name: String,
    /// The asset's parent, its columns (nested ones with their full path),
    /// a resource set's partitions and schema variants.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

fn outcome_name(outcome: &UnitOutcome) -> (&'static str, Option<&str>) {
    match outcome {
        UnitOutcome::Completed => ("completed", None),
        UnitOutcome::Failed(e) => ("failed", Some(e.as_str())),
        UnitOutcome::Canceled => ("canceled", None),
    }
}

fn not_yours(run: &str, seq: i64) -> ServiceError {
    ServiceError::Conflict(format!(
        "unit {seq} of run {run} is no longer this node's (its lease expired and another node took it, or the run was canceled)"
    ))
}

impl Db {
    /// The plan of a queued run: unit 0.
    pub(super) async fn queue_plan(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        run_id: &str,
        ir_id: Option<&str>,
    ) -> Result<(), ServiceError> {
        sqlx::query("INSERT INTO run_units (run_id, seq, spec, state, ir_id) VALUES ($1, 0, '{}', 'queued', $2)")
            .bind(run_id)
            .bind(ir_id)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Claims the next queued unit of the runtime `ir_id` (`None`: the
    /// service's own), oldest run first, for `lease_ms`.
    pub async fn claim_unit(
        &self,
        ir_id: Option<&str>,
        node_id: &str,
        node_name: &str,
        lease_ms: i64,
    ) -> Result<Option<ClaimedUnit>, ServiceError> {
        let select = if ir_id.is_some() {
            "SELECT run_id, seq FROM run_units WHERE state = 'queued' AND ir_id = $1 ORDER BY run_id, seq LIMIT 1"
        } else {
            "SELECT run_id, seq FROM run_units WHERE state = 'queued' AND ir_id IS NULL ORDER BY run_id, seq LIMIT 1"
        };
        // Another node may take the same unit between the two statements: the
        // update succeeds for one of them, the other tries the next unit.
        for _ in 0..8 {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(select));
            if let Some(ir) = ir_id {
                query = query.bind(ir);
            }
            let Some(row) = query.fetch_optional(&self.pool).await.map_err(db)? else { return Ok(None) };
            let (run_id, seq): (String, i64) = (row.get(0), row.get(1));
            let now = now_ms();
            let done = sqlx::query(
                "UPDATE run_units SET state = 'in_progress', attempt = attempt + 1, node_id = $1, node_name = $2, \
                 lease_until = $3, started_at = $4 WHERE run_id = $5 AND seq = $6 AND state = 'queued'",
            )
            .bind(node_id)
            .bind(node_name)
            .bind(now + lease_ms)
            .bind(now)
            .bind(&run_id)
            .bind(seq)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            if done.rows_affected() != 1 {
                continue;
            }
            sqlx::query(
                "UPDATE runs SET state = 'in_progress', started_at = COALESCE(started_at, $1) WHERE id = $2 AND state = 'queued'",
            )
            .bind(now)
            .bind(&run_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            let row = sqlx::query("SELECT attempt, spec FROM run_units WHERE run_id = $1 AND seq = $2")
                .bind(&run_id)
                .bind(seq)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
            let spec: String = row.get(1);
            let spec = if seq == 0 { None } else { serde_json::from_str(&spec).ok() };
            return Ok(Some(ClaimedUnit { run_id, seq, attempt: row.get(0), spec }));
        }
        Ok(None)
    }

    /// A sealed secret of the database, if it holds any (to check a key against).
    pub async fn any_sealed_secret(&self) -> Result<Option<String>, ServiceError> {
        for sql in ["SELECT key_sealed FROM ir_keys LIMIT 1", "SELECT connection_sealed FROM sources LIMIT 1"] {
            if let Some(row) = sqlx::query(sql).fetch_optional(&self.pool).await.map_err(db)? {
                return Ok(Some(row.get(0)));
            }
        }
        Ok(None)
    }

    /// A node's integration runtime and name.
    pub async fn node_ir(&self, node_id: &str) -> Result<(String, String), ServiceError> {
        let row = sqlx::query("SELECT ir_id, name FROM nodes WHERE id = $1")
            .bind(node_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| ServiceError::Unauthorized("the node was removed".into()))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Some columns of a run's row; 404 naming the run when there is none.
    async fn run_columns(&self, run_id: &str, columns: &'static str) -> Result<sqlx::any::AnyRow, ServiceError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {columns} FROM runs WHERE id = $1")))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| ServiceError::NotFound(format!("no run '{run_id}'")))
    }

    /// The integration runtime whose nodes run the run (`None`: the service).
    pub async fn run_ir(&self, run_id: &str) -> Result<Option<String>, ServiceError> {
        Ok(self.run_columns(run_id, "ir_id").await?.get(0))
    }

    /// The run's frozen settings and where its plan stands: (settings, plan cursor, root URI).
    pub async fn run_plan_state(
        &self,
        run_id: &str,
    ) -> Result<(Option<String>, Option<String>, Option<String>), ServiceError> {
        let row = self.run_columns(run_id, "settings, plan_cursor, root_uri").await?;
        Ok((row.get(0), row.get(1), row.get(2)))
    }

    /// Freezes a run's settings (the first claim of its plan); a run's
    /// settings never change once set. Returns the run's settings.
    pub async fn freeze_settings(&self, run_id: &str, settings: &str) -> Result<String, ServiceError> {
        sqlx::query("UPDATE runs SET settings = $1 WHERE id = $2 AND settings IS NULL")
            .bind(settings)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(self.run_plan_state(run_id).await?.0.unwrap_or_else(|| settings.to_string()))
    }

    /// Renews the leases of the units a node says it runs (until
    /// `lease_until`); returns those it no longer holds or whose run was
    /// canceled: the node stops them.
    pub async fn renew_leases(
        &self,
        node_id: &str,
        units: &[(String, i64, i64)],
        lease_until: i64,
    ) -> Result<Vec<(String, i64)>, ServiceError> {
        let mut stop = Vec::new();
        for (run, seq, attempt) in units {
            let held = sqlx::query(
                "UPDATE run_units SET lease_until = $1 WHERE run_id = $2 AND seq = $3 AND attempt = $4 \
                 AND node_id = $5 AND state = 'in_progress' \
                 AND NOT EXISTS (SELECT 1 FROM runs WHERE id = $6 AND cancel_requested <> 0)",
            )
            .bind(lease_until)
            .bind(run)
            .bind(seq)
            .bind(attempt)
            .bind(node_id)
            .bind(run)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            if held.rows_affected() == 0 {
                stop.push((run.clone(), *seq));
            }
        }
        Ok(stop)
    }

    /// Units found by a plan, and where the plan stands; `done`: every unit
    /// is known. Refused when the node no longer holds the plan.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_planned(
        &self,
        node_id: &str,
        run_id: &str,
        attempt: i64,
        ir_id: Option<&str>,
        units: &[UnitSpec],
        cursor: &str,
        root_uri: &str,
        done: bool,
    ) -> Result<(), ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let held = sqlx::query(
            "UPDATE run_units SET lease_until = lease_until WHERE run_id = $1 AND seq = 0 AND attempt = $2 \
             AND node_id = $3 AND state = 'in_progress'",
        )
        .bind(run_id)
        .bind(attempt)
        .bind(node_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if held.rows_affected() != 1 {
            return Err(not_yours(run_id, 0));
        }
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM run_units WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .get(0);
        for (i, unit) in units.iter().enumerate() {
            sqlx::query(
                "INSERT INTO run_units (run_id, seq, spec, state, ir_id, planned_files) VALUES ($1, $2, $3, 'queued', $4, $5)",
            )
            .bind(run_id)
            .bind(next + 1 + i as i64)
            .bind(serde_json::to_string(unit).expect("serializes"))
            .bind(ir_id)
            .bind(unit.files as i64)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        sqlx::query("UPDATE runs SET plan_cursor = $1, root_uri = COALESCE(root_uri, $2) WHERE id = $3")
            .bind(cursor)
            .bind(root_uri)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done {
            sqlx::query(
                "UPDATE run_units SET state = 'done', outcome = 'completed', finished_at = $1 WHERE run_id = $2 AND seq = 0",
            )
            .bind(now_ms())
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query("UPDATE runs SET planned = 1 WHERE id = $1")
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Records a finished unit whose result is in the blob `blob`. A unit
    /// that failed (or was canceled) stops the rest of its run: the run
    /// fails, with what its other units found.
    pub async fn finish_unit(
        &self,
        node_id: &str,
        run_id: &str,
        seq: i64,
        attempt: i64,
        summary: &UnitSummary,
    ) -> Result<(), ServiceError> {
        let (outcome, error) = outcome_name(&summary.outcome);
        let done = sqlx::query(
            "UPDATE run_units SET state = 'done', outcome = $1, error = $2, files = $3, schemas = $4, reads = $5, \
             item_errors = $6, finished_at = $7 \
             WHERE run_id = $8 AND seq = $9 AND attempt = $10 AND node_id = $11 AND state = 'in_progress'",
        )
        .bind(outcome)
        .bind(error)
        .bind(summary.counts.files as i64)
        .bind(summary.counts.schemas as i64)
        .bind(summary.counts.reads as i64)
        .bind(summary.counts.item_errors as i64)
        .bind(now_ms())
        .bind(run_id)
        .bind(seq)
        .bind(attempt)
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Err(not_yours(run_id, seq));
        }
        if outcome != "completed" {
            self.stop_run_units(run_id).await?;
        }
        Ok(())
    }

    /// A plan that could not list the source: the run fails with `error`.
    pub async fn fail_plan(&self, node_id: &str, run_id: &str, attempt: i64, error: &str) -> Result<(), ServiceError> {
        let done = sqlx::query(
            "UPDATE run_units SET state = 'done', outcome = 'failed', error = $1, finished_at = $2 \
             WHERE run_id = $3 AND seq = 0 AND attempt = $4 AND node_id = $5 AND state = 'in_progress'",
        )
        .bind(error)
        .bind(now_ms())
        .bind(run_id)
        .bind(attempt)
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Err(not_yours(run_id, 0));
        }
        self.stop_run_units(run_id).await
    }

    /// The units of a run still queued are canceled, those in progress asked to stop.
    pub async fn stop_run_units(&self, run_id: &str) -> Result<(), ServiceError> {
        sqlx::query(
            "UPDATE run_units SET state = 'done', outcome = 'canceled', finished_at = $1 WHERE run_id = $2 AND state = 'queued'",
        )
        .bind(now_ms())
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = $1")
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// A node stopping gives a unit back: queued again at once.
    pub async fn release_unit(&self, node_id: &str, run_id: &str, seq: i64, attempt: i64) -> Result<(), ServiceError> {
        let done = sqlx::query(
            "UPDATE run_units SET state = 'queued', node_id = NULL, node_name = NULL, lease_until = NULL, started_at = NULL \
             WHERE run_id = $1 AND seq = $2 AND attempt = $3 AND node_id = $4 AND state = 'in_progress'",
        )
        .bind(run_id)
        .bind(seq)
        .bind(attempt)
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 1 { Ok(()) } else { Err(not_yours(run_id, seq)) }
    }

    /// Units whose lease expired (their node sent no heartbeat for the
    /// offline threshold: it died, or lost the network) or whose node was
    /// removed go back to the queue. Returns how many.
    pub async fn requeue_lost_units(&self) -> Result<u64, ServiceError> {
        let done = sqlx::query(
            "UPDATE run_units SET state = 'queued', node_id = NULL, node_name = NULL, lease_until = NULL, started_at = NULL \
             WHERE state = 'in_progress' \
             AND (lease_until < $1 OR (node_id NOT LIKE 'service:%' AND node_id NOT IN (SELECT id FROM nodes)))",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// At start: nodes could not renew their leases while the service was
    /// down; they get until `lease_until` to do it, so that a restart does
    /// not take their units away.
    pub async fn extend_leases(&self, lease_until: i64) -> Result<(), ServiceError> {
        sqlx::query("UPDATE run_units SET lease_until = $1 WHERE state = 'in_progress' AND lease_until < $1")
            .bind(lease_until)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// At the start of a service alone on its database: the units the last
    /// service process ran are queued again.
    pub async fn requeue_service_units(&self) -> Result<u64, ServiceError> {
        let done = sqlx::query(
            "UPDATE run_units SET state = 'queued', node_id = NULL, node_name = NULL, lease_until = NULL, started_at = NULL \
             WHERE state = 'in_progress' AND node_id LIKE 'service:%'",
        )
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// Runs whose units are all done (every unit planned, or the run stopped):
    /// ready to commit.
    pub async fn settled_runs(&self) -> Result<Vec<String>, ServiceError> {
        let rows = sqlx::query(
            "SELECT r.id FROM runs r WHERE r.state = 'in_progress' \
             AND NOT EXISTS (SELECT 1 FROM run_units u WHERE u.run_id = r.id AND u.state <> 'done') \
             AND (r.planned <> 0 OR r.cancel_requested <> 0) ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Takes a settled run for its commit (once, whoever asks).
    pub async fn begin_commit(&self, run_id: &str) -> Result<bool, ServiceError> {
        let done = sqlx::query("UPDATE runs SET state = 'committing' WHERE id = $1 AND state = 'in_progress'")
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Runs left committing by a service that stopped.
    pub async fn committing_runs(&self) -> Result<Vec<String>, ServiceError> {
        let rows = sqlx::query("SELECT id FROM runs WHERE state = 'committing' ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The done units of a run, in order.
    pub async fn done_units(&self, run_id: &str) -> Result<Vec<DoneUnit>, ServiceError> {
        let rows = sqlx::query(
            "SELECT seq, attempt, outcome, error FROM run_units WHERE run_id = $1 AND state = 'done' ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| DoneUnit {
                seq: r.get(0),
                attempt: r.get(1),
                outcome: r.get::<Option<String>, _>(2).unwrap_or_default(),
                error: r.get(3),
            })
            .collect())
    }

    pub async fn unit_progress(&self, run_id: &str) -> Result<UnitProgress, ServiceError> {
        let rows = sqlx::query(
            "SELECT state, outcome, node_name, COUNT(*), CAST(SUM(planned_files) AS BIGINT), CAST(SUM(files) AS BIGINT), \
             CAST(SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END) AS BIGINT) FROM run_units \
             WHERE run_id = $1 GROUP BY state, outcome, node_name",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut p = UnitProgress::default();
        for r in &rows {
            let (state, outcome, node): (String, Option<String>, Option<String>) = (r.get(0), r.get(1), r.get(2));
            let n: i64 = r.get(3);
            p.total += n;
            p.planned_files += r.try_get::<Option<i64>, _>(4).ok().flatten().unwrap_or(0);
            p.retried += r.try_get::<Option<i64>, _>(6).ok().flatten().unwrap_or(0);
            match state.as_str() {
                "queued" => p.queued += n,
                "in_progress" => {
                    p.in_progress += n;
                    if let Some(node) = node {
                        *p.in_progress_by_node.entry(node).or_default() += n;
                    }
                }
                _ => {
                    p.done += n;
                    p.files_done += r.try_get::<Option<i64>, _>(5).ok().flatten().unwrap_or(0);
                    if outcome.as_deref() != Some("completed") {
                        p.failed += n;
                    } else if let Some(node) = node {
                        *p.by_node.entry(node).or_default() += n;
                    }
                }
            }
        }
        p.planned = self.run_columns(run_id, "planned").await?.get::<i64, _>(0) != 0;
        Ok(p)
    }

    // ---- blobs ----

    /// Stores `path` as the blob `name` (replacing it), in parts.
    pub async fn put_blob(&self, name: &str, path: &Path) -> Result<(), ServiceError> {
        let io = |e: std::io::Error| ServiceError::Io { path: path.display().to_string(), source: e };
        self.delete_blob(name).await?;
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut part = 0i64;
        loop {
            let mut buf = Vec::with_capacity(PART);
            (&mut file).take(PART as u64).read_to_end(&mut buf).map_err(io)?;
            if buf.is_empty() && part > 0 {
                break;
            }
            let last = buf.len() < PART;
            sqlx::query("INSERT INTO blob_parts (name, part, bytes) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(part)
                .bind(buf)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            part += 1;
            if last {
                break;
            }
        }
        Ok(())
    }

    /// Writes the blob `name` to `path`; false when there is no such blob.
    pub async fn blob_to_file(&self, name: &str, path: &Path) -> Result<bool, ServiceError> {
        let io = |e: std::io::Error| ServiceError::Io { path: path.display().to_string(), source: e };
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM blob_parts WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .get(0);
        if count == 0 {
            return Ok(false);
        }
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        for part in 0..count {
            let row = sqlx::query("SELECT bytes FROM blob_parts WHERE name = $1 AND part = $2")
                .bind(name)
                .bind(part)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
            out.write_all(&row.get::<Vec<u8>, _>(0)).map_err(io)?;
        }
        out.flush().map_err(io)?;
        Ok(true)
    }

    pub async fn delete_blob(&self, name: &str) -> Result<(), ServiceError> {
        sqlx::query("DELETE FROM blob_parts WHERE name = $1").bind(name).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    /// Deletes the blobs whose names start with `prefix`.
    pub async fn delete_blobs(&self, prefix: &str) -> Result<(), ServiceError> {
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        sqlx::query("DELETE FROM blob_parts WHERE name LIKE $1 ESCAPE '\\'")
            .bind(pattern)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // ---- committed results ----

    /// Records a committed run's report and its assets (JSON lines of [`RunAsset`]).
    pub async fn store_results(&self, run_id: &str, report: &str, assets: &Path) -> Result<(), ServiceError> {
        use std::io::BufRead;
        let io = |e: std::io::Error| ServiceError::Io { path: assets.display().to_string(), source: e };
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM run_assets WHERE run_id = $1").bind(run_id).execute(&mut *tx).await.map_err(db)?;
        if assets.exists() {
            let file = std::io::BufReader::new(std::fs::File::open(assets).map_err(io)?);
            for (seq, line) in file.lines().enumerate() {
                let line = line.map_err(io)?;
                let asset: RunAsset = serde_json::from_str(&line)
                    .map_err(|e| ServiceError::Invalid(format!("asset index line {seq}: {e}")))?;
                sqlx::query(
                    "INSERT INTO run_assets (run_id, seq, type_name, qualified_name, name, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(run_id)
                .bind(seq as i64)
                .bind(&asset.type_name)
                .bind(&asset.qualified_name)
                .bind(&asset.name)
                .bind(asset.detail.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        sqlx::query("UPDATE runs SET report = $1 WHERE id = $2")
            .bind(report)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    pub async fn report(&self, run_id: &str) -> Result<Option<String>, ServiceError> {
        Ok(self.run_columns(run_id, "report").await?.get(0))
    }

    /// A page of a committed run's assets, after `cursor`, of a type and/or
    /// whose name or qualified name contains `q`. Returns the next cursor.
    pub async fn run_assets(
        &self,
        run_id: &str,
        type_name: Option<&str>,
        q: Option<&str>,
        cursor: i64,
        limit: i64,
    ) -> Result<(Vec<RunAsset>, Option<i64>), ServiceError> {
        let mut sql = String::from(
            "SELECT seq, type_name, qualified_name, name, detail FROM run_assets WHERE run_id = $1 AND seq > $2",
        );
        let mut n = 2;
        if type_name.is_some() {
            n += 1;
            sql += &format!(" AND type_name = ${n}");
        }
        if q.is_some() {
            sql += &format!(
                " AND (LOWER(qualified_name) LIKE ${} ESCAPE '\\' OR LOWER(name) LIKE ${} ESCAPE '\\')",
                n + 1,
                n + 2
            );
            n += 2;
        }
        sql += &format!(" ORDER BY seq LIMIT ${}", n + 1);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run_id).bind(cursor);
        if let Some(t) = type_name {
            query = query.bind(t);
        }
        if let Some(q) = q {
            let like = format!("%{}%", q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            query = query.bind(like.clone()).bind(like);
        }
        let rows = query.bind(limit + 1).fetch_all(&self.pool).await.map_err(db)?;
        let mut assets = Vec::new();
        let mut next = None;
        for (i, r) in rows.iter().enumerate() {
            if i as i64 == limit {
                next = Some(rows[i - 1].get::<i64, _>(0));
                break;
            }
            assets.push(RunAsset {
                type_name: r.get(1),
                qualified_name: r.get(2),
                name: r.get(3),
                detail: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
            });
        }
        Ok((assets, next))
    }

    // ---- ingestion targets ----

    pub async fn set_ingestion(&self, ir_id: &str, redacted: &str, sealed: &str) -> Result<(), ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM ingestion_targets WHERE ir_id = $1")
            .bind(ir_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO ingestion_targets (ir_id, definition_redacted, definition_sealed, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(ir_id)
        .bind(redacted)
        .bind(sealed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    pub async fn clear_ingestion(&self, ir_id: &str) -> Result<(), ServiceError> {
        sqlx::query("DELETE FROM ingestion_targets WHERE ir_id = $1")
            .bind(ir_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// An integration runtime's ingestion target: (redacted, sealed) definitions.
    pub async fn ingestion(&self, ir_id: &str) -> Result<Option<(String, String)>, ServiceError> {
        let row = sqlx::query("SELECT definition_redacted, definition_sealed FROM ingestion_targets WHERE ir_id = $1")
            .bind(ir_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}
