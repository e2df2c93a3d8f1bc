//! The `sql` capability's PostgreSQL backend: sqlx 0.9 (the engine's
//! PostgreSQL driver) on a small tokio runtime owned by the backend.
//!
//! A PostgreSQL connection is bound to one database, so the pool keeps
//! connections per database (up to `pool_size` in all). Password
//! authentication (SCRAM or MD5, as the server asks); connect and query
//! timeouts. TLS as `encryption` says (see [`pg_tls`]: `required` by
//! default, checking the certificate against the trust store and
//! `ca_certificate`). Values of the common scalar types are converted; a
//! column of another type is refused with a message asking to cast it to text.

use crate::backends::{error_chain, pg_tls};
use crate::host::bindings::sql::{SqlColumn, SqlValue};
use crate::host::bindings::types::{ConnectorError, ErrorKind};
use crate::host::sql::{ResultSet, SqlBackend};
use crate::sources::connection::{SqlConnectionDef, SqlCredentialDef, SqlEncryption};
use crate::sources::{Secret, SourceError};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Column, ConnectOptions, Row, TypeInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct PostgresBackend {
    host: String,
    port: u16,
    default_database: String,
    user: String,
    password: Secret,
    encryption: SqlEncryption,
    /// The content of `ca_certificate`, read once.
    ca_certificate: Option<Vec<u8>>,
    connect_timeout: Duration,
    query_timeout: Duration,
    pool_size: usize,
    pool: Mutex<HashMap<String, Vec<Pooled>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// A pooled connection and the `statement_timeout` it was left with, so
/// that a run of limited statements (classification samples) sets it once
/// instead of setting and resetting it around each one.
struct Pooled {
    conn: PgConnection,
    statement_timeout: Option<Duration>,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The backend for a source's connection, and the source's root URI
/// (`postgresql://<host>:<port>`).
pub fn backend(c: &SqlConnectionDef) -> Result<(Arc<dyn SqlBackend>, String), SourceError> {
    let b = PostgresBackend::new(c)?;
    let root = format!("postgresql://{}:{}", b.host.to_ascii_lowercase(), b.port);
    Ok((Arc::new(b), root))
}

impl PostgresBackend {
    pub fn new(c: &SqlConnectionDef) -> Result<Self, SourceError> {
        let invalid = SourceError::Invalid;
        let (user, password) = match &c.credential {
            SqlCredentialDef::Password { user, password } => {
                (user.clone(), password.resolve("connection.credential.password").map_err(invalid)?)
            }
            SqlCredentialDef::ClientSecret { .. } => {
                return Err(invalid("PostgreSQL sources take a password credential".into()));
            }
        };
        let ca_certificate = c
            .ca_certificate
            .as_deref()
            .map(pg_tls::read_ca_certificate)
            .transpose()
            .map_err(|e| invalid(format!("connection.ca_certificate: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("surveyor-pg")
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("cannot start the SQL client runtime: {e}")))?;
        Ok(PostgresBackend {
            host: c.host.trim().to_string(),
            port: c.port.unwrap_or(5432),
            default_database: c.database.clone().unwrap_or_else(|| "postgres".into()),
            user,
            password,
            encryption: c.encryption.unwrap_or(SqlEncryption::Required),
            ca_certificate,
            connect_timeout: Duration::from_secs(c.connect_timeout_seconds.unwrap_or(15).max(1)),
            query_timeout: Duration::from_secs(c.query_timeout_seconds.unwrap_or(120).max(1)),
            pool_size: c.pool_size.unwrap_or(2).clamp(1, 16) as usize,
            pool: Mutex::new(HashMap::new()),
            runtime: Some(runtime),
        })
    }

    fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn err(&self, kind: ErrorKind, message: String, item: Option<&str>) -> ConnectorError {
        ConnectorError { kind, message, item: item.map(str::to_string) }
    }

    fn map_error(&self, e: sqlx::Error, database: &str) -> ConnectorError {
        let target = self.target();
        if let Some(message) =
            pg_tls::explain(&e, &format!("PostgreSQL at {target}"), &self.host, "connection.ca_certificate")
        {
            return self.err(ErrorKind::Unreachable, message, None);
        }
        match &e {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let (kind, item) = match code.as_str() {
                    "28P01" | "28000" => (ErrorKind::Auth, None),
                    "3D000" => (ErrorKind::NotFound, Some(database)),
                    "42501" => (ErrorKind::PermissionDenied, Some(database)),
                    "42P01" | "42883" => (ErrorKind::NotFound, None),
                    // statement_timeout (or an administrator) canceled the statement.
                    "57014" => (ErrorKind::Unreachable, None),
                    _ => (ErrorKind::Internal, None),
                };
                self.err(
                    kind,
                    format!("PostgreSQL {target}, database '{database}': {} (SQLSTATE {code})", db.message()),
                    item,
                )
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => self.err(
                ErrorKind::Unreachable,
                format!("cannot reach PostgreSQL at {target}: {}", error_chain(&e)),
                None,
            ),
            _ => self.err(
                ErrorKind::Internal,
                format!("PostgreSQL {target}, database '{database}': {}", error_chain(&e)),
                None,
            ),
        }
    }

    async fn connect(&self, database: &str) -> Result<PgConnection, ConnectorError> {
        let options = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .password(self.password.expose())
            .database(database)
            .application_name("surveyor");
        let options = pg_tls::apply(options, self.encryption, self.ca_certificate.as_deref());
        match tokio::time::timeout(self.connect_timeout, options.connect()).await {
            Err(_) => Err(self.err(
                ErrorKind::Unreachable,
                format!(
                    "cannot connect to PostgreSQL at {}: no answer within {:?}",
                    self.target(),
                    self.connect_timeout
                ),
                None,
            )),
            Ok(r) => r.map_err(|e| self.map_error(e, database)),
        }
    }

    async fn run(
        &self,
        pooled: Option<Pooled>,
        database: &str,
        statement: &str,
        params: &[SqlValue],
        limit: Option<Duration>,
    ) -> (Option<Pooled>, Result<Vec<ResultSet>, ConnectorError>) {
        let (mut conn, current) = match pooled {
            Some(p) => (p.conn, p.statement_timeout),
            None => match self.connect(database).await {
                Ok(c) => (c, None),
                Err(e) => return (None, Err(e)),
            },
        };
        // A limited statement: the server itself cancels it at the limit
        // (statement_timeout, SQLSTATE 57014), so nothing keeps running
        // there; the client waits a little longer than that. An unlimited
        // one first clears a limit the connection was left with.
        if limit != current {
            let set = match limit {
                Some(limit) => format!("SET statement_timeout = {}", limit.as_millis().max(1)),
                None => "RESET statement_timeout".to_string(),
            };
            let setting =
                tokio::time::timeout(self.query_timeout, sqlx::query(sqlx::AssertSqlSafe(set)).execute(&mut conn));
            match setting.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return (None, Err(self.map_error(e, database))),
                Err(_) => return (None, Err(self.timed_out(self.query_timeout))),
            }
        }
        let wait = limit.map_or(self.query_timeout, |limit| limit + Duration::from_secs(2));
        let (conn, result) = self.run_statement(conn, database, statement, params, wait, limit.is_none()).await;
        (conn.map(|conn| Pooled { conn, statement_timeout: limit }), result)
    }

    fn timed_out(&self, wait: Duration) -> ConnectorError {
        self.err(
            ErrorKind::Unreachable,
            format!("PostgreSQL {}: the query did not finish within {wait:?}", self.target()),
            None,
        )
    }

    async fn run_statement(
        &self,
        mut conn: PgConnection,
        database: &str,
        statement: &str,
        params: &[SqlValue],
        wait: Duration,
        persistent: bool,
    ) -> (Option<PgConnection>, Result<Vec<ResultSet>, ConnectorError>) {
        // Host-built one-off statements (samples) are not kept prepared:
        // a thousand of them would only churn the statement cache.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.to_string())).persistent(persistent);
        for p in params {
            query = match p {
                SqlValue::Null => query.bind(Option::<String>::None),
                SqlValue::Boolean(b) => query.bind(*b),
                SqlValue::Integer(i) => query.bind(*i),
                SqlValue::Float(f) => query.bind(*f),
                SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => query.bind(s.clone()),
                SqlValue::Binary(b) => query.bind(b.clone()),
                SqlValue::Timestamp(us) => query.bind(*us),
                SqlValue::Date(d) => query.bind(i64::from(*d)),
            };
        }
        let rows = tokio::time::timeout(wait, query.fetch_all(&mut conn)).await;
        match rows {
            Err(_) => (None, Err(self.timed_out(wait))),
            Ok(Err(e)) => {
                let keep = matches!(e, sqlx::Error::Database(_));
                (keep.then_some(conn), Err(self.map_error(e, database)))
            }
            Ok(Ok(rows)) => {
                let set = convert(&rows);
                (Some(conn), set.map(|s| vec![s]).map_err(|m| self.err(ErrorKind::Unsupported, m, None)))
            }
        }
    }
}

fn convert(rows: &[PgRow]) -> Result<ResultSet, String> {
    let mut set = ResultSet::default();
    let Some(first) = rows.first() else { return Ok(set) };
    set.columns = first
        .columns()
        .iter()
        .map(|c| SqlColumn { name: c.name().to_string(), type_name: c.type_info().name().to_ascii_lowercase() })
        .collect();
    for row in rows {
        let mut values = Vec::with_capacity(set.columns.len());
        for (i, col) in row.columns().iter().enumerate() {
            let ty = col.type_info().name().to_ascii_uppercase();
            let v = match ty.as_str() {
                "BOOL" => row.try_get::<Option<bool>, _>(i).map(|v| v.map(SqlValue::Boolean)),
                "INT2" => row.try_get::<Option<i16>, _>(i).map(|v| v.map(|v| SqlValue::Integer(v.into()))),
                "INT4" => row.try_get::<Option<i32>, _>(i).map(|v| v.map(|v| SqlValue::Integer(v.into()))),
                "INT8" => row.try_get::<Option<i64>, _>(i).map(|v| v.map(SqlValue::Integer)),
                "OID" => row
                    .try_get::<Option<sqlx::postgres::types::Oid>, _>(i)
                    .map(|v| v.map(|v| SqlValue::Integer(v.0.into()))),
                "FLOAT4" => row.try_get::<Option<f32>, _>(i).map(|v| v.map(|v| SqlValue::Float(v.into()))),
                "FLOAT8" => row.try_get::<Option<f64>, _>(i).map(|v| v.map(SqlValue::Float)),
                "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" | "UNKNOWN" => {
                    row.try_get::<Option<String>, _>(i).map(|v| v.map(SqlValue::Text))
                }
                "\"CHAR\"" | "CHAR" => {
                    row.try_get::<Option<i8>, _>(i).map(|v| v.map(|c| SqlValue::Text(char::from(c as u8).to_string())))
                }
                "BYTEA" => row.try_get::<Option<Vec<u8>>, _>(i).map(|v| v.map(SqlValue::Binary)),
                other => {
                    return Err(format!(
                        "column '{}' has type {other}, which the host does not convert: cast it to text in the query",
                        col.name()
                    ));
                }
            };
            values.push(v.map_err(|e| format!("column '{}': {e}", col.name()))?.unwrap_or(SqlValue::Null));
        }
        set.rows.push(values);
    }
    Ok(set)
}

impl SqlBackend for PostgresBackend {
    fn describe(&self) -> String {
        format!("PostgreSQL {}", self.target())
    }

    fn parallelism(&self) -> usize {
        self.pool_size
    }

    fn query(
        &self,
        database: Option<&str>,
        statement: &str,
        params: &[SqlValue],
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        self.query_limited(database, statement, params, None)
    }

    fn query_within(
        &self,
        database: Option<&str>,
        statement: &str,
        limit: Duration,
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        self.query_limited(database, statement, &[], Some(limit))
    }
}

impl PostgresBackend {
    fn query_limited(
        &self,
        database: Option<&str>,
        statement: &str,
        params: &[SqlValue],
        limit: Option<Duration>,
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        let database = database.unwrap_or(&self.default_database).to_string();
        let conn = self.pool.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&database).and_then(Vec::pop);
        let runtime = self.runtime.as_ref().expect("runtime lives as long as the backend");
        let (back, result) = runtime.block_on(self.run(conn, &database, statement, params, limit));
        if let Some(c) = back {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            let total: usize = pool.values().map(Vec::len).sum();
            // Full: an idle connection to another database makes room (the
            // catalog's first database is not queried again, its
            // connection would otherwise hold the slot for the whole run
            // and every later connection be dropped after one statement).
            if total >= self.pool_size
                && let Some(other) = pool.iter_mut().find(|(d, conns)| **d != database && !conns.is_empty())
            {
                other.1.pop();
            }
            let total: usize = pool.values().map(Vec::len).sum();
            if total < self.pool_size {
                pool.entry(database).or_default().push(c);
            }
        }
        result
    }
}
