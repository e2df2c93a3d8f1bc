//! The `sql` capability's SQL Server / Azure SQL Database backend: tiberius
//! 0.12 (TDS 7.3/7.4, rustls) on a small tokio runtime owned by the backend.
//!
//! - Authentication: SQL logins (user and password) or an Entra ID service
//!   principal's token (client credentials against a configurable authority,
//!   scope `https://database.windows.net/.default`), sent in LOGIN7's
//!   federated-authentication extension.
//! - Encryption: `required` (TLS, certificate and host name checked; so
//!   `verify-full` is the same here), `off` (TLS for the login only, as SQL
//!   Server does when the client does not ask for more),
//!   `trust-server-certificate` (TLS, certificate not checked). A
//!   `ca_certificate` file is the CA trusted instead of the system's store.
//! - A small pool: up to `pool_size` connections are kept per source; each
//!   remembers its current database and a query on another database first
//!   switches with `USE [db]` (SQL Server; Azure SQL Database does not allow
//!   `USE`, so there a connection is opened for the database instead).
//! - Connect and query timeouts; a connection whose query timed out or
//!   failed at the protocol level is dropped, not pooled.
//! - Errors are typed for the connector: 18456 → auth, 4060/911 → not-found,
//!   916/229/… → permission-denied, I/O and TLS → unreachable. Messages
//!   name the server, never the password.

use crate::backends::error_chain;
use crate::backends::oauth::ClientCredentials;
use crate::host::bindings::sql::{SqlColumn, SqlValue};
use crate::host::bindings::types::{ConnectorError, ErrorKind};
use crate::host::sql::{ResultSet, SqlBackend};
use crate::sources::connection::{SqlConnectionDef, SqlCredentialDef, SqlEncryption};
use crate::sources::{Secret, SourceError};
use futures_util::TryStreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiberius::{AuthMethod, Client, ColumnData, ColumnType, Config, EncryptionLevel, Query, QueryItem};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type TdsClient = Client<Compat<TcpStream>>;

/// The scope of Azure SQL Database tokens.
const AZURE_SQL_SCOPE: &str = "https://database.windows.net/.default";

enum Auth {
    Password { user: String, password: Secret },
    Token(ClientCredentials),
}

struct Pooled {
    client: TdsClient,
    /// The session's current database (lowercase compare).
    database: String,
}

/// One source's SQL Server.
pub struct SqlServerBackend {
    host: String,
    port: Option<u16>,
    instance: Option<String>,
    default_database: Option<String>,
    auth: Auth,
    encryption: SqlEncryption,
    ca_certificate: Option<String>,
    connect_timeout: Duration,
    query_timeout: Duration,
    pool_size: usize,
    /// Azure SQL Database (`*.database.windows.net`): no `USE`.
    azure: bool,
    pool: Mutex<Vec<Pooled>>,
    runtime: Option<tokio::runtime::Runtime>,
    http: reqwest::blocking::Client,
}

impl Drop for SqlServerBackend {
    fn drop(&mut self) {
        // Dropping a runtime blocks; never do that inside another runtime's context.
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The backend for a source's connection, and the source's root URI
/// (`mssql://<host>` or `mssql://<host>/<instance>`).
pub fn backend(c: &SqlConnectionDef) -> Result<(Arc<dyn SqlBackend>, String), SourceError> {
    let b = SqlServerBackend::new(c)?;
    let root = b.root_uri();
    Ok((Arc::new(b), root))
}

impl SqlServerBackend {
    pub fn new(c: &SqlConnectionDef) -> Result<Self, SourceError> {
        let invalid = SourceError::Invalid;
        let host = c.host.trim().to_string();
        if host.is_empty() {
            return Err(invalid("connection.host is empty".into()));
        }
        let auth = match &c.credential {
            SqlCredentialDef::Password { user, password } => Auth::Password {
                user: user.clone(),
                password: password.resolve("connection.credential.password").map_err(invalid)?,
            },
            SqlCredentialDef::ClientSecret { tenant_id, client_id, secret, authority } => {
                Auth::Token(ClientCredentials::new(
                    authority.as_deref(),
                    tenant_id,
                    client_id,
                    secret.resolve("connection.credential.secret").map_err(invalid)?,
                    AZURE_SQL_SCOPE,
                ))
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("surveyor-sql")
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("cannot start the SQL client runtime: {e}")))?;
        let http = crate::net::http_client_builder()
            .build()
            .map_err(|e| invalid(format!("cannot build the token client: {e}")))?;
        let azure = host.to_ascii_lowercase().ends_with(".database.windows.net");
        Ok(SqlServerBackend {
            host,
            port: c.port,
            instance: c.instance.clone().filter(|i| !i.is_empty()),
            default_database: c.database.clone().filter(|d| !d.is_empty()),
            auth,
            encryption: c.encryption.unwrap_or(SqlEncryption::Required),
            ca_certificate: c.ca_certificate.as_ref().map(|p| p.display().to_string()),
            connect_timeout: Duration::from_secs(c.connect_timeout_seconds.unwrap_or(15).max(1)),
            query_timeout: Duration::from_secs(c.query_timeout_seconds.unwrap_or(120).max(1)),
            pool_size: c.pool_size.unwrap_or(2).clamp(1, 16) as usize,
            azure,
            pool: Mutex::new(Vec::new()),
            runtime: Some(runtime),
            http,
        })
    }

    /// `mssql://<host>[/<instance>]`, host in lowercase, as Purview names SQL Server assets.
    pub fn root_uri(&self) -> String {
        let host = self.host.to_ascii_lowercase();
        match &self.instance {
            Some(instance) => format!("mssql://{host}/{instance}"),
            None => format!("mssql://{host}"),
        }
    }

    fn target(&self) -> String {
        match (&self.instance, self.port) {
            (Some(i), None) => format!("{}\\{i}", self.host),
            (Some(i), Some(p)) => format!("{}\\{i} (port {p})", self.host),
            (None, p) => format!("{}:{}", self.host, p.unwrap_or(1433)),
        }
    }

    fn err(&self, kind: ErrorKind, message: String) -> ConnectorError {
        ConnectorError { kind, message, item: None }
    }

    fn config(&self, database: Option<&str>, token: Option<&Secret>) -> Config {
        let mut config = Config::new();
        config.host(&self.host);
        if let Some(port) = self.port {
            config.port(port);
        }
        if let Some(instance) = &self.instance {
            config.instance_name(instance);
        }
        if let Some(db) = database {
            config.database(db);
        }
        config.application_name("surveyor");
        match &self.auth {
            Auth::Password { user, password } => config.authentication(AuthMethod::sql_server(user, password.expose())),
            Auth::Token(_) => config.authentication(AuthMethod::aad_token(token.map(Secret::expose).unwrap_or(""))),
        }
        match self.encryption {
            SqlEncryption::Required | SqlEncryption::VerifyFull => {
                config.encryption(EncryptionLevel::Required);
                if let Some(ca) = &self.ca_certificate {
                    config.trust_cert_ca(ca);
                }
            }
            SqlEncryption::Off => {
                // TLS for the login packet only; drivers do not validate the
                // certificate in this mode (SQL Server's is often self-signed).
                config.encryption(EncryptionLevel::Off);
                config.trust_cert();
            }
            SqlEncryption::TrustServerCertificate => {
                config.encryption(EncryptionLevel::Required);
                config.trust_cert();
            }
        }
        config
    }

    async fn connect(&self, database: Option<&str>, token: Option<&Secret>) -> Result<TdsClient, ConnectorError> {
        let mut config = self.config(database, token);
        // Azure SQL's gateway may redirect once (Routing): follow it.
        for _ in 0..2 {
            let tcp = if self.instance.is_some() && self.port.is_none() {
                use tiberius::SqlBrowser;
                tokio::time::timeout(self.connect_timeout, TcpStream::connect_named(&config)).await
            } else {
                tokio::time::timeout(self.connect_timeout, async {
                    TcpStream::connect(config.get_addr()).await.map_err(tiberius::error::Error::from)
                })
                .await
            };
            let tcp = match tcp {
                Err(_) => {
                    return Err(self.err(
                        ErrorKind::Unreachable,
                        format!(
                            "cannot connect to SQL Server at {}: no answer within {:?}",
                            self.target(),
                            self.connect_timeout
                        ),
                    ));
                }
                Ok(Err(e)) => return Err(self.map_error(e, database)),
                Ok(Ok(tcp)) => tcp,
            };
            let _ = tcp.set_nodelay(true);
            match tokio::time::timeout(self.connect_timeout, Client::connect(config.clone(), tcp.compat_write())).await
            {
                Err(_) => {
                    return Err(self.err(
                        ErrorKind::Unreachable,
                        format!(
                            "SQL Server at {} did not complete the login within {:?}",
                            self.target(),
                            self.connect_timeout
                        ),
                    ));
                }
                Ok(Ok(client)) => return Ok(client),
                Ok(Err(tiberius::error::Error::Routing { host, port })) => {
                    config.host(&host);
                    config.port(port);
                }
                Ok(Err(e)) => return Err(self.map_error(e, database)),
            }
        }
        Err(self.err(
            ErrorKind::Unreachable,
            format!("SQL Server at {} redirected the connection more than once", self.target()),
        ))
    }

    /// Typed errors, naming the server (and database), never the credentials.
    fn map_error(&self, e: tiberius::error::Error, database: Option<&str>) -> ConnectorError {
        use tiberius::error::Error as E;
        let target = self.target();
        let on_db = database.map(|d| format!(", database '{d}'")).unwrap_or_default();
        match e {
            E::Server(t) => {
                let kind = match t.code() {
                    18456 | 18452 | 18470 | 18486 | 18487 | 18488 | 33155 => ErrorKind::Auth,
                    4060 | 911 | 208 | 2812 => ErrorKind::NotFound,
                    916 | 229 | 230 | 262 | 297 | 300 | 15247 => ErrorKind::PermissionDenied,
                    40615 | 40532 => ErrorKind::Refused,
                    _ => ErrorKind::Internal,
                };
                let hint = match kind {
                    ErrorKind::Auth => " (check the login and password, or the service principal's access)",
                    _ => "",
                };
                let mut err = self.err(kind, format!("SQL Server {target}{on_db}: error {}: {}{hint}", t.code(), t.message()));
                if let (Some(db), ErrorKind::NotFound | ErrorKind::PermissionDenied) = (database, kind) {
                    err.item = Some(db.to_string());
                }
                err
            }
            E::Io { message, .. } if message.contains("tls handshake eof") => self.err(
                ErrorKind::Unreachable,
                format!(
                    "SQL Server at {target} closed the connection during the TLS handshake: it does not support encryption, or something between us is not SQL Server"
                ),
            ),
            E::Io { kind, message } => self.err(
                ErrorKind::Unreachable,
                format!("cannot reach SQL Server at {target}: {message} ({kind:?})"),
            ),
            E::Tls(message) => self.err(
                ErrorKind::Unreachable,
                format!(
                    "TLS with SQL Server at {target} failed: {message} (encryption = \"trust-server-certificate\" skips the certificate check; \"off\" encrypts the login only)"
                ),
            ),
            other => self.err(ErrorKind::Internal, format!("SQL Server {target}{on_db}: {}", error_chain(&other))),
        }
    }

    fn token(&self) -> Result<Option<Secret>, ConnectorError> {
        match &self.auth {
            Auth::Password { .. } => Ok(None),
            Auth::Token(cc) => cc.token(&self.http, self.connect_timeout).map(Some),
        }
    }

    /// A pooled connection on `database`, or a new one.
    fn checkout(&self, database: Option<&str>) -> Option<Pooled> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let want = database.or(self.default_database.as_deref()).map(str::to_lowercase);
        if let Some(i) = pool.iter().position(|p| Some(&p.database) == want.as_ref()) {
            return Some(pool.swap_remove(i));
        }
        if self.azure {
            return None; // no USE on Azure SQL Database: a connection per database
        }
        pool.pop()
    }

    fn checkin(&self, pooled: Pooled) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < self.pool_size {
            pool.push(pooled);
        } else if self.azure {
            // Keep the newest; the oldest is dropped (closing its session).
            pool.remove(0);
            pool.push(pooled);
        }
    }

    async fn run(
        &self,
        pooled: Option<Pooled>,
        database: Option<&str>,
        statement: &str,
        params: &[SqlValue],
        token: Option<&Secret>,
        wait: Duration,
    ) -> (Option<Pooled>, Result<Vec<ResultSet>, ConnectorError>) {
        let target_db = database.or(self.default_database.as_deref());
        let mut pooled = match pooled {
            Some(p) => p,
            None => match self.connect(target_db, token).await {
                Ok(client) => Pooled { client, database: target_db.unwrap_or("").to_lowercase() },
                Err(e) => return (None, Err(e)),
            },
        };
        if let Some(db) = target_db
            && pooled.database != db.to_lowercase()
        {
            let use_db = format!("USE {}", quote_name(db));
            let switched = tokio::time::timeout(self.query_timeout, async {
                pooled.client.simple_query(use_db).await?.into_results().await
            })
            .await;
            match switched {
                Err(_) => return (None, Err(self.timeout(Some(db), self.query_timeout))),
                Ok(Err(e)) => {
                    let keep = matches!(e, tiberius::error::Error::Server(_));
                    return (keep.then_some(pooled), Err(self.map_error(e, Some(db))));
                }
                Ok(Ok(_)) => pooled.database = db.to_lowercase(),
            }
        }
        // On a timeout the connection is dropped: closing it is what stops
        // the statement on the server (TDS has no statement timeout).
        let result = tokio::time::timeout(wait, read_all(&mut pooled.client, statement, params)).await;
        match result {
            Err(_) => (None, Err(self.timeout(target_db, wait))),
            Ok(Ok(sets)) => (Some(pooled), Ok(sets)),
            Ok(Err(e)) => {
                // A server error leaves the session usable; anything else may not.
                let keep = matches!(e, tiberius::error::Error::Server(_));
                (keep.then_some(pooled), Err(self.map_error(e, target_db)))
            }
        }
    }

    fn timeout(&self, database: Option<&str>, wait: Duration) -> ConnectorError {
        let on_db = database.map(|d| format!(", database '{d}'")).unwrap_or_default();
        let setting = if wait == self.query_timeout { " (query_timeout_seconds)" } else { "" };
        self.err(
            ErrorKind::Unreachable,
            format!("SQL Server {}{on_db}: the query did not finish within {wait:?}{setting}", self.target()),
        )
    }
}

impl SqlBackend for SqlServerBackend {
    fn describe(&self) -> String {
        format!("SQL Server {}", self.target())
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
        self.query_waiting(database, statement, params, self.query_timeout)
    }

    fn query_within(
        &self,
        database: Option<&str>,
        statement: &str,
        limit: Duration,
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        self.query_waiting(database, statement, &[], limit)
    }
}

impl SqlServerBackend {
    fn query_waiting(
        &self,
        database: Option<&str>,
        statement: &str,
        params: &[SqlValue],
        wait: Duration,
    ) -> Result<Vec<ResultSet>, ConnectorError> {
        if params.len() > 2000 {
            return Err(self.err(ErrorKind::Refused, format!("{} parameters (SQL Server allows 2,100)", params.len())));
        }
        let pooled = self.checkout(database);
        let token = if pooled.is_none() { self.token()? } else { None };
        let runtime = self.runtime.as_ref().expect("runtime lives as long as the backend");
        // tiberius panics when the server cannot encrypt and the client requires it: contain that.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(self.run(pooled, database, statement, params, token.as_ref(), wait))
        }));
        let (back, result) = match ran {
            Ok(r) => r,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let message = if what.contains("encryption") {
                    format!(
                        "SQL Server at {} does not support encryption (it has no certificate) and encryption = \"required\": {what}",
                        self.target()
                    )
                } else {
                    format!("the SQL client failed talking to {}: {what}", self.target())
                };
                return Err(self.err(ErrorKind::Unreachable, message));
            }
        };
        if let Some(p) = back {
            self.checkin(p);
        }
        if let (Err(e), Auth::Token(cc)) = (&result, &self.auth)
            && e.kind == ErrorKind::Auth
        {
            cc.invalidate();
        }
        result
    }
}

/// `[name]` with `]` doubled, as T-SQL quotes identifiers.
pub fn quote_name(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

async fn read_all(client: &mut TdsClient, statement: &str, params: &[SqlValue]) -> tiberius::Result<Vec<ResultSet>> {
    let mut stream = if params.is_empty() {
        client.simple_query(statement.to_string()).await?
    } else {
        let mut query = Query::new(statement.to_string());
        for p in params {
            bind(&mut query, p);
        }
        query.query(client).await?
    };
    let mut sets: Vec<ResultSet> = Vec::new();
    while let Some(item) = stream.try_next().await? {
        match item {
            QueryItem::Metadata(meta) => sets.push(ResultSet {
                columns: meta
                    .columns()
                    .iter()
                    .map(|c| SqlColumn { name: c.name().to_string(), type_name: type_name(c.column_type()).into() })
                    .collect(),
                rows: Vec::new(),
            }),
            QueryItem::Row(row) => {
                let values: Vec<SqlValue> = row.into_iter().map(value).collect();
                match sets.last_mut() {
                    Some(set) => set.rows.push(values),
                    None => sets.push(ResultSet { columns: Vec::new(), rows: vec![values] }),
                }
            }
        }
    }
    Ok(sets)
}

fn bind(query: &mut Query<'_>, p: &SqlValue) {
    match p {
        SqlValue::Null => query.bind(Option::<&str>::None),
        SqlValue::Boolean(b) => query.bind(*b),
        SqlValue::Integer(i) => query.bind(*i),
        SqlValue::Float(f) => query.bind(*f),
        SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => query.bind(s.clone()),
        SqlValue::Binary(b) => query.bind(b.clone()),
        SqlValue::Timestamp(us) => query.bind(timestamp_text(*us)),
        SqlValue::Date(days) => query.bind(
            jiff::civil::date(1970, 1, 1)
                .checked_add(jiff::Span::new().days(i64::from(*days)))
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
    }
}

fn timestamp_text(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

/// The server's name for a column's wire type.
pub fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Null => "null",
        ColumnType::Bit | ColumnType::Bitn => "bit",
        ColumnType::Int1 => "tinyint",
        ColumnType::Int2 => "smallint",
        ColumnType::Int4 | ColumnType::Intn => "int",
        ColumnType::Int8 => "bigint",
        ColumnType::Datetime4 => "smalldatetime",
        ColumnType::Float4 => "real",
        ColumnType::Float8 | ColumnType::Floatn => "float",
        ColumnType::Money | ColumnType::Money4 => "money",
        ColumnType::Datetime | ColumnType::Datetimen => "datetime",
        ColumnType::Guid => "uniqueidentifier",
        ColumnType::Decimaln => "decimal",
        ColumnType::Numericn => "numeric",
        ColumnType::Daten => "date",
        ColumnType::Timen => "time",
        ColumnType::Datetime2 => "datetime2",
        ColumnType::DatetimeOffsetn => "datetimeoffset",
        ColumnType::BigVarBin => "varbinary",
        ColumnType::BigVarChar => "varchar",
        ColumnType::BigBinary => "binary",
        ColumnType::BigChar => "char",
        ColumnType::NVarchar => "nvarchar",
        ColumnType::NChar => "nchar",
        ColumnType::Xml => "xml",
        ColumnType::Udt => "udt",
        ColumnType::Text => "text",
        ColumnType::Image => "image",
        ColumnType::NText => "ntext",
        ColumnType::SSVariant => "sql_variant",
    }
}

/// Days from 0001-01-01 to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_0001: i64 = 719_162;
/// Days from 1900-01-01 to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_1900: i64 = 25_567;
const MICROS_PER_DAY: i64 = 86_400_000_000;

fn time_micros(t: tiberius::time::Time) -> i64 {
    let increments = t.increments() as i128;
    let per_second = 10i128.pow(u32::from(t.scale()));
    (increments * 1_000_000 / per_second) as i64
}

/// A tiberius value as the contract's typed value.
pub fn value(data: ColumnData<'static>) -> SqlValue {
    match data {
        ColumnData::U8(v) => v.map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
        ColumnData::I16(v) => v.map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
        ColumnData::I32(v) => v.map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
        ColumnData::I64(v) => v.map_or(SqlValue::Null, SqlValue::Integer),
        ColumnData::F32(v) => v.map_or(SqlValue::Null, |v| SqlValue::Float(v.into())),
        ColumnData::F64(v) => v.map_or(SqlValue::Null, SqlValue::Float),
        ColumnData::Bit(v) => v.map_or(SqlValue::Null, SqlValue::Boolean),
        ColumnData::String(v) => v.map_or(SqlValue::Null, |v| SqlValue::Text(v.into_owned())),
        ColumnData::Guid(v) => v.map_or(SqlValue::Null, |v| SqlValue::Uuid(v.to_string())),
        ColumnData::Binary(v) => v.map_or(SqlValue::Null, |v| SqlValue::Binary(v.into_owned())),
        ColumnData::Numeric(v) => v.map_or(SqlValue::Null, |v| SqlValue::Decimal(v.to_string())),
        ColumnData::Xml(v) => v.map_or(SqlValue::Null, |v| SqlValue::Text(v.to_string())),
        ColumnData::DateTime(v) => v.map_or(SqlValue::Null, |v| {
            let days = i64::from(v.days()) - UNIX_EPOCH_DAYS_FROM_1900;
            // 1/300 s ticks
            let micros = i64::from(v.seconds_fragments()) * 10_000 / 3;
            SqlValue::Timestamp(days * MICROS_PER_DAY + micros)
        }),
        ColumnData::SmallDateTime(v) => v.map_or(SqlValue::Null, |v| {
            let days = i64::from(v.days()) - UNIX_EPOCH_DAYS_FROM_1900;
            SqlValue::Timestamp(days * MICROS_PER_DAY + i64::from(v.seconds_fragments()) * 60_000_000)
        }),
        ColumnData::Time(v) => v.map_or(SqlValue::Null, |t| {
            let us = time_micros(t);
            let (h, m, s, frac) = (us / 3_600_000_000, us / 60_000_000 % 60, us / 1_000_000 % 60, us % 1_000_000);
            SqlValue::Text(format!("{h:02}:{m:02}:{s:02}.{frac:06}"))
        }),
        ColumnData::Date(v) => {
            v.map_or(SqlValue::Null, |d| SqlValue::Date((i64::from(d.days()) - UNIX_EPOCH_DAYS_FROM_0001) as i32))
        }
        ColumnData::DateTime2(v) => v.map_or(SqlValue::Null, |v| {
            let days = i64::from(v.date().days()) - UNIX_EPOCH_DAYS_FROM_0001;
            SqlValue::Timestamp(days * MICROS_PER_DAY + time_micros(v.time()))
        }),
        ColumnData::DateTimeOffset(v) => v.map_or(SqlValue::Null, |v| {
            // The wire value is UTC; the offset is for display only.
            let dt = v.datetime2();
            let days = i64::from(dt.date().days()) - UNIX_EPOCH_DAYS_FROM_0001;
            SqlValue::Timestamp(days * MICROS_PER_DAY + time_micros(dt.time()))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_convert_to_the_unix_epoch() {
        use tiberius::time::{Date, DateTime2, Time};
        assert_eq!(value(ColumnData::Date(Some(Date::new(719_162)))), SqlValue::Date(0));
        let dt2 = DateTime2::new(Date::new(719_163), Time::new(15_000_000, 7)); // 1970-01-02 00:00:01.5
        assert_eq!(value(ColumnData::DateTime2(Some(dt2))), SqlValue::Timestamp(MICROS_PER_DAY + 1_500_000));
        let dt = tiberius::time::DateTime::new(25_567, 300); // 1970-01-01 00:00:01
        assert_eq!(value(ColumnData::DateTime(Some(dt))), SqlValue::Timestamp(1_000_000));
        assert_eq!(value(ColumnData::I32(None)), SqlValue::Null);
    }

    #[test]
    fn names_are_quoted_for_use() {
        assert_eq!(quote_name("we]ird"), "[we]]ird]");
    }
}
