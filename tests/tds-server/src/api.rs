//! The fixture-facing API: server configuration, what the handler receives
//! ([`Request`]) and what it answers ([`Reply`]).

use std::sync::Arc;

use crate::types::{ResultSet, SqlValue};

/// How the server treats TLS (the `ENCRYPTION` option of PRELOGIN, MS-TDS
/// 2.2.6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// `ENCRYPT_NOT_SUP`: the server has no certificate; everything,
    /// including the LOGIN7 password, travels in clear.
    #[default]
    Off,
    /// `ENCRYPT_OFF`: the server has a certificate. A client that says
    /// `ENCRYPT_OFF` gets TLS for LOGIN7 only, one that says `ENCRYPT_ON` or
    /// `ENCRYPT_REQ` gets TLS for the whole session, one that cannot do TLS
    /// (`ENCRYPT_NOT_SUP`) gets none.
    Optional,
    /// `ENCRYPT_REQ` (SQL Server's "Force Encryption"): every session is
    /// encrypted; a client that cannot do TLS is disconnected right after
    /// PRELOGIN.
    Required,
}

/// An error or informational message as SQL Server sends it (ERROR / INFO
/// token, MS-TDS 2.2.7.10 / 2.2.7.13). The server name is the configured
/// one; the line number is 1 and the procedure name empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Message number, e.g. 208 ("Invalid object name ...").
    pub number: u32,
    /// State.
    pub state: u8,
    /// Class (severity): below 10 informational, 11–16 user errors, 20 and
    /// above fatal (the server then ends the session).
    pub class: u8,
    /// Message text.
    pub message: String,
}

impl ServerError {
    /// An error with the given number, state, class and text.
    pub fn new(number: u32, state: u8, class: u8, message: impl Into<String>) -> Self {
        Self { number, state, class, message: message.into() }
    }

    /// 208, "Invalid object name '...'." (class 16), SQL Server's answer to
    /// a missing table or view.
    pub fn invalid_object(name: &str) -> Self {
        Self::new(208, 1, 16, format!("Invalid object name '{name}'."))
    }

    /// 229, "The SELECT permission was denied on the object ..." (class 14).
    pub fn permission_denied(object: &str, database: &str, schema: &str) -> Self {
        Self::new(
            229,
            5,
            14,
            format!(
                "The SELECT permission was denied on the object '{object}', database '{database}', schema '{schema}'."
            ),
        )
    }
}

/// Server configuration. `ServerConfig::default()` is a plain-TCP server
/// with login `sa` / `Passw0rd!` and the databases `master` and `tempdb`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// SQL authentication login name (compared case-insensitively, as
    /// SQL Server's default collation does).
    pub user: String,
    /// Its password (compared exactly). Wrong credentials: error 18456.
    pub password: String,
    /// Databases that exist and the login may open. The first is the
    /// login's default database (used when LOGIN7 names none). Names
    /// compare case-insensitively. Opening another: error 4060 at login, 911
    /// on `USE`.
    pub databases: Vec<String>,
    /// Databases that exist but the login has no user in: 4060 at login
    /// (as SQL Server does), 916 on `USE`.
    pub forbidden_databases: Vec<String>,
    /// When set, every login fails with this error (then 18456 is not
    /// added; the message is sent as given, followed by DONE with the error
    /// bit, and the connection is closed).
    pub login_failure: Option<ServerError>,
    /// TLS policy.
    pub tls: TlsMode,
    /// Server name reported in ERROR/INFO tokens.
    pub server_name: String,
    /// Version (major, minor, build) in PRELOGIN and LOGINACK; the default
    /// is SQL Server 2022 RTM, 16.0.1000.
    pub version: (u8, u8, u16),
    /// Packet size the server confirms after login instead of the one the
    /// client asked for (clamped to 512–32767). SQL Server itself honours
    /// the client's request and uses its `network packet size` setting
    /// only when the client asks for 0; this override exists because
    /// tiberius always asks for 4096, and tests need larger sizes too.
    pub packet_size: Option<u32>,
    /// Send rows with NULLs as NBCROW (null bitmap) instead of ROW, as
    /// SQL Server does for wide sparse rows.
    pub nbc_rows: bool,
    /// Largest client message accepted (bytes); larger ones close the
    /// connection. Default 16 MiB.
    pub max_message_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            user: "sa".into(),
            password: "Passw0rd!".into(),
            databases: vec!["master".into(), "tempdb".into()],
            forbidden_databases: Vec::new(),
            login_failure: None,
            tls: TlsMode::Off,
            server_name: "SURVEYOR-TDS".into(),
            version: (16, 0, 1000),
            packet_size: None,
            nbc_rows: false,
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

/// How a request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A SQL batch message (MS-TDS 2.2.6.7), e.g. tiberius' `simple_query`.
    Batch,
    /// An RPC message (MS-TDS 2.2.6.6), e.g. tiberius' `query`/`execute`,
    /// which always call `sp_executesql`.
    Rpc,
}

/// One parameter of an RPC.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name as sent, e.g. `@P1` (may be empty for positional parameters).
    pub name: String,
    /// The value, decoded from its wire type.
    pub value: SqlValue,
    /// The type the `sp_executesql` declaration string gives this parameter
    /// (e.g. `bigint`, `nvarchar(4000)`), if there is one.
    pub declared_type: Option<String>,
    /// Flagged as an output parameter (`fByRefValue`).
    pub output: bool,
}

/// A request the handler answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Connection number (1, 2, ... in accept order).
    pub connection_id: u64,
    /// The session's current database.
    pub database: String,
    /// SQL text: the batch, or `sp_executesql`'s statement; empty for other
    /// procedures.
    pub sql: String,
    /// Parameter values (for `sp_executesql`, the ones after the statement
    /// and the declaration string).
    pub params: Vec<Param>,
    /// Batch or RPC.
    pub kind: RequestKind,
    /// For RPCs, the procedure: `sp_executesql` (also when called by
    /// ProcID 10), another `sp_*` name for other ProcIDs, or the name sent.
    /// Empty for batches.
    pub procedure: String,
    /// `sp_executesql`'s parameter declaration string, e.g.
    /// `@P1 nvarchar(4000),@P2 bigint`; empty otherwise.
    pub param_declarations: String,
}

/// One outcome in a reply, in the order a multi-statement batch produces
/// them.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A result set: COLMETADATA, ROW…, DONE/DONEINPROC with the row count.
    ResultSet(ResultSet),
    /// A statement that returns no rows but reports a count (INSERT, …).
    RowsAffected(u64),
    /// A failed statement: ERROR then DONE/DONEINPROC with the error bit.
    /// Class 20 or above also ends the session.
    Error(ServerError),
    /// An informational message (INFO token), e.g. from PRINT.
    Info(ServerError),
}

/// The handler's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Zero or more result sets (zero: just the final DONE, as for `SET`).
    Results(Vec<ResultSet>),
    /// The request fails with this error.
    Error(ServerError),
    /// Rows affected, no result set.
    RowsAffected(u64),
    /// Any sequence of outcomes.
    Outcomes(Vec<Outcome>),
}

impl Reply {
    /// A single result set.
    pub fn rows(set: ResultSet) -> Self {
        Reply::Results(vec![set])
    }

    /// No result at all.
    pub fn empty() -> Self {
        Reply::Results(Vec::new())
    }

    pub(crate) fn into_outcomes(self) -> Vec<Outcome> {
        match self {
            Reply::Results(sets) => sets.into_iter().map(Outcome::ResultSet).collect(),
            Reply::Error(e) => vec![Outcome::Error(e)],
            Reply::RowsAffected(n) => vec![Outcome::RowsAffected(n)],
            Reply::Outcomes(o) => o,
        }
    }
}

/// The request handler: called once per request, from the connection's
/// task. It must not block for long.
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// How the client's TLS choice ended up, recorded per login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// No TLS.
    None,
    /// TLS for LOGIN7 only.
    LoginOnly,
    /// TLS for the whole session.
    Full,
}

/// A successful or failed login, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    /// Connection number.
    pub connection_id: u64,
    /// Login name sent.
    pub user: String,
    /// Database named in LOGIN7 (empty: the default).
    pub database: String,
    /// Application name sent.
    pub app_name: String,
    /// Host name sent.
    pub host_name: String,
    /// TDS version the client asked for (e.g. `0x74000004`).
    pub tds_version: u32,
    /// Packet size the client asked for.
    pub requested_packet_size: u32,
    /// Packet size the server confirmed (0 for a failed login).
    pub packet_size: u32,
    /// How the session was protected.
    pub encryption: Encryption,
    /// `None` on success, else the number of the first error sent.
    pub error: Option<u32>,
}
