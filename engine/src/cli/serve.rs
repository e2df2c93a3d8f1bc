//! `surveyor serve`: run the service (API, scheduler, runs) until SIGTERM.

use super::GlobalArgs;
use crate::service::{DataDir, ServeConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The service's data directory (database, keys, runs' output).
    #[arg(long, env = "SURVEYOR_DATA_DIR", default_value = "surveyor-data")]
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    #[arg(long, env = "SURVEYOR_LISTEN", default_value = "127.0.0.1:7400")]
    pub listen: SocketAddr,
    /// Runs at the same time [default: from the machine's cores and memory].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds running scans get to finish after SIGTERM before they are stopped (and run again at the next start).
    #[arg(long, default_value_t = 30)]
    pub grace_period: u64,
    /// Default maximum of nodes per integration runtime.
    #[arg(long, default_value_t = 4)]
    pub max_nodes: i64,
    /// Days of run history kept (with the runs' output).
    #[arg(long, default_value_t = 90)]
    pub retention_days: u64,
    /// Seconds without a heartbeat after which a node is offline.
    #[arg(long, default_value_t = 120)]
    pub node_offline_after: u64,
    /// Database URL [default: SQLite in the data directory].
    #[arg(long, env = "SURVEYOR_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Threads reading schemas per run [default: one per CPU, 16 for remote storage].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Serve the API over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "SURVEYOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, env = "SURVEYOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The lock first: a second service on the same directory fails at once.
    let data = DataDir::open_locked(&args.data_dir)?;
    // Proxy settings (`surveyor proxy set`) live in the same data directory.
    crate::net::proxy::set_data_dir(&args.data_dir);
    let (runtime, registry) = super::load(global)?;
    let config = ServeConfig {
        listen: args.listen,
        concurrency: args.concurrency.unwrap_or(0),
        grace: Duration::from_secs(args.grace_period),
        node_offline_after: Duration::from_secs(args.node_offline_after),
        max_nodes: args.max_nodes,
        retention: Duration::from_secs(args.retention_days * 86_400),
        database_url: args.database_url,
        schema_workers: args.workers,
        tls: args.tls_cert.zip(args.tls_key),
    };
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(crate::service::serve(data, config, runtime, registry))?;
    Ok(ExitCode::SUCCESS)
}
