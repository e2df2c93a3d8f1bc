//! The threads of a run and the channels between them.

use super::fail_fast::{FailFast, Fatal};
use super::run::{Counts, ScanOptions, ScanSource};
use super::sql_sample::SqlSampler;
use super::unit::UnitCollector;
use crate::classify;
use crate::classify::plugins::{PluginClassifiers, PluginFailure, classify_column};
use crate::host::bindings::sampling::exports::surveyor::connector::format_sampler::SampleLimits;
use crate::host::bindings::types::{Asset, ConnectorError, ErrorKind, FileRef};
use crate::host::bindings::{ScanRequest, ScanSummary};
use crate::host::format::{FormatInstance, Sampled, SharedSchema};
use crate::host::source::{ScanOutput, SourceCapabilities};
use crate::host::{Plugin, PluginError, Registry, Runtime};
use crate::report::ItemError;
use crate::storage::{Storage, StorageErrorKind};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Messages waiting between stages; bounds the run's memory.
const QUEUE: usize = 1024;
/// Most columns accepted in one schema.
const MAX_COLUMNS: usize = 100_000;

/// Live counters of a run, readable while it goes (progress bars, metrics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Assets the source has emitted so far (progress).
    pub discovered: AtomicU64,
    pub assets: AtomicU64,
    pub files: AtomicU64,
    pub resource_sets: AtomicU64,
    pub schemas: AtomicU64,
    pub entities: AtomicU64,
    pub item_errors: AtomicU64,
    pub bytes_read: AtomicU64,
    pub reads: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            assets: get(&self.assets),
            files: get(&self.files),
            resource_sets: get(&self.resource_sets),
            schemas: get(&self.schemas),
            entities: get(&self.entities),
            item_errors: get(&self.item_errors),
            bytes_read: get(&self.bytes_read),
            reads: get(&self.reads),
            ..Counts::default()
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

// Messages move once through a channel: boxing the large variant would only add an allocation per file.
#[allow(clippy::large_enum_variant)]
enum Out {
    /// An asset, with what became of its file's schema.
    Asset {
        asset: Asset,
        schema: SchemaOutcome,
    },
    Error(ItemError),
}

/// What became of a file's schema in this unit.
pub(super) enum SchemaOutcome {
    /// Not a file, or no format connector handles it (or the rule set skips its format).
    Skipped,
    Read(SharedSchema),
    /// A format connector tried and failed (the error is reported separately).
    Failed,
    /// Incremental run: unchanged since the last run; the commit takes its
    /// schema from the source's state.
    Unchanged,
}

impl Out {
    fn asset(asset: Asset) -> Out {
        Out::Asset { asset, schema: SchemaOutcome::Skipped }
    }
    fn failed(asset: Asset) -> Out {
        Out::Asset { asset, schema: SchemaOutcome::Failed }
    }
}

struct Job {
    asset: Asset,
    plugin: Arc<Plugin>,
}

pub(super) struct Outcome {
    pub source_result: Result<ScanSummary, PluginError>,
    pub plugins_used: Vec<Arc<Plugin>>,
    /// Why the unit had to stop although the source went on (its storage
    /// became unreachable or refused the credential).
    pub fatal: Option<String>,
}

/// Scans one unit: the source connector over `storage` (the unit's view of
/// the source's storage, if it has one), schemas read by the workers, and
/// everything gathered into `collector`.
pub(super) fn run(
    runtime: &Runtime,
    registry: &Arc<Registry>,
    plugin: &Arc<Plugin>,
    source: &ScanSource,
    storage: Option<Arc<dyn Storage>>,
    options: &ScanOptions,
    collector: &mut UnitCollector,
) -> Outcome {
    let request = &ScanRequest {
        root_uri: source.grants.root_uri.clone(),
        scope: source.scope.clone(),
        modified_since: source.modified_since,
    };
    let (job_tx, job_rx) = bounded::<Job>(QUEUE);
    let (out_tx, out_rx) = bounded::<Out>(QUEUE);
    let config = source.config.to_string();
    let used = Arc::new(Mutex::new(BTreeMap::from([(plugin.info.name.clone(), plugin.clone())])));
    let fatal = Arc::new(Fatal::default());
    let storage = storage.map(|s| FailFast::wrap(s, fatal.clone(), options.cancel.clone()));
    // SQL sources under classification: tables go to the sample workers.
    let sampler = match (&options.classifier, &source.grants.sql) {
        (Some(classifier), Some(backend)) => Some(SqlSampler {
            backend: backend.clone(),
            classifier: classifier.clone(),
            root: source.grants.root_uri.clone(),
        }),
        _ => None,
    };
    let (table_tx, table_rx) = bounded::<Asset>(QUEUE);
    let table_tx = sampler.is_some().then_some(table_tx);

    std::thread::scope(|scope| {
        let source_thread = {
            let dispatch = Dispatch {
                registry: registry.clone(),
                jobs: job_tx,
                out: out_tx.clone(),
                counters: options.counters.clone(),
                cancel: options.cancel.clone(),
                used: used.clone(),
                modified_since: source.modified_since,
                retry: options.retry.clone(),
                reads_files: storage.is_some(),
                schema_formats: options.schema_formats.clone(),
                tables: table_tx,
            };
            let mut caps = SourceCapabilities::none().output(Box::new(dispatch));
            if let Some(storage) = &storage {
                caps = caps.storage(storage.clone());
            }
            if let Some(sql) = &source.grants.sql {
                caps = caps.sql(sql.clone());
            }
            if let Some(http) = &source.grants.http {
                caps = caps.http(http.clone());
            }
            let config = &config;
            std::thread::Builder::new()
                .name("surveyor-source".into())
                .spawn_scoped(scope, move || {
                    let mut instance = plugin.source_instance(
                        runtime,
                        caps,
                        options.source_limits.clone(),
                        Some(options.cancel.clone()),
                    )?;
                    instance.scan(config, request)
                })
                .expect("spawn source thread")
        };
        let workers = if storage.is_some() { options.schema_workers.max(1) } else { 0 };
        for i in 0..workers {
            let (jobs, out) = (job_rx.clone(), out_tx.clone());
            let storage = storage.as_ref().expect("workers read files from the storage");
            std::thread::Builder::new()
                .name(format!("surveyor-schema-{i}"))
                .spawn_scoped(scope, move || schema_worker(runtime, registry, jobs, out, storage, options))
                .expect("spawn schema worker");
        }
        // One sample query per table, as many at once as the source's
        // connection pool holds connections.
        if let Some(sampler) = &sampler {
            for i in 0..sampler.backend.parallelism().max(1) {
                let (tables, out) = (table_rx.clone(), out_tx.clone());
                std::thread::Builder::new()
                    .name(format!("surveyor-sample-{i}"))
                    .spawn_scoped(scope, move || sample_worker(runtime, registry, sampler, tables, out, options))
                    .expect("spawn sample worker");
            }
        }
        drop(table_rx);
        drop(job_rx);
        drop(out_tx);

        let mut spill_error: Option<String> = None;
        for message in out_rx {
            match message {
                Out::Asset { asset, schema } => {
                    if asset.file.is_some() {
                        add(&options.counters.files, 1);
                    }
                    if let Err(e) = collector.asset(asset, schema) {
                        // Nowhere to keep the unit's records: the unit cannot complete.
                        spill_error.get_or_insert(format!("cannot keep the unit's records aside: {e}"));
                        options.cancel.store(true, Ordering::Relaxed);
                    }
                }
                Out::Error(error) => {
                    add(&options.counters.item_errors, 1);
                    collector.error(error);
                }
            }
        }
        let source_result = source_thread.join().unwrap_or_else(|_| {
            Err(PluginError::Crashed { plugin: plugin.info.name.clone(), message: "host thread panicked".into() })
        });
        let plugins_used = used.lock().unwrap().values().cloned().collect();
        Outcome { source_result, plugins_used, fatal: fatal.take().or(spill_error) }
    })
}

/// The source's `emit` capability: routes each asset to a schema worker or
/// straight to the writer.
struct Dispatch {
    registry: Arc<Registry>,
    jobs: Sender<Job>,
    out: Sender<Out>,
    counters: Arc<Counters>,
    cancel: Arc<std::sync::atomic::AtomicBool>,
    used: Arc<Mutex<BTreeMap<String, Arc<Plugin>>>>,
    modified_since: Option<i64>,
    /// Incremental runs: files whose schema failed last time, read again although unchanged.
    retry: Option<Arc<HashSet<String>>>,
    /// Schemas are read only from a storage the source was granted.
    reads_files: bool,
    schema_formats: Option<Vec<String>>,
    /// SQL sources under classification: the sample workers' queue of tables.
    tables: Option<Sender<Asset>>,
}

fn gone() -> ConnectorError {
    ConnectorError { kind: ErrorKind::Canceled, message: "the run is stopping".into(), item: None }
}

impl ScanOutput for Dispatch {
    fn assets(&mut self, plugin: &str, assets: Vec<Asset>) -> Result<(), ConnectorError> {
        for mut asset in assets {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(gone());
            }
            add(&self.counters.discovered, 1);
            // Only the host classifies: a connector cannot set the labels itself.
            classify::labels::strip(&mut asset.columns);
            if let Err(problem) = check_asset(&asset) {
                let item =
                    if asset.qualified_name.is_empty() { asset.name.clone() } else { asset.qualified_name.clone() };
                self.item_error(ItemError::new(
                    &item,
                    "malformed-asset",
                    &format!("asset rejected: {problem}"),
                    plugin,
                ));
                continue;
            }
            // Incremental runs read schemas only of files changed since the
            // last run (and of those whose schema failed then).
            let changed = |f: &FileRef| match (self.modified_since, f.last_modified) {
                (Some(since), Some(modified)) => {
                    modified > since || self.retry.as_ref().is_some_and(|r| r.contains(&f.path))
                }
                _ => true,
            };
            let format = asset
                .file
                .as_ref()
                .filter(|_| self.reads_files)
                .and_then(|f| self.registry.format_for(&f.path))
                .filter(|p| self.schema_formats.as_ref().is_none_or(|only| only.contains(&p.info.name)))
                .cloned();
            let sent = match format {
                Some(_) if !asset.file.as_ref().is_some_and(changed) => {
                    self.out.send(Out::Asset { asset, schema: SchemaOutcome::Unchanged }).is_ok()
                }
                Some(format) => {
                    self.used.lock().unwrap().entry(format.info.name.clone()).or_insert_with(|| format.clone());
                    self.jobs.send(Job { asset, plugin: format }).is_ok()
                }
                None => match &self.tables {
                    Some(tables) if SqlSampler::samples(&asset) => tables.send(asset).is_ok(),
                    _ => self.out.send(Out::asset(asset)).is_ok(),
                },
            };
            if !sent {
                return Err(gone());
            }
        }
        Ok(())
    }

    fn item_error(&mut self, error: ItemError) {
        let _ = self.out.send(Out::Error(error));
    }
}

/// Limits on what a connector may emit as one asset.
fn check_asset(asset: &Asset) -> Result<(), String> {
    const MAX_NAME: usize = 4096;
    if asset.type_name.is_empty() || asset.type_name.len() > 256 {
        return Err(format!("type name must be 1-256 characters (got {})", asset.type_name.len()));
    }
    if !asset.type_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(format!("type name {:?} has characters other than letters, digits, '_' and '-'", asset.type_name));
    }
    if asset.qualified_name.is_empty() || asset.qualified_name.len() > MAX_NAME {
        return Err(format!("qualified name must be 1-{MAX_NAME} bytes (got {})", asset.qualified_name.len()));
    }
    if asset.name.len() > MAX_NAME {
        return Err(format!("name longer than {MAX_NAME} bytes"));
    }
    if asset.columns.len() > 100_000 {
        return Err(format!("{} columns (at most 100000)", asset.columns.len()));
    }
    Ok(())
}

/// Reads one file's schema; with a classifier, samples its columns too and
/// classifies them here (system classifications, custom rules, then the
/// classifier plugins), so that the samples never leave this function:
/// only the labels go on, as a reserved column attribute. Classifier plugins
/// that failed on a column are added to `failures` as (column path, failure).
fn read_file(
    instance: &mut FormatInstance,
    storage: &Arc<dyn Storage>,
    file: &FileRef,
    tail: &mut Vec<u8>,
    options: &ScanOptions,
    plugins: &mut Option<PluginClassifiers<'_>>,
    failures: &mut Vec<PluginFailure>,
) -> (Result<SharedSchema, PluginError>, crate::host::format::ReadStats) {
    let Some(classifier) = &options.classifier else {
        #[cfg(feature = "bench-native")]
        if options.native_parquet && instance.plugin() == "parquet" {
            return super::native::read_shared_parquet(storage, &file.path, file.size, tail.clone());
        }
        return instance.read_shared_schema(storage, &file.path, file.size, tail, classify::labels::strip);
    };
    let (max_rows, max_bytes) = classifier.limits();
    let limits = SampleLimits { max_rows, max_bytes_per_column: max_bytes };
    let selection = classifier.selection(plugins.is_some());
    let (result, stats) = instance.read_sample(storage, &file.path, file.size, tail, "", limits, selection);
    let result = result.map(|sampled| {
        let Sampled { mut schema, samples } = sampled;
        classify::labels::strip(&mut schema.columns);
        let mut next = 0;
        for sample in samples {
            // Samples come in the schema's order: look after the last match first.
            let n = schema.columns.len();
            let Some(i) = (0..n).map(|k| (next + k) % n).find(|&i| schema.columns[i].path == sample.path) else {
                continue;
            };
            next = i + 1;
            let column = &mut schema.columns[i];
            // A sample whose offsets do not cut its text into values is dropped.
            let Some(values) = sample.values(max_rows as usize) else { continue };
            if let Some(labels) = classify_column(
                classifier,
                plugins.as_mut(),
                &sample.path,
                &column.data_type,
                &values,
                sample.nulls,
                failures,
            ) {
                column.attributes.push(labels.to_attribute());
            }
        }
        SharedSchema { columns: Arc::new(schema.columns), attributes: schema.attributes }
    });
    (result, stats)
}

/// Tables sampled per round trip at most: enough that round trips no
/// longer dominate (BENCHMARKS.md §9), few enough that a batch's results
/// arrive soon.
const SAMPLE_BATCH: usize = 16;

/// Classifies SQL tables: one sample query each through the source's
/// backend (the waiting ones in one batch), then the system
/// classifications, custom rules and this worker's instances of the
/// classifier plugins. A table that could not be sampled goes on without
/// labels, with an item error.
fn sample_worker(
    runtime: &Runtime,
    registry: &Registry,
    sampler: &SqlSampler,
    tables: Receiver<Asset>,
    out: Sender<Out>,
    options: &ScanOptions,
) {
    let mut plugins = PluginClassifiers::for_run(runtime, registry, Some(&sampler.classifier));
    // The tables already waiting (up to a batch) are sampled together.
    while let Ok(first) = tables.recv() {
        let mut batch = vec![first];
        batch.extend(tables.try_iter().take(SAMPLE_BATCH - 1));
        if options.cancel.load(Ordering::Relaxed) {
            return;
        }
        let outcomes = sampler.classify_all(&mut batch, plugins.as_mut());
        for (asset, (error, failures)) in batch.into_iter().zip(outcomes) {
            let item = &asset.qualified_name;
            let error = error.map(|e| ItemError::new(item, e.kind, &e.message, "classification"));
            let plugin_errors = failures.into_iter().map(|f| ItemError::new(item, &f.kind, &f.message, &f.plugin));
            for error in error.into_iter().chain(plugin_errors) {
                if out.send(Out::Error(error)).is_err() {
                    return;
                }
            }
            if out.send(Out::asset(asset)).is_err() {
                return;
            }
        }
    }
}

/// Reads schemas: one tail read per file, then the format connector. Each
/// worker owns its instances; an instance that trapped is replaced.
fn schema_worker(
    runtime: &Runtime,
    registry: &Registry,
    jobs: Receiver<Job>,
    out: Sender<Out>,
    storage: &Arc<dyn Storage>,
    options: &ScanOptions,
) {
    let counters = &options.counters;
    let mut instances: HashMap<String, FormatInstance> = HashMap::new();
    // One tail buffer per worker, reused for every file.
    let mut tail = Vec::with_capacity(options.tail_bytes as usize);
    // This worker's instances of the classifier plugins the rule set enables.
    let mut classifiers = PluginClassifiers::for_run(runtime, registry, options.classifier.as_deref());
    let mut failures = Vec::new();
    for Job { asset, plugin } in jobs {
        // A stopping run (canceled, or its storage gone) reads nothing more:
        // the files still queued would each wait out their retries.
        if options.cancel.load(Ordering::Relaxed) {
            return;
        }
        let file = asset.file.clone().expect("jobs carry a file");
        let error = |kind: &str, message: String, by: &str| Out::Error(ItemError::new(&file.path, kind, &message, by));
        let tail_len = file.size.min(options.tail_bytes);
        if let Err(e) = storage.read_range_into(&file.path, file.size - tail_len, tail_len, &mut tail) {
            {
                let vanished = e.kind == StorageErrorKind::NotFound;
                let kind = crate::host::kind_name(crate::host::source::storage_error(e.clone()).kind);
                let msg = if vanished { "file vanished during the scan".to_string() } else { e.message.clone() };
                let keep = !vanished;
                if out.send(error(kind, msg, "storage")).is_err() || (keep && out.send(Out::failed(asset)).is_err()) {
                    return;
                }
                continue;
            }
        }
        add(&counters.reads, 1);
        add(&counters.bytes_read, tail.len() as u64);
        if (tail.len() as u64) < tail_len {
            let msg = format!("file changed during the scan: listed as {} bytes, now shorter", file.size);
            if out.send(error("malformed-input", msg, "storage")).is_err() || out.send(Out::failed(asset)).is_err() {
                return;
            }
            continue;
        }
        let name = plugin.info.name.clone();
        if !instances.contains_key(&name) {
            match plugin.format_instance(runtime, options.format_limits.clone(), Some(options.cancel.clone())) {
                Ok(instance) => {
                    instances.insert(name.clone(), instance);
                }
                Err(e) => {
                    if out.send(error(e.kind(), e.to_string(), &name)).is_err() || out.send(Out::failed(asset)).is_err()
                    {
                        return;
                    }
                    continue;
                }
            }
        }
        let instance = instances.get_mut(&name).expect("just inserted");
        let (result, stats) = read_file(instance, storage, &file, &mut tail, options, &mut classifiers, &mut failures);
        add(&counters.reads, stats.extra_reads as u64);
        add(&counters.bytes_read, stats.extra_bytes);
        // A classifier plugin that failed on a column: that column lacks its
        // labels, the schema and the other labels go on.
        for failure in failures.drain(..) {
            if out.send(error(&failure.kind, failure.message, &failure.plugin)).is_err() {
                return;
            }
        }
        let sent = match result {
            Ok(schema) if schema.columns.len() > MAX_COLUMNS => {
                let msg = format!("schema of {} columns exceeds the limit of {MAX_COLUMNS}", schema.columns.len());
                out.send(error("limit-exceeded", msg, &name)).is_ok() && out.send(Out::failed(asset)).is_ok()
            }
            Ok(schema) => {
                add(&counters.schemas, 1);
                out.send(Out::Asset { asset, schema: SchemaOutcome::Read(schema) }).is_ok()
            }
            Err(e) => {
                if e.poisons_instance() {
                    instances.remove(&name);
                }
                let message = match &e {
                    PluginError::Returned { error, .. } => error.message.clone(),
                    other => other.to_string(),
                };
                out.send(error(e.kind(), message, &name)).is_ok() && out.send(Out::failed(asset)).is_ok()
            }
        };
        if !sent {
            return;
        }
    }
}
