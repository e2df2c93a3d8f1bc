//! `surveyor serve`: the long-running integration runtime service.
//!
//! - [`state`]: the database: SQLite by default, or PostgreSQL (`--database-url`); sqlx `Any`, portable SQL, migrations.
//! - [`api`]: the versioned HTTP API (`/v1/...`, OpenAPI spec in `docs/openapi.json`).
//! - [`runner`]: the scheduler, the service's own work units, and the commit of runs.
//! - [`units`]: one work unit (a run's plan, or a slice of its source), wherever it runs.
//! - [`agent`]: `surveyor node run`, a node working for its integration runtime.
//! - [`schedule`]: triggers (once, recurring, cron) and when they fire.
//! - [`crypto`]: keys, tokens and secrets at rest.
//! - [`releases`]: signed releases of the binary; [`rollout`]: rolling updates of a runtime's nodes, one at a time;
//!   [`updater`]: a node installing a release (download, verify, try, switch, or roll back).
//! - [`config`]: the configuration file of `surveyor serve` (`--config`), merged with flags and defaults.
//!
//! A data directory holds everything a service owns: `state.db`, the admin
//! token, the key that encrypts credentials, the runs' output, and a lock
//! file so that only one service uses it.

pub mod agent;
pub mod api;
pub mod client;
pub mod config;
pub mod console;
pub mod crypto;
pub mod releases;
pub mod replicas;
pub mod rollout;
pub mod runner;
pub mod schedule;
pub mod state;
pub mod sysinfo;
pub mod units;
pub mod updater;
pub mod version;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("database: {0}")]
    Database(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Locked(String),
    /// The service (or the database) cannot answer now; trying again may succeed.
    #[error("{0}")]
    Unavailable(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A random id with a prefix: `ir-3f9c0a1b2c3d4e5f`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", crypto::hex(&crypto::random_bytes(8)))
}

/// A run id: UTC time and a random suffix, sortable by queue time.
pub fn new_run_id() -> String {
    format!("{}-{}", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"), crypto::hex(&crypto::random_bytes(6)))
}

/// The service's data directory, locked for the life of the value.
pub struct DataDir {
    pub root: PathBuf,
    _lock: std::fs::File,
}

impl DataDir {
    /// Creates (0700) and locks `root`; a second service on it gets [`ServiceError::Locked`].
    pub fn open_locked(root: &Path) -> Result<DataDir, ServiceError> {
        let io = |p: &Path, e: std::io::Error| ServiceError::Io { path: p.display().to_string(), source: e };
        std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
        let _ = std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let path = root.join("serve.lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(ServiceError::Locked(format!(
                "another surveyor service{} is using the data directory {}: stop it, or use another --data-dir",
                if holder.is_empty() { String::new() } else { format!(" (pid {holder})") },
                root.display()
            )));
        }
        let _ = file.set_len(0);
        let _ = std::io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes());
        Ok(DataDir { root: root.to_path_buf(), _lock: file })
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.root.join("state.db").display())
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
}

pub fn admin_token_path(root: &Path) -> PathBuf {
    root.join("admin-token")
}

/// Reads `<data-dir>/admin-token` (for the CLI on the same machine).
pub fn read_admin_token(root: &Path) -> Result<String, ServiceError> {
    let path = admin_token_path(root);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .map_err(|e| ServiceError::Io { path: path.display().to_string(), source: e })
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: std::net::SocketAddr,
    /// Runs at the same time (0: from the machine's cores and memory).
    pub concurrency: usize,
    /// How long running scans may take to finish after SIGTERM before they are stopped and re-queued.
    pub grace: Duration,
    /// A node is offline when its last heartbeat is older than this.
    pub node_offline_after: Duration,
    /// Default maximum of nodes per integration runtime.
    pub max_nodes: i64,
    /// Finished runs older than this are deleted, with their output.
    pub retention: Duration,
    /// Database URL (default: SQLite in the data directory).
    pub database_url: Option<String>,
    /// Threads reading schemas per unit.
    pub schema_workers: Option<usize>,
    /// The key that seals credentials, shared by replicas (else `<data-dir>/secret.key`).
    pub secret_key_file: Option<PathBuf>,
    /// Files per work unit of a storage source's run (a scan's rule set may set its own).
    pub unit_files: u64,
    /// Largest unit result a node may upload (bytes).
    pub max_unit_result: u64,
    /// Serve the API over TLS: (certificate chain, private key), PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub runs_finished: Mutex<HashMap<String, u64>>,
    pub assets: AtomicU64,
    pub item_errors: AtomicU64,
    pub bytes_read: AtomicU64,
    pub files: AtomicU64,
    /// Run durations (seconds): histogram bucket counts, sum and count.
    pub durations: Mutex<(Vec<u64>, f64, u64)>,
    pub http_requests: AtomicU64,
}

pub const DURATION_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];

impl Metrics {
    pub fn record_run(&self, state: &str, seconds: f64, counts: &state::RunCounts) {
        *self.runs_finished.lock().unwrap().entry(state.to_string()).or_default() += 1;
        self.assets.fetch_add(counts.assets as u64, Ordering::Relaxed);
        self.item_errors.fetch_add(counts.item_errors as u64, Ordering::Relaxed);
        self.bytes_read.fetch_add(counts.bytes_read as u64, Ordering::Relaxed);
        self.files.fetch_add(counts.files as u64, Ordering::Relaxed);
        let mut d = self.durations.lock().unwrap();
        if d.0.is_empty() {
            d.0 = vec![0; DURATION_BUCKETS.len()];
        }
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if seconds <= *b {
                d.0[i] += 1;
            }
        }
        d.1 += seconds;
        d.2 += 1;
    }
}

/// Everything the API handlers and the runner share.
pub struct Service {
    pub db: state::Db,
    pub data: DataDir,
    pub secrets: crypto::SecretBox,
    pub admin_token: String,
    pub runtime: Arc<surveyor_engine::host::Runtime>,
    /// The plugins folder; [`Service::registry`] gives the plugins of now.
    pub plugins: Arc<surveyor_engine::host::PluginCatalog>,
    pub config: ServeConfig,
    /// The service's own units in progress, by `run#unit`.
    pub running: Mutex<HashMap<String, RunningUnit>>,
    /// Who leads the replicas (SQLite: this process, always).
    pub leadership: replicas::Leadership,
    /// This process among the service's replicas: its units are claimed as node `service:<replica>`.
    pub replica: String,
    /// Wakes the scheduler (a scan changed, a run was queued or finished).
    pub wake: tokio::sync::Notify,
    pub shutting_down: AtomicBool,
    pub metrics: Metrics,
    pub concurrency: usize,
}

/// A unit the service runs itself.
pub struct RunningUnit {
    pub run_id: String,
    pub seq: i64,
    pub attempt: i64,
    pub cancel: Arc<AtomicBool>,
}

impl Service {
    /// The plugins of the plugins folder as it is now (a `stat` per file
    /// when nothing changed): what a request or a run starting now uses.
    pub fn registry(&self) -> Arc<surveyor_engine::host::Registry> {
        self.plugins.current(&self.runtime)
    }

    /// The pseudo-node this replica claims its units as.
    pub fn node_id(&self) -> String {
        format!("service:{}", self.replica)
    }

    pub fn version(&self) -> version::VersionInfo {
        version::current()
    }

    /// A stored source as a definition, with its connection decrypted (for a
    /// run, a test or a browse; never for a response).
    pub async fn source_definition(
        &self,
        name_or_id: &str,
    ) -> Result<surveyor_engine::sources::SourceDefinition, ServiceError> {
        let source = self.db.source_row(name_or_id).await?;
        let connection = self.secrets.open(&source.connection_sealed)?;
        let connection: toml::Table = serde_json::from_slice(&connection).map_err(|e| {
            ServiceError::Invalid(format!("the stored connection of '{}' is unreadable: {e}", source.name))
        })?;
        let config: toml::Table =
            serde_json::from_value(source.definition.get("config").cloned().unwrap_or_default()).unwrap_or_default();
        let resource_sets =
            source.definition.get("resource_sets").cloned().and_then(|v| serde_json::from_value(v).ok());
        Ok(surveyor_engine::sources::SourceDefinition {
            name: source.name,
            source_type: source.source_type,
            connection,
            config,
            resource_sets,
        })
    }
}

/// Runs chosen from the machine: one per two cores, and one per 2 GiB of
/// available memory, at least 1.
pub fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let by_memory = sysinfo::memory().map(|(_, _, available)| (available / (2 << 30)) as usize).unwrap_or(4);
    (cores / 2).min(by_memory).max(1)
}

/// Starts the service and runs it until SIGTERM or SIGINT.
pub async fn serve(
    data: DataDir,
    config: ServeConfig,
    runtime: surveyor_engine::host::Runtime,
    plugins: surveyor_engine::host::PluginCatalog,
) -> Result<(), ServiceError> {
    let url = config.database_url.clone().unwrap_or_else(|| data.database_url());
    let _sqlite_lock = replicas::lock_sqlite(&url)?;
    let secrets = replicas::secret_key(&data.root, config.secret_key_file.as_deref())?;
    let db = state::Db::open(&url).await?;
    let admin_token = replicas::shared_secrets(&db, &secrets, &data.root).await?;
    let leadership = replicas::Leadership::for_database(&url);
    if !leadership.shared() {
        // Alone on its database: what the last process left in progress is this service's.
        let requeued = db.requeue_service_units().await?;
        if requeued > 0 {
            tracing::info!(units = requeued, "units interrupted by the last shutdown are queued again");
        }
    }
    db.extend_leases(now_ms() + config.node_offline_after.as_millis() as i64).await?;
    let info = version::current();
    match &info.warning {
        Some(w) => tracing::warn!(version = %info.version, expires_on = %info.expires_on, "{w}"),
        None => tracing::info!(version = %info.version, expires_on = %info.expires_on, "surveyor service starting"),
    }
    let concurrency = if config.concurrency == 0 { default_concurrency() } else { config.concurrency };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServiceError::Io { path: config.listen.to_string(), source: e })?;
    let local = listener.local_addr().map_err(|e| ServiceError::Io { path: config.listen.to_string(), source: e })?;
    let service = Arc::new(Service {
        db,
        data,
        secrets,
        admin_token,
        runtime: Arc::new(runtime),
        plugins: Arc::new(plugins),
        config,
        running: Mutex::new(HashMap::new()),
        leadership,
        replica: new_id("replica"),
        wake: tokio::sync::Notify::new(),
        shutting_down: AtomicBool::new(false),
        metrics: Metrics::default(),
        concurrency,
    });
    tracing::info!(listen = %local, concurrency, data_dir = %service.data.root.display(), "listening");
    // The line the CLI and the tests wait for.
    let scheme = if service.config.tls.is_some() { "https" } else { "http" };
    println!("surveyor service listening on {scheme}://{local}");

    let tls = match &service.config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(runner::run(service.clone(), stop_rx.clone()));
    let app = api::router(service.clone());
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        match tls {
            Some(acceptor) => {
                serve_tls(listener, app, acceptor, http_stop).await;
                Ok(())
            }
            None => {
                axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
                    .with_graceful_shutdown(async move {
                        let _ = http_stop.wait_for(|s| *s).await;
                    })
                    .await
            }
        }
    });

    wait_for_signal().await;
    tracing::info!(grace_seconds = service.config.grace.as_secs(), "shutting down");
    service.shutting_down.store(true, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    service.wake.notify_waiters();
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "HTTP server");
    }
    let _ = scheduler.await;
    service.leadership.resign().await;
    service.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// A TLS acceptor from PEM files (certificate chain, private key).
fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, ServiceError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |path: &Path, e: String| ServiceError::Invalid(format!("TLS: {}: {e}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServiceError::Invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(key, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The API over TLS: one task per connection, until `stop`; open
/// connections get 5 seconds to finish.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    acceptor: tokio_rustls::TlsAcceptor,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use axum::extract::ConnectInfo;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection");
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone().layer(axum::Extension(ConnectInfo(peer)));
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(e) = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await {
                tracing::debug!(peer = %peer, error = %e, "connection");
            }
        });
    }
    let _ =
        tokio::time::timeout(Duration::from_secs(5), async { while connections.join_next().await.is_some() {} }).await;
}
