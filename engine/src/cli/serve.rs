//! `surveyor serve`: run the service (API, scheduler, runs) until SIGTERM.
//!
//! Options come from the command line (flags, then their environment
//! variables, both read by clap), then the configuration file (`--config`),
//! then the built-in defaults: see [`surveyor_service::config`]. No option here
//! has a clap default, so that a value clap did not see can come from the file.

use super::GlobalArgs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use surveyor_engine::sources::connection::SqlEncryption;
use surveyor_service::config::{LogLevel, ServeFile};
use surveyor_service::{DataDir, ServeConfig};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A TOML file with the options below (packaging/surveyor.toml shows them all); flags and environment variables override it.
    #[arg(long, env = "SURVEYOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// The service's data directory (database, keys, runs' output) [default: surveyor-data].
    #[arg(long, env = "SURVEYOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API [default: 127.0.0.1:7400].
    #[arg(long, env = "SURVEYOR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Runs at the same time [default: from the machine's cores and memory].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds running scans get to finish after SIGTERM before they are stopped (and run again at the next start) [default: 30].
    #[arg(long)]
    pub grace_period: Option<u64>,
    /// Default maximum of nodes per integration runtime [default: 4].
    #[arg(long)]
    pub max_nodes: Option<i64>,
    /// Days of run history kept (with the runs' output) [default: 90].
    #[arg(long)]
    pub retention_days: Option<u64>,
    /// Seconds without a heartbeat after which a node is offline [default: 120].
    #[arg(long)]
    pub node_offline_after: Option<u64>,
    /// Database URL [default: SQLite in the data directory].
    #[arg(long, env = "SURVEYOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// TLS to a PostgreSQL database: required (certificate checked), verify-full (and the host name), trust-server-certificate, off [default: the URL's sslmode].
    #[arg(long, env = "SURVEYOR_DATABASE_ENCRYPTION")]
    pub database_encryption: Option<SqlEncryption>,
    /// A CA certificate file (PEM) trusted for the PostgreSQL database's certificate.
    #[arg(long, env = "SURVEYOR_DATABASE_CA_CERTIFICATE")]
    pub database_ca_certificate: Option<PathBuf>,
    /// The key that seals credentials (32 bytes; replicas of one service share it) [default: <data-dir>/secret.key; SURVEYOR_SECRET_KEY (base64) overrides].
    #[arg(long, env = "SURVEYOR_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Threads reading schemas per unit [default: one per CPU, 16 for remote storage].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Files per work unit of a storage source's run (a scan's rule set may set its own) [default: 2000].
    #[arg(long)]
    pub unit_files: Option<u64>,
    /// Largest unit result a node may upload, in MiB [default: 1024].
    #[arg(long)]
    pub max_unit_result_mb: Option<u64>,
    /// Serve the API over TLS with this certificate chain (PEM); needs a TLS key.
    #[arg(long, env = "SURVEYOR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, env = "SURVEYOR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

/// The options `surveyor serve` runs with, every source merged.
pub struct Settings {
    pub data_dir: PathBuf,
    pub config: ServeConfig,
    pub log_json: bool,
    pub log_level: LogLevel,
    pub plugins: PathBuf,
    pub cache_dir: Option<PathBuf>,
}

/// Merges the command line, the configuration file and the defaults.
pub fn settings(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => ServeFile::load(path)?,
        None => ServeFile::default(),
    };
    let command_line = ServeFile {
        data_dir: args.data_dir,
        listen: args.listen,
        concurrency: args.concurrency,
        grace_period: args.grace_period,
        max_nodes: args.max_nodes,
        retention_days: args.retention_days,
        node_offline_after: args.node_offline_after,
        database_url: args.database_url,
        database_encryption: args.database_encryption,
        database_ca_certificate: args.database_ca_certificate,
        secret_key_file: args.secret_key_file,
        workers: args.workers,
        unit_files: args.unit_files,
        max_unit_result_mb: args.max_unit_result_mb,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        // A flag that is off says nothing: the file may turn it on.
        log_json: global.log_json.then_some(true),
        log_level: None,
        plugins: global.plugins.clone(),
        cache_dir: global.cache_dir.clone(),
    };
    let s = command_line.or(file).or(ServeFile::defaults());
    s.check()?;
    const SET: &str = "ServeFile::defaults sets it";
    Ok(Settings {
        data_dir: s.data_dir.expect(SET),
        config: ServeConfig {
            listen: s.listen.expect(SET),
            concurrency: s.concurrency.unwrap_or(0),
            grace: Duration::from_secs(s.grace_period.expect(SET)),
            node_offline_after: Duration::from_secs(s.node_offline_after.expect(SET)),
            max_nodes: s.max_nodes.expect(SET),
            retention: Duration::from_secs(s.retention_days.expect(SET).saturating_mul(86_400)),
            database_url: s
                .database_url
                .map(|url| {
                    surveyor_service::state::tls::database_url(
                        &url,
                        s.database_encryption,
                        s.database_ca_certificate.as_deref(),
                    )
                })
                .transpose()
                .map_err(anyhow::Error::msg)?,
            secret_key_file: s.secret_key_file,
            schema_workers: s.workers,
            unit_files: s.unit_files.expect(SET),
            max_unit_result: s.max_unit_result_mb.expect(SET).saturating_mul(1 << 20),
            tls: s.tls_cert.zip(s.tls_key),
        },
        log_json: s.log_json.unwrap_or(false),
        log_level: s.log_level.unwrap_or(LogLevel::Info),
        plugins: s.plugins.expect(SET),
        cache_dir: s.cache_dir,
    })
}

pub fn run(global: &GlobalArgs, settings: Settings) -> anyhow::Result<ExitCode> {
    // The lock first: a second service on the same directory fails at once.
    let data = DataDir::open_locked(&settings.data_dir)?;
    // Proxy settings (`surveyor proxy set`) live in the same data directory.
    surveyor_engine::net::proxy::set_data_dir(&settings.data_dir);
    let global = GlobalArgs { plugins: Some(settings.plugins), cache_dir: settings.cache_dir, ..global.clone() };
    let (runtime, plugins) = super::load_catalog(&global)?;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(surveyor_service::serve(data, settings.config, runtime, plugins))?;
    Ok(ExitCode::SUCCESS)
}
