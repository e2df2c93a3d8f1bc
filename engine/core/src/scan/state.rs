//! What a source remembers between runs: its last complete run, and every
//! asset that run found with, for files, the schema that was read (or that
//! the read failed).
//!
//! - Incremental runs read schemas only of files modified since the last
//!   run started, and of those whose read failed last time; an unchanged
//!   file gets the schema it had, so an incremental run of an unchanged
//!   source writes what the full run before it wrote, resource sets included.
//! - Every run that lists the whole source reports the assets that were
//!   written last time and are gone now (`deletions.json`).
//!
//! The state is one stream of [`frames`](super::frames) (magic `SVS1`): the
//! last run, then entries in order of qualified name (columns written once
//! per distinct schema, before their first use), then the resource sets
//! written, then the entities written for relations (foreign keys, lineage
//! processes), so that a relationship whose end is gone is deleted too. The command line keeps it in a folder per source; the service in
//! its database. It is replaced whole, and only once a run is committed: a
//! failed or interrupted run leaves the previous state as it was.

use super::frames::{FrameError, FrameReader, FrameWriter};
use super::schemas::{COLUMNS_TAG, Schemas};
use super::unit::Found;
use crate::host::bindings::types::{Attribute, Column};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Magic of a source state stream.
pub const STATE_MAGIC: &[u8; 4] = b"SVS1";

/// The last complete run of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub run_id: String,
    /// When the run started, in ms since the epoch (files modified after this
    /// may not have been seen by it).
    pub started_at_ms: i64,
    pub status: String,
    /// The run's [`crate::classify::Classifier::fingerprint`] (`None`: it
    /// did not classify). Kept in a frame of its own after the run's, so
    /// that states written before it existed still read.
    #[serde(skip)]
    pub classification: Option<String>,
}

impl LastRun {
    /// For an incremental run: files modified after this (ms since the
    /// epoch) get their schema read. Storage timestamps have a resolution of
    /// one second (Azure's `Last-Modified`), so the start is rounded down to
    /// its second: a file changed in the same second as the last run's start
    /// is read again rather than missed.
    pub fn modified_since(&self) -> i64 {
        self.started_at_ms.div_euclid(1000) * 1000 - 1
    }
}

/// An asset as it is identified in a catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetId {
    pub type_name: String,
    pub qualified_name: String,
}

impl AssetId {
    /// The order of a run's output: by qualified name, then type.
    pub fn output_order(&self, other: &AssetId) -> std::cmp::Ordering {
        (&self.qualified_name, &self.type_name).cmp(&(&other.qualified_name, &other.type_name))
    }
}

/// One asset of the last run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    pub id: AssetId,
    /// Written to the catalog (false: a member of a resource set, or a folder inside one).
    pub written: bool,
    pub file: Option<StateFile>,
}

/// A file of the last run and its schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub path: String,
    /// `Columns(n)`: the state's `n`th columns; `Failed`: read again next time.
    pub schema: Found,
    pub facts: Vec<Attribute>,
}

#[derive(Serialize, Deserialize)]
enum StateFrame {
    Run(LastRun),
    Columns(Vec<Column>),
    Entry(StateEntry),
    Set(AssetId),
    /// An entity written for relations (a foreign key, a lineage process).
    Related(AssetId),
    /// The containing asset of the entries that follow (until the next
    /// `Parent`); an empty id for top-level assets.
    Parent(AssetId),
    /// Right after `Run`: its classification fingerprint (new variants go
    /// last, so that older states still decode).
    Classification(String),
}

/// Writes a state stream: entries in output order, then the sets written.
pub struct StateWriter<W: Write> {
    frames: FrameWriter<W>,
    /// Schemas already written, by a digest of their encoding: files of one
    /// schema found by different units have different copies of it.
    written: HashMap<[u8; 32], u32>,
    /// The last schema written or found, by its shared copy (a table's
    /// files come one after the other), kept alive so its address stays its own.
    last: Option<(Arc<Vec<Column>>, u32)>,
    /// The last [`StateFrame::Parent`] written.
    parent: Option<AssetId>,
    /// What [`WrittenSet::of`] would read back from the finished state.
    wrote: Vec<u128>,
}

impl<W: Write> StateWriter<W> {
    pub fn new(out: W, run: &LastRun) -> std::io::Result<Self> {
        let mut frames = FrameWriter::new(out, STATE_MAGIC)?;
        frames.put(&StateFrame::Run(run.clone()))?;
        if let Some(fingerprint) = &run.classification {
            frames.put(&StateFrame::Classification(fingerprint.clone()))?;
        }
        Ok(StateWriter { frames, written: HashMap::new(), last: None, parent: None, wrote: Vec::new() })
    }

    /// The containing asset of the next entries (`None`: top-level): an
    /// incremental run that did not list it cannot tell them gone. Written
    /// only when it changes (a folder's files share it).
    pub fn parent(&mut self, parent: Option<&AssetId>) -> std::io::Result<()> {
        let parent = parent.cloned().unwrap_or(AssetId { type_name: String::new(), qualified_name: String::new() });
        if self.parent.as_ref() != Some(&parent) {
            self.frames.put(&StateFrame::Parent(parent.clone()))?;
            self.parent = Some(parent);
        }
        Ok(())
    }

    /// An asset the run found; `columns` the file's schema, when one is known.
    pub fn entry(
        &mut self,
        id: &AssetId,
        written: bool,
        path: Option<&str>,
        columns: Option<&Arc<Vec<Column>>>,
        failed: bool,
        facts: &[Attribute],
    ) -> std::io::Result<()> {
        let file = match path {
            None => None,
            Some(path) => {
                let schema = match columns {
                    Some(columns) => Found::Columns(self.schema(columns)?),
                    None if failed => Found::Failed,
                    None => Found::None,
                };
                Some(StateFile { path: path.to_string(), schema, facts: facts.to_vec() })
            }
        };
        if written {
            self.wrote.push(id_digest(id));
        }
        self.frames.put(&StateFrame::Entry(StateEntry { id: id.clone(), written, file }))
    }

    /// The number of `columns` in the state, written now if they are new.
    fn schema(&mut self, columns: &Arc<Vec<Column>>) -> std::io::Result<u32> {
        if let Some((last, index)) = &self.last
            && Arc::ptr_eq(last, columns)
        {
            return Ok(*index);
        }
        // A `StateFrame::Columns` is its tag, then the columns.
        let frame = postcard::to_extend(&**columns, vec![COLUMNS_TAG]).map_err(std::io::Error::other)?;
        let next = self.written.len() as u32;
        let index = *self.written.entry(Sha256::digest(&frame).into()).or_insert(next);
        if index == next {
            self.frames.put_encoded(&frame)?;
        }
        self.last = Some((columns.clone(), index));
        Ok(index)
    }

    /// A resource set the run wrote (after every entry, in output order).
    pub fn set(&mut self, id: &AssetId) -> std::io::Result<()> {
        self.wrote.push(id_digest(id));
        self.frames.put(&StateFrame::Set(id.clone()))
    }

    /// An entity written for relations (after the sets, in output order).
    pub fn related(&mut self, id: &AssetId) -> std::io::Result<()> {
        self.wrote.push(id_digest(id));
        self.frames.put(&StateFrame::Related(id.clone()))
    }

    /// The stream, complete, and the assets it says were written (without
    /// reading it back).
    pub fn finish(self) -> std::io::Result<(W, WrittenSet)> {
        Ok((self.frames.finish()?, WrittenSet::from_digests(self.wrote)))
    }
}

/// An item of a state stream.
pub enum StateItem {
    Entry(StateEntry, Option<Arc<Vec<Column>>>),
    Set(AssetId),
    Related(AssetId),
}

/// Reads a state file back; its schemas stay in the file until an entry
/// needs one ([`super::schemas`]).
pub struct StateReader {
    frames: FrameReader<BufReader<std::fs::File>>,
    pub last_run: LastRun,
    schemas: Schemas<StateFrame>,
    /// The frame read after the run's when it was not its classification.
    pending: Option<StateFrame>,
}

fn frame_columns(frame: StateFrame) -> Option<Vec<Column>> {
    match frame {
        StateFrame::Columns(c) => Some(c),
        _ => None,
    }
}

impl StateReader {
    pub fn open(path: &Path) -> Result<Self, FrameError> {
        let file = std::fs::File::open(path)?;
        let schemas = Schemas::in_file(file.try_clone()?, frame_columns);
        let mut frames = FrameReader::new(BufReader::new(file), STATE_MAGIC, "source state")?;
        let last_run = match frames.read::<StateFrame>()? {
            Some(StateFrame::Run(run)) => run,
            _ => return Err(FrameError::Trailer("the state does not start with its run")),
        };
        let mut reader = StateReader { frames, last_run, schemas, pending: None };
        match reader.schemas.next_frame(&mut reader.frames)? {
            Some(StateFrame::Classification(fingerprint)) => reader.last_run.classification = Some(fingerprint),
            other => reader.pending = other,
        }
        Ok(reader)
    }

    pub fn next_item(&mut self) -> Result<Option<StateItem>, FrameError> {
        loop {
            let frame = match self.pending.take() {
                Some(frame) => frame,
                None => match self.schemas.next_frame(&mut self.frames)? {
                    Some(frame) => frame,
                    None => return Ok(None),
                },
            };
            match frame {
                StateFrame::Columns(_) => unreachable!("schemas are taken in by `next_frame`"),
                StateFrame::Entry(entry) => {
                    let columns = match entry.file.as_ref().map(|f| &f.schema) {
                        Some(Found::Columns(i)) => self.schemas.get(*i)?,
                        _ => None,
                    };
                    return Ok(Some(StateItem::Entry(entry, columns)));
                }
                StateFrame::Set(id) => return Ok(Some(StateItem::Set(id))),
                StateFrame::Related(id) => return Ok(Some(StateItem::Related(id))),
                StateFrame::Parent(_) => {}
                StateFrame::Run(_) | StateFrame::Classification(_) => {
                    return Err(FrameError::Trailer("a second run in the state"));
                }
            }
        }
    }
}

/// Calls `each` with every asset a state says was written (entries in
/// output order, then the sets, then the entities written for relations).
pub fn written(state: &Path, mut each: impl FnMut(AssetId)) -> Result<(), FrameError> {
    let mut reader = StateReader::open(state)?;
    while let Some(item) = reader.next_item()? {
        match item {
            StateItem::Entry(e, _) if e.written => each(e.id),
            StateItem::Entry(..) => {}
            StateItem::Set(id) | StateItem::Related(id) => each(id),
        }
    }
    Ok(())
}

/// The assets a run wrote, as what a run compares with the last one's: a
/// sorted list of 128-bit digests, 16 bytes an asset rather than its two
/// names (a million files catalogued one by one held 400 MB of names
/// twice over; BENCHMARKS.md §3).
#[derive(Debug, Default)]
pub struct WrittenSet(Vec<u128>);

fn id_digest(id: &AssetId) -> u128 {
    let mut h = Sha256::new();
    h.update(id.type_name.as_bytes());
    h.update([0]);
    h.update(id.qualified_name.as_bytes());
    u128::from_le_bytes(h.finalize()[..16].try_into().expect("16 bytes"))
}

impl WrittenSet {
    pub fn of(state: &Path) -> Result<Self, FrameError> {
        let mut digests = Vec::new();
        written(state, |id| digests.push(id_digest(&id)))?;
        Ok(WrittenSet::from_digests(digests))
    }

    fn from_digests(mut digests: Vec<u128>) -> Self {
        digests.sort_unstable();
        digests.dedup();
        WrittenSet(digests)
    }

    pub fn contains(&self, id: &AssetId) -> bool {
        self.0.binary_search(&id_digest(id)).is_ok()
    }

    /// Every asset of this set is in `other`.
    pub fn within(&self, other: &WrittenSet) -> bool {
        self.0.iter().all(|d| other.0.binary_search(d).is_ok())
    }

    pub fn extend<'a>(&mut self, ids: impl IntoIterator<Item = &'a AssetId>) {
        let mut digests = std::mem::take(&mut self.0);
        digests.extend(ids.into_iter().map(id_digest));
        *self = WrittenSet::from_digests(digests);
    }
}

/// Paths of the files whose schema could not be read by the state's run.
pub fn failed_paths(state: &Path) -> Result<Vec<String>, FrameError> {
    let mut reader = StateReader::open(state)?;
    let mut paths = Vec::new();
    while let Some(item) = reader.next_item()? {
        if let StateItem::Entry(StateEntry { file: Some(StateFile { path, schema: Found::Failed, .. }), .. }, _) = item
        {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// For an incremental run whose source lists only what changed (Power BI's
/// modified workspaces): the assets of the last run (`previous`) that this
/// run did not find (`now`, what it wrote) and could not
/// have found, because it did not list their container either. They are
/// still there: appended to the new state (`new_state`, finished) so that
/// neither this run nor the next reports them deleted. Entities written for
/// relations go with the asset they belong to. Returns them in output order.
pub fn carry_over(previous: &Path, new_state: &Path, now: &WrittenSet) -> Result<Vec<AssetId>, FrameError> {
    let found = |id: &AssetId| now.contains(id);
    let mut reader = FrameReader::new(BufReader::new(std::fs::File::open(previous)?), STATE_MAGIC, "source state")?;
    let mut parent: Option<AssetId> = None;
    let mut carried: Vec<StateFrame> = Vec::new();
    let mut carried_names = std::collections::HashSet::new();
    let mut related = Vec::new();
    while let Some(frame) = reader.read::<StateFrame>()? {
        match frame {
            StateFrame::Parent(p) => parent = Some(p),
            StateFrame::Entry(mut entry) => {
                // Without a recorded container (an older state) the asset is
                // not carried; a top-level one (empty container) always is.
                if entry.written
                    && !found(&entry.id)
                    && let Some(container) = parent.clone()
                    && !found(&container)
                {
                    if let Some(file) = &mut entry.file {
                        file.schema = Found::None;
                    }
                    carried_names.insert(entry.id.qualified_name.clone());
                    carried.push(StateFrame::Parent(container));
                    carried.push(StateFrame::Entry(entry));
                }
            }
            StateFrame::Related(id) => related.push(id),
            StateFrame::Run(_) | StateFrame::Classification(_) | StateFrame::Columns(_) | StateFrame::Set(_) => {}
        }
    }
    for id in related {
        let owner = id.qualified_name.split("#__").next().unwrap_or_default();
        if carried_names.contains(owner) && !found(&id) {
            carried.push(StateFrame::Related(id));
        }
    }
    if carried.is_empty() {
        return Ok(Vec::new());
    }
    // Rewrite the new state with them appended (the frames' trailer covers everything).
    let staged = new_state.with_extension("carry");
    {
        let mut input = FrameReader::new(BufReader::new(std::fs::File::open(new_state)?), STATE_MAGIC, "source state")?;
        let mut out = FrameWriter::new(std::io::BufWriter::new(std::fs::File::create(&staged)?), STATE_MAGIC)?;
        while let Some(frame) = input.read_raw()? {
            out.put_encoded(frame.bytes)?;
        }
        for frame in &carried {
            out.put(frame)?;
        }
        out.finish()?.flush()?;
    }
    std::fs::rename(&staged, new_state)?;
    let mut ids: Vec<AssetId> = carried
        .into_iter()
        .filter_map(|f| match f {
            StateFrame::Entry(e) => Some(e.id),
            StateFrame::Related(id) => Some(id),
            _ => None,
        })
        .collect();
    ids.sort_by(|a, b| a.output_order(b));
    Ok(ids)
}

/// The assets the run of state `previous` wrote and the run that wrote
/// `now` did not, in output order.
pub fn deletions(previous: &Path, now: &WrittenSet) -> Result<Vec<AssetId>, FrameError> {
    let mut gone = Vec::new();
    written(previous, |id| {
        if !now.contains(&id) {
            gone.push(id);
        }
    })?;
    gone.sort_by(|a, b| a.output_order(b));
    Ok(gone)
}

#[derive(Debug, thiserror::Error)]
#[error("source state in {path}: {message}")]
pub struct StateError {
    path: String,
    message: String,
}

impl StateError {
    pub fn io(path: &Path, e: std::io::Error) -> StateError {
        StateError { path: path.display().to_string(), message: e.to_string() }
    }
}

/// The state of one source, in a folder (the command line's): one file,
/// `state.svs`, in `<state dir>/<name>-<hash>/`, the hash of the source's
/// type and root so that two sources of the same name never share state.
#[derive(Debug, Clone)]
pub struct SourceState {
    dir: PathBuf,
}

impl SourceState {
    /// The state of the source `name` of `source_type` rooted at `root_uri`, under `state_dir`.
    pub fn new(state_dir: &Path, name: &str, source_type: &str, root_uri: &str) -> Self {
        let digest = Sha256::digest(format!("{source_type}\n{root_uri}").as_bytes());
        let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
            .take(64)
            .collect();
        SourceState { dir: state_dir.join(format!("{safe}-{hash}")) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, message: impl std::fmt::Display) -> StateError {
        StateError { path: self.dir.display().to_string(), message: message.to_string() }
    }

    /// The state file, when a complete run left one.
    pub fn file(&self) -> Option<PathBuf> {
        let path = self.dir.join("state.svs");
        path.is_file().then_some(path)
    }

    /// The last complete run, if there was one. A state that cannot be read
    /// is an error (never silently a first run, which would report no deletions).
    pub fn last_run(&self) -> Result<Option<LastRun>, StateError> {
        let Some(path) = self.file() else { return Ok(None) };
        StateReader::open(&path).map(|r| Some(r.last_run)).map_err(|e| self.err(e))
    }

    /// Where a new state is written before it replaces the current one.
    pub fn staging(&self) -> Result<PathBuf, StateError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err(e))?;
        Ok(self.dir.join(format!(".state.svs.{}", std::process::id())))
    }

    /// Makes `staged` (from [`staging`](Self::staging)) the source's state.
    pub fn replace(&self, staged: &Path) -> Result<(), StateError> {
        std::fs::File::open(staged).and_then(|f| f.sync_all()).map_err(|e| self.err(e))?;
        std::fs::rename(staged, self.dir.join("state.svs")).map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::bindings::types::Repetition;

    fn id(t: &str, qn: &str) -> AssetId {
        AssetId { type_name: t.into(), qualified_name: qn.into() }
    }

    /// What a state says was written, in output order.
    fn written_ids(state: &Path) -> Vec<AssetId> {
        let mut ids = Vec::new();
        written(state, |id| ids.push(id)).unwrap();
        ids.sort_by(|a, b| a.output_order(b));
        ids
    }

    #[test]
    fn deletions_are_what_was_there_and_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let run = LastRun { run_id: "r".into(), started_at_ms: 0, status: "succeeded".into(), classification: None };
        let state = |name: &str, ids: &[AssetId]| {
            let path = dir.path().join(name);
            let mut w = StateWriter::new(std::fs::File::create(&path).unwrap(), &run).unwrap();
            let mut ids = ids.to_vec();
            ids.sort_by(|a, b| a.output_order(b));
            for id in &ids {
                w.entry(id, true, None, None, false, &[]).unwrap();
            }
            w.entry(&id("f", "zz-absorbed"), false, None, None, false, &[]).unwrap();
            w.finish().unwrap();
            path
        };
        let before = state("before", &[id("f", "c"), id("f", "a"), id("f", "b"), id("s", "b")]);
        let now = state("now", &[id("f", "b"), id("f", "d"), id("s", "b"), id("f", "a")]);
        let empty = state("empty", &[]);
        let set = |path: &Path| WrittenSet::of(path).unwrap();
        assert_eq!(deletions(&before, &set(&now)).unwrap(), [id("f", "c")]);
        assert_eq!(deletions(&before, &set(&empty)).unwrap(), written_ids(&before));
        assert!(deletions(&empty, &set(&now)).unwrap().is_empty());
    }

    #[test]
    fn an_incremental_run_keeps_what_it_did_not_list_and_deletes_what_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let run = LastRun { run_id: "r1".into(), started_at_ms: 0, status: "succeeded".into(), classification: None };
        let write = |path: &Path, entries: &[(&str, Option<&str>)], related: &[&str]| {
            let mut w = StateWriter::new(std::fs::File::create(path).unwrap(), &run).unwrap();
            for (qn, parent) in entries {
                w.parent(parent.map(|p| id("t", p)).as_ref()).unwrap();
                w.entry(&id("t", qn), true, None, None, false, &[]).unwrap();
            }
            for r in related {
                w.related(&id("surveyor_lineage", r)).unwrap();
            }
            w.finish().unwrap();
        };
        // Last run: workspaces a and b, each with a report and its lineage.
        let previous = dir.path().join("previous");
        write(
            &previous,
            &[("a", None), ("a/r1", Some("a")), ("a/r2", Some("a")), ("b", None), ("b/r", Some("b"))],
            &["a/r1#__lineage", "b/r#__lineage"],
        );
        // This run listed only workspace a, where r2 is gone.
        let new_state = dir.path().join("new");
        write(&new_state, &[("a", None), ("a/r1", Some("a"))], &["a/r1#__lineage"]);
        let carried = carry_over(&previous, &new_state, &WrittenSet::of(&new_state).unwrap()).unwrap();
        assert_eq!(carried, [id("t", "b"), id("t", "b/r"), id("surveyor_lineage", "b/r#__lineage")]);
        assert_eq!(deletions(&previous, &WrittenSet::of(&new_state).unwrap()).unwrap(), [id("t", "a/r2")]);
        // The state carries them on: the next run keeps them again.
        let next = dir.path().join("next");
        write(&next, &[("a", None), ("a/r1", Some("a"))], &[]);
        let again = carry_over(&new_state, &next, &WrittenSet::of(&next).unwrap()).unwrap();
        assert_eq!(again, [id("t", "b"), id("t", "b/r"), id("surveyor_lineage", "b/r#__lineage")]);
    }

    #[test]
    fn state_round_trips_with_schemas_written_once() {
        assert_eq!(postcard::to_allocvec(&StateFrame::Columns(vec![])).unwrap()[0], COLUMNS_TAG);
        let dir = tempfile::tempdir().unwrap();
        let state = SourceState::new(dir.path(), "sales lake/é", "azure-blob", "https://a.blob.core.windows.net");
        assert_eq!(state.last_run().unwrap(), None);
        let run = LastRun {
            run_id: "r1".into(),
            started_at_ms: 1_700_000_000_123,
            status: "succeeded".into(),
            classification: Some("0123456789abcdef".into()),
        };
        let columns = Arc::new(vec![Column {
            path: vec!["id".into()],
            physical_type: "INT64".into(),
            logical_type: None,
            data_type: "int64".into(),
            repetition: Repetition::Required,
            nullable: false,
            ordinal: 0,
            attributes: vec![],
        }]);
        let staged = state.staging().unwrap();
        let mut w = StateWriter::new(std::fs::File::create(&staged).unwrap(), &run).unwrap();
        w.entry(&id("f", "a"), true, Some("a"), Some(&columns), false, &[]).unwrap();
        // Another copy of the same schema (found by another unit) is the same schema.
        let copy = Arc::new(columns.to_vec());
        w.entry(&id("f", "b"), false, Some("b"), Some(&copy), false, &[]).unwrap();
        w.entry(&id("f", "c"), true, Some("c"), None, true, &[]).unwrap();
        w.set(&id("s", "b{N}")).unwrap();
        w.related(&id("surveyor_lineage", "a#__lineage")).unwrap();
        let (_, wrote) = w.finish().unwrap();
        // What the writer says it wrote is what the state says when read back.
        assert_eq!(wrote.0, WrittenSet::of(&staged).unwrap().0);
        assert!(wrote.within(&WrittenSet::of(&staged).unwrap()));
        assert!(!wrote.within(&WrittenSet(vec![])));
        state.replace(&staged).unwrap();
        assert_eq!(state.last_run().unwrap(), Some(run.clone()));
        assert_eq!(run.modified_since(), 1_699_999_999_999, "rounded down to its second");
        let file = state.file().unwrap();
        assert_eq!(
            written_ids(&file),
            [id("f", "a"), id("surveyor_lineage", "a#__lineage"), id("s", "b{N}"), id("f", "c")]
        );
        assert_eq!(failed_paths(&file).unwrap(), ["c"]);
        let mut r = StateReader::open(&file).unwrap();
        let Some(StateItem::Entry(_, Some(first))) = r.next_item().unwrap() else { panic!("an entry with columns") };
        let Some(StateItem::Entry(_, Some(second))) = r.next_item().unwrap() else { panic!("an entry with columns") };
        assert!(Arc::ptr_eq(&first, &second), "one copy of a schema shared by two files");
        let other = SourceState::new(dir.path(), "sales lake/é", "azure-blob", "https://b.blob.core.windows.net");
        assert_ne!(state.dir(), other.dir(), "another account, another state");
    }
}
