//! The commit: a run's units merged into one result, written once.
//!
//! ```text
//!  unit results (each sorted) ──k-way merge──► one copy per asset ──► schema of
//!  unchanged files from the last state ──► resource sets ──► Atlas batches
//!                                                              └──► new state, deletions, report, manifest
//! ```
//!
//! Assets come out in order of qualified name (then type), whatever the
//! units, threads or nodes that found them; a folder above several units is
//! found by each and kept once. So the same source gives the same output,
//! entity for entity, however the run was split (`docs/output.md`).

use super::resource_sets::{FileColumns, Grouper, GroupingConfig, Offer, SetSummary};
use super::run::{Counts, PluginUse, RunReport, RunStatus, SourceSummary};
use super::state::{AssetId, LastRun, StateItem, StateReader, StateWriter, WrittenSet, carry_over, deletions, written};
use super::unit::{Found, Record, UnitCounts, UnitOutcome, UnitReader, UnitResultError, UnitSummary, error_order};
use super::{ScanError, now};
use crate::host::bindings::types::{Asset, Attribute, Column};
use crate::sink::atlas::{AtlasBatcher, column_classifications, typedefs};
use crate::sink::relations::Relations;
use crate::sink::{RunOutput, Sink};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the commit needs to know about the run besides its units.
#[derive(Debug, Clone)]
pub struct CommitPlan {
    pub run_id: String,
    pub source: SourceSummary,
    /// RFC 3339, and ms since the epoch.
    pub started_at: String,
    pub started_at_ms: i64,
    /// Incremental runs: schemas were read only of files modified after this.
    pub modified_since: Option<i64>,
    /// The run listed the whole source (no scope): deletions are reported,
    /// and a complete run becomes the source's state.
    pub whole_source: bool,
    pub grouping: GroupingConfig,
    pub batch_entities: usize,
    pub max_reported_errors: usize,
    /// Write a failed or canceled run to the sink (with its report), as the
    /// command line does; the service keeps such runs' reports itself and
    /// writes only completed runs to ingestion storage.
    pub write_incomplete: bool,
    /// Write the new state (the caller keeps sources' states).
    pub keep_state: bool,
    /// The run's classification fingerprint, kept in the new state.
    pub classification: Option<String>,
}

/// An asset of the committed run, for the service's listing of results.
pub struct Indexed<'a> {
    pub asset: &'a Asset,
    pub columns: Option<&'a [Column]>,
    pub set: Option<&'a SetSummary>,
}

/// What a commit produced.
pub struct Committed {
    pub report: RunReport,
    /// The new state was written to the given path (the run was complete
    /// and listed the whole source): the caller makes it the source's.
    pub state_written: bool,
}

/// One unit result being read, with its next record.
struct Cursor {
    unit: usize,
    reader: UnitReader<BufReader<std::fs::File>>,
}

struct Head {
    key: (String, String),
    unit: usize,
    record: Record,
    columns: Option<Arc<Vec<Column>>>,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then(self.unit.cmp(&other.unit))
    }
}

fn unit_error(path: &Path, e: UnitResultError) -> ScanError {
    ScanError::Unit(format!("unit result {}: {e}", path.display()))
}

fn next_head(cursor: &mut Cursor, path: &Path) -> Result<Option<Head>, ScanError> {
    Ok(cursor.reader.next_record().map_err(|e| unit_error(path, e))?.map(|(record, columns)| Head {
        key: (record.asset.qualified_name.clone(), record.asset.type_name.clone()),
        unit: cursor.unit,
        record,
        columns,
    }))
}

/// Of several copies of one asset (a folder found by two units), the one
/// kept: the most attributes (a real directory's over one inferred from a
/// path), then one with a schema, then the smallest encoding — a rule on
/// content only, so the choice does not depend on which unit found which.
fn better(a: &Head, b: &Head) -> Ordering {
    let with_schema = |h: &Head| matches!(h.record.schema, Found::Columns(_));
    a.record
        .asset
        .attributes
        .len()
        .cmp(&b.record.asset.attributes.len())
        .then(with_schema(a).cmp(&with_schema(b)))
        .then_with(|| {
            let (ea, eb) = (postcard::to_allocvec(&a.record), postcard::to_allocvec(&b.record));
            eb.ok().cmp(&ea.ok())
        })
}

/// How many assets cross between the commit's threads at a time.
const BATCH: usize = 256;

/// One asset of the merged stream: the copy kept, with its file's schema.
struct Merged {
    asset: Asset,
    failed: bool,
    schema: Option<FileColumns>,
}

/// Merges the units' results (each sorted) into one stream in output order,
/// one copy per asset, on a thread of its own: reading and decoding them is
/// a quarter of the commit's work. An unchanged file's schema comes from
/// `old`, the last state. The stream is whole only if the thread, joined
/// after it, did not panic.
fn merge_on_thread(
    mut cursors: Vec<Cursor>,
    units: Vec<PathBuf>,
    mut old: Option<OldState>,
) -> (Receiver<Result<Vec<Merged>, ScanError>>, std::thread::JoinHandle<()>) {
    let (tx, rx) = bounded(4);
    let thread = std::thread::Builder::new()
        .name("surveyor-merge".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut merge = || -> Result<(), ScanError> {
                let mut heap = BinaryHeap::new();
                for cursor in &mut cursors {
                    if let Some(head) = next_head(cursor, &units[cursor.unit])? {
                        heap.push(Reverse(head));
                    }
                }
                while let Some(Reverse(mut best)) = heap.pop() {
                    // Every copy of this asset, one per unit that found it.
                    let mut copies = vec![best.unit];
                    while heap.peek().is_some_and(|Reverse(h)| h.key == best.key) {
                        let Reverse(other) = heap.pop().expect("peeked");
                        copies.push(other.unit);
                        if better(&other, &best) == Ordering::Greater {
                            best = other;
                        }
                    }
                    for unit in copies {
                        if let Some(head) = next_head(&mut cursors[unit], &units[unit])? {
                            heap.push(Reverse(head));
                        }
                    }
                    let Head { record, columns, .. } = best;
                    let Record { asset, schema, facts } = record;
                    let mut file_schema = columns.map(|columns| FileColumns { columns, facts });
                    if schema == Found::Unchanged
                        && let Some(old) = &mut old
                    {
                        file_schema = old.schema_of(&asset)?;
                    }
                    batch.push(Merged { asset, failed: schema == Found::Failed, schema: file_schema });
                    if batch.len() == BATCH && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                        return Ok(()); // the commit stopped
                    }
                }
                Ok(())
            };
            let last = merge().map(|()| batch);
            let _ = tx.send(last);
        })
        .expect("a thread starts");
    (rx, thread)
}

/// A change to the new state, made on the state's thread.
enum StateOp {
    Entry {
        parent: Option<AssetId>,
        id: AssetId,
        written: bool,
        path: Option<String>,
        columns: Option<Arc<Vec<Column>>>,
        failed: bool,
        facts: Vec<Attribute>,
    },
    Set(AssetId),
    Related(AssetId),
}

/// The new state, written on a thread of its own (its schemas' encoding and
/// digests are a sixth of the commit's work). A write that fails stops the
/// thread; its error comes out of [`StateThread::finish`], before the run's
/// output is committed.
struct StateThread {
    tx: Sender<Vec<StateOp>>,
    batch: Vec<StateOp>,
    thread: std::thread::JoinHandle<std::io::Result<WrittenSet>>,
}

impl StateThread {
    fn start(mut state: StateWriter<std::io::BufWriter<std::fs::File>>) -> Self {
        let (tx, rx) = bounded::<Vec<StateOp>>(4);
        let thread = std::thread::Builder::new()
            .name("surveyor-state".into())
            .spawn(move || {
                for op in rx.iter().flatten() {
                    match op {
                        StateOp::Entry { parent, id, written, path, columns, failed, facts } => {
                            state.parent(parent.as_ref())?;
                            state.entry(&id, written, path.as_deref(), columns.as_ref(), failed, &facts)?;
                        }
                        StateOp::Set(id) => state.set(&id)?,
                        StateOp::Related(id) => state.related(&id)?,
                    }
                }
                let (file, written) = state.finish()?;
                crate::sink::start_writeback(file.get_ref());
                Ok(written)
            })
            .expect("a thread starts");
        StateThread { tx, batch: Vec::with_capacity(BATCH), thread }
    }

    fn push(&mut self, op: StateOp) {
        self.batch.push(op);
        if self.batch.len() == BATCH {
            // A closed channel: the thread stopped on an error, which `finish` returns.
            let _ = self.tx.send(std::mem::take(&mut self.batch));
        }
    }

    /// What the new state says was written.
    fn finish(self) -> std::io::Result<WrittenSet> {
        let _ = self.tx.send(self.batch);
        drop(self.tx);
        self.thread.join().unwrap_or_else(|_| Err(std::io::Error::other("the state's thread panicked")))
    }
}

/// The run's outcome from its units' (in unit order: the first failure names the run's).
fn outcome(summaries: &[UnitSummary]) -> (RunStatus, Option<String>) {
    if let Some(error) = summaries.iter().find_map(|s| match &s.outcome {
        UnitOutcome::Failed(e) => Some(e.clone()),
        _ => None,
    }) {
        return (RunStatus::Failed, Some(error));
    }
    if summaries.iter().any(|s| s.outcome == UnitOutcome::Canceled) {
        return (RunStatus::Canceled, Some("canceled".into()));
    }
    if summaries.iter().any(|s| s.counts.item_errors > 0) {
        return (RunStatus::CompletedWithExceptions, None);
    }
    (RunStatus::Succeeded, None)
}

/// Merges `units` (result files, in unit order) into the run's output in
/// `sink`. `previous` is the source's state (for unchanged files' schemas
/// and deletions); a complete run's new state is written to `new_state`.
/// `index` sees every asset written.
pub fn commit(
    plan: &CommitPlan,
    units: &[std::path::PathBuf],
    previous: Option<&Path>,
    new_state: &Path,
    sink: &dyn Sink,
    index: &mut dyn FnMut(Indexed<'_>),
) -> Result<Committed, ScanError> {
    let begun = std::time::Instant::now();
    tracing::debug!(units = units.len(), "commit begins");
    let mut cursors = Vec::with_capacity(units.len());
    for (unit, path) in units.iter().enumerate() {
        let reader = UnitReader::open(path).map_err(|e| unit_error(path, e))?;
        cursors.push(Cursor { unit, reader });
    }
    let summaries: Vec<UnitSummary> = cursors.iter().map(|c| c.reader.summary.clone()).collect();
    let (status, error) = outcome(&summaries);
    let mut counts = UnitCounts::default();
    let mut item_errors = Vec::new();
    let mut plugins: BTreeMap<(String, String, String), PluginUse> = BTreeMap::new();
    for s in &summaries {
        counts.add(&s.counts);
        item_errors.extend(s.errors.iter().cloned());
        for p in &s.plugins {
            plugins.entry((p.name.clone(), p.version.clone(), p.sha256.clone())).or_insert_with(|| p.clone());
        }
    }
    item_errors.sort_by(error_order);
    item_errors.truncate(plan.max_reported_errors);
    let complete = matches!(status, RunStatus::Succeeded | RunStatus::CompletedWithExceptions);
    let mut report = RunReport {
        run_id: plan.run_id.clone(),
        source: plan.source.clone(),
        status,
        error,
        started_at: plan.started_at.clone(),
        finished_at: String::new(),
        duration_ms: 0,
        files_per_second: 0.0,
        modified_since: plan
            .modified_since
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms + 1).ok())
            .map(|t| format!("{t:.3}")),
        previous_run_id: None,
        counts: Counts {
            files: counts.files,
            schemas: counts.schemas,
            item_errors: counts.item_errors,
            bytes_read: counts.bytes_read,
            reads: counts.reads,
            ..Counts::default()
        },
        plugins: plugins.into_values().collect(),
        item_errors_omitted: counts.item_errors.saturating_sub(item_errors.len() as u64),
        item_errors,
        resource_sets: Vec::new(),
        classifications: Default::default(),
        location: None,
    };
    let previous_run: Option<LastRun> = match previous {
        Some(p) => Some(StateReader::open(p).map_err(|e| state_error(p, e))?.last_run),
        None => None,
    };
    report.previous_run_id = previous_run.as_ref().map(|r| r.run_id.clone());
    if !complete && !plan.write_incomplete {
        finish_times(&mut report, plan);
        return Ok(Committed { report, state_written: false });
    }

    let mut output = RunOutput::new(sink.begin(&plan.run_id)?, &plan.run_id);
    let keep_state = complete && plan.whole_source && plan.keep_state;
    let state = if keep_state {
        let run = LastRun {
            run_id: plan.run_id.clone(),
            started_at_ms: plan.started_at_ms,
            status: report.status.as_str().to_string(),
            classification: plan.classification.clone(),
        };
        let file = std::fs::File::create(new_state).map_err(|e| state_error(new_state, e))?;
        Some(StateWriter::new(std::io::BufWriter::new(file), &run).map_err(|e| state_error(new_state, e))?)
    } else {
        None
    };
    let old = match previous {
        Some(p) if plan.modified_since.is_some() => Some(OldState::open(p)?),
        _ => None,
    };

    // The merged stream is in order of qualified name: sets it is past wait in the work folder.
    let work = new_state.parent().unwrap_or(Path::new("."));
    let mut grouper = Grouper::new(&plan.grouping)?.seal_passed_sets_in(work).map_err(|e| sets_error(work, e))?;
    let mut batcher = AtlasBatcher::new(plan.batch_entities);
    let mut relations = Relations::default();
    let mut assets = 0u64;
    let mut classified = std::collections::BTreeMap::<String, u64>::new();
    let mut write = |asset: &Asset, schema: Option<&FileColumns>, output: &mut RunOutput| -> Result<(), ScanError> {
        assets += 1;
        // An asset that carries its own columns (a table) is its own schema.
        let columns = schema.map(|s| &s.columns[..]).or((!asset.columns.is_empty()).then_some(&asset.columns[..]));
        for (name, _) in columns.unwrap_or(&[]).iter().flat_map(column_classifications) {
            *classified.entry(name).or_default() += 1;
        }
        let facts = schema.map(|s| &s.facts[..]).unwrap_or(&[]);
        relations.note(asset, columns);
        if let Some(batch) = batcher.add(asset, columns, facts) {
            output.put(&batch.name, batch.bytes, Some(batch.entities))?;
        }
        Ok(())
    };

    // Reading the units' results and writing the new state run on threads
    // of their own: the commit comes after the scan, when the other core is
    // otherwise idle (BENCHMARKS.md §1).
    let (merged, merging) = merge_on_thread(cursors, units.to_vec(), old);
    let mut state = state.map(StateThread::start);
    let before = match (&state, previous) {
        (Some(_), Some(previous)) => {
            let previous = previous.to_path_buf();
            Some(std::thread::spawn(move || WrittenSet::of(&previous)))
        }
        _ => None,
    };
    for batch in merged {
        for Merged { asset, failed, schema: file_schema } in batch? {
            let id = AssetId { type_name: asset.type_name.clone(), qualified_name: asset.qualified_name.clone() };
            let parent = asset
                .parent
                .as_ref()
                .map(|p| AssetId { type_name: p.type_name.clone(), qualified_name: p.qualified_name.clone() });
            let path = asset.file.as_ref().map(|f| f.path.clone());
            let columns = file_schema.as_ref().map(|s| s.columns.clone());
            let facts = file_schema.as_ref().map(|s| s.facts.clone()).unwrap_or_default();
            let written = match grouper.offer(asset, file_schema, failed).map_err(|e| sets_error(work, e))? {
                Offer::Keep(asset, schema) => {
                    write(&asset, schema.as_ref(), &mut output)?;
                    let columns = schema.as_ref().map(|s| &s.columns[..]);
                    index(Indexed {
                        asset: &asset,
                        columns: columns.or(Some(&asset.columns[..]).filter(|c| !c.is_empty())),
                        set: None,
                    });
                    true
                }
                Offer::Absorbed => false,
            };
            if let Some(state) = &mut state {
                state.push(StateOp::Entry { parent, id, written, path, columns, failed, facts });
            }
        }
    }
    merging.join().map_err(|_| ScanError::Unit("merging the unit results failed (panicked)".into()))?;
    let merged_ms = begun.elapsed().as_millis() as u64;
    for set in grouper.finish() {
        let (asset, schema, summary) = set.map_err(|e| sets_error(work, e))?;
        write(&asset, schema.as_ref(), &mut output)?;
        index(Indexed { asset: &asset, columns: schema.as_ref().map(|s| &s.columns[..]), set: Some(&summary) });
        if let Some(state) = &mut state {
            state.push(StateOp::Set(AssetId {
                type_name: asset.type_name.clone(),
                qualified_name: asset.qualified_name.clone(),
            }));
        }
        if report.resource_sets.len() < plan.max_reported_errors {
            report.resource_sets.push(summary);
        }
        report.counts.resource_sets += 1;
    }
    let sets_ms = begun.elapsed().as_millis() as u64;
    // Relationships last, when both their ends are in the catalog. An
    // incremental run may point at what only the last run wrote.
    if plan.modified_since.is_some()
        && relations.needs_previous()
        && let Some(previous) = previous
    {
        written(previous, |id| relations.know(&id.type_name, &id.qualified_name))
            .map_err(|e| state_error(previous, e))?;
    }
    let (related, unresolved) = relations.resolve();
    for entity in &related {
        if let Some(batch) = batcher.add_related(entity) {
            output.put(&batch.name, batch.bytes, Some(batch.entities))?;
        }
        if let Some(state) = &mut state {
            state.push(StateOp::Related(AssetId {
                type_name: entity.type_name().to_string(),
                qualified_name: entity.qualified_name().to_string(),
            }));
        }
    }
    report.counts.relationships = related.len() as u64;
    report.counts.unresolved_relations = unresolved;
    if unresolved > 0 {
        tracing::info!(unresolved, "relations to assets outside the catalog were left out");
    }
    if let Some(batch) = batcher.finish() {
        output.put(&batch.name, batch.bytes, Some(batch.entities))?;
    }
    // After the batches: it declares the classifications they use.
    output.put("typedefs.json", typedefs(classified.keys().map(String::as_str)).into_bytes(), None)?;
    report.classifications = classified;
    report.counts.assets = assets;
    report.counts.entities = batcher.total_entities();
    let now = match state {
        Some(state) => Some(state.finish().map_err(|e| state_error(new_state, e))?),
        None => None,
    };
    let state_written = now.is_some();
    // Deletions only from a run that saw the whole source.
    if let Some(mut now) = now
        && let Some(previous) = previous
    {
        if plan.modified_since.is_some() {
            let carried = carry_over(previous, new_state, &now).map_err(|e| state_error(new_state, e))?;
            if !carried.is_empty() {
                tracing::info!(carried = carried.len(), "assets of containers this run did not list are kept");
                now.extend(&carried);
            }
        }
        // The last run's assets, read while the run was merged: read again for
        // their names only when some are gone.
        let before = before.expect("read with a previous state").join().expect("the reader does not panic");
        let unchanged = before.map_err(|e| state_error(previous, e))?.within(&now);
        let gone =
            if unchanged { Vec::new() } else { deletions(previous, &now).map_err(|e| state_error(previous, e))? };
        report.counts.deleted = gone.len() as u64;
        let body = serde_json::json!({
            "previousRunId": report.previous_run_id,
            "entities": gone.iter().map(|id| serde_json::json!({
                "typeName": id.type_name,
                "uniqueAttributes": {"qualifiedName": id.qualified_name},
            })).collect::<Vec<_>>(),
        });
        output.put("deletions.json", serde_json::to_vec_pretty(&body).expect("serializes"), None)?;
    }
    finish_times(&mut report, plan);
    let report_bytes = serde_json::to_vec_pretty(&report).expect("report serializes");
    output.put("report.json", report_bytes, None)?;
    let (location, _) = output.commit(report.status.as_str(), report.finished_at.clone())?;
    report.location = Some(location);
    // Milliseconds since the commit began, at the end of each phase.
    tracing::debug!(merged_ms, sets_ms, ms = begun.elapsed().as_millis() as u64, "commit ends");
    Ok(Committed { report, state_written })
}

fn finish_times(report: &mut RunReport, plan: &CommitPlan) {
    report.finished_at = now();
    let elapsed_ms = (jiff::Timestamp::now().as_millisecond() - plan.started_at_ms).max(0) as u64;
    report.duration_ms = elapsed_ms;
    report.files_per_second =
        if elapsed_ms > 0 { report.counts.files as f64 / (elapsed_ms as f64 / 1000.0) } else { 0.0 };
}

fn sets_error(work: &Path, e: std::io::Error) -> ScanError {
    ScanError::Unit(format!("resource sets put aside in {}: {e}", work.display()))
}

fn state_error(path: &Path, e: impl std::fmt::Display) -> ScanError {
    ScanError::Unit(format!("source state {}: {e}", path.display()))
}

/// The last run's state, read alongside the merge (both in output order):
/// the schema an unchanged file had.
struct OldState {
    path: std::path::PathBuf,
    reader: StateReader,
    next: Option<(super::state::StateEntry, Option<Arc<Vec<Column>>>)>,
}

impl OldState {
    fn open(path: &Path) -> Result<Self, ScanError> {
        let reader = StateReader::open(path).map_err(|e| state_error(path, e))?;
        let mut old = OldState { path: path.to_path_buf(), reader, next: None };
        old.advance()?;
        Ok(old)
    }

    fn advance(&mut self) -> Result<(), ScanError> {
        self.next = match self.reader.next_item().map_err(|e| state_error(&self.path, e))? {
            Some(StateItem::Entry(entry, columns)) => Some((entry, columns)),
            _ => None,
        };
        Ok(())
    }

    fn schema_of(&mut self, asset: &Asset) -> Result<Option<FileColumns>, ScanError> {
        let key = (&asset.qualified_name, &asset.type_name);
        while let Some((entry, _)) = &self.next {
            match (&entry.id.qualified_name, &entry.id.type_name).cmp(&key) {
                Ordering::Less => self.advance()?,
                Ordering::Equal => {
                    let (entry, columns) = self.next.take().expect("present");
                    self.advance()?;
                    return Ok(columns.map(|columns| FileColumns {
                        columns,
                        facts: entry.file.map(|f| f.facts).unwrap_or_default(),
                    }));
                }
                Ordering::Greater => break,
            }
        }
        Ok(None)
    }
}
