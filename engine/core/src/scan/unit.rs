//! One work unit: scanned, and its result written as a sorted, checked
//! stream that the commit merges with the other units' ([`super::commit`]).
//!
//! A unit result holds, in this order: a [`UnitSummary`] (outcome, counts,
//! the first item errors, plugins used), then every asset the unit found, in
//! order of qualified name, each with a reference to its file's columns.
//! Columns are written once per distinct schema (a partitioned table's
//! thousand files with one schema carry it once). Resource sets are not
//! formed here: their members may be spread over many units, so grouping is
//! the commit's, over the merged stream.

use super::frames::{FrameError, FrameReader, FrameWriter};
use super::pipeline::{self, SchemaOutcome};
use super::run::{PluginUse, ScanOptions, ScanSource};
use super::schemas::{COLUMNS_TAG, Schemas};
use super::units::{PrelistedStorage, UnitSpec, UnitView};
use crate::host::bindings::storage::ObjectMeta;
use crate::host::bindings::types::{Asset, Attribute, Column};
use crate::host::{PluginError, Registry, Runtime};
use crate::report::ItemError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// Magic of a unit result stream.
pub const UNIT_MAGIC: &[u8; 4] = b"SVU1";

/// What became of a file's schema, as the commit needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Found {
    /// Not a file with a format Surveyor reads (or not a file).
    None,
    /// Read: the columns are the unit's `n`th [`Frame::Columns`].
    Columns(u32),
    /// A format connector tried and failed; the error is in the report.
    Failed,
    /// Unchanged since the last run (incremental): the schema is the state's.
    Unchanged,
}

/// An asset as a unit found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub asset: Asset,
    pub schema: Found,
    /// Format facts of the file's schema (row count, codecs, writer…).
    pub facts: Vec<Attribute>,
}

/// How a unit ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UnitOutcome {
    Completed,
    /// The unit could not be scanned to the end (the source connector failed,
    /// the storage went away): the run fails with this error.
    Failed(String),
    Canceled,
}

/// Counts of one unit; a run's are their sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitCounts {
    pub files: u64,
    pub schemas: u64,
    pub item_errors: u64,
    pub bytes_read: u64,
    pub reads: u64,
}

impl UnitCounts {
    pub fn add(&mut self, other: &UnitCounts) {
        self.files += other.files;
        self.schemas += other.schemas;
        self.item_errors += other.item_errors;
        self.bytes_read += other.bytes_read;
        self.reads += other.reads;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSummary {
    pub outcome: UnitOutcome,
    pub counts: UnitCounts,
    /// The first item errors, in [`error_order`]; all are counted.
    pub errors: Vec<ItemError>,
    pub plugins: Vec<PluginUse>,
    /// Assets that follow.
    pub records: u64,
}

/// The frames of a unit result (and of a source's state).
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    Summary(UnitSummary),
    Columns(Vec<Column>),
    Record(Record),
}

/// The order of item errors in reports: by item, then kind, message and
/// plugin, so that "the first 1000" are the same whatever the units.
pub fn error_order(a: &ItemError, b: &ItemError) -> std::cmp::Ordering {
    (&a.item, &a.kind, &a.message, &a.plugin).cmp(&(&b.item, &b.kind, &b.message, &b.plugin))
}

/// Keeps the first `cap` errors in [`error_order`], in bounded memory.
pub(super) fn keep_first_errors(errors: &mut Vec<ItemError>, cap: usize) {
    errors.sort_by(error_order);
    errors.truncate(cap);
}

/// Gathers a unit's assets as they come (in any order), encoded compactly;
/// sorts and writes them at the end. Past [`SPILL_BYTES`] of records, the
/// sorted records go to a file beside the result and are merged back at the
/// end, so that a unit of a million assets (a database, a connector that
/// emits more than it lists) does not hold them all in memory.
pub(super) struct UnitCollector {
    /// (qualified name, type name) and the encoded [`Frame::Record`].
    records: Vec<((String, String), Vec<u8>)>,
    bytes: usize,
    /// Sorted runs of records written aside.
    spilled: Vec<std::path::PathBuf>,
    spill_dir: Option<std::path::PathBuf>,
    /// Encoded columns of each distinct schema, and its index.
    columns: HashMap<Vec<u8>, u32>,
    /// The index of each of the last few shared copies of columns seen (a
    /// schema worker hands the same copy on for the files of a table that
    /// share their schema): such a file's columns are not encoded again.
    /// Weak: the copies are not kept alive here, and while a `Weak` is held
    /// no other copy can take its address.
    recent: Vec<(Weak<Vec<Column>>, u32)>,
    /// Where each asset is encoded, grown once: its columns, to be looked
    /// up in `columns` (most files repeat a schema already there, and need
    /// no allocation), then its record, kept at its exact size.
    scratch: Vec<u8>,
    errors: Vec<ItemError>,
    max_errors: usize,
    count: u64,
    spill_at: usize,
}

/// Shared copies of columns a unit remembers (see `UnitCollector::recent`).
const RECENT_COLUMNS: usize = 32;

/// Records held in memory by a unit before they are sorted and written aside.
pub const SPILL_BYTES: usize = 64 << 20;

type Key = (String, String);
/// Records in key order, from a run written aside or from memory.
type SortedRun = Box<dyn Iterator<Item = std::io::Result<(Key, Vec<u8>)>>>;
/// A record, with its columns when it has some.
pub type RecordWithColumns = (Record, Option<Arc<Vec<Column>>>);

impl UnitCollector {
    /// `spill_dir`: where sorted runs may be written (none: all in memory).
    pub(super) fn new(max_errors: usize, spill_dir: Option<std::path::PathBuf>) -> Self {
        UnitCollector {
            records: Vec::new(),
            bytes: 0,
            spilled: Vec::new(),
            spill_dir,
            columns: HashMap::new(),
            recent: Vec::new(),
            scratch: Vec::new(),
            errors: Vec::new(),
            max_errors,
            count: 0,
            spill_at: SPILL_BYTES,
        }
    }

    pub(super) fn asset(&mut self, asset: Asset, read: SchemaOutcome) -> std::io::Result<()> {
        let (schema, facts) = match read {
            SchemaOutcome::Skipped => (Found::None, Vec::new()),
            SchemaOutcome::Failed => (Found::Failed, Vec::new()),
            SchemaOutcome::Unchanged => (Found::Unchanged, Vec::new()),
            SchemaOutcome::Read(schema) => (Found::Columns(self.columns_index(&schema.columns)), schema.attributes),
        };
        let key = (asset.qualified_name.clone(), asset.type_name.clone());
        self.scratch.clear();
        let encoded =
            postcard::to_extend(&Frame::Record(Record { asset, schema, facts }), std::mem::take(&mut self.scratch));
        self.scratch = encoded.expect("record encodes");
        let record = self.scratch.clone();
        self.bytes += record.len() + key.0.len() + key.1.len() + 64;
        self.records.push((key, record));
        self.count += 1;
        if self.bytes > self.spill_at && self.spill_dir.is_some() {
            self.spill()?;
        }
        Ok(())
    }

    /// The index of `columns` among the unit's distinct schemas.
    fn columns_index(&mut self, columns: &Arc<Vec<Column>>) -> u32 {
        if let Some((_, index)) = self.recent.iter().find(|(c, _)| std::ptr::eq(c.as_ptr(), Arc::as_ptr(columns))) {
            return *index;
        }
        self.scratch.clear();
        let encoded = postcard::to_extend(&**columns, std::mem::take(&mut self.scratch));
        self.scratch = encoded.expect("columns encode");
        let index = match self.columns.get(self.scratch.as_slice()) {
            Some(index) => *index,
            None => {
                let next = self.columns.len() as u32;
                self.columns.insert(self.scratch.clone(), next);
                next
            }
        };
        // One or two copies a worker are current at a time: room for 16 workers.
        if self.recent.len() == RECENT_COLUMNS {
            self.recent.remove(0);
        }
        self.recent.push((Arc::downgrade(columns), index));
        index
    }

    fn spill(&mut self) -> std::io::Result<()> {
        let dir = self.spill_dir.as_ref().expect("checked");
        let path = dir.join(format!("spill-{:04}", self.spilled.len()));
        self.records.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for ((qn, type_name), record) in self.records.drain(..) {
            for part in [qn.as_bytes(), type_name.as_bytes(), &record] {
                out.write_all(&(part.len() as u32).to_le_bytes())?;
                out.write_all(part)?;
            }
        }
        out.flush()?;
        self.spilled.push(path);
        self.bytes = 0;
        Ok(())
    }

    pub(super) fn error(&mut self, error: ItemError) {
        self.errors.push(error);
        if self.errors.len() >= 2 * self.max_errors.max(1) {
            keep_first_errors(&mut self.errors, self.max_errors);
        }
    }

    /// Writes the unit's result: summary, columns, then records by qualified name.
    pub(super) fn write<W: Write>(
        mut self,
        outcome: UnitOutcome,
        counts: UnitCounts,
        plugins: Vec<PluginUse>,
        out: W,
    ) -> std::io::Result<(UnitSummary, W)> {
        keep_first_errors(&mut self.errors, self.max_errors);
        self.records.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let summary = UnitSummary { outcome, counts, errors: self.errors, plugins, records: self.count };
        let mut w = FrameWriter::new(out, UNIT_MAGIC)?;
        w.put(&Frame::Summary(summary.clone()))?;
        let mut columns: Vec<(u32, Vec<u8>)> = self.columns.into_iter().map(|(c, i)| (i, c)).collect();
        columns.sort_unstable_by_key(|(i, _)| *i);
        for (_, encoded) in columns {
            // A `Frame::Columns` is its tag, then the columns.
            let mut frame = Vec::with_capacity(encoded.len() + 1);
            frame.push(COLUMNS_TAG);
            frame.extend_from_slice(&encoded);
            w.put_encoded(&frame)?;
        }
        if self.spilled.is_empty() {
            for (_, record) in &self.records {
                w.put_encoded(record)?;
            }
        } else {
            // Merge the runs written aside with the last one, held in memory.
            let mut runs: Vec<SortedRun> = Vec::new();
            for path in &self.spilled {
                runs.push(Box::new(SpillRun(std::io::BufReader::new(std::fs::File::open(path)?))));
            }
            runs.push(Box::new(std::mem::take(&mut self.records).into_iter().map(Ok)));
            let mut heap = std::collections::BinaryHeap::new();
            for (i, run) in runs.iter_mut().enumerate() {
                if let Some(item) = run.next() {
                    let (key, record) = item?;
                    heap.push(std::cmp::Reverse((key, i, record)));
                }
            }
            while let Some(std::cmp::Reverse((_, i, record))) = heap.pop() {
                w.put_encoded(&record)?;
                if let Some(item) = runs[i].next() {
                    let (key, record) = item?;
                    heap.push(std::cmp::Reverse((key, i, record)));
                }
            }
            for path in &self.spilled {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok((summary, w.finish()?))
    }
}

/// A sorted run written aside by [`UnitCollector::spill`].
struct SpillRun<R: std::io::Read>(R);

impl<R: std::io::Read> SpillRun<R> {
    fn part(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut len = [0u8; 4];
        match self.0.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut buf = vec![0; u32::from_le_bytes(len) as usize];
        self.0.read_exact(&mut buf)?;
        Ok(Some(buf))
    }
}

impl<R: std::io::Read> Iterator for SpillRun<R> {
    type Item = std::io::Result<(Key, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let text =
            |b: Vec<u8>| String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        let item = (|| -> std::io::Result<Option<(Key, Vec<u8>)>> {
            let Some(qn) = self.part()? else { return Ok(None) };
            let type_name = self.part()?.unwrap_or_default();
            let record = self.part()?.unwrap_or_default();
            Ok(Some(((text(qn)?, text(type_name)?), record)))
        })();
        item.transpose()
    }
}

/// Reads a unit result: its summary first, then its records in order, with
/// their columns resolved.
pub struct UnitReader<R: std::io::Read> {
    frames: FrameReader<R>,
    pub summary: UnitSummary,
    schemas: Schemas<Frame>,
    /// The first record, read while collecting the columns.
    pending: Option<Record>,
    read: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnitResultError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("malformed unit result: {0}")]
    Malformed(String),
}

fn frame_columns(frame: Frame) -> Option<Vec<Column>> {
    match frame {
        Frame::Columns(c) => Some(c),
        _ => None,
    }
}

impl UnitReader<std::io::BufReader<std::fs::File>> {
    /// A unit result in a file: its schemas are read back from the file
    /// when a record needs them, not held ([`super::schemas`]).
    pub fn open(path: &std::path::Path) -> Result<Self, UnitResultError> {
        let file = std::fs::File::open(path).map_err(FrameError::from)?;
        let schemas = Schemas::in_file(file.try_clone().map_err(FrameError::from)?, frame_columns);
        UnitReader::start(std::io::BufReader::new(file), schemas)
    }
}

impl<R: std::io::Read> UnitReader<R> {
    pub fn new(input: R) -> Result<Self, UnitResultError> {
        UnitReader::start(input, Schemas::decoded(frame_columns))
    }

    fn start(input: R, mut schemas: Schemas<Frame>) -> Result<Self, UnitResultError> {
        let mut frames = FrameReader::new(input, UNIT_MAGIC, "unit result")?;
        let summary = match frames.read::<Frame>()? {
            Some(Frame::Summary(s)) => s,
            _ => return Err(UnitResultError::Malformed("it does not start with its summary".into())),
        };
        let pending = match schemas.next_frame(&mut frames)? {
            Some(Frame::Record(r)) => Some(r),
            Some(Frame::Columns(_)) => unreachable!("schemas are taken in by `next_frame`"),
            Some(Frame::Summary(_)) => return Err(UnitResultError::Malformed("a second summary".into())),
            None => None,
        };
        Ok(UnitReader { frames, summary, schemas, pending, read: 0 })
    }

    /// The next record, with its columns when it has some.
    pub fn next_record(&mut self) -> Result<Option<RecordWithColumns>, UnitResultError> {
        let record = match self.pending.take() {
            Some(r) => Some(r),
            None => match self.frames.read::<Frame>()? {
                Some(Frame::Record(r)) => Some(r),
                Some(_) => return Err(UnitResultError::Malformed("columns or a summary among the records".into())),
                None => None,
            },
        };
        let Some(record) = record else {
            if self.read != self.summary.records {
                return Err(UnitResultError::Malformed(format!(
                    "{} records announced, {} found",
                    self.summary.records, self.read
                )));
            }
            return Ok(None);
        };
        self.read += 1;
        let columns = match record.schema {
            Found::Columns(i) => Some(
                self.schemas
                    .get(i)?
                    .ok_or_else(|| UnitResultError::Malformed(format!("record refers to unknown columns {i}")))?,
            ),
            _ => None,
        };
        Ok(Some((record, columns)))
    }
}

/// Checks a whole unit result (an upload, before it is accepted): every
/// frame decodes, records are in order, the trailer matches. Returns its
/// summary.
pub fn validate(input: impl std::io::Read) -> Result<UnitSummary, UnitResultError> {
    let mut reader = UnitReader::new(input)?;
    let mut last: Option<(String, String)> = None;
    while let Some((record, _)) = reader.next_record()? {
        let key = (record.asset.qualified_name, record.asset.type_name);
        if last.as_ref().is_some_and(|l| *l > key) {
            return Err(UnitResultError::Malformed(format!("records out of order at {}", key.0)));
        }
        last = Some(key);
    }
    Ok(reader.summary)
}

/// Scans one unit of a run and writes its result to `out`.
pub fn run_unit<W: Write>(
    runtime: &Runtime,
    registry: &Arc<Registry>,
    source: &ScanSource,
    unit: &UnitSpec,
    options: &ScanOptions,
    out: W,
) -> Result<(UnitSummary, W), super::ScanError> {
    scan_planned_unit(runtime, registry, source, unit, None, options)?.write(out)
}

/// A unit scanned, its result not yet written: a run in one process writes
/// it on another thread while the next unit starts.
pub(super) struct ScannedUnit {
    collector: UnitCollector,
    pub outcome: UnitOutcome,
    counts: UnitCounts,
    plugins: Vec<PluginUse>,
}

impl ScannedUnit {
    pub(super) fn write<W: Write>(self, out: W) -> Result<(UnitSummary, W), super::ScanError> {
        self.collector
            .write(self.outcome, self.counts, self.plugins, out)
            .map_err(|e| super::ScanError::Unit(format!("writing the unit's result: {e}")))
    }
}

/// Scans one unit, with the slice's objects as the planner listed them in
/// this process (see [`PrelistedStorage`]), so that they are not listed again.
pub(super) fn scan_planned_unit(
    runtime: &Runtime,
    registry: &Arc<Registry>,
    source: &ScanSource,
    unit: &UnitSpec,
    listing: Option<Arc<[ObjectMeta]>>,
    options: &ScanOptions,
) -> Result<ScannedUnit, super::ScanError> {
    let plugin = registry
        .source(&source.source_type)
        .ok_or_else(|| super::ScanError::NoConnector(source.source_type.clone()))?
        .clone();
    let before = options.counters.snapshot();
    let storage = source.grants.storage.clone().map(|s| UnitView::wrap(PrelistedStorage::wrap(s, unit, listing), unit));
    let mut collector = UnitCollector::new(options.max_reported_errors, options.work_dir.clone());
    let outcome = pipeline::run(runtime, registry, &plugin, source, storage, options, &mut collector);
    let after = options.counters.snapshot();
    let counts = UnitCounts {
        files: after.files - before.files,
        schemas: after.schemas - before.schemas,
        item_errors: after.item_errors - before.item_errors,
        bytes_read: after.bytes_read - before.bytes_read,
        reads: after.reads - before.reads,
    };
    let canceled = options.cancel.load(Ordering::Relaxed);
    let outcome_kind = match &outcome.source_result {
        _ if outcome.fatal.is_some() => UnitOutcome::Failed(outcome.fatal.clone().unwrap_or_default()),
        Err(PluginError::Canceled { .. }) => UnitOutcome::Canceled,
        Err(_) if canceled => UnitOutcome::Canceled,
        Err(e) => UnitOutcome::Failed(e.to_string()),
        Ok(_) if canceled => UnitOutcome::Canceled,
        Ok(_) => UnitOutcome::Completed,
    };
    let mut plugins: Vec<PluginUse> = outcome.plugins_used.iter().map(|p| PluginUse::of(p)).collect();
    plugins.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(ScannedUnit { collector, outcome: outcome_kind, counts, plugins })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::format::SharedSchema;

    fn asset(i: u64) -> Asset {
        Asset {
            type_name: "t".into(),
            qualified_name: format!("x://r/{i:05}"),
            name: format!("{i}"),
            parent: None,
            path: None,
            attributes: vec![],
            columns: vec![],
            relations: vec![],
            file: None,
        }
    }

    #[test]
    fn a_unit_larger_than_memory_is_sorted_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = UnitCollector::new(10, Some(dir.path().to_path_buf()));
        c.spill_at = 4096;
        for i in 0..2000u64 {
            c.asset(asset((i * 7919) % 2000), SchemaOutcome::Skipped).unwrap();
        }
        assert!(c.spilled.len() > 3, "written aside");
        let (summary, bytes) = c.write(UnitOutcome::Completed, UnitCounts::default(), vec![], Vec::new()).unwrap();
        assert_eq!(summary.records, 2000);
        assert_eq!(validate(&bytes[..]).unwrap(), summary);
        let mut r = UnitReader::new(&bytes[..]).unwrap();
        let mut names = Vec::new();
        while let Some((record, _)) = r.next_record().unwrap() {
            names.push(record.asset.qualified_name);
        }
        let expected: Vec<String> = (0..2000).map(|i| format!("x://r/{i:05}")).collect();
        assert_eq!(names, expected);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "runs written aside are removed");
    }

    #[test]
    fn schemas_are_read_back_from_the_file_when_a_record_needs_them() {
        assert_eq!(postcard::to_allocvec(&Frame::Columns(vec![])).unwrap()[0], COLUMNS_TAG);
        let dir = tempfile::tempdir().unwrap();
        let mut c = UnitCollector::new(10, None);
        for i in 0..6u64 {
            let mut columns = vec![];
            for k in 0..=(i % 3) {
                columns.push(Column {
                    path: vec![format!("c{k}")],
                    physical_type: "INT32".into(),
                    logical_type: None,
                    data_type: "int32".into(),
                    repetition: crate::host::bindings::types::Repetition::Optional,
                    nullable: true,
                    ordinal: k as u32,
                    attributes: vec![],
                });
            }
            c.asset(asset(i), read(columns)).unwrap();
        }
        let path = dir.path().join("unit.svu");
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        c.write(UnitOutcome::Completed, UnitCounts::default(), vec![], file).unwrap();
        fn widths<R: std::io::Read>(mut r: UnitReader<R>) -> Vec<usize> {
            let mut widths = Vec::new();
            while let Some((_, columns)) = r.next_record().unwrap() {
                widths.push(columns.unwrap().len());
            }
            widths
        }
        let expected = [1, 2, 3, 1, 2, 3];
        assert_eq!(widths(UnitReader::open(&path).unwrap()), expected);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(widths(UnitReader::new(&bytes[..]).unwrap()), expected);
    }

    fn read(columns: Vec<Column>) -> SchemaOutcome {
        SchemaOutcome::Read(SharedSchema { columns: Arc::new(columns), attributes: vec![] })
    }

    #[test]
    fn a_shared_copy_of_columns_and_an_equal_one_are_one_schema() {
        let column = |name: &str| Column {
            path: vec![name.into()],
            physical_type: "INT32".into(),
            logical_type: None,
            data_type: "int32".into(),
            repetition: crate::host::bindings::types::Repetition::Optional,
            nullable: true,
            ordinal: 0,
            attributes: vec![],
        };
        let mut c = UnitCollector::new(10, None);
        let shared = Arc::new(vec![column("a")]);
        for i in 0..3 {
            let schema = SharedSchema { columns: shared.clone(), attributes: vec![] };
            c.asset(asset(i), SchemaOutcome::Read(schema)).unwrap();
        }
        c.asset(asset(3), read(vec![column("a")])).unwrap();
        c.asset(asset(4), read(vec![column("b")])).unwrap();
        // A copy dropped, and another allocated in its place, is not taken for it.
        drop(shared);
        c.asset(asset(5), read(vec![column("c")])).unwrap();
        assert_eq!(c.columns.len(), 3, "a, b and c");
        let (_, bytes) = c.write(UnitOutcome::Completed, UnitCounts::default(), vec![], Vec::new()).unwrap();
        let mut r = UnitReader::new(&bytes[..]).unwrap();
        let mut names = Vec::new();
        while let Some((_, columns)) = r.next_record().unwrap() {
            names.push(columns.unwrap()[0].path[0].clone());
        }
        assert_eq!(names, ["a", "a", "a", "a", "b", "c"]);
    }

    #[test]
    fn a_truncated_or_reordered_result_is_refused() {
        let mut c = UnitCollector::new(10, None);
        for i in 0..10 {
            c.asset(asset(i), SchemaOutcome::Skipped).unwrap();
        }
        let (_, bytes) = c.write(UnitOutcome::Completed, UnitCounts::default(), vec![], Vec::new()).unwrap();
        assert!(validate(&bytes[..bytes.len() - 40]).is_err());
        assert!(validate(&bytes[..]).is_ok());
    }
}
