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
use futures_util::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Column, ConnectOptions, Either, Row, TypeInfo};
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
        work: Work<'_>,
        limit: Option<Duration>,
    ) -> (Option<Pooled>, Vec<Result<ResultSet, ConnectorError>>) {
        let (mut conn, current) = match pooled {
            Some(p) => (p.conn, p.statement_timeout),
            None => match self.connect(database).await {
                Ok(c) => (c, None),
                Err(e) => return (None, vec![Err(e)]),
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
                Ok(Err(e)) => return (None, vec![Err(self.map_error(e, database))]),
                Err(_) => return (None, vec![Err(self.timed_out(self.query_timeout))]),
            }
        }
        let (conn, results) = match work {
            Work::One { statement, params } => {
                let wait = limit.map_or(self.query_timeout, |limit| limit + Duration::from_secs(2));
                let (conn, result) = self.run_statement(conn, database, statement, params, wait, limit.is_none()).await;
                (conn, vec![result])
            }
            Work::Batch(statements) => {
                let each = limit.unwrap_or(self.query_timeout);
                let wait = each * statements.len() as u32 + Duration::from_secs(2);
                self.run_batch(conn, database, statements, wait).await
            }
        };
        (conn.map(|conn| Pooled { conn, statement_timeout: limit }), results)
    }

    /// Runs `statements` in one simple-query message: one round trip for
    /// all, each under the connection's `statement_timeout` (PostgreSQL 13
    /// and later time each statement of a message on its own). The server
    /// stops at the first that fails: the results are those that finished,
    /// then that failure.
    async fn run_batch(
        &self,
        mut conn: PgConnection,
        database: &str,
        statements: &[String],
        wait: Duration,
    ) -> (Option<PgConnection>, Vec<Result<ResultSet, ConnectorError>>) {
        let mut results = Vec::with_capacity(statements.len());
        let mut rows = Vec::new();
        let sql = statements.join(";\n");
        let streamed = tokio::time::timeout(wait, async {
            let mut stream = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(&mut conn);
            while let Some(item) = stream.next().await {
                match item? {
                    // A statement's end (CommandComplete): its rows make one set.
                    Either::Left(_) => results.push(
                        convert(&std::mem::take(&mut rows)).map_err(|m| self.err(ErrorKind::Unsupported, m, None)),
                    ),
                    Either::Right(row) => rows.push(row),
                }
            }
            Ok::<_, sqlx::Error>(())
        })
        .await;
        let conn = match streamed {
            // Every statement gives a result, or the loop above never ends.
            Ok(Ok(())) if results.len() < statements.len() => {
                let message = format!("{} results for {} statements", results.len(), statements.len());
                results.push(Err(self.err(ErrorKind::Internal, message, None)));
                None
            }
            Ok(Ok(())) => Some(conn),
            Err(_) => {
                results.push(Err(self.timed_out(wait)));
                None
            }
            Ok(Err(e)) => {
                let keep = matches!(e, sqlx::Error::Database(_));
                results.push(Err(self.map_error(e, database)));
                keep.then_some(conn)
            }
        };
        results.truncate(statements.len());
        (conn, results)
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
    ) -> (Option<PgConnection>, Result<ResultSet, ConnectorError>) {
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
            Ok(Ok(rows)) => (Some(conn), convert(&rows).map_err(|m| self.err(ErrorKind::Unsupported, m, None))),
        }
    }
}

/// How a column's values are read: decided once per result set from the
/// column's type (upper-casing the type name per value was a visible share
/// of sampling's CPU time).
#[derive(Clone, Copy)]
enum Read {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Text,
    Char,
    Bytes,
}

fn convert(rows: &[PgRow]) -> Result<ResultSet, String> {
    let mut set = ResultSet::default();
    let Some(first) = rows.first() else { return Ok(set) };
    let mut reads = Vec::with_capacity(first.columns().len());
    for col in first.columns() {
        let ty = col.type_info().name().to_ascii_uppercase();
        reads.push(match ty.as_str() {
            "BOOL" => Read::Bool,
            "INT2" => Read::Int2,
            "INT4" => Read::Int4,
            "INT8" => Read::Int8,
            "OID" => Read::Oid,
            "FLOAT4" => Read::Float4,
            "FLOAT8" => Read::Float8,
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" | "UNKNOWN" => Read::Text,
            "\"CHAR\"" | "CHAR" => Read::Char,
            "BYTEA" => Read::Bytes,
            other => {
                return Err(format!(
                    "column '{}' has type {other}, which the host does not convert: cast it to text in the query",
                    col.name()
                ));
            }
        });
        set.columns.push(SqlColumn { name: col.name().to_string(), type_name: ty.to_ascii_lowercase() });
    }
    for row in rows {
        let mut values = Vec::with_capacity(reads.len());
        for (i, read) in reads.iter().enumerate() {
            let v = match read {
                Read::Bool => row.try_get::<Option<bool>, _>(i).map(|v| v.map(SqlValue::Boolean)),
                Read::Int2 => row.try_get::<Option<i16>, _>(i).map(|v| v.map(|v| SqlValue::Integer(v.into()))),
                Read::Int4 => row.try_get::<Option<i32>, _>(i).map(|v| v.map(|v| SqlValue::Integer(v.into()))),
                Read::Int8 => row.try_get::<Option<i64>, _>(i).map(|v| v.map(SqlValue::Integer)),
                Read::Oid => row
                    .try_get::<Option<sqlx::postgres::types::Oid>, _>(i)
                    .map(|v| v.map(|v| SqlValue::Integer(v.0.into()))),
                Read::Float4 => row.try_get::<Option<f32>, _>(i).map(|v| v.map(|v| SqlValue::Float(v.into()))),
                Read::Float8 => row.try_get::<Option<f64>, _>(i).map(|v| v.map(SqlValue::Float)),
                Read::Text => row.try_get::<Option<String>, _>(i).map(|v| v.map(SqlValue::Text)),
                Read::Char => {
                    row.try_get::<Option<i8>, _>(i).map(|v| v.map(|c| SqlValue::Text(char::from(c as u8).to_string())))
                }
                Read::Bytes => row.try_get::<Option<Vec<u8>>, _>(i).map(|v| v.map(SqlValue::Binary)),
            };
            let name = || first.columns()[i].name();
            values.push(v.map_err(|e| format!("column '{}': {e}", name()))?.unwrap_or(SqlValue::Null));
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

    /// In batches, one round trip each: a thousand sample queries one by
    /// one spent more time on round trips than on the server.
    fn query_each_within(
        &self,
        database: Option<&str>,
        statements: &[String],
        limit: Duration,
    ) -> Vec<Result<Vec<ResultSet>, ConnectorError>> {
        let mut results = Vec::with_capacity(statements.len());
        // A failure ends its batch: the statements after it go in the next
        // (every batch gives at least one result).
        while results.len() < statements.len() {
            let batch = self.on_connection(database, Work::Batch(&statements[results.len()..]), Some(limit));
            results.extend(batch.into_iter().map(|r| r.map(|set| vec![set])));
        }
        results
    }
}

/// What one call runs on a connection.
enum Work<'a> {
    /// One statement with its parameters (the extended protocol).
    One { statement: &'a str, params: &'a [SqlValue] },
    /// Host-built statements without parameters, in one message.
    Batch(&'a [String]),
}

impl PostgresBackend {
    fn query_limited(
        &self,
        database: Option<&str>,
        statement: &str,
        params: &[SqlValue],
        limit: Option<Duration>,
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        let mut results = self.on_connection(database, Work::One { statement, params }, limit);
        results.pop().expect("one result per statement").map(|set| vec![set])
    }

    /// Runs `work` on a pooled connection to `database` (a new one when
    /// none is idle) and returns the connection to the pool when it is
    /// still usable.
    fn on_connection(
        &self,
        database: Option<&str>,
        work: Work<'_>,
        limit: Option<Duration>,
    ) -> Vec<Result<ResultSet, ConnectorError>> {
        let database = database.unwrap_or(&self.default_database).to_string();
        let conn = self.pool.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&database).and_then(Vec::pop);
        let runtime = self.runtime.as_ref().expect("runtime lives as long as the backend");
        let (back, result) = runtime.block_on(self.run(conn, &database, work, limit));
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
