//! The queue of runs that the nodes of an integration runtime run: a node
//! claims the oldest queued run of its runtime, reports its end (or gives it
//! back when it stops), and picks up cancels with its heartbeats. A run whose
//! node went offline or was removed goes back to the queue.

use super::{Db, RunCounts, RunView, db};
use crate::{ServiceError, now_ms};
use sqlx::Row;

impl Db {
    /// The oldest queued run of the node's integration runtime, marked
    /// `in_progress` on that node.
    pub async fn claim_for_node(&self, node_id: &str) -> Result<Option<RunView>, ServiceError> {
        let node = sqlx::query("SELECT ir_id, name FROM nodes WHERE id = $1")
            .bind(node_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| ServiceError::Unauthorized("the node was removed".into()))?;
        let (ir_id, name): (String, String) = (node.get(0), node.get(1));
        // Another node may take the same run between the two statements: the
        // update only succeeds for one of them, the other tries the next run.
        for _ in 0..5 {
            let row =
                sqlx::query("SELECT id FROM runs WHERE state = 'queued' AND ir_id = $1 ORDER BY queued_at, id LIMIT 1")
                    .bind(&ir_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
            let Some(row) = row else { return Ok(None) };
            let id: String = row.get(0);
            let done = sqlx::query(
                "UPDATE runs SET state = 'in_progress', started_at = $1, node_id = $2, node_name = $3 \
                 WHERE id = $4 AND state = 'queued'",
            )
            .bind(now_ms())
            .bind(node_id)
            .bind(&name)
            .bind(&id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            if done.rows_affected() == 1 {
                return self.run(&id).await.map(Some);
            }
        }
        Ok(None)
    }

    /// Asks the node running `id` to stop it; false when no node runs it.
    pub async fn request_cancel(&self, id: &str) -> Result<bool, ServiceError> {
        let done = sqlx::query(
            "UPDATE runs SET cancel_requested = 1 WHERE id = $1 AND state = 'in_progress' AND node_id IS NOT NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// The node's runs whose cancel was asked for.
    pub async fn cancels_for_node(&self, node_id: &str) -> Result<Vec<String>, ServiceError> {
        let rows = sqlx::query(
            "SELECT id FROM runs WHERE node_id = $1 AND state = 'in_progress' AND cancel_requested <> 0 ORDER BY id",
        )
        .bind(node_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Records the end of a node's run. A run that is no longer this node's
    /// (given to another node after this one went offline) is a conflict.
    pub async fn finish_node_run(
        &self,
        node_id: &str,
        id: &str,
        state: &str,
        counts: &RunCounts,
        error: Option<&str>,
        location: Option<&str>,
    ) -> Result<(), ServiceError> {
        let done = self.record_end(id, Some(node_id), state, counts, error, location).await?;
        if done == 1 { Ok(()) } else { Err(not_yours(id)) }
    }

    /// A node stopping gives its run back: queued again (reason `resumed`).
    pub async fn release_node_run(&self, node_id: &str, id: &str) -> Result<(), ServiceError> {
        let done = sqlx::query(
            "UPDATE runs SET state = 'queued', reason = 'resumed', attempt = attempt + 1, started_at = NULL, \
             node_id = NULL, node_name = NULL WHERE id = $1 AND node_id = $2 AND state = 'in_progress' AND cancel_requested = 0",
        )
        .bind(id)
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 1 { Ok(()) } else { Err(not_yours(id)) }
    }

    /// Runs in progress on nodes that were removed or sent no heartbeat since
    /// `alive_since` (ms): queued again, or canceled when a cancel was asked.
    /// Returns how many were queued again.
    pub async fn requeue_orphaned(&self, alive_since: i64) -> Result<u64, ServiceError> {
        const ORPHANED: &str = "state = 'in_progress' AND node_id IS NOT NULL \
             AND node_id NOT IN (SELECT id FROM nodes WHERE last_heartbeat_at >= $1)";
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE runs SET state = 'canceled', finished_at = $2, error = 'canceled; its node went offline before it stopped' \
             WHERE {ORPHANED} AND cancel_requested <> 0"
        )))
        .bind(alive_since)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE runs SET state = 'queued', reason = 'resumed', attempt = attempt + 1, started_at = NULL, \
             node_id = NULL, node_name = NULL WHERE {ORPHANED}"
        )))
        .bind(alive_since)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected())
    }
}

fn not_yours(id: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "run {id} is no longer this node's (it was canceled, or given to another node while this one was offline)"
    ))
}
