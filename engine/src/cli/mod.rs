//! The `surveyor` command line: argument parsing and dispatch. Each command
//! is one module; the work is done by the library.

#[cfg(test)]
mod doc_commands;
mod doctor;
mod manage;
mod plugins;
mod proxy;
mod releases;
mod scan;
mod serve;
mod source;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "surveyor", version, about = "Self-hosted integration runtime for data-catalog scanning")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command shares.
#[derive(clap::Args, Clone)]
pub struct GlobalArgs {
    /// Folder of plugin `.wasm` files, loaded on top of the built-in ones [default: plugins].
    #[arg(long, global = true, env = "SURVEYOR_PLUGINS_DIR")]
    pub plugins: Option<PathBuf>,
    /// Cache of compiled plugins [default: ~/.cache/surveyor/components].
    #[arg(long, global = true, env = "SURVEYOR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile plugins on every start instead of caching them.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// More logging (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as JSON objects.
    #[arg(long, global = true)]
    pub log_json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The runtime's proxy settings for outbound HTTP(S): show, set, clear.
    Proxy(proxy::ProxyArgs),
    /// Scan a source (a local folder, or a source definition) and write what it holds.
    Scan(scan::ScanArgs),
    /// Check that a source is reachable and its credentials work.
    TestConnection(source::TestConnectionArgs),
    /// List what a source holds at a path, to choose a scan scope.
    Browse(source::BrowseArgs),
    /// Inspect the plugins this runtime would use.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Run the service: HTTP API, scheduler and run queue.
    Serve(serve::ServeArgs),
    /// Integration runtimes and their keys (on a running service).
    Ir(manage::IrArgs),
    /// Nodes of integration runtimes (on a running service).
    Node(manage::NodeArgs),
    /// Sources defined in the service.
    Sources(manage::SourcesArgs),
    /// Scans defined in the service.
    Scans(manage::ScansArgs),
    /// Runs of the service's scans.
    Runs(manage::RunsArgs),
    /// Signed releases of this binary, which the service rolls out to the nodes.
    Releases(releases::ReleasesArgs),
    /// Print the version, its release date and expiry.
    Version,
    /// Check DNS, TCP, TLS and credentials of every endpoint this node needs; `--urls` lists them for a firewall.
    Doctor(doctor::DoctorArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // The service's options (its configuration file among them) decide its logging.
        Command::Serve(args) => serve::settings(&cli.global, args).and_then(|settings| {
            init_logging(cli.global.verbose, settings.log_level.as_str(), settings.log_json);
            serve::run(&cli.global, settings)
        }),
        command => {
            // A node at work logs what it runs, as the service does.
            let level = if matches!(&command, Command::Node(n) if n.works()) { "info" } else { "warn" };
            init_logging(cli.global.verbose, level, cli.global.log_json);
            run(&cli.global, command)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Proxy(args) => proxy::run(args),
        Command::Scan(args) => scan::run(global, args),
        Command::TestConnection(args) => source::test_connection(global, args),
        Command::Browse(args) => source::browse(global, args),
        Command::Plugins(cmd) => plugins::run(global, cmd),
        Command::Serve(_) => unreachable!("main starts the service, after its logging"),
        Command::Ir(args) => manage::ir(args),
        Command::Node(args) => manage::node(global, args),
        Command::Sources(args) => manage::sources(args),
        Command::Scans(args) => manage::scans(args),
        Command::Runs(args) => manage::runs(args),
        Command::Releases(args) => releases::run(args),
        Command::Doctor(args) => doctor::run(global, args),
        Command::Version => {
            let v = surveyor_service::version::current();
            let version = surveyor_service::releases::running_version();
            println!("surveyor {version} (released {}, supported until {})", v.release_date, v.expires_on);
            if let Some(w) = &v.warning {
                eprintln!("warning: {w}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Logs on stderr: at `level` without -v, else at what -v asks (-v info, -vv
/// debug, -vvv trace), but never below `level`; RUST_LOG overrides both.
fn init_logging(verbose: u8, level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
    let base = LEVELS.iter().position(|l| *l == level).unwrap_or(1);
    let asked = if verbose == 0 { 0 } else { 1 + verbose as usize };
    let default = LEVELS[base.max(asked).min(LEVELS.len() - 1)];
    // tiberius warns of a trusted certificate on every connection; the user
    // chose it, and `test-connection` and `doctor` say so once.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(default).add_directive("tiberius::client::tls_stream=error".parse().expect("a valid directive"))
    });
    // tiberius traces every row it reads, values included; with
    // classification those are sampled values, which are never logged: its
    // protocol stream is capped at debug, whatever RUST_LOG asks.
    let filter = filter.add_directive("tiberius::tds=debug".parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The runtime and plugins for a one-shot command, from the global options.
pub fn load(global: &GlobalArgs) -> anyhow::Result<(surveyor_engine::host::Runtime, surveyor_engine::host::Registry)> {
    let runtime = runtime(global)?;
    let registry = surveyor_engine::host::Registry::load(&runtime, Some(&plugins_folder(global)));
    for rejected in registry.rejected() {
        tracing::warn!(file = %rejected.file.display(), reason = %rejected.reason, "plugin rejected");
    }
    Ok((runtime, registry))
}

/// The runtime and the plugins folder for a long-running command (the
/// service, a node): each run takes the folder's plugins as they are when
/// it starts, so a plugin dropped in needs no restart. Loaded once here, so
/// that a rejected plugin is named at start.
pub fn load_catalog(
    global: &GlobalArgs,
) -> anyhow::Result<(surveyor_engine::host::Runtime, surveyor_engine::host::PluginCatalog)> {
    let runtime = runtime(global)?;
    let catalog = surveyor_engine::host::PluginCatalog::new(Some(plugins_folder(global)));
    catalog.current(&runtime);
    Ok((runtime, catalog))
}

fn runtime(global: &GlobalArgs) -> anyhow::Result<surveyor_engine::host::Runtime> {
    let cache_dir = if global.no_cache {
        None
    } else {
        Some(global.cache_dir.clone().unwrap_or_else(surveyor_engine::host::cache::ComponentCache::default_dir))
    };
    Ok(surveyor_engine::host::Runtime::new(surveyor_engine::host::RuntimeOptions { cache_dir })?)
}

fn plugins_folder(global: &GlobalArgs) -> std::path::PathBuf {
    global.plugins.clone().unwrap_or_else(|| surveyor_service::config::DEFAULT_PLUGINS.into())
}
