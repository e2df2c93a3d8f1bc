//! `surveyor scan <PATH>`: the main job on embedded defaults. Scans a local
//! folder with the built-in connectors and writes the run to `--out`.

use super::GlobalArgs;
use crate::scan::resource_sets::GroupingConfig;
use crate::scan::{RunReport, RunStatus, ScanOptions, ScanSource, run_scan};
use crate::sink::LocalFolderSink;
use crate::storage::LocalStorage;
use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ScanArgs {
    /// The folder to scan.
    pub path: PathBuf,
    /// Where to write the run.
    #[arg(long, default_value = "surveyor-out")]
    pub out: PathBuf,
    /// Source name in the report [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Threads reading schemas [default: one per CPU].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Bytes read speculatively from the end of each file.
    #[arg(long, default_value_t = 64 * 1024)]
    pub tail_bytes: u64,
    /// Also catalog hidden files and folders (names starting with '.').
    #[arg(long)]
    pub include_hidden: bool,
    /// Catalog every file on its own instead of grouping partitions into resource sets.
    #[arg(long)]
    pub no_resource_sets: bool,
    /// Resource-set rules (TOML; see docs/resource-sets.md).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Print the run report as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Benchmarks only: parse Parquet natively, outside the sandbox.
    #[cfg(feature = "bench-native")]
    #[arg(long)]
    pub native_parquet: bool,
}

pub fn run(global: &GlobalArgs, args: ScanArgs) -> anyhow::Result<ExitCode> {
    let storage = LocalStorage::open(&args.path)
        .map_err(|e| anyhow::anyhow!("cannot scan {}: {}", args.path.display(), e.message))?;
    let root = storage.root().to_path_buf();
    let root_str = root.to_str().context("the folder's path is not valid UTF-8")?.to_string();
    let (runtime, registry) = super::load(global)?;
    let registry = Arc::new(registry);

    let source = ScanSource {
        name: args
            .name
            .clone()
            .unwrap_or_else(|| root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "/".into())),
        source_type: "local-folder".into(),
        config: serde_json::json!({"path": root_str, "include_hidden": args.include_hidden}),
        storage: Arc::new(storage),
        root_uri: surveyor_sdk::qualified_name::join(&format!("file://{}", hostname()), &root_str),
        scope: Vec::new(),
        modified_since: None,
    };
    let mut grouping: GroupingConfig = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("invalid rules in {}", path.display()))?
        }
        None => GroupingConfig::default(),
    };
    if args.no_resource_sets {
        grouping.enabled = false;
    }
    let mut options = ScanOptions { tail_bytes: args.tail_bytes, grouping, ..ScanOptions::default() };
    #[cfg(feature = "bench-native")]
    {
        options.native_parquet = args.native_parquet;
    }
    if let Some(workers) = args.workers {
        options.schema_workers = workers.max(1);
    }
    signal_hook::flag::register(signal_hook::consts::SIGINT, options.cancel.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, options.cancel.clone())?;

    let show_progress = !args.no_progress && !args.json && std::io::stderr().is_terminal();
    let progress = show_progress.then(|| Progress::start(options.counters.clone()));
    let sink = LocalFolderSink::new(&args.out);
    let report = run_scan(&runtime, &registry, &source, &options, &sink);
    drop(progress);
    let report = report?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(match report.status {
        RunStatus::Succeeded | RunStatus::CompletedWithExceptions => ExitCode::SUCCESS,
        RunStatus::Failed => ExitCode::FAILURE,
        RunStatus::Canceled => ExitCode::from(130),
    })
}

fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().to_string()
}

fn print_summary(report: &RunReport) {
    let c = &report.counts;
    let secs = report.duration_ms as f64 / 1000.0;
    println!(
        "{}: {} files, {} schemas read, {} resource sets, {} assets ({} Atlas entities), {} errors in {:.2}s ({:.0} files/s)",
        report.status.as_str(),
        c.files,
        c.schemas,
        c.resource_sets,
        c.assets,
        c.entities,
        c.item_errors,
        secs,
        report.files_per_second
    );
    if let Some(error) = &report.error {
        println!("run error: {error}");
    }
    for e in report.item_errors.iter().take(10) {
        println!("  {} [{}] {}", e.item, e.kind, e.message);
    }
    if c.item_errors > 10 {
        println!("  ... {} more in report.json", c.item_errors - 10);
    }
    if let Some(location) = &report.location {
        println!("output: {location}");
    }
}

/// A progress line on stderr, fed by the run's counters.
struct Progress {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(counters: Arc<crate::scan::RunCounters>) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            while !flag.load(Ordering::Relaxed) {
                let c = counters.snapshot();
                let found = counters.discovered.load(Ordering::Relaxed);
                bar.set_message(format!("{found} found, {} schemas read, {} errors", c.schemas, c.item_errors));
                bar.tick();
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Progress { stop, thread: Some(thread) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
