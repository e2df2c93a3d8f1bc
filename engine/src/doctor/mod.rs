//! Network diagnostics (`surveyor doctor`): for every endpoint this node
//! needs — each source, the ingestion sink (blob and queue), the token
//! authorities of their credentials, the service the node is registered
//! with, the proxy — DNS resolution, TCP connect, TLS handshake and an
//! authenticated call where there is one, each failure with a one-line hint.
//!
//! Where endpoints come from:
//!
//! - source definitions (the TOML of `surveyor scan --source`): an Azure
//!   account's blob (and, for ADLS Gen2 through `dfs`, dfs) endpoint, a SQL
//!   server's host and port, an HTTP source's allowed hosts; the
//!   authenticated call is the connector's own test-connection;
//! - the sink definition (`surveyor scan --sink`): its blob endpoint (Get
//!   Container Properties) and queue endpoint (Peek Messages);
//! - the credentials of both: Entra ID's token endpoint for a service
//!   principal (a token is asked for), IMDS (`169.254.169.254:80`, plain HTTP)
//!   for a managed identity;
//! - `<data-dir>/node.json` (written by `surveyor node register`): the
//!   service, with a heartbeat as the authenticated call;
//! - `<data-dir>/proxy.json` (`surveyor proxy set`): the proxy itself
//!   (DNS, TCP). An HTTP(S) endpoint that the settings send through the proxy
//!   (the bypass list honoured) is checked through it: `CONNECT host:port`,
//!   then TLS inside the tunnel. SQL connections do not use the proxy
//!   settings, so they are checked directly.
//!
//! Endpoints are checked concurrently; a check after a failed one is skipped.
//! Secrets are only ever handed to the clients that use them: nothing here
//! prints one.

pub mod probe;

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use surveyor_engine::net::proxy::{self, ProxySettings};
use surveyor_engine::sink::SinkDefinition;
use surveyor_engine::sources::connection::{
    AdlsApi, AzureConnectionDef, Connection, HttpConnectionDef, SqlCredentialDef,
};
use surveyor_engine::sources::{AzureCredentialDef, Secret, SecretRef, SourceDefinition, SourceError};

/// Entra ID's public-cloud authority.
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The token scope of Azure SQL Database (as the SQL Server backend asks).
const AZURE_SQL_SCOPE: &str = "https://database.windows.net/.default";
/// The node's registration, in the data directory.
pub const NODE_FILE: &str = "node.json";

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("proxy settings: {0}")]
    Proxy(#[from] proxy::ProxyError),
    #[error("{path}: {message}")]
    NodeFile { path: String, message: String },
}

/// What to check.
pub struct Inputs {
    pub sources: Vec<SourceDefinition>,
    pub sink: Option<SinkDefinition>,
    /// The data directory: proxy settings and `node.json`.
    pub data_dir: PathBuf,
}

/// An HTTP proxy an endpoint is reached through.
#[derive(Clone)]
pub struct ProxyHop {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Basic authentication (user, password).
    pub basic: Option<(String, Secret)>,
}

impl ProxyHop {
    /// `host:port`, never the credentials.
    pub fn shown(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// How an endpoint speaks.
#[derive(Clone)]
pub enum Transport {
    /// TLS from the first byte (HTTPS).
    Tls,
    /// Plain TCP (HTTP; PostgreSQL, whose TLS starts inside its protocol:
    /// the connector's test-connection checks it).
    Plain,
    /// TLS negotiated inside the SQL Server protocol (TDS): the connector's
    /// test-connection checks it.
    Tds,
    /// A SQL Server named instance without a port: SQL Browser (UDP 1434)
    /// tells the port.
    SqlBrowser,
    /// A folder on this machine.
    Local(PathBuf),
    /// Not checked (a `*.domain` wildcard).
    Unchecked(String),
}

/// The authenticated call of an endpoint.
pub enum Auth {
    None,
    /// The connector's test-connection.
    Source(Box<SourceDefinition>),
    /// Get Container Properties on the sink's container.
    SinkContainer {
        connection: Box<AzureConnectionDef>,
        container: String,
    },
    /// Peek Messages on the sink's queue.
    SinkQueue {
        connection: Box<AzureConnectionDef>,
        queue: String,
    },
    /// A Storage token for the connection's credential (service principal, managed identity).
    AzureToken(Box<AzureConnectionDef>),
    /// A client-credentials token.
    OAuthToken {
        authority: Option<String>,
        tenant_id: String,
        client_id: String,
        secret: SecretRef,
        scope: String,
    },
    /// A heartbeat with the node's credential.
    Heartbeat {
        url: String,
        credential: Secret,
    },
    /// The folder exists and is writable.
    LocalWrite(PathBuf),
}

/// One endpoint and what this node does with it.
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub role: String,
    pub transport: Transport,
    pub via: Option<ProxyHop>,
    pub auth: Auth,
    /// Reached by a client that uses the runtime's proxy settings.
    pub proxied: bool,
}

impl Endpoint {
    fn new(host: &str, port: u16, role: impl Into<String>, transport: Transport) -> Endpoint {
        Endpoint {
            host: host.to_ascii_lowercase(),
            port,
            role: role.into(),
            transport,
            via: None,
            auth: Auth::None,
            proxied: false,
        }
    }

    fn from_url(url: &url::Url, role: impl Into<String>) -> Endpoint {
        let transport = if url.scheme() == "https" { Transport::Tls } else { Transport::Plain };
        let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
        let mut ep = Endpoint::new(host, url.port_or_known_default().unwrap_or(443), role, transport);
        ep.proxied = true;
        ep
    }

    fn with_auth(mut self, auth: Auth) -> Endpoint {
        self.auth = auth;
        self
    }

    /// `host:port`, or the folder.
    pub fn name(&self) -> String {
        match &self.transport {
            Transport::Local(path) => path.display().to_string(),
            _ => host_port(&self.host, self.port),
        }
    }

    /// Whether it is on the network (not a folder on this machine).
    pub fn is_remote(&self) -> bool {
        !matches!(self.transport, Transport::Local(_))
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// The endpoints of the inputs, in order: sources, sink, service, proxy.
pub fn plan(inputs: &Inputs) -> Result<Vec<Endpoint>, DoctorError> {
    let settings = proxy::load(&inputs.data_dir)?;
    let mut endpoints = Vec::new();
    for def in &inputs.sources {
        source_endpoints(def, &mut endpoints)?;
    }
    if let Some(sink) = &inputs.sink {
        sink_endpoints(sink, &mut endpoints)?;
    }
    if let Some(service) = service_endpoint(&inputs.data_dir)? {
        endpoints.push(service);
    }
    // HTTP(S) clients (the service client among them) use the proxy settings; SQL does not.
    for ep in endpoints.iter_mut().filter(|e| e.proxied) {
        let scheme = if matches!(ep.transport, Transport::Tls) { "https" } else { "http" };
        ep.via = hop(&settings, scheme, &ep.host, ep.port);
    }
    let mut proxies: Vec<ProxyHop> = Vec::new();
    if let ProxySettings::Custom(c) = &settings {
        let host = c.address.trim_start_matches("http://").trim_end_matches('/');
        proxies.push(ProxyHop {
            scheme: "http".into(),
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port: c.port,
            basic: None,
        });
    }
    for hop in endpoints.iter().filter_map(|e| e.via.clone()) {
        if !proxies.iter().any(|p| p.host == hop.host && p.port == hop.port) {
            proxies.push(hop);
        }
    }
    for p in proxies {
        endpoints.push(Endpoint::new(&p.host, p.port, "proxy", Transport::Plain));
    }
    Ok(endpoints)
}

/// The proxy a request to `scheme://host:port` goes through, if any.
fn hop(settings: &ProxySettings, scheme: &str, host: &str, port: u16) -> Option<ProxyHop> {
    let url = url::Url::parse(&format!("{scheme}://{}/", host_port(host, port))).ok()?;
    let route = url::Url::parse(&proxy::route(settings, &url)?).ok()?;
    let basic = match settings {
        ProxySettings::Custom(c) => c.user.clone().map(|u| (u, c.password.clone().unwrap_or_else(|| Secret::new("")))),
        _ if !route.username().is_empty() => {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().to_string();
            Some((decode(route.username()), Secret::new(decode(route.password().unwrap_or("")))))
        }
        _ => None,
    };
    Some(ProxyHop {
        scheme: route.scheme().to_string(),
        host: route.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string(),
        port: route.port_or_known_default().unwrap_or(80),
        basic,
    })
}

/// The URLs of an Azure connection's endpoints (no secret is read).
fn azure_urls(
    c: &AzureConnectionDef,
) -> Result<std::sync::Arc<surveyor_engine::storage::azure::AzureAccount>, SourceError> {
    let mut anonymous = c.clone();
    anonymous.credential = AzureCredentialDef::Anonymous;
    surveyor_engine::sources::connection::azure_account(&anonymous)
}

fn azure_authority(c: &AzureConnectionDef, whose: &str, out: &mut Vec<Endpoint>) -> Result<(), SourceError> {
    match &c.credential {
        AzureCredentialDef::ClientSecret { authority, .. } => {
            let url = authority_url(authority.as_deref())?;
            out.push(
                Endpoint::from_url(&url, format!("token authority for {whose}"))
                    .with_auth(Auth::AzureToken(Box::new(c.clone()))),
            );
        }
        AzureCredentialDef::ManagedIdentity { .. } => {
            let url =
                url::Url::parse(surveyor_engine::storage::azure::credential::IMDS_TOKEN_URL).expect("a valid constant");
            out.push(
                Endpoint::from_url(&url, format!("managed identity (IMDS) for {whose}"))
                    .with_auth(Auth::AzureToken(Box::new(c.clone()))),
            );
        }
        _ => {}
    }
    Ok(())
}

fn authority_url(authority: Option<&str>) -> Result<url::Url, SourceError> {
    let a = authority.unwrap_or(DEFAULT_AUTHORITY);
    url::Url::parse(a).map_err(|e| SourceError::Invalid(format!("authority '{a}': {e}")))
}

fn source_endpoints(def: &SourceDefinition, out: &mut Vec<Endpoint>) -> Result<(), SourceError> {
    let whose = format!("source '{}'", def.name);
    let role = format!("{whose} ({})", def.source_type);
    let test = || Auth::Source(Box::new(def.clone()));
    match def.connection()? {
        Connection::LocalFolder(c) => {
            out.push(Endpoint::new("", 0, role, Transport::Local(c.path.clone())).with_auth(test()));
        }
        Connection::AzureBlob(c) => {
            let account = azure_urls(&c)?;
            out.push(Endpoint::from_url(account.blob_url(), role).with_auth(test()));
            azure_authority(&c, &whose, out)?;
        }
        Connection::AdlsGen2(c) => {
            let account = azure_urls(&c)?;
            if c.api.unwrap_or(AdlsApi::Dfs) == AdlsApi::Dfs {
                out.push(Endpoint::from_url(account.dfs_url(), role.clone()).with_auth(test()));
                // Reads of file contents go through the Blob endpoint.
                out.push(Endpoint::from_url(account.blob_url(), role));
            } else {
                out.push(Endpoint::from_url(account.blob_url(), role).with_auth(test()));
            }
            azure_authority(&c, &whose, out)?;
        }
        Connection::SqlServer(c) => {
            let host = c.host.trim();
            let ep = match (c.port, &c.instance) {
                (None, Some(_)) => {
                    Endpoint::new(host, 1434, format!("{role}, SQL Browser (UDP)"), Transport::SqlBrowser)
                }
                (port, _) => Endpoint::new(host, port.unwrap_or(1433), role, Transport::Tds),
            };
            out.push(ep.with_auth(test()));
            if let SqlCredentialDef::ClientSecret { tenant_id, client_id, secret, authority } = &c.credential {
                let url = authority_url(authority.as_deref())?;
                out.push(Endpoint::from_url(&url, format!("token authority for {whose}")).with_auth(
                    Auth::OAuthToken {
                        authority: authority.clone(),
                        tenant_id: tenant_id.clone(),
                        client_id: client_id.clone(),
                        secret: secret.clone(),
                        scope: AZURE_SQL_SCOPE.into(),
                    },
                ));
            }
        }
        Connection::Postgresql(c) => {
            out.push(Endpoint::new(c.host.trim(), c.port.unwrap_or(5432), role, Transport::Plain).with_auth(test()));
        }
        Connection::Http(c) => http_endpoints(&c, &whose, &role, def, out)?,
    }
    Ok(())
}

fn http_endpoints(
    c: &HttpConnectionDef,
    whose: &str,
    role: &str,
    def: &SourceDefinition,
    out: &mut Vec<Endpoint>,
) -> Result<(), SourceError> {
    let mut tested = false;
    for host in &c.allowed_hosts {
        let host = host.trim();
        if host.starts_with("*.") {
            out.push(Endpoint::new(
                host,
                443,
                role,
                Transport::Unchecked("a wildcard: each host under it is reached on demand".into()),
            ));
            continue;
        }
        let mut ep = Endpoint::new(host, 443, role, Transport::Tls);
        ep.proxied = true;
        if !tested {
            ep.auth = Auth::Source(Box::new(def.clone()));
            tested = true;
        }
        out.push(ep);
    }
    if let Some(o) = &c.oauth {
        let url = authority_url(o.authority.as_deref())?;
        out.push(Endpoint::from_url(&url, format!("token authority for {whose}")).with_auth(Auth::OAuthToken {
            authority: o.authority.clone(),
            tenant_id: o.tenant_id.clone(),
            client_id: o.client_id.clone(),
            secret: o.client_secret.clone(),
            scope: o.scope.clone(),
        }));
    }
    Ok(())
}

fn sink_endpoints(sink: &SinkDefinition, out: &mut Vec<Endpoint>) -> Result<(), SourceError> {
    match sink {
        SinkDefinition::LocalFolder { path } => {
            out.push(
                Endpoint::new("", 0, "sink (local folder)", Transport::Local(path.clone()))
                    .with_auth(Auth::LocalWrite(path.clone())),
            );
        }
        SinkDefinition::AzureBlob { container, queue, connection, .. } => {
            let Connection::AzureBlob(c) = Connection::parse("azure-blob", connection).map_err(SourceError::Invalid)?
            else {
                return Err(SourceError::Invalid("a sink's [connection] must be of kind azure-blob".into()));
            };
            let account = azure_urls(&c)?;
            out.push(
                Endpoint::from_url(account.blob_url(), format!("sink container '{container}'"))
                    .with_auth(Auth::SinkContainer { connection: Box::new(c.clone()), container: container.clone() }),
            );
            if let Some(q) = queue {
                out.push(
                    Endpoint::from_url(account.queue_url(), format!("sink queue '{q}'"))
                        .with_auth(Auth::SinkQueue { connection: Box::new(c.clone()), queue: q.clone() }),
                );
            }
            azure_authority(&c, "the sink", out)?;
        }
    }
    Ok(())
}

/// The service this node is registered with, from `<data-dir>/node.json`.
fn service_endpoint(data_dir: &Path) -> Result<Option<Endpoint>, DoctorError> {
    let path = data_dir.join(NODE_FILE);
    let bad = |message: String| DoctorError::NodeFile { path: path.display().to_string(), message };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    let saved: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let url = saved["url"].as_str().ok_or_else(|| bad("no \"url\"".into()))?;
    let parsed = url::Url::parse(url).map_err(|e| bad(format!("url '{url}': {e}")))?;
    let credential = saved["credential"].as_str().map(Secret::new);
    let ep = Endpoint::from_url(&parsed, "service (this node's registration)");
    Ok(Some(match credential {
        Some(credential) => ep.with_auth(Auth::Heartbeat { url: url.to_string(), credential }),
        None => ep,
    }))
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
    /// Not run because an earlier check failed.
    Skipped,
    /// Does not apply (no TLS on a plain port, no name to resolve behind a proxy…).
    NotApplicable,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub status: Status,
    pub detail: String,
}

impl Check {
    pub fn ok(detail: impl Into<String>) -> Check {
        Check { status: Status::Ok, detail: detail.into() }
    }
    fn na(detail: impl Into<String>) -> Check {
        Check { status: Status::NotApplicable, detail: detail.into() }
    }
    fn skipped() -> Check {
        Check { status: Status::Skipped, detail: String::new() }
    }
    fn failed(detail: impl Into<String>) -> Check {
        Check { status: Status::Failed, detail: detail.into() }
    }
}

/// One endpoint's results.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub endpoint: String,
    pub role: String,
    /// `direct`, or `proxy host:port`.
    pub route: String,
    pub dns: Check,
    pub tcp: Check,
    pub tls: Check,
    pub auth: Check,
    pub ok: bool,
    /// What to do about the first failure.
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub endpoints: Vec<Row>,
}

/// Runs a source's test-connection: `Err` with the reason in one line.
pub type SourceTest<'a> = dyn Fn(&SourceDefinition) -> Result<(), String> + Sync + 'a;

/// Checks every endpoint, concurrently.
pub fn run(endpoints: &[Endpoint], source_test: &SourceTest<'_>) -> Report {
    let tls = probe::tls_config();
    let rows: Vec<Row> = std::thread::scope(|scope| {
        let handles: Vec<_> = endpoints
            .iter()
            .map(|ep| scope.spawn(|| check(ep, tls.as_ref().map_err(|e| e.as_str()), source_test)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("a check panicked")).collect()
    });
    Report { ok: rows.iter().all(|r| r.ok), endpoints: rows }
}

fn check(
    ep: &Endpoint,
    tls_config: Result<&std::sync::Arc<rustls::ClientConfig>, &str>,
    source_test: &SourceTest<'_>,
) -> Row {
    let mut hint: Option<String> = None;
    let fail = |f: probe::Failed, hint: &mut Option<String>| {
        hint.get_or_insert(f.hint);
        Check::failed(f.detail)
    };
    let route = match &ep.via {
        Some(p) => format!("proxy {}", p.shown()),
        None => "direct".to_string(),
    };
    let (dns, tcp, tls) = match &ep.transport {
        Transport::Local(_) => (Check::na("local"), Check::na("local"), Check::na("local")),
        Transport::Unchecked(why) => (Check::na(why.clone()), Check::na(why.clone()), Check::na(why.clone())),
        transport => {
            let mut stream = None;
            let (dns, tcp) = match &ep.via {
                Some(p) if p.scheme != "http" => (
                    Check::na("resolved by the proxy"),
                    Check::na(format!("a {} proxy is not checked (only http:// proxies)", p.scheme)),
                ),
                Some(p) => {
                    let dns = Check::na("resolved by the proxy");
                    let tcp = match probe::resolve(&p.host, p.port).and_then(|a| probe::connect(&p.host, p.port, &a)) {
                        Ok((mut s, _, took)) => match probe::tunnel(&mut s, p, &ep.host, ep.port) {
                            Ok(()) => {
                                stream = Some(s);
                                Check::ok(format!("via proxy ({} ms)", took.as_millis()))
                            }
                            Err(f) => fail(f, &mut hint),
                        },
                        Err(mut f) => {
                            f.hint = format!("proxy {}: {}", p.shown(), f.hint);
                            fail(f, &mut hint)
                        }
                    };
                    (dns, tcp)
                }
                None => match probe::resolve(&ep.host, ep.port) {
                    Ok(addrs) => {
                        let dns = Check::ok(probe::show_addresses(&addrs));
                        let tcp = if matches!(transport, Transport::SqlBrowser) {
                            Check::na("SQL Browser is UDP: the connector's test-connection asks it")
                        } else {
                            match probe::connect(&ep.host, ep.port, &addrs) {
                                Ok((s, _, took)) => {
                                    stream = Some(s);
                                    Check::ok(format!("{} ms", took.as_millis()))
                                }
                                Err(f) => fail(f, &mut hint),
                            }
                        };
                        (dns, tcp)
                    }
                    Err(f) => (fail(f, &mut hint), Check::skipped()),
                },
            };
            let tls = match (transport, stream) {
                (Transport::Tls, Some(mut s)) => match tls_config {
                    Ok(config) => match probe::handshake(config, &mut s, &ep.host) {
                        Ok(version) => Check::ok(version),
                        Err(f) => fail(f, &mut hint),
                    },
                    Err(e) => {
                        fail(probe::Failed { detail: "no trust store".into(), hint: format!("TLS: {e}") }, &mut hint)
                    }
                },
                (Transport::Tls, None) => Check::skipped(),
                (Transport::Tds, _) | (Transport::SqlBrowser, _) => Check::na("negotiated inside TDS: see auth"),
                _ => Check::na("plain"),
            };
            (dns, tcp, tls)
        }
    };
    let network_ok = [&dns, &tcp, &tls].iter().all(|c| c.status != Status::Failed);
    let auth = if !network_ok {
        if matches!(ep.auth, Auth::None) { Check::na("") } else { Check::skipped() }
    } else {
        match authenticate(&ep.auth, source_test) {
            Ok(Some(detail)) => Check::ok(detail),
            Ok(None) => Check::na(""),
            Err(message) => {
                let detail = message.split_whitespace().next().unwrap_or("failed").trim_matches(['[', ']']).to_string();
                fail(probe::Failed { detail, hint: format!("auth: {message}") }, &mut hint)
            }
        }
    };
    let ok = [&dns, &tcp, &tls, &auth].iter().all(|c| c.status != Status::Failed);
    Row { endpoint: ep.name(), role: ep.role.clone(), route, dns, tcp, tls, auth, ok, hint }
}

/// The authenticated call: `Ok(Some(what was done))`, `Ok(None)` when there is none.
fn authenticate(auth: &Auth, source_test: &SourceTest<'_>) -> Result<Option<String>, String> {
    use surveyor_engine::storage::StorageErrorKind;
    let timeout = Duration::from_secs(15);
    let account = |c: &AzureConnectionDef| {
        let mut c = c.clone();
        c.max_retries = Some(0);
        c.timeout_seconds = Some(timeout.as_secs());
        surveyor_engine::sources::connection::azure_account(&c).map_err(|e| e.to_string())
    };
    match auth {
        Auth::None => Ok(None),
        Auth::Source(def) => source_test(def).map(|()| Some("test-connection".into())),
        Auth::SinkContainer { connection, container } => {
            let account = account(connection)?;
            match account.check_container(container) {
                Ok(()) => Ok(Some("container readable".into())),
                Err(e) if e.kind == StorageErrorKind::NotFound => {
                    Ok(Some("container missing (the sink creates it at the first run)".into()))
                }
                Err(e) => Err(format!("[{}] {}", kind(e.kind), e.message)),
            }
        }
        Auth::SinkQueue { connection, queue } => {
            let account = account(connection)?;
            match surveyor_engine::storage::azure::QueueNotifier::new(account, queue.clone()).peek(1) {
                Ok(_) => Ok(Some("queue readable".into())),
                Err(e) if e.kind == StorageErrorKind::NotFound => {
                    Ok(Some("queue missing (the sink creates it at the first run)".into()))
                }
                Err(e) => Err(format!("[{}] {}", kind(e.kind), e.message)),
            }
        }
        Auth::AzureToken(connection) => {
            let account = account(connection)?;
            let Some(source) = account.token_source() else { return Ok(None) };
            let http = surveyor_engine::net::http_client_builder().build().map_err(|e| format!("HTTP client: {e}"))?;
            source
                .try_issue(&http, timeout)
                .map(|_| Some("token issued".into()))
                .map_err(|e| format!("[auth] {}", e.message))
        }
        Auth::OAuthToken { authority, tenant_id, client_id, secret, scope } => {
            let secret = secret.resolve("client secret")?;
            let client = surveyor_engine::backends::oauth::ClientCredentials::new(
                authority.as_deref(),
                tenant_id,
                client_id,
                secret,
                scope,
            );
            let http = surveyor_engine::net::http_client_builder().build().map_err(|e| format!("HTTP client: {e}"))?;
            client
                .token(&http, timeout)
                .map(|_| Some("token issued".into()))
                .map_err(|e| format!("[auth] {}", e.message))
        }
        Auth::Heartbeat { url, credential } => {
            let client = surveyor_service::client::Client::new(url, Some(credential.expose().to_string()))
                .map_err(|e| e.to_string())?;
            let body = serde_json::json!({"version": surveyor_engine::VERSION, "running_jobs": 0});
            match client.post("/v1/nodes/heartbeat", &body) {
                Ok(_) => Ok(Some("heartbeat accepted".into())),
                Err(surveyor_service::ServiceError::Unauthorized(m)) => Err(format!(
                    "[auth] the service refused this node's credential ({m}) — the node was removed or the service's data reset; register it again (`surveyor node register`)"
                )),
                Err(e) => Err(format!("[service] {e}")),
            }
        }
        Auth::LocalWrite(path) => {
            if !path.exists() {
                return Ok(Some("created at the first run".into()));
            }
            let probe = path.join(format!(".surveyor-doctor-{}", std::process::id()));
            std::fs::write(&probe, b"")
                .and_then(|()| std::fs::remove_file(&probe))
                .map(|()| Some("writable".into()))
                .map_err(|e| format!("[permission-denied] cannot write in {}: {e}", path.display()))
        }
    }
}

fn kind(k: surveyor_engine::storage::StorageErrorKind) -> &'static str {
    use surveyor_engine::storage::StorageErrorKind as K;
    match k {
        K::NotFound => "not-found",
        K::PermissionDenied => "permission-denied",
        K::Refused => "refused",
        K::Unreachable => "unreachable",
        K::Auth => "auth",
        K::Other => "error",
    }
}

/// The host:port pairs to allow through a firewall, each with its roles
/// (no connection is made). Endpoints reached through the proxy say so.
pub fn firewall_list(endpoints: &[Endpoint]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for ep in endpoints.iter().filter(|e| e.is_remote()) {
        let mut role = ep.role.clone();
        if matches!(ep.transport, Transport::SqlBrowser) {
            role.push_str(", then the instance's dynamic TCP port");
        }
        if let Some(p) = &ep.via {
            role.push_str(&format!(" — through the proxy {}", p.shown()));
        }
        let name = ep.name();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, roles)) if !roles.split("; ").any(|r| r == role) => {
                roles.push_str("; ");
                roles.push_str(&role);
            }
            Some(_) => {}
            None => out.push((name, role)),
        }
    }
    out
}

impl Report {
    /// The table a user reads.
    pub fn table(&self) -> String {
        let cell = |c: &Check| -> String {
            match c.status {
                Status::Ok if c.detail.is_empty() => "ok".into(),
                Status::Ok => format!("ok {}", c.detail),
                Status::Failed => format!("FAIL {}", c.detail),
                Status::Skipped => "skip".into(),
                Status::NotApplicable => "-".into(),
            }
        };
        let header = ["ENDPOINT", "ROLE", "DNS", "TCP", "TLS", "AUTH", "VERDICT", "HINT"];
        let mut rows: Vec<[String; 8]> = vec![header.map(str::to_string)];
        for r in &self.endpoints {
            let mut endpoint = r.endpoint.clone();
            if r.route != "direct" {
                endpoint.push_str(&format!(" (via {})", r.route));
            }
            rows.push([
                endpoint,
                r.role.clone(),
                cell(&r.dns),
                cell(&r.tcp),
                cell(&r.tls),
                cell(&r.auth),
                if r.ok { "ok".into() } else { "FAIL".into() },
                r.hint.clone().unwrap_or_default(),
            ]);
        }
        let mut widths = [0usize; 8];
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, c) in row.iter().enumerate() {
                if i == 7 {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let failed = self.endpoints.iter().filter(|r| !r.ok).count();
        if failed == 0 {
            out.push_str(&format!("all {} endpoints ok\n", self.endpoints.len()));
        } else {
            out.push_str(&format!("{failed} of {} endpoints failed\n", self.endpoints.len()));
        }
        out
    }
}
