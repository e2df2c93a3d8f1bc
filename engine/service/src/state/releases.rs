//! Releases, update policies and rollouts in the database.
//!
//! A release's binary is the blob `release/<version>` (in parts, like unit
//! results), so every replica on one PostgreSQL serves the same bytes; its
//! row is written after the blob, so a listed release always has one. A
//! rollout hands its "go" to one node at a time by compare-and-set on
//! `rollouts.current_node`.

use super::{Db, db, is_unique, rfc3339};
use crate::{ServiceError, now_ms};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::path::Path;

/// A published release.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Release {
    pub version: String,
    /// SHA-256 of the binary, lowercase hex.
    pub sha256: String,
    /// Ed25519 signature (base64) of `surveyor-release\n<version>\n<sha256>\n`.
    pub signature: String,
    pub size: i64,
    /// `x86_64-linux`, `aarch64-linux`.
    pub platform: String,
    pub published_at: String,
}

/// A daily maintenance window: automatic updates start only inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWindow {
    /// `HH:MM`, local time of `time_zone`.
    pub start: String,
    /// `HH:MM`; before `start`: the window spans midnight.
    pub end: String,
    /// IANA time zone (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// How a runtime's nodes are updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// `auto` (default: a newer release rolls out by itself, inside the
    /// window if one is set) or `manual` (only when an administrator starts it).
    pub mode: String,
    #[serde(default)]
    pub window: Option<UpdateWindow>,
}

/// A node's step of a rollout.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolloutStep {
    pub node: String,
    pub node_id: String,
    /// `in_progress` (the node has the go), `succeeded` (back on the new
    /// version), `failed` (it refused the release or rolled back).
    pub state: String,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// A rollout of a release to a runtime's nodes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RolloutView {
    pub version: String,
    /// The version the nodes shared when it started.
    pub from_version: Option<String>,
    /// `in_progress`, `succeeded` or `failed` (stopped: no other node gets the go).
    pub state: String,
    pub error: Option<String>,
    /// The node updating now.
    pub current_node: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// One per node that got the go, in order.
    pub steps: Vec<RolloutStep>,
}

/// A rollout's row.
#[derive(Debug, Clone)]
pub struct RolloutRow {
    pub version: String,
    pub from_version: Option<String>,
    pub state: String,
    pub current_node: Option<String>,
}

fn release_row(r: &sqlx::any::AnyRow) -> Release {
    Release {
        version: r.get("version"),
        sha256: r.get("sha256"),
        signature: r.get("signature"),
        size: r.get("size"),
        platform: r.get("platform"),
        published_at: rfc3339(r.get("published_at")),
    }
}

fn blob_name(version: &str) -> String {
    format!("release/{version}")
}

impl Db {
    // ---- releases ----

    /// Stores a checked release: its binary, then its row. A version that
    /// exists is a conflict, and nothing changes.
    pub async fn add_release(&self, release: &Release, binary: &Path) -> Result<(), ServiceError> {
        if self.release(&release.version).await?.is_some() {
            return Err(ServiceError::Conflict(format!("release {} is already published", release.version)));
        }
        self.put_blob(&blob_name(&release.version), binary).await?;
        let inserted = sqlx::query(
            "INSERT INTO releases (version, sha256, signature, size, platform, published_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&release.version)
        .bind(&release.sha256)
        .bind(&release.signature)
        .bind(release.size)
        .bind(&release.platform)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        if let Err(e) = inserted {
            // Another replica published the same version at the same moment: its blob stays.
            return Err(if is_unique(&e) {
                ServiceError::Conflict(format!("release {} is already published", release.version))
            } else {
                self.delete_blob(&blob_name(&release.version)).await.ok();
                db(e)
            });
        }
        Ok(())
    }

    /// Every release, newest version first.
    pub async fn releases(&self) -> Result<Vec<Release>, ServiceError> {
        let rows = sqlx::query("SELECT * FROM releases").fetch_all(&self.pool).await.map_err(db)?;
        let mut all: Vec<Release> = rows.iter().map(release_row).collect();
        all.sort_by(|a, b| {
            let (a, b) = (semver::Version::parse(&a.version).ok(), semver::Version::parse(&b.version).ok());
            b.cmp(&a)
        });
        Ok(all)
    }

    pub async fn release(&self, version: &str) -> Result<Option<Release>, ServiceError> {
        let row = sqlx::query("SELECT * FROM releases WHERE version = $1")
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(release_row))
    }

    /// Writes a release's binary to `path`; false when there is no such release.
    pub async fn release_to_file(&self, version: &str, path: &Path) -> Result<bool, ServiceError> {
        self.blob_to_file(&blob_name(version), path).await
    }

    // ---- update policy ----

    pub async fn update_policy(&self, ir_id: &str) -> Result<UpdatePolicy, ServiceError> {
        let row = sqlx::query("SELECT update_mode, update_window FROM integration_runtimes WHERE id = $1")
            .bind(ir_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let window: Option<String> = row.get(1);
        Ok(UpdatePolicy { mode: row.get(0), window: window.and_then(|w| serde_json::from_str(&w).ok()) })
    }

    pub async fn set_update_policy(&self, ir_id: &str, policy: &UpdatePolicy) -> Result<(), ServiceError> {
        let window = policy.window.as_ref().map(|w| serde_json::to_string(w).expect("serializes"));
        sqlx::query("UPDATE integration_runtimes SET update_mode = $1, update_window = $2 WHERE id = $3")
            .bind(&policy.mode)
            .bind(window)
            .bind(ir_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The versions the runtime's nodes last reported: (node id, version).
    pub async fn node_versions(&self, ir_id: &str) -> Result<Vec<(String, Option<String>)>, ServiceError> {
        let rows = sqlx::query("SELECT id, version FROM nodes WHERE ir_id = $1 ORDER BY name")
            .bind(ir_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    // ---- rollouts ----

    fn rollout_row(r: &sqlx::any::AnyRow) -> RolloutRow {
        RolloutRow {
            version: r.get("version"),
            from_version: r.get("from_version"),
            state: r.get("state"),
            current_node: r.get("current_node"),
        }
    }

    /// The runtime's rollout in progress, if any.
    pub async fn active_rollout(&self, ir_id: &str) -> Result<Option<RolloutRow>, ServiceError> {
        let row = sqlx::query("SELECT * FROM rollouts WHERE ir_id = $1 AND state = 'in_progress'")
            .bind(ir_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(Self::rollout_row))
    }

    /// The rollout of `version` to the runtime, whatever its state.
    pub async fn rollout(&self, ir_id: &str, version: &str) -> Result<Option<RolloutRow>, ServiceError> {
        let row = sqlx::query("SELECT * FROM rollouts WHERE ir_id = $1 AND version = $2")
            .bind(ir_id)
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(Self::rollout_row))
    }

    /// Starts a rollout (unless the runtime has one in progress); one that
    /// failed before is started afresh when `restart`. False: not started.
    pub async fn start_rollout(
        &self,
        ir_id: &str,
        version: &str,
        from_version: Option<&str>,
        restart: bool,
    ) -> Result<bool, ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let busy: i64 = sqlx::query("SELECT COUNT(*) FROM rollouts WHERE ir_id = $1 AND state = 'in_progress'")
            .bind(ir_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .get(0);
        if busy > 0 {
            return Ok(false);
        }
        if restart {
            for sql in [
                "DELETE FROM rollouts WHERE ir_id = $1 AND version = $2",
                "DELETE FROM rollout_steps WHERE ir_id = $1 AND version = $2",
            ] {
                sqlx::query(sql).bind(ir_id).bind(version).execute(&mut *tx).await.map_err(db)?;
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO rollouts (ir_id, version, from_version, state, started_at) VALUES ($1, $2, $3, 'in_progress', $4)",
        )
        .bind(ir_id)
        .bind(version)
        .bind(from_version)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => tx.commit().await.map_err(db).map(|_| true),
            Err(e) if is_unique(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// Gives the go to `node` if no other node has it (compare-and-set).
    pub async fn take_turn(
        &self,
        ir_id: &str,
        version: &str,
        node_id: &str,
        node_name: &str,
    ) -> Result<bool, ServiceError> {
        let taken = sqlx::query(
            "UPDATE rollouts SET current_node = $1 WHERE ir_id = $2 AND version = $3 AND state = 'in_progress' \
             AND current_node IS NULL",
        )
        .bind(node_id)
        .bind(ir_id)
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if taken {
            sqlx::query("DELETE FROM rollout_steps WHERE ir_id = $1 AND version = $2 AND node_id = $3")
                .bind(ir_id)
                .bind(version)
                .bind(node_id)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            sqlx::query(
                "INSERT INTO rollout_steps (ir_id, version, node_id, node_name, state, started_at) \
                 VALUES ($1, $2, $3, $4, 'in_progress', $5)",
            )
            .bind(ir_id)
            .bind(version)
            .bind(node_id)
            .bind(node_name)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        }
        Ok(taken)
    }

    /// A node's step: (state, started at).
    pub async fn rollout_step(
        &self,
        ir_id: &str,
        version: &str,
        node_id: &str,
    ) -> Result<Option<(String, i64)>, ServiceError> {
        let row = sqlx::query(
            "SELECT state, started_at FROM rollout_steps WHERE ir_id = $1 AND version = $2 AND node_id = $3",
        )
        .bind(ir_id)
        .bind(version)
        .bind(node_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Ends a node's step (once: false if it was not in progress). A failed
    /// step fails the rollout, which then gives no other node the go.
    pub async fn finish_step(
        &self,
        ir_id: &str,
        version: &str,
        node_id: &str,
        error: Option<&str>,
    ) -> Result<bool, ServiceError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let ended = sqlx::query(
            "UPDATE rollout_steps SET state = $1, error = $2, finished_at = $3 \
             WHERE ir_id = $4 AND version = $5 AND node_id = $6 AND state = 'in_progress'",
        )
        .bind(if error.is_some() { "failed" } else { "succeeded" })
        .bind(error)
        .bind(now)
        .bind(ir_id)
        .bind(version)
        .bind(node_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if !ended {
            return Ok(false);
        }
        sqlx::query("UPDATE rollouts SET current_node = NULL WHERE ir_id = $1 AND version = $2 AND current_node = $3")
            .bind(ir_id)
            .bind(version)
            .bind(node_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(error) = error {
            sqlx::query(
                "UPDATE rollouts SET state = 'failed', error = $1, finished_at = $2 \
                 WHERE ir_id = $3 AND version = $4 AND state = 'in_progress'",
            )
            .bind(error)
            .bind(now)
            .bind(ir_id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// Marks a rollout succeeded (every node is on its version).
    pub async fn succeed_rollout(&self, ir_id: &str, version: &str) -> Result<bool, ServiceError> {
        Ok(sqlx::query(
            "UPDATE rollouts SET state = 'succeeded', finished_at = $1 \
             WHERE ir_id = $2 AND version = $3 AND state = 'in_progress' AND current_node IS NULL",
        )
        .bind(now_ms())
        .bind(ir_id)
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected()
            == 1)
    }

    /// The runtime's latest rollout, with its steps.
    pub async fn latest_rollout(&self, ir_id: &str) -> Result<Option<RolloutView>, ServiceError> {
        let row = sqlx::query(
            "SELECT o.*, n.name AS current_name FROM rollouts o LEFT JOIN nodes n ON n.id = o.current_node \
             WHERE o.ir_id = $1 ORDER BY o.started_at DESC LIMIT 1",
        )
        .bind(ir_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let version: String = r.get("version");
        let steps =
            sqlx::query("SELECT * FROM rollout_steps WHERE ir_id = $1 AND version = $2 ORDER BY started_at, node_name")
                .bind(ir_id)
                .bind(&version)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(Some(RolloutView {
            version,
            from_version: r.get("from_version"),
            state: r.get("state"),
            error: r.get("error"),
            current_node: r.get("current_name"),
            started_at: rfc3339(r.get("started_at")),
            finished_at: r.get::<Option<i64>, _>("finished_at").map(rfc3339),
            steps: steps
                .iter()
                .map(|s| RolloutStep {
                    node: s.get("node_name"),
                    node_id: s.get("node_id"),
                    state: s.get("state"),
                    error: s.get("error"),
                    started_at: rfc3339(s.get("started_at")),
                    finished_at: s.get::<Option<i64>, _>("finished_at").map(rfc3339),
                })
                .collect(),
        }))
    }
}
