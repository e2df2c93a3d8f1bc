//! The service's state: an embedded SQLite database by default, through
//! sqlx's `Any` driver with portable SQL, so that PostgreSQL can back it
//! (`--database-url postgres://…`) without other changes.
//!
//! Migrations are the files of `engine/migrations/`, embedded in the binary
//! and applied in order at start (sqlx's migrator, `_sqlx_migrations` table).

use super::{ServiceError, now_ms};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};
use std::borrow::Cow;

mod releases;
pub mod tls;
mod units;

pub use releases::{Release, RolloutStep, RolloutView, UpdatePolicy, UpdateWindow};
pub use units::{ClaimedUnit, DoneUnit, RunAsset, SERVICE_NODE, UnitProgress};

/// The migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "dispatch", include_str!("../migrations/0002_dispatch.sql")),
    (3, "run_indexes", include_str!("../migrations/0003_run_indexes.sql")),
    (4, "units", include_str!("../migrations/0004_units.sql")),
    (5, "releases", include_str!("../migrations/0005_releases.sql")),
];

pub fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(v, d, sql)| {
                Migration::new(
                    *v,
                    Cow::Borrowed(*d),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect(),
    )
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
}

fn db(e: sqlx::Error) -> ServiceError {
    ServiceError::Database(e.to_string())
}

/// An integration runtime.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationRuntime {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub max_nodes: i64,
    pub nodes: i64,
    /// RFC 3339.
    pub created_at: String,
}

/// A registered node.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub integration_runtime: String,
    pub ip_address: Option<String>,
    pub url: Option<String>,
    pub version: Option<String>,
    /// `online` (a heartbeat within the offline threshold), `limited` (online, but CPU or memory above 90%) or `offline`.
    pub status: String,
    pub registered_at: String,
    pub last_heartbeat_at: Option<String>,
    pub running_jobs: i64,
    pub cpu_percent: Option<f64>,
    pub memory_used_bytes: Option<i64>,
    pub memory_total_bytes: Option<i64>,
}

/// A stored source: what the API shows (secrets redacted).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    /// The connection, with every secret replaced by `<redacted>`.
    #[schema(value_type = Object)]
    pub connection: serde_json::Value,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub resource_sets: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// A stored scan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanView {
    pub id: String,
    pub name: String,
    pub source: String,
    pub scope: Vec<String>,
    #[schema(value_type = Object)]
    pub rule_set: serde_json::Value,
    pub trigger: super::schedule::Trigger,
    pub incremental: bool,
    /// The integration runtime whose nodes run the scan; unset: the service runs it.
    pub integration_runtime: Option<String>,
    pub next_run_at: Option<String>,
    pub created_at: String,
}

/// Counts of a run.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RunCounts {
    pub assets: i64,
    pub files: i64,
    pub schemas: i64,
    pub resource_sets: i64,
    pub entities: i64,
    pub item_errors: i64,
    pub bytes_read: i64,
}

/// A run of a scan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: String,
    pub scan_id: String,
    pub scan: String,
    pub source: String,
    /// `queued`, `in_progress`, `succeeded`, `completed_with_exceptions`, `failed` or `canceled`.
    pub state: String,
    /// `schedule`, `manual` or `resumed` (re-queued after a shutdown).
    pub reason: String,
    pub attempt: i64,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub counts: RunCounts,
    pub error: Option<String>,
    /// Where the run's output was written (its ingestion target).
    pub location: Option<String>,
    /// Its work units (`GET /v1/runs/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<UnitProgress>,
}

/// A scan's row, for the scheduler and the executor.
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub id: String,
    pub name: String,
    pub source_id: String,
    pub source_name: String,
    pub scope: Vec<String>,
    pub rule_set: serde_json::Value,
    pub trigger: super::schedule::Trigger,
    pub incremental: bool,
    pub next_run_at: Option<i64>,
    pub ir_id: Option<String>,
    pub ir_name: Option<String>,
}

/// A source's row, with its sealed connection.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub id: String,
    pub name: String,
    pub source_type: String,
    pub definition: serde_json::Value,
    pub connection_sealed: String,
}

/// Always three fractional digits, so that the strings sort as the times do
/// (`03.6Z` would sort after `03.639Z`).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| format!("{t:.3}")).unwrap_or_default()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

fn url_host(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
}

impl Db {
    /// Opens (creating it if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Db, ServiceError> {
        sqlx::any::install_default_drivers();
        // SQLite: one connection (one writer at a time; no busy errors).
        let max = if url.starts_with("sqlite:") { 1 } else { 8 };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // SQLite: a write-ahead log, synced at checkpoints rather than at
            // every commit: a commit costs microseconds, not an fsync (the
            // scheduler queues 1,000 runs in a burst; see BENCHMARKS.md).
            // A power cut can lose the last commits, never corrupt the file.
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| {
                match surveyor_engine::backends::pg_tls::explain(
                    &e,
                    &tls::server_of(url),
                    &url_host(url),
                    "database_ca_certificate",
                ) {
                    Some(message) => ServiceError::Database(message),
                    None => db(e),
                }
            })?;
        migrator().run(&pool).await.map_err(|e| ServiceError::Database(format!("migrating the database: {e}")))?;
        Ok(Db { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>, ServiceError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(&self.pool).await;
        Ok(row.map_err(db)?.map(|r| r.get::<String, _>(0)))
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), ServiceError> {
        sqlx::query("DELETE FROM settings WHERE name = $1").bind(name).execute(&self.pool).await.map_err(db)?;
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // ---- integration runtimes and keys ----

    pub async fn create_ir(
        &self,
        id: &str,
        name: &str,
        description: Option<&str>,
        max_nodes: i64,
        keys: [(String, String); 2],
    ) -> Result<(), ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO integration_runtimes (id, name, description, max_nodes, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(description)
        .bind(max_nodes)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(if is_unique(&e) {
                ServiceError::Conflict(format!("an integration runtime named '{name}' exists"))
            } else {
                db(e)
            });
        }
        for (slot, (hash, sealed)) in keys.iter().enumerate() {
            sqlx::query(
                "INSERT INTO ir_keys (ir_id, slot, key_hash, key_sealed, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(slot as i64 + 1)
            .bind(hash)
            .bind(sealed)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    const IR_SELECT: &str = "SELECT r.id, r.name, r.description, r.max_nodes, r.created_at, \
        (SELECT COUNT(*) FROM nodes n WHERE n.ir_id = r.id) AS node_count FROM integration_runtimes r";

    fn ir_row(row: &AnyRow) -> IntegrationRuntime {
        IntegrationRuntime {
            id: row.get("id"),
            name: row.get("name"),
            description: row.get("description"),
            max_nodes: row.get("max_nodes"),
            nodes: row.get("node_count"),
            created_at: rfc3339(row.get("created_at")),
        }
    }

    pub async fn list_irs(&self) -> Result<Vec<IntegrationRuntime>, ServiceError> {
        let sql = format!("{} ORDER BY r.name", Self::IR_SELECT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(Self::ir_row).collect())
    }

    /// An integration runtime by name or id.
    pub async fn ir(&self, name: &str) -> Result<IntegrationRuntime, ServiceError> {
        let sql = format!("{} WHERE r.name = $1 OR r.id = $1", Self::IR_SELECT);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&self.pool).await.map_err(db)?;
        row.map(|r| Self::ir_row(&r)).ok_or_else(|| ServiceError::NotFound(format!("no integration runtime '{name}'")))
    }

    pub async fn set_ir_description(&self, id: &str, description: Option<&str>) -> Result<(), ServiceError> {
        sqlx::query("UPDATE integration_runtimes SET description = $1 WHERE id = $2")
            .bind(description)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub async fn delete_ir(&self, id: &str) -> Result<(), ServiceError> {
        let scans = sqlx::query("SELECT name FROM scans WHERE ir_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        if !scans.is_empty() {
            let names: Vec<String> = scans.iter().map(|r| r.get(0)).collect();
            return Err(ServiceError::Conflict(format!(
                "scans run on this integration runtime: {}; move or delete them first",
                names.join(", ")
            )));
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        for sql in [
            "DELETE FROM nodes WHERE ir_id = $1",
            "DELETE FROM ir_keys WHERE ir_id = $1",
            "DELETE FROM integration_runtimes WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub async fn ir_keys_sealed(&self, ir_id: &str) -> Result<Vec<(i64, String)>, ServiceError> {
        let rows = sqlx::query("SELECT slot, key_sealed FROM ir_keys WHERE ir_id = $1 ORDER BY slot")
            .bind(ir_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1))).collect())
    }

    pub async fn replace_ir_key(&self, ir_id: &str, slot: i64, hash: &str, sealed: &str) -> Result<(), ServiceError> {
        sqlx::query(
            "UPDATE ir_keys SET key_hash = $1, key_sealed = $2, created_at = $3 WHERE ir_id = $4 AND slot = $5",
        )
        .bind(hash)
        .bind(sealed)
        .bind(now_ms())
        .bind(ir_id)
        .bind(slot)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The runtime a key (by its hash) belongs to.
    pub async fn ir_by_key_hash(&self, hash: &str) -> Result<Option<(String, i64)>, ServiceError> {
        let row = sqlx::query(
            "SELECT r.id, r.max_nodes FROM ir_keys k JOIN integration_runtimes r ON r.id = k.ir_id WHERE k.key_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))))
    }

    // ---- nodes ----

    /// Registers a node unless the runtime is full (checked in the same transaction).
    #[allow(clippy::too_many_arguments)]
    pub async fn register_node(
        &self,
        id: &str,
        ir_id: &str,
        max_nodes: i64,
        name: &str,
        ip: Option<&str>,
        url: Option<&str>,
        version: Option<&str>,
        credential_hash: &str,
    ) -> Result<(), ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM nodes WHERE ir_id = $1")
            .bind(ir_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?
            .get(0);
        if count >= max_nodes {
            return Err(ServiceError::Conflict(format!(
                "the integration runtime has {count} nodes, its maximum; remove one or raise max_nodes"
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO nodes (id, ir_id, name, ip_address, url, version, credential_hash, registered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(ir_id)
        .bind(name)
        .bind(ip)
        .bind(url)
        .bind(version)
        .bind(credential_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(if is_unique(&e) {
                ServiceError::Conflict(format!("a node named '{name}' is registered to this runtime"))
            } else {
                db(e)
            });
        }
        tx.commit().await.map_err(db)
    }

    pub async fn node_by_credential(&self, hash: &str) -> Result<Option<String>, ServiceError> {
        let row = sqlx::query("SELECT id FROM nodes WHERE credential_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn heartbeat(
        &self,
        node_id: &str,
        ip: Option<&str>,
        version: &str,
        running_jobs: i64,
        cpu_percent: Option<f64>,
        memory_used: Option<i64>,
        memory_total: Option<i64>,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "UPDATE nodes SET last_heartbeat_at = $1, version = $2, running_jobs = $3, cpu_percent = $4, \
             memory_used_bytes = $5, memory_total_bytes = $6, ip_address = COALESCE($7, ip_address) WHERE id = $8",
        )
        .bind(now_ms())
        .bind(version)
        .bind(running_jobs)
        .bind(cpu_percent)
        .bind(memory_used)
        .bind(memory_total)
        .bind(ip)
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub async fn list_nodes(&self, ir_id: Option<&str>, offline_after_ms: i64) -> Result<Vec<Node>, ServiceError> {
        let rows = sqlx::query(
            "SELECT n.*, r.name AS ir_name FROM nodes n JOIN integration_runtimes r ON r.id = n.ir_id \
             WHERE (CAST($1 AS TEXT) IS NULL OR n.ir_id = $1) ORDER BY r.name, n.name",
        )
        .bind(ir_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let now = now_ms();
        Ok(rows
            .iter()
            .map(|r| {
                let last: Option<i64> = r.get("last_heartbeat_at");
                let cpu: Option<f64> = r.get("cpu_percent");
                let used: Option<i64> = r.get("memory_used_bytes");
                let total: Option<i64> = r.get("memory_total_bytes");
                let online = last.is_some_and(|t| now - t <= offline_after_ms);
                let busy = cpu.is_some_and(|c| c > 90.0)
                    || matches!((used, total), (Some(u), Some(t)) if t > 0 && u * 10 > t * 9);
                let status = match (online, busy) {
                    (false, _) => "offline",
                    (true, true) => "limited",
                    (true, false) => "online",
                };
                Node {
                    id: r.get("id"),
                    name: r.get("name"),
                    integration_runtime: r.get("ir_name"),
                    ip_address: r.get("ip_address"),
                    url: r.get("url"),
                    version: r.get("version"),
                    status: status.into(),
                    registered_at: rfc3339(r.get("registered_at")),
                    last_heartbeat_at: last.map(rfc3339),
                    running_jobs: r.get("running_jobs"),
                    cpu_percent: cpu,
                    memory_used_bytes: used,
                    memory_total_bytes: total,
                }
            })
            .collect())
    }

    /// Removes a node by id or name (the name must then be unique).
    pub async fn remove_node(&self, node: &str) -> Result<(), ServiceError> {
        let rows = sqlx::query("SELECT id FROM nodes WHERE id = $1 OR name = $1")
            .bind(node)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        match rows.len() {
            0 => Err(ServiceError::NotFound(format!("no node '{node}'"))),
            1 => {
                let id: String = rows[0].get(0);
                sqlx::query("DELETE FROM nodes WHERE id = $1").bind(id).execute(&self.pool).await.map_err(db)?;
                Ok(())
            }
            n => Err(ServiceError::Conflict(format!("{n} nodes are named '{node}': remove one by its id"))),
        }
    }

    // ---- sources ----

    pub async fn put_source(
        &self,
        row: &SourceRow,
        connection_redacted: &serde_json::Value,
        create: bool,
    ) -> Result<(), ServiceError> {
        let now = now_ms();
        let result = if create {
            sqlx::query(
                "INSERT INTO sources (id, name, source_type, definition, connection_redacted, connection_sealed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&row.id)
            .bind(&row.name)
            .bind(&row.source_type)
            .bind(row.definition.to_string())
            .bind(connection_redacted.to_string())
            .bind(&row.connection_sealed)
            .bind(now)
            .execute(&self.pool)
            .await
        } else {
            sqlx::query(
                "UPDATE sources SET source_type = $1, definition = $2, connection_redacted = $3, connection_sealed = $4, \
                 updated_at = $5 WHERE id = $6",
            )
            .bind(&row.source_type)
            .bind(row.definition.to_string())
            .bind(connection_redacted.to_string())
            .bind(&row.connection_sealed)
            .bind(now)
            .bind(&row.id)
            .execute(&self.pool)
            .await
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique(&e) => Err(ServiceError::Conflict(format!("a source named '{}' exists", row.name))),
            Err(e) => Err(db(e)),
        }
    }

    fn source_view(r: &AnyRow) -> SourceView {
        let definition = json(&r.get::<String, _>("definition"));
        SourceView {
            id: r.get("id"),
            name: r.get("name"),
            source_type: r.get("source_type"),
            connection: json(&r.get::<String, _>("connection_redacted")),
            config: definition.get("config").cloned().unwrap_or(serde_json::json!({})),
            resource_sets: definition.get("resource_sets").cloned().filter(|v| !v.is_null()),
            created_at: rfc3339(r.get("created_at")),
            updated_at: rfc3339(r.get("updated_at")),
        }
    }

    pub async fn list_sources(&self) -> Result<Vec<SourceView>, ServiceError> {
        let rows = sqlx::query("SELECT * FROM sources ORDER BY name").fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(Self::source_view).collect())
    }

    pub async fn source_view_by_name(&self, name: &str) -> Result<SourceView, ServiceError> {
        let row = sqlx::query("SELECT * FROM sources WHERE name = $1 OR id = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| Self::source_view(&r)).ok_or_else(|| ServiceError::NotFound(format!("no source '{name}'")))
    }

    pub async fn source_row(&self, name: &str) -> Result<SourceRow, ServiceError> {
        let row = sqlx::query("SELECT * FROM sources WHERE name = $1 OR id = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| ServiceError::NotFound(format!("no source '{name}'")))?;
        Ok(SourceRow {
            id: row.get("id"),
            name: row.get("name"),
            source_type: row.get("source_type"),
            definition: json(&row.get::<String, _>("definition")),
            connection_sealed: row.get("connection_sealed"),
        })
    }

    pub async fn delete_source(&self, id: &str, name: &str) -> Result<(), ServiceError> {
        let scans: i64 = sqlx::query("SELECT COUNT(*) FROM scans WHERE source_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .get(0);
        if scans > 0 {
            return Err(ServiceError::Conflict(format!("source '{name}' has {scans} scans: delete them first")));
        }
        sqlx::query("DELETE FROM sources WHERE id = $1").bind(id).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    // ---- scans ----

    pub async fn put_scan(&self, scan: &ScanRow, create: bool) -> Result<(), ServiceError> {
        let now = now_ms();
        let trigger = serde_json::to_string(&scan.trigger).expect("serializes");
        let scope = serde_json::to_string(&scan.scope).expect("serializes");
        let result = if create {
            sqlx::query(
                "INSERT INTO scans (id, name, source_id, scope, rule_set, trigger_definition, incremental, next_run_at, created_at, updated_at, ir_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
            )
            .bind(&scan.id)
            .bind(&scan.name)
            .bind(&scan.source_id)
            .bind(scope)
            .bind(scan.rule_set.to_string())
            .bind(trigger)
            .bind(scan.incremental as i64)
            .bind(scan.next_run_at)
            .bind(now)
            .bind(&scan.ir_id)
            .execute(&self.pool)
            .await
        } else {
            sqlx::query(
                "UPDATE scans SET source_id = $1, scope = $2, rule_set = $3, trigger_definition = $4, incremental = $5, \
                 next_run_at = $6, updated_at = $7, ir_id = $9 WHERE id = $8",
            )
            .bind(&scan.source_id)
            .bind(scope)
            .bind(scan.rule_set.to_string())
            .bind(trigger)
            .bind(scan.incremental as i64)
            .bind(scan.next_run_at)
            .bind(now)
            .bind(&scan.id)
            .bind(&scan.ir_id)
            .execute(&self.pool)
            .await
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique(&e) => Err(ServiceError::Conflict(format!("a scan named '{}' exists", scan.name))),
            Err(e) => Err(db(e)),
        }
    }

    const SCAN_SELECT: &str = "SELECT c.*, s.name AS source_name, r.name AS ir_name FROM scans c \
         JOIN sources s ON s.id = c.source_id LEFT JOIN integration_runtimes r ON r.id = c.ir_id";

    fn scan_row(r: &AnyRow) -> ScanRow {
        ScanRow {
            id: r.get("id"),
            name: r.get("name"),
            source_id: r.get("source_id"),
            source_name: r.get("source_name"),
            scope: serde_json::from_str(&r.get::<String, _>("scope")).unwrap_or_default(),
            rule_set: json(&r.get::<String, _>("rule_set")),
            trigger: serde_json::from_str(&r.get::<String, _>("trigger_definition"))
                .unwrap_or_else(|_| super::schedule::Trigger::manual()),
            incremental: r.get::<i64, _>("incremental") != 0,
            next_run_at: r.get("next_run_at"),
            ir_id: r.get("ir_id"),
            ir_name: r.get("ir_name"),
        }
    }

    pub fn scan_view(row: &ScanRow, created_at: i64) -> ScanView {
        ScanView {
            id: row.id.clone(),
            name: row.name.clone(),
            source: row.source_name.clone(),
            scope: row.scope.clone(),
            rule_set: row.rule_set.clone(),
            trigger: row.trigger.clone(),
            incremental: row.incremental,
            integration_runtime: row.ir_name.clone(),
            next_run_at: row.next_run_at.map(rfc3339),
            created_at: rfc3339(created_at),
        }
    }

    pub async fn list_scans(&self) -> Result<Vec<ScanView>, ServiceError> {
        let sql = format!("{} ORDER BY c.name", Self::SCAN_SELECT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(|r| Self::scan_view(&Self::scan_row(r), r.get("created_at"))).collect())
    }

    pub async fn scan(&self, name: &str) -> Result<(ScanRow, i64), ServiceError> {
        let sql = format!("{} WHERE c.name = $1 OR c.id = $1", Self::SCAN_SELECT);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&self.pool).await.map_err(db)?;
        row.map(|r| (Self::scan_row(&r), r.get("created_at")))
            .ok_or_else(|| ServiceError::NotFound(format!("no scan '{name}'")))
    }

    pub async fn delete_scan(&self, id: &str) -> Result<(), ServiceError> {
        sqlx::query("DELETE FROM scans WHERE id = $1").bind(id).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    /// Scans whose next run time has come.
    pub async fn due_scans(&self, now: i64) -> Result<Vec<ScanRow>, ServiceError> {
        let sql = format!("{} WHERE c.next_run_at IS NOT NULL AND c.next_run_at <= $1", Self::SCAN_SELECT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(Self::scan_row).collect())
    }

    pub async fn earliest_next_run(&self) -> Result<Option<i64>, ServiceError> {
        let row = sqlx::query("SELECT MIN(next_run_at) FROM scans").fetch_one(&self.pool).await.map_err(db)?;
        Ok(row.try_get::<Option<i64>, _>(0).ok().flatten())
    }

    /// Moves a due scan to its next run time and, when `run` is given, queues
    /// that run, in one transaction, and only if the scan's next run time is
    /// still the one read (another replica, or a leader that was replaced,
    /// may have fired it already). Returns whether this call moved it.
    pub async fn fire_scan(&self, scan: &ScanRow, run: Option<&str>, next: Option<i64>) -> Result<bool, ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let moved = sqlx::query("UPDATE scans SET next_run_at = $1 WHERE id = $2 AND next_run_at = $3")
            .bind(next)
            .bind(&scan.id)
            .bind(scan.next_run_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(id) = run {
            Self::insert_run(&mut tx, id, scan, "schedule").await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    pub async fn set_next_run(&self, scan_id: &str, next: Option<i64>) -> Result<(), ServiceError> {
        sqlx::query("UPDATE scans SET next_run_at = $1 WHERE id = $2")
            .bind(next)
            .bind(scan_id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // ---- runs ----

    /// Queues a run, with its plan (unit 0) for the scan's integration
    /// runtime's nodes, or for the service.
    pub async fn queue_run(&self, id: &str, scan: &ScanRow, reason: &str) -> Result<(), ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        Self::insert_run(&mut tx, id, scan, reason).await?;
        tx.commit().await.map_err(db)
    }

    async fn insert_run(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
        scan: &ScanRow,
        reason: &str,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "INSERT INTO runs (id, scan_id, scan_name, source_name, state, reason, queued_at, ir_id) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7)",
        )
        .bind(id)
        .bind(&scan.id)
        .bind(&scan.name)
        .bind(&scan.source_name)
        .bind(reason)
        .bind(now_ms())
        .bind(&scan.ir_id)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        Self::queue_plan(tx, id, scan.ir_id.as_deref()).await
    }

    fn run_view(r: &AnyRow) -> RunView {
        let started: Option<i64> = r.get("started_at");
        let finished: Option<i64> = r.get("finished_at");
        RunView {
            id: r.get("id"),
            scan_id: r.get("scan_id"),
            scan: r.get("scan_name"),
            source: r.get("source_name"),
            // Committing is the end of being in progress: every unit is done, the output is being written.
            state: match r.get::<String, _>("state") {
                s if s == "committing" => "in_progress".to_string(),
                s => s,
            },
            reason: r.get("reason"),
            attempt: r.get("attempt"),
            queued_at: rfc3339(r.get("queued_at")),
            started_at: started.map(rfc3339),
            finished_at: finished.map(rfc3339),
            duration_ms: started.zip(finished).map(|(s, f)| f - s),
            counts: RunCounts {
                assets: r.get("assets"),
                files: r.get("files"),
                schemas: r.get("schemas"),
                resource_sets: r.get("resource_sets"),
                entities: r.get("entities"),
                item_errors: r.get("item_errors"),
                bytes_read: r.get("bytes_read"),
            },
            error: r.get("error"),
            location: r.get("location"),
            units: None,
        }
    }

    pub async fn list_runs(
        &self,
        scan: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunView>, ServiceError> {
        // Only the filters given, so that each listing walks an index.
        let mut sql = String::from("SELECT * FROM runs");
        let mut n = 0;
        let mut param = || {
            n += 1;
            format!("${n}")
        };
        let mut clauses = Vec::new();
        if scan.is_some() {
            let (a, b) = (param(), param());
            clauses.push(format!("(scan_name = {a} OR scan_id = {b})"));
        }
        if state.is_some() {
            clauses.push(format!("state = {}", param()));
        }
        if !clauses.is_empty() {
            sql += &format!(" WHERE {}", clauses.join(" AND "));
        }
        sql += &format!(" ORDER BY queued_at DESC, id DESC LIMIT {}", param());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(scan) = scan {
            query = query.bind(scan).bind(scan);
        }
        if let Some(state) = state {
            query = query.bind(state);
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(Self::run_view).collect())
    }

    pub async fn run(&self, id: &str) -> Result<RunView, ServiceError> {
        let row =
            sqlx::query("SELECT * FROM runs WHERE id = $1").bind(id).fetch_optional(&self.pool).await.map_err(db)?;
        row.map(|r| Self::run_view(&r)).ok_or_else(|| ServiceError::NotFound(format!("no run '{id}'")))
    }

    /// Records a run's end (its commit).
    pub async fn finish_run(
        &self,
        id: &str,
        state: &str,
        counts: &RunCounts,
        error: Option<&str>,
        location: Option<&str>,
    ) -> Result<(), ServiceError> {
        sqlx::query(
            "UPDATE runs SET state = $1, finished_at = $2, assets = $3, files = $4, schemas = $5, resource_sets = $6, \
             entities = $7, item_errors = $8, bytes_read = $9, error = $10, location = $11 WHERE id = $12",
        )
        .bind(state)
        .bind(now_ms())
        .bind(counts.assets)
        .bind(counts.files)
        .bind(counts.schemas)
        .bind(counts.resource_sets)
        .bind(counts.entities)
        .bind(counts.item_errors)
        .bind(counts.bytes_read)
        .bind(error)
        .bind(location)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Cancels a queued run at once (and its plan); false when it was not queued.
    pub async fn cancel_queued(&self, id: &str) -> Result<bool, ServiceError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE runs SET state = 'canceled', finished_at = $1, error = 'canceled before it started' WHERE id = $2 AND state = 'queued'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE run_units SET state = 'done', outcome = 'canceled' WHERE run_id = $1 AND state = 'queued'")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Start time (ms) of the scan's last run that finished reading its source.
    /// The start (ms) and frozen settings of the scan's last complete run.
    pub async fn last_complete_run(&self, scan_id: &str) -> Result<Option<(i64, Option<String>)>, ServiceError> {
        let row = sqlx::query(
            "SELECT started_at, settings FROM runs WHERE scan_id = $1 AND state IN ('succeeded', 'completed_with_exceptions') \
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(scan_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Deletes finished runs older than `before` (ms), with their units and
    /// results; returns their output locations.
    pub async fn purge_runs(&self, before: i64) -> Result<Vec<Option<String>>, ServiceError> {
        let rows = sqlx::query("SELECT id, location FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(before)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        for r in &rows {
            let id: String = r.get(0);
            for sql in ["DELETE FROM run_units WHERE run_id = $1", "DELETE FROM run_assets WHERE run_id = $1"] {
                sqlx::query(sql).bind(&id).execute(&self.pool).await.map_err(db)?;
            }
            self.delete_blobs(&format!("unit/{id}/")).await?;
        }
        sqlx::query("DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get::<Option<String>, _>(1)).collect())
    }

    /// Number of runs by state (for metrics).
    pub async fn runs_by_state(&self) -> Result<Vec<(String, i64)>, ServiceError> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) FROM runs GROUP BY state").fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
    }
}

fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_have_three_fractional_digits_and_sort_as_the_times_do() {
        let times = [1_764_896_763_600, 1_764_896_763_639, 1_764_896_764_000];
        let text: Vec<String> = times.iter().map(|&ms| rfc3339(ms)).collect();
        assert_eq!(text[0], "2025-12-05T01:06:03.600Z");
        assert_eq!(text[2], "2025-12-05T01:06:04.000Z");
        let mut sorted = text.clone();
        sorted.sort();
        assert_eq!(sorted, text);
    }
}
