//! `surveyor scan`: the main job. `surveyor scan <PATH>` scans a local
//! folder on the embedded defaults; `surveyor scan --source FILE` scans any
//! source defined in a TOML file.

use super::GlobalArgs;
use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use surveyor_engine::classify::{ClassificationConfig, Classifier};
use surveyor_engine::host::bindings::types::PluginKind;
use surveyor_engine::scan::resource_sets::GroupingConfig;
use surveyor_engine::scan::state::SourceState;
use surveyor_engine::scan::{RunReport, RunStatus, ScanOptions, ScanSource, run_scan};
use surveyor_engine::sink::{LocalFolderSink, Sink, SinkDefinition};
use surveyor_engine::sources::SourceDefinition;

#[derive(clap::Args)]
pub struct ScanArgs {
    /// The folder to scan (or use --source).
    #[arg(required_unless_present = "source", conflicts_with = "source")]
    pub path: Option<PathBuf>,
    /// A source definition (TOML) to scan instead of a folder.
    #[arg(long, value_name = "FILE")]
    pub source: Option<PathBuf>,
    /// Where to write the run (a local folder; see --sink for others).
    #[arg(long, default_value = "surveyor-out")]
    pub out: PathBuf,
    /// Write the run to the sink defined in this TOML file (an Azure Storage container...) instead of --out.
    #[arg(long, value_name = "FILE")]
    pub sink: Option<PathBuf>,
    /// Read schemas only of files modified since the source's last successful run
    /// (everything is still listed, and deletions are reported).
    #[arg(long)]
    pub incremental: bool,
    /// Where sources remember their last successful run [default: <out>/state].
    #[arg(long, value_name = "DIR", env = "SURVEYOR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Source name in the report [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Threads reading schemas [default: one per CPU, 16 for remote storage].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Files per work unit at first; units grow with the run, to 25 times
    /// this (0: the whole source in one unit). Units bound the memory of a
    /// run; their results are merged into one output.
    #[arg(long, value_name = "N", default_value_t = surveyor_engine::scan::DEFAULT_UNIT_FILES)]
    pub unit_files: u64,
    /// Bytes read speculatively from the end of each file.
    #[arg(long, default_value_t = 64 * 1024)]
    pub tail_bytes: u64,
    /// Also catalog hidden files and folders (names starting with '.').
    #[arg(long)]
    pub include_hidden: bool,
    /// Read schemas only of files of these formats (e.g. `parquet,csv`); other files are catalogued without one.
    #[arg(long, value_delimiter = ',', value_name = "FORMATS")]
    pub schema_formats: Option<Vec<String>>,
    /// Catalog every file on its own instead of grouping partitions into resource sets.
    #[arg(long)]
    pub no_resource_sets: bool,
    /// Resource-set rules (TOML; see docs/resource-sets.md).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Sample column values and classify them (e-mail addresses, card numbers…),
    /// inside this process: only classification names and shares are written.
    #[arg(long, conflicts_with = "no_classify")]
    pub classify: bool,
    /// Do not sample or classify, even if `--classify-rules` is given.
    #[arg(long)]
    pub no_classify: bool,
    /// Classification settings and custom rules (TOML; see docs/classification.md); implies `--classify`.
    #[arg(long, value_name = "FILE")]
    pub classify_rules: Option<PathBuf>,
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

/// The definition of a local folder source, as `surveyor scan <PATH>` makes it.
pub fn folder_definition(path: &std::path::Path, name: Option<String>, include_hidden: bool) -> SourceDefinition {
    let name = name.unwrap_or_else(|| {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        canonical.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "/".into())
    });
    let mut connection = toml::Table::new();
    connection.insert("path".into(), toml::Value::String(path.to_string_lossy().to_string()));
    let mut config = toml::Table::new();
    if include_hidden {
        config.insert("include_hidden".into(), toml::Value::Boolean(true));
    }
    SourceDefinition { name, source_type: "local-folder".into(), connection, config, resource_sets: None }
}

pub fn run(global: &GlobalArgs, args: ScanArgs) -> anyhow::Result<ExitCode> {
    let definition = match (&args.source, &args.path) {
        (Some(file), _) => SourceDefinition::from_file(file)?,
        (None, Some(path)) => folder_definition(path, args.name.clone(), args.include_hidden),
        (None, None) => unreachable!("clap requires one"),
    };
    let grants = surveyor_engine::sources::grant(&definition)
        .map_err(|e| anyhow::anyhow!("cannot scan '{}': {e}", definition.name))?;
    let (runtime, registry) = super::load(global)?;
    let config = definition.connector_config(&registry)?;
    let remote = !matches!(definition.connection()?, surveyor_engine::sources::Connection::LocalFolder(_));
    let registry = Arc::new(registry);

    let mut grouping: GroupingConfig = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("invalid rules in {}", path.display()))?
        }
        None => definition.resource_sets.clone().unwrap_or_default(),
    };
    if args.no_resource_sets {
        grouping.enabled = false;
    }
    let state_dir = args.state_dir.clone().unwrap_or_else(|| args.out.join("state"));
    let state = SourceState::new(&state_dir, &definition.name, &definition.source_type, &grants.root_uri);
    let classifier = classifier(&args)?;
    let modified_since =
        if args.incremental { incremental_since(&state, classifier.as_deref(), &registry)? } else { None };
    let sink: Box<dyn Sink> = match &args.sink {
        Some(file) => SinkDefinition::from_file(file)?.build()?,
        None => Box::new(LocalFolderSink::new(&args.out)),
    };
    let source = ScanSource {
        name: definition.name.clone(),
        source_type: definition.source_type.clone(),
        config,
        grants,
        scope: Vec::new(),
        modified_since,
    };
    if let Some(formats) = &args.schema_formats
        && let Some(unknown) = formats.iter().find(|f| registry.get(f).is_none_or(|p| p.kind() != PluginKind::Format))
    {
        anyhow::bail!("--schema-formats: no format connector is named '{unknown}' (see `surveyor plugins list`)");
    }
    let mut options = ScanOptions {
        classifier,
        tail_bytes: args.tail_bytes,
        grouping,
        state: Some(state),
        schema_formats: args.schema_formats.clone(),
        unit_files: args.unit_files,
        ..ScanOptions::default()
    };
    // Remote storage is latency-bound: more readers than cores.
    options.schema_workers = args.workers.unwrap_or(if remote { 16 } else { options.schema_workers }).max(1);
    #[cfg(feature = "bench-native")]
    {
        options.native_parquet = args.native_parquet;
    }
    signal_hook::flag::register(signal_hook::consts::SIGINT, options.cancel.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, options.cancel.clone())?;

    let show_progress = !args.no_progress && !args.json && std::io::stderr().is_terminal();
    let progress = show_progress.then(|| Progress::start(options.counters.clone()));
    let report = run_scan(&runtime, &registry, &source, &options, sink.as_ref());
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

/// The run's classifier: `--classify` or `--classify-rules` turn it on
/// (system classifications, or the file's settings and rules), `--no-classify` off.
fn classifier(args: &ScanArgs) -> anyhow::Result<Option<Arc<Classifier>>> {
    if args.no_classify || (!args.classify && args.classify_rules.is_none()) {
        return Ok(None);
    }
    let config = match &args.classify_rules {
        Some(path) => ClassificationConfig::from_file(path)?,
        None => ClassificationConfig::default(),
    };
    if !config.enabled {
        return Ok(None);
    }
    Ok(Some(Arc::new(Classifier::new(&config)?)))
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
    if let Some(since) = &report.modified_since {
        println!("incremental: schemas read of files modified since {since}");
    }
    if c.deleted > 0 {
        println!(
            "{} assets gone since run {} (deletions.json)",
            c.deleted,
            report.previous_run_id.as_deref().unwrap_or("?")
        );
    }
    if !report.classifications.is_empty() {
        let list: Vec<String> = report.classifications.iter().map(|(n, c)| format!("{n} {c}")).collect();
        println!("classified columns: {}", list.join(", "));
    }
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
    fn start(counters: Arc<surveyor_engine::scan::RunCounters>) -> Self {
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

/// Where an incremental run starts: the last complete run's start, unless
/// that run classified otherwise (or not at all), since unchanged files keep
/// the labels of the last run.
fn incremental_since(
    state: &SourceState,
    classifier: Option<&surveyor_engine::classify::Classifier>,
    registry: &surveyor_engine::host::Registry,
) -> anyhow::Result<Option<i64>> {
    let Some(last) = state.last_run()? else { return Ok(None) };
    if last.classification != classifier.map(|c| c.fingerprint(registry)) {
        tracing::info!("classification settings changed since the last run: every file is read again");
        return Ok(None);
    }
    Ok(Some(last.modified_since()))
}
