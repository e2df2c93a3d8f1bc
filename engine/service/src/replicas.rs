//! Several `surveyor serve` processes on one PostgreSQL database are one
//! service: any replica answers the API and runs the service's own units;
//! one at a time — the leader — runs the scheduler, the commits and the
//! sweeps (lost units, retention).
//!
//! Leadership is a PostgreSQL session advisory lock, held on a connection of
//! its own: the database grants it to one session, and frees it the moment
//! that session ends (the process died, its connection dropped). The others
//! try for it every few seconds, so a new leader takes over within
//! [`TRY_EVERY`] of the old one's death. No consensus of our own: PostgreSQL
//! is the arbiter. Everything a replica needs is in the database (the admin
//! token and the sources' credentials sealed with the key the replicas
//! share, the runs, their units and results) — see [`shared_secrets`].
//!
//! SQLite serves one process: its service is always the leader, and a
//! second service on the same SQLite file is refused ([`lock_sqlite`]).

use crate::crypto::{SecretBox, new_token};
use crate::state::Db;
use crate::{ServiceError, crypto};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::Mutex;

/// How often a follower tries to become the leader.
pub const TRY_EVERY: Duration = Duration::from_secs(3);
/// The advisory lock's key: "surveyor" in ASCII, as a number.
const LOCK_KEY: i64 = 0x7375_7276_6579_6f72;

pub enum Leadership {
    /// SQLite: one process, always the leader.
    Alone,
    /// PostgreSQL: the lock's session, when this replica holds it.
    Postgres { url: String, session: Mutex<Option<sqlx::PgConnection>> },
}

impl Leadership {
    pub fn for_database(url: &str) -> Leadership {
        if url.starts_with("postgres") {
            Leadership::Postgres { url: url.to_string(), session: Mutex::new(None) }
        } else {
            Leadership::Alone
        }
    }

    /// Whether this replica leads now: it holds the lock (and its session is
    /// alive), or it has just taken it.
    pub async fn lead(&self) -> bool {
        let Leadership::Postgres { url, session } = self else { return true };
        let mut session = session.lock().await;
        if let Some(conn) = session.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return true;
            }
            tracing::warn!("the leader's database session was lost: no longer the leader");
            *session = None;
        }
        let Ok(mut conn) = sqlx::PgConnection::connect(url).await else { return false };
        let got: Result<(bool,), _> =
            sqlx::query_as("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut conn).await;
        match got {
            Ok((true,)) => {
                tracing::info!("this replica leads: it runs the scheduler, the commits and the sweeps");
                *session = Some(conn);
                true
            }
            _ => {
                let _ = conn.close().await;
                false
            }
        }
    }

    /// Whether other replicas may be running (units of a replica that
    /// stopped are left to their leases rather than taken back at start).
    pub fn shared(&self) -> bool {
        matches!(self, Leadership::Postgres { .. })
    }

    /// Gives the lock up (a clean shutdown), so that another replica takes over at once.
    pub async fn resign(&self) {
        if let Leadership::Postgres { session, .. } = self
            && let Some(conn) = session.lock().await.take()
        {
            let _ = conn.close().await;
        }
    }
}

/// The key that seals credentials: from `SURVEYOR_SECRET_KEY` (base64 of 32
/// bytes), else from `key_file` (created on first use), else
/// `<data-dir>/secret.key`. Replicas must share it.
pub fn secret_key(data_dir: &Path, key_file: Option<&Path>) -> Result<SecretBox, ServiceError> {
    if let Ok(text) = std::env::var("SURVEYOR_SECRET_KEY") {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| ServiceError::Invalid(format!("SURVEYOR_SECRET_KEY is not base64: {e}")))?;
        if key.len() != 32 {
            return Err(ServiceError::Invalid(format!(
                "SURVEYOR_SECRET_KEY must be 32 bytes (base64 of them), not {}",
                key.len()
            )));
        }
        return Ok(SecretBox::from_key(&key));
    }
    let path: PathBuf = key_file.map(Path::to_path_buf).unwrap_or_else(|| data_dir.join("secret.key"));
    SecretBox::open_or_create(&path)
}

const KEY_CHECK: &str = "secret_key_check";
const ADMIN_TOKEN: &str = "admin_token_sealed";

/// Checks that this replica's key opens what the database holds (a replica
/// with another key refuses to start rather than write secrets the others
/// cannot read), and returns the service's admin token, the same on every
/// replica: sealed in the database by the first, written to each replica's
/// data directory for the command line there.
pub async fn shared_secrets(db: &Db, secrets: &SecretBox, data_dir: &Path) -> Result<String, ServiceError> {
    let wrong_key = || {
        ServiceError::Invalid(
            "this service's secret key is not the one the database's secrets were sealed with: give every \
             replica the same key (--secret-key-file, or SURVEYOR_SECRET_KEY); nothing was changed"
                .into(),
        )
    };
    match db.setting(KEY_CHECK).await? {
        Some(check) => {
            secrets.open(&check).map_err(|_| wrong_key())?;
        }
        None => {
            // A database from before the check: its sealed keys must open too.
            if let Some(sealed) = db.any_sealed_secret().await?
                && secrets.open(&sealed).is_err()
            {
                return Err(wrong_key());
            }
            db.set_setting(KEY_CHECK, &secrets.seal(b"surveyor")).await?;
        }
    }
    let token = match db.setting(ADMIN_TOKEN).await? {
        Some(sealed) => String::from_utf8_lossy(&secrets.open(&sealed).map_err(|_| wrong_key())?).to_string(),
        None => {
            // The token this data directory already had, or a new one.
            let token = crate::read_admin_token(data_dir).unwrap_or_else(|_| new_token("ADMIN"));
            db.set_setting(ADMIN_TOKEN, &secrets.seal(token.as_bytes())).await?;
            token
        }
    };
    let path = crate::admin_token_path(data_dir);
    if crate::read_admin_token(data_dir).ok().as_deref() != Some(token.as_str()) {
        let _ = std::fs::remove_file(&path);
        crypto::write_private(&path, token.as_bytes())
            .map_err(|e| ServiceError::Io { path: path.display().to_string(), source: e })?;
    }
    Ok(token)
}

/// A SQLite database serves one service: a second one (another data
/// directory pointed at the same file) is refused, naming the way out.
pub fn lock_sqlite(url: &str) -> Result<Option<std::fs::File>, ServiceError> {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else { return Ok(None) };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let io = |e: std::io::Error| ServiceError::Io { path: lock_path.clone(), source: e };
    let file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path).map_err(io)?;
    if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(ServiceError::Locked(format!(
            "another surveyor service uses the SQLite database {path}: SQLite serves one service; for several \
             replicas of one service, use PostgreSQL (--database-url postgres://…)"
        )));
    }
    Ok(Some(file))
}
