//! The server: accepting connections and running each one through the
//! states of [MS-TDS] 3.3.5 — Initial (PRELOGIN), TLS/SSL Negotiation,
//! Login Ready (LOGIN7, 3.3.5.5 and the login response of 2.2.7.14 /
//! 2.2.7.9 / 2.2.7.13), Logged In (SQL_BATCH, RPC, ATTENTION, 3.3.5.7–
//! 3.3.5.9), Final.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::{TlsAcceptor, rustls};

use crate::api::{
    Encryption, Handler, LoginRecord, Outcome, Reply, Request, RequestKind, ServerConfig, ServerError, TlsMode,
};
use crate::login::{Login7, TDS_7_4, parse_login7};
use crate::packet::{ConnError, MAX_PACKET_SIZE, MIN_PACKET_SIZE, Message, PacketStream, packet_type, status};
use crate::prelogin::{Negotiated, ServerEncryption, encode_server_prelogin, negotiate, parse_client_prelogin};
use crate::rpc::{RpcCall, parse_rpc, parse_sql_batch, unpack_execute_sql};
use crate::tls::{PreloginWrapper, self_signed_config};
use crate::tokens::{self, MessageToken, cur_cmd, done, env, token};
use crate::types::{DEFAULT_COLLATION, put_col_metadata, put_row};
use crate::wire::ProtocolError;

/// Time a client has to get from TCP connect to a finished login.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Program name in LOGINACK, as SQL Server sends it.
const PROG_NAME: &str = "Microsoft SQL Server";

/// Error number the server uses for its own complaints about a fixture
/// (a value that does not fit its column, a handler panic): 50000, the
/// number of `RAISERROR` with a message text.
pub const FIXTURE_ERROR: u32 = 50000;

struct Shared {
    config: ServerConfig,
    handler: Handler,
    tls: Option<Arc<rustls::ServerConfig>>,
    requests: Mutex<Vec<Request>>,
    logins: Mutex<Vec<LoginRecord>>,
    failures: Mutex<Vec<String>>,
    connections: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running TDS test server, listening on `127.0.0.1` at a free port.
pub struct TdsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TdsServer {
    /// Binds `127.0.0.1:0` and starts accepting connections. With TLS
    /// enabled, a self-signed certificate is generated here.
    pub async fn start(config: ServerConfig, handler: Handler) -> io::Result<TdsServer> {
        let tls = match config.tls {
            TlsMode::Off => None,
            TlsMode::Optional | TlsMode::Required => Some(self_signed_config(&config.server_name)?),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            handler,
            tls,
            requests: Mutex::new(Vec::new()),
            logins: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
        });
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), rx));
        Ok(TdsServer { addr, shared, shutdown: Some(tx), task: Some(task) })
    }

    /// [`TdsServer::start`] with a closure as handler.
    pub async fn start_with<F>(config: ServerConfig, handler: F) -> io::Result<TdsServer>
    where
        F: Fn(&Request) -> Reply + Send + Sync + 'static,
    {
        Self::start(config, Arc::new(handler)).await
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order (including `USE`
    /// batches the server answered itself).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Every login attempt that reached LOGIN7, in order.
    pub fn logins(&self) -> Vec<LoginRecord> {
        lock(&self.shared.logins).clone()
    }

    /// Number of TCP connections accepted.
    pub fn connection_count(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Why connections ended abnormally ("connection 3: TDS protocol error:
    /// ..."), for tests that send bad input on purpose.
    pub fn connection_failures(&self) -> Vec<String> {
        lock(&self.shared.failures).clone()
    }

    /// Stops accepting, closes every connection and waits for the tasks.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TdsServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut shutdown: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    let shared = shared.clone();
                    conns.spawn(async move {
                        if let Err(e) = run_connection(tcp, id, &shared).await {
                            lock(&shared.failures).push(format!("connection {id}: {e}"));
                        }
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// The byte stream under the packets: TCP, or TLS over TCP.
enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<PreloginWrapper<TcpStream>>>),
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, data),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn protocol(msg: impl Into<String>) -> ConnError {
    ConnError::Protocol(ProtocolError::new(msg))
}

/// State of a logged-in session.
struct Session {
    id: u64,
    user: String,
    login_database: String,
    database: String,
    nbc_rows: bool,
}

async fn run_connection(tcp: TcpStream, id: u64, shared: &Shared) -> Result<(), ConnError> {
    let _ = tcp.set_nodelay(true);
    let spid = (50 + id % 30_000) as u16;
    let ps = PacketStream::new(Transport::Plain(tcp), spid, shared.config.max_message_bytes);
    let login = tokio::time::timeout(LOGIN_TIMEOUT, login_phase(ps, id, shared))
        .await
        .map_err(|_| protocol("login not completed in time"))??;
    let Some((mut ps, mut session)) = login else {
        return Ok(());
    };
    loop {
        let Some(msg) = ps.read_message().await? else {
            return Ok(());
        };
        let keep_going = serve_message(&mut ps, &mut session, shared, msg).await?;
        if !keep_going {
            return Ok(());
        }
    }
}

/// PRELOGIN, TLS, LOGIN7. `Ok(None)`: the login was refused (the refusal
/// has been sent) and the connection is to be closed.
async fn login_phase(
    mut ps: PacketStream<Transport>,
    id: u64,
    shared: &Shared,
) -> Result<Option<(PacketStream<Transport>, Session)>, ConnError> {
    let config = &shared.config;
    // Initial state (3.3.5.1): the first message must be a PRELOGIN.
    let Some(first) = ps.read_message().await? else {
        return Ok(None);
    };
    if first.ty != packet_type::PRELOGIN {
        return Err(protocol(format!("first message has packet type {:#04x}, not PRELOGIN", first.ty)));
    }
    let pre = parse_client_prelogin(&first.payload)?;
    let server_enc = match (config.tls, &shared.tls) {
        (TlsMode::Off, _) | (_, None) => ServerEncryption::NotSupported,
        (TlsMode::Optional, Some(_)) => ServerEncryption::Off,
        (TlsMode::Required, Some(_)) => ServerEncryption::Required,
    };
    let (answer, negotiated) = negotiate(server_enc, pre.encryption);
    let response = encode_server_prelogin(config.version, answer, pre.fed_auth_required.is_some());
    ps.write_message(packet_type::TABULAR_RESULT, &response).await?;

    // TLS/SSL negotiation state (3.3.5.2).
    match negotiated {
        Negotiated::Reject => {
            return Err(protocol(
                "the server requires encryption and the client does not support it (ENCRYPT_NOT_SUP)",
            ));
        }
        Negotiated::None => {}
        Negotiated::LoginOnly | Negotiated::Full => {
            let tls_config = shared.tls.clone().ok_or_else(|| protocol("no TLS configuration"))?;
            let (io, rest) = ps.take_io();
            let Transport::Plain(tcp) = io else {
                return Err(protocol("TLS negotiated twice"));
            };
            let mut tls = TlsAcceptor::from(tls_config).accept(PreloginWrapper::new(tcp)).await?;
            tls.get_mut().0.handshake_complete();
            ps = rest.with_io(Transport::Tls(Box::new(tls)));
        }
    }

    // Login ready state (3.3.5.3/3.3.5.5).
    let Some(msg) = ps.read_message().await? else {
        return Ok(None);
    };
    if msg.ty != packet_type::LOGIN7 {
        return Err(protocol(format!("expected LOGIN7, got packet type {:#04x}", msg.ty)));
    }
    let login = parse_login7(&msg.payload)?;
    if negotiated == Negotiated::LoginOnly {
        // ENCRYPT_OFF on both sides: only LOGIN7 was encrypted; the rest
        // of the session is plain TCP (2.2.6.5).
        let (io, rest) = ps.take_io();
        let Transport::Tls(tls) = io else {
            return Err(protocol("expected a TLS transport"));
        };
        let (wrapper, _) = tls.into_inner();
        ps = rest.with_io(Transport::Plain(wrapper.into_inner()));
    }
    let encryption = match negotiated {
        Negotiated::Full => Encryption::Full,
        Negotiated::LoginOnly => Encryption::LoginOnly,
        _ => Encryption::None,
    };
    let mut record = LoginRecord {
        connection_id: id,
        user: login.user_name.clone(),
        database: login.database.clone(),
        app_name: login.app_name.clone(),
        host_name: login.host_name.clone(),
        tds_version: login.tds_version,
        requested_packet_size: login.packet_size,
        packet_size: 0,
        encryption,
        error: None,
    };
    let outcome = authenticate(&login, config);
    let mut out = Vec::new();
    match outcome {
        Err(errors) => {
            record.error = errors.first().map(|e| e.number);
            lock(&shared.logins).push(record);
            for e in &errors {
                put_error(&mut out, true, e, &config.server_name);
            }
            tokens::done(&mut out, token::DONE, done::ERROR, cur_cmd::NONE, 0);
            ps.write_message(packet_type::TABULAR_RESULT, &out).await?;
            Ok(None)
        }
        Ok((database, tds_version)) => {
            let requested = if login.packet_size == 0 { 4096 } else { login.packet_size };
            let packet_size =
                config.packet_size.unwrap_or(requested).clamp(MIN_PACKET_SIZE as u32, MAX_PACKET_SIZE as u32);
            record.packet_size = packet_size;
            lock(&shared.logins).push(record);
            tokens::env_change_string(&mut out, env::DATABASE, &database, "master");
            put_info(&mut out, 5701, 2, &format!("Changed database context to '{database}'."), config);
            tokens::env_change_bytes(&mut out, env::SQL_COLLATION, &DEFAULT_COLLATION, &[]);
            tokens::env_change_string(&mut out, env::LANGUAGE, "us_english", "");
            put_info(&mut out, 5703, 1, "Changed language setting to us_english.", config);
            tokens::login_ack(&mut out, tds_version, PROG_NAME, config.version);
            if login.uses_feature_ext() {
                tokens::feature_ext_ack_none(&mut out);
            }
            tokens::env_change_string(&mut out, env::PACKET_SIZE, &packet_size.to_string(), &requested.to_string());
            tokens::done(&mut out, token::DONE, done::FINAL, cur_cmd::NONE, 0);
            // The login response still uses the old size; the new one
            // applies from the next message on.
            ps.write_message(packet_type::TABULAR_RESULT, &out).await?;
            ps.packet_size = packet_size as usize;
            let session = Session {
                id,
                user: login.user_name.clone(),
                login_database: database.clone(),
                database,
                nbc_rows: config.nbc_rows,
            };
            Ok(Some((ps, session)))
        }
    }
}

/// Picks the TDS version to answer with: 7.4 for 7.4 and later clients;
/// 7.2 and 7.3 clients get their own version back.
fn negotiate_tds_version(client: u32) -> Option<u32> {
    match client {
        v if v >= TDS_7_4 => Some(TDS_7_4),
        0x730B_0003 | 0x730A_0003 | 0x7209_0002 => Some(client),
        _ => None,
    }
}

fn login_failed(user: &str) -> ServerError {
    ServerError::new(18456, 1, 14, format!("Login failed for user '{user}'."))
}

fn find_db<'a>(list: &'a [String], name: &str) -> Option<&'a String> {
    list.iter().find(|d| d.eq_ignore_ascii_case(name))
}

/// Checks credentials and the initial database. `Ok((database, tds
/// version))`, or the errors to send.
fn authenticate(login: &Login7, config: &ServerConfig) -> Result<(String, u32), Vec<ServerError>> {
    let Some(tds_version) = negotiate_tds_version(login.tds_version) else {
        return Err(vec![ServerError::new(
            4002,
            1,
            16,
            format!(
                "The incoming tabular data stream (TDS) protocol stream is incorrect: TDS version {:#010x} is not supported.",
                login.tds_version
            ),
        )]);
    };
    if let Some(e) = &config.login_failure {
        return Err(vec![e.clone()]);
    }
    if login.integrated_security() {
        return Err(vec![ServerError::new(
            18452,
            1,
            14,
            "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication.",
        )]);
    }
    if !login.user_name.eq_ignore_ascii_case(&config.user) || login.password != config.password {
        return Err(vec![login_failed(&login.user_name)]);
    }
    let database = if login.database.is_empty() {
        config.databases.first().cloned().unwrap_or_else(|| "master".into())
    } else if let Some(db) = find_db(&config.databases, &login.database) {
        db.clone()
    } else {
        // Unknown database, or one the login has no user in: SQL Server
        // answers both with 4060 followed by 18456.
        return Err(vec![
            ServerError::new(
                4060,
                1,
                11,
                format!("Cannot open database \"{}\" requested by the login. The login failed.", login.database),
            ),
            login_failed(&login.user_name),
        ]);
    };
    Ok((database, tds_version))
}

fn put_error(dst: &mut Vec<u8>, is_error: bool, e: &ServerError, server: &str) {
    tokens::message(
        dst,
        is_error,
        &MessageToken {
            number: e.number,
            state: e.state,
            class: e.class,
            message: &e.message,
            server,
            procedure: "",
            line: 1,
        },
    );
}

fn put_info(dst: &mut Vec<u8>, number: u32, state: u8, text: &str, config: &ServerConfig) {
    put_error(dst, false, &ServerError::new(number, state, 0, text), &config.server_name);
}

/// Handles one message of the logged-in state. `Ok(false)`: close the
/// connection (after a fatal error).
async fn serve_message(
    ps: &mut PacketStream<Transport>,
    session: &mut Session,
    shared: &Shared,
    msg: Message,
) -> Result<bool, ConnError> {
    let config = &shared.config;
    let mut out = Vec::new();
    if msg.first_status & (status::RESET_CONNECTION | status::RESET_CONNECTION_SKIP_TRAN) != 0
        && msg.ty != packet_type::ATTENTION
    {
        // sp_reset_connection semantics: back to the login's database; the
        // acknowledgement is ENVCHANGE type 18 (2.2.7.9).
        session.database = session.login_database.clone();
        tokens::env_change_bytes(&mut out, 18, &[], &[]);
    }
    let mut keep_going = true;
    match msg.ty {
        packet_type::SQL_BATCH => {
            let sql = parse_sql_batch(&msg.payload)?;
            let request = Request {
                connection_id: session.id,
                database: session.database.clone(),
                sql: sql.clone(),
                params: Vec::new(),
                kind: RequestKind::Batch,
                procedure: String::new(),
                param_declarations: String::new(),
            };
            lock(&shared.requests).push(request.clone());
            if let Some(db) = parse_use(&sql) {
                use_database(&mut out, session, config, &db);
            } else {
                let outcomes = call_handler(shared, &request);
                keep_going = encode_outcomes(&mut out, outcomes, session, config, false);
            }
        }
        packet_type::RPC => {
            let calls = parse_rpc(&msg.payload)?;
            let n = calls.len();
            for (i, call) in calls.into_iter().enumerate() {
                let more = i + 1 < n;
                if !serve_rpc_call(&mut out, call, session, shared, more) {
                    keep_going = false;
                    break;
                }
            }
        }
        packet_type::ATTENTION => {
            // 3.3.5.9 / 2.2.1.7: acknowledge with DONE(ATTN). Requests are
            // answered in full before the next message is read, so there
            // is never anything left to cancel.
            tokens::done(&mut out, token::DONE, done::ATTN, cur_cmd::NONE, 0);
        }
        packet_type::BULK_LOAD | packet_type::TRANSACTION_MANAGER => {
            let e = ServerError::new(
                FIXTURE_ERROR,
                1,
                16,
                format!(
                    "surveyor-tds-server does not implement packet type {:#04x} (bulk load / transaction manager).",
                    msg.ty
                ),
            );
            put_error(&mut out, true, &e, &config.server_name);
            tokens::done(&mut out, token::DONE, done::ERROR, cur_cmd::NONE, 0);
        }
        other => {
            return Err(protocol(format!("unexpected packet type {other:#04x} after login")));
        }
    }
    ps.write_message(packet_type::TABULAR_RESULT, &out).await?;
    Ok(keep_going)
}

/// Answers one RPC call; returns false after a fatal error.
fn serve_rpc_call(out: &mut Vec<u8>, call: RpcCall, session: &mut Session, shared: &Shared, more: bool) -> bool {
    let config = &shared.config;
    let proc_done = |out: &mut Vec<u8>, failed: bool| {
        let status = if failed { done::ERROR } else { done::FINAL } | if more { done::MORE } else { 0 };
        tokens::done(out, token::DONEPROC, status, cur_cmd::EXECUTE, 0);
    };
    if let Some(u) = &call.unknown {
        let e = ServerError::new(
            crate::types::UNKNOWN_TYPE_ERROR,
            1,
            16,
            format!(
                "The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is incorrect. Parameter {} (\"{}\"): Data type 0x{:02X} is unknown.",
                u.position, u.name, u.type_code
            ),
        );
        put_error(out, true, &e, &config.server_name);
        proc_done(out, true);
        return true;
    }
    let is_execute_sql = call.procedure.eq_ignore_ascii_case("sp_executesql")
        || call.procedure.eq_ignore_ascii_case("sys.sp_executesql");
    let request = if is_execute_sql {
        match unpack_execute_sql(&call.params) {
            Ok(x) => Request {
                connection_id: session.id,
                database: session.database.clone(),
                sql: x.sql,
                params: x.params,
                kind: RequestKind::Rpc,
                procedure: "sp_executesql".into(),
                param_declarations: x.declarations,
            },
            Err(msg) => {
                let e = ServerError::new(
                    214,
                    2,
                    16,
                    format!("Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'. ({msg})"),
                );
                put_error(out, true, &e, &config.server_name);
                proc_done(out, true);
                return true;
            }
        }
    } else {
        Request {
            connection_id: session.id,
            database: session.database.clone(),
            sql: String::new(),
            params: call
                .params
                .into_iter()
                .map(|p| crate::api::Param { name: p.name, value: p.value, declared_type: None, output: p.output })
                .collect(),
            kind: RequestKind::Rpc,
            procedure: call.procedure,
            param_declarations: String::new(),
        }
    };
    lock(&shared.requests).push(request.clone());
    let outcomes = call_handler(shared, &request);
    let failed = outcomes.iter().any(|o| matches!(o, Outcome::Error(_)));
    let keep_going = encode_outcomes(out, outcomes, session, config, true);
    if !keep_going {
        return false;
    }
    if !failed {
        tokens::return_status(out, 0);
    }
    proc_done(out, failed);
    true
}

/// Calls the handler, turning a panic into an error reply.
fn call_handler(shared: &Shared, request: &Request) -> Vec<Outcome> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| (shared.handler)(request))) {
        Ok(reply) => reply.into_outcomes(),
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic)".into());
            vec![Outcome::Error(ServerError::new(
                FIXTURE_ERROR,
                1,
                16,
                format!("surveyor-tds-server: the request handler panicked: {text}"),
            ))]
        }
    }
}

/// Encodes a reply's outcomes. In a batch every statement ends with DONE
/// (DONE_MORE on all but the last); inside an RPC with DONEINPROC (always
/// DONE_MORE, the DONEPROC follows). Returns false if a fatal error
/// (class ≥ 20) ends the session.
fn encode_outcomes(
    out: &mut Vec<u8>,
    outcomes: Vec<Outcome>,
    session: &Session,
    config: &ServerConfig,
    in_rpc: bool,
) -> bool {
    let done_token = if in_rpc { token::DONEINPROC } else { token::DONE };
    let last_statement = outcomes.iter().rposition(|o| !matches!(o, Outcome::Info(_)));
    let ends_with_statement = last_statement.is_some_and(|i| i + 1 == outcomes.len());
    let mut any_done = false;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let more = if in_rpc || !ends_with_statement || Some(i) != last_statement { done::MORE } else { 0 };
        match outcome {
            Outcome::Info(e) => put_error(out, false, &e, &config.server_name),
            Outcome::RowsAffected(n) => {
                tokens::done(out, done_token, done::COUNT | more, cur_cmd::DML, n);
                any_done = true;
            }
            Outcome::Error(e) => {
                put_error(out, true, &e, &config.server_name);
                if e.class >= 20 {
                    // Fatal: DONE with DONE_SRVERROR, then the session ends.
                    tokens::done(out, token::DONE, done::ERROR | done::SRVERROR, cur_cmd::NONE, 0);
                    return false;
                }
                tokens::done(out, done_token, done::ERROR | more, cur_cmd::NONE, 0);
                any_done = true;
            }
            Outcome::ResultSet(set) => {
                let mut buf = Vec::new();
                let encoded = put_col_metadata(&mut buf, &set.columns).and_then(|()| {
                    set.rows.iter().try_for_each(|row| {
                        put_row(
                            &mut buf,
                            &set.columns,
                            row,
                            session.nbc_rows && row.contains(&crate::types::SqlValue::Null),
                        )
                    })
                });
                match encoded {
                    Ok(()) => {
                        out.extend_from_slice(&buf);
                        tokens::done(out, done_token, done::COUNT | more, cur_cmd::SELECT, set.rows.len() as u64);
                    }
                    Err(msg) => {
                        let e =
                            ServerError::new(FIXTURE_ERROR, 1, 16, format!("surveyor-tds-server fixture error: {msg}"));
                        put_error(out, true, &e, &config.server_name);
                        tokens::done(out, done_token, done::ERROR | more, cur_cmd::SELECT, 0);
                    }
                }
                any_done = true;
            }
        }
    }
    if !in_rpc && (!any_done || !ends_with_statement) {
        tokens::done(out, token::DONE, done::FINAL, cur_cmd::NONE, 0);
    }
    true
}

/// Recognises a batch that is exactly `USE name` (brackets or quotes
/// allowed, a trailing `;` too).
fn parse_use(sql: &str) -> Option<String> {
    let s = sql.trim().trim_end_matches(';').trim_end();
    let head = s.get(..3)?;
    if !head.eq_ignore_ascii_case("use") {
        return None;
    }
    let rest = &s[3..];
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let name = rest.trim();
    let name = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        inner.replace("]]", "]")
    } else if let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        inner.replace("\"\"", "\"")
    } else if name.contains(|c: char| c.is_whitespace() || c == ';') {
        return None;
    } else {
        name.to_string()
    };
    (!name.is_empty()).then_some(name)
}

/// `USE db`: ENVCHANGE + INFO 5701 on success; 911 for a database that does
/// not exist, 916 for one the login cannot access.
fn use_database(out: &mut Vec<u8>, session: &mut Session, config: &ServerConfig, name: &str) {
    if let Some(db) = find_db(&config.databases, name) {
        let old = std::mem::replace(&mut session.database, db.clone());
        tokens::env_change_string(out, env::DATABASE, db, &old);
        put_info(out, 5701, 1, &format!("Changed database context to '{db}'."), config);
        tokens::done(out, token::DONE, done::FINAL, cur_cmd::USE, 0);
        return;
    }
    let e = if find_db(&config.forbidden_databases, name).is_some() {
        ServerError::new(
            916,
            1,
            14,
            format!(
                "The server principal \"{}\" is not able to access the database \"{name}\" under the current security context.",
                session.user
            ),
        )
    } else {
        ServerError::new(
            911,
            1,
            16,
            format!("Database '{name}' does not exist. Make sure that the name is entered correctly."),
        )
    };
    put_error(out, true, &e, &config.server_name);
    tokens::done(out, token::DONE, done::ERROR, cur_cmd::USE, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_statements() {
        assert_eq!(parse_use("USE sales"), Some("sales".into()));
        assert_eq!(parse_use("  use [my db];  "), Some("my db".into()));
        assert_eq!(parse_use("USE \"x\""), Some("x".into()));
        assert_eq!(parse_use("USE a; SELECT 1"), None);
        assert_eq!(parse_use("USER_NAME()"), None);
        assert_eq!(parse_use("use"), None);
    }

    #[test]
    fn tds_versions() {
        assert_eq!(negotiate_tds_version(0x7400_0004), Some(TDS_7_4));
        assert_eq!(negotiate_tds_version(0x7500_0000), Some(TDS_7_4));
        assert_eq!(negotiate_tds_version(0x730B_0003), Some(0x730B_0003));
        assert_eq!(negotiate_tds_version(0x7100_0001), None);
    }
}
