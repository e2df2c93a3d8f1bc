//! One instance of a format connector, and its one capability: reading the
//! file it was handed, within that file's bounds.

use super::bindings::format::{Format, FormatIndices, surveyor::connector::file};
use super::bindings::packed_sampling::exports::surveyor::connector::format_connector as packed_types;
use super::bindings::packed_sampling::exports::surveyor::connector::format_sampler::SampleLimits as PackedLimits;
use super::bindings::packed_sampling::exports::surveyor::connector::packed_sampler::{
    self, GuestIndices as PackedIndices, PackedSample,
};
use super::bindings::packed_schema::exports::surveyor::connector::format_connector as packed_schema_types;
use super::bindings::packed_schema::exports::surveyor::connector::packed_schema::{
    self, GuestIndices as PackedSchemaIndices, PackedColumn, PackedFileSchema,
};
use super::bindings::sampling::exports::surveyor::connector::format_connector as sampling_types;
use super::bindings::sampling::exports::surveyor::connector::format_sampler::{
    self, ColumnSample, GuestIndices as SamplerIndices, SampleLimits,
};
use super::bindings::selective_sampling::exports::surveyor::connector::format_connector as selective_types;
use super::bindings::selective_sampling::exports::surveyor::connector::format_sampler::SampleLimits as SelectiveLimits;
use super::bindings::selective_sampling::exports::surveyor::connector::packed_sampler as selective_packed;
use super::bindings::selective_sampling::exports::surveyor::connector::selective_sampler::{
    self, ColumnKinds, GuestIndices as SelectiveIndices, SampleRequest,
};
use super::bindings::types::{self, Attribute, Column, ConnectorError, ErrorKind};
use super::bindings::{FileInput, FileSchema, log};
use super::error::PluginError;
use super::sandbox::{Limits, SandboxContext, Sandboxed, new_store};
use super::source::storage_error;
use super::{Plugin, Runtime};
use crate::storage::Storage;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use surveyor_sdk::sampling::{ColumnKind, Selection};
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

/// The file being read by the current call.
struct OpenFile {
    storage: Arc<dyn Storage>,
    path: String,
    size: u64,
    reads: u32,
    bytes: u64,
}

/// Store data of a format instance.
pub struct FormatState {
    sandbox: SandboxContext,
    file: Option<OpenFile>,
    plugin: String,
}

impl FormatState {
    /// Grants the call about to start reads of this one file.
    fn open(&mut self, storage: &Arc<dyn Storage>, path: &str, size: u64) {
        self.file = Some(OpenFile { storage: storage.clone(), path: path.to_string(), size, reads: 0, bytes: 0 });
        self.sandbox.start_call();
    }

    /// Ends the grant; what the call read besides the tail.
    fn close(&mut self) -> ReadStats {
        let file = self.file.take();
        file.map(|f| ReadStats { extra_reads: f.reads, extra_bytes: f.bytes }).unwrap_or_default()
    }
}

impl Sandboxed for FormatState {
    fn sandbox(&mut self) -> &mut SandboxContext {
        &mut self.sandbox
    }
}

impl wasmtime_wasi::WasiView for FormatState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.sandbox.ctx()
    }
}

pub(super) fn link(linker: &mut Linker<FormatState>) -> wasmtime::Result<()> {
    Format::add_to_linker::<FormatState, HasSelf<FormatState>>(linker, |s| s)
}

/// A format connector, pre-instantiated: its required exports, and the
/// newest sampler it has, if any (`selective-sampler` since contract 0.1.4,
/// `packed-sampler` since 0.1.3, `format-sampler` since 0.1.1; a 0.1.0
/// connector has none), and `packed-schema` when it has it (since 0.1.5).
pub struct FormatPre {
    instance_pre: wasmtime::component::InstancePre<FormatState>,
    indices: FormatIndices,
    packed: Option<PackedSchemaIndices>,
    sampler: Option<Sampler<SelectiveIndices, PackedIndices, SamplerIndices>>,
}

/// Which sampler a connector exports: the newest is used.
enum Sampler<S, P, V> {
    Selective(S),
    Packed(P),
    Values(V),
}

impl FormatPre {
    /// Whether the connector can return samples for classification.
    pub fn samples(&self) -> bool {
        self.sampler.is_some()
    }
}

pub(super) fn pre(runtime: &Runtime, component: &wasmtime::component::Component) -> wasmtime::Result<FormatPre> {
    let instance_pre = runtime.format_linker.instantiate_pre(component)?;
    let indices = FormatIndices::new(&instance_pre)?;
    let packed = PackedSchemaIndices::new(&instance_pre).ok();
    let sampler = if let Ok(selective) = SelectiveIndices::new(&instance_pre) {
        Some(Sampler::Selective(selective))
    } else if let Ok(packed) = PackedIndices::new(&instance_pre) {
        Some(Sampler::Packed(packed))
    } else {
        SamplerIndices::new(&instance_pre).ok().map(Sampler::Values)
    };
    Ok(FormatPre { instance_pre, indices, packed, sampler })
}

/// One column's sample: its non-null values one after another in `text`,
/// value `i` ending at `ends[i]` (the contract's `packed-sample`; samples
/// from a `format-sampler` are packed the same way).
pub struct Sample {
    pub path: Vec<String>,
    text: String,
    ends: Vec<u32>,
    pub nulls: u32,
}

impl Sample {
    /// The first `max` values, or `None` when `ends` does not cut `text`
    /// into values (not ascending, past its end, or inside a character).
    /// `max` bounds the work a connector that ignores its limits can cause.
    pub fn values(&self, max: usize) -> Option<Vec<&str>> {
        let mut start = 0;
        self.ends
            .iter()
            .take(max)
            .map(|&end| {
                let value = self.text.get(start..end as usize)?;
                start = end as usize;
                Some(value)
            })
            .collect()
    }

    fn from_values(sample: ColumnSample) -> Self {
        let ColumnSample { path, values, nulls } = sample;
        let mut text = String::with_capacity(values.iter().map(String::len).sum());
        let ends = values
            .iter()
            .map(|v| {
                text.push_str(v);
                u32::try_from(text.len()).unwrap_or(u32::MAX)
            })
            .collect();
        Sample { path, text, ends, nulls }
    }
}

/// `packed-sample`, as each sampler's bindings spell it.
macro_rules! sample_from_packed {
    ($($packed:ty),*) => {$(
        impl From<$packed> for Sample {
            fn from(s: $packed) -> Self {
                Sample { path: s.path, text: s.text, ends: s.ends, nulls: s.nulls }
            }
        }
    )*};
}
sample_from_packed!(PackedSample, selective_packed::PackedSample);

/// What one schema read cost, for the run's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Reads the connector made beyond the speculative tail.
    pub extra_reads: u32,
    pub extra_bytes: u64,
}

/// A format connector instance. It is reused for many files of one run; after
/// a trap it must be dropped (see [`PluginError::poisons_instance`]).
pub struct FormatInstance {
    store: Store<FormatState>,
    bindings: Format,
    packed: Option<packed_schema::Guest>,
    sampler: Option<Sampler<selective_sampler::Guest, packed_sampler::Guest, format_sampler::Guest>>,
    plugin: String,
    last: SharedColumns,
}

/// A file's schema, its columns shared with other files' when they are the same.
pub struct SharedSchema {
    pub columns: Arc<Vec<Column>>,
    /// Format facts of this file.
    pub attributes: Vec<Attribute>,
}

/// Packed columns unpacked into shared ones: the last packed columns
/// unpacked, and what they became. The files of a table mostly share their
/// schema, so the next file's packed columns are compared with these rather
/// than unpacked again: the unpacked strings were most of a schema worker's
/// allocations, and a shared copy is encoded once into the unit's result.
#[derive(Default)]
pub(crate) struct SharedColumns {
    last: Option<LastPacked>,
}

struct LastPacked {
    text: String,
    ends: Vec<u32>,
    columns: Vec<PackedColumn>,
    unpacked: Arc<Vec<Column>>,
}

impl SharedColumns {
    /// `packed` unpacked (within `most` bytes, see [`unpack`]), its columns
    /// the last ones' when equal; `prepare` sees new columns before they are shared.
    pub(crate) fn share(
        &mut self,
        packed: PackedFileSchema,
        most: usize,
        prepare: impl FnOnce(&mut [Column]),
    ) -> Result<SharedSchema, String> {
        if let Some(last) = &self.last
            && last.text == packed.text
            && last.ends == packed.ends
            && last.columns == packed.columns
        {
            return Ok(SharedSchema { columns: last.unpacked.clone(), attributes: packed.attributes });
        }
        let (text, ends, columns) = (packed.text.clone(), packed.ends.clone(), packed.columns.clone());
        let mut schema = unpack(packed, most)?;
        prepare(&mut schema.columns);
        let unpacked = Arc::new(schema.columns);
        self.last = Some(LastPacked { text, ends, columns, unpacked: unpacked.clone() });
        Ok(SharedSchema { columns: unpacked, attributes: schema.attributes })
    }
}

/// A connector's answer to `read-schema`, before it is unpacked.
enum Answer {
    Packed(PackedFileSchema),
    Plain(FileSchema),
}

/// A schema with the samples of its columns (none from a connector that
/// cannot sample). The samples must not outlive classification.
pub struct Sampled {
    pub schema: FileSchema,
    pub samples: Vec<Sample>,
}

impl FormatInstance {
    pub(super) fn new(
        runtime: &Runtime,
        plugin: &Plugin,
        pre: &FormatPre,
        limits: Limits,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Self, PluginError> {
        let name = plugin.info.name.clone();
        let mut sandbox = SandboxContext::new(limits);
        if let Some(cancel) = cancel {
            sandbox = sandbox.with_cancel(cancel);
        }
        let mut store = new_store(runtime.engine(), FormatState { sandbox, file: None, plugin: name.clone() });
        store.data_mut().sandbox.start_call();
        let trap = |e, store: &Store<FormatState>| PluginError::from_trap(&name, e, &store.data().sandbox);
        let instance = pre.instance_pre.instantiate(&mut store).map_err(|e| trap(e, &store))?;
        let bindings = pre.indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?;
        let packed = match &pre.packed {
            Some(indices) => Some(indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?),
            None => None,
        };
        let sampler = match &pre.sampler {
            Some(Sampler::Selective(indices)) => {
                Some(Sampler::Selective(indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?))
            }
            Some(Sampler::Packed(indices)) => {
                Some(Sampler::Packed(indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?))
            }
            Some(Sampler::Values(indices)) => {
                Some(Sampler::Values(indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?))
            }
            None => None,
        };
        Ok(FormatInstance { store, bindings, packed, sampler, plugin: name, last: SharedColumns::default() })
    }

    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    pub fn info(&mut self) -> Result<types::PluginInfo, PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_plugin().call_info(&mut self.store);
        r.map_err(|e| PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox))
    }

    /// Reads the schema of `path` (of `size` bytes), handing over `tail` (its
    /// last bytes) with the call; `tail` keeps its buffer for the next file.
    /// Further reads go through `storage`, bounded to this one file.
    pub fn read_schema(
        &mut self,
        storage: &Arc<dyn Storage>,
        path: &str,
        size: u64,
        tail: &mut Vec<u8>,
        config: &str,
    ) -> (Result<FileSchema, PluginError>, ReadStats) {
        let (answer, stats) = self.call_read_schema(storage, path, size, tail, config);
        let schema = answer.and_then(|answer| match answer {
            Answer::Packed(packed) => unpack(packed, self.memory_limit()).map_err(|m| self.malformed(m)),
            Answer::Plain(schema) => Ok(schema),
        });
        (schema, stats)
    }

    /// [`Self::read_schema`], with the columns shared with the last file's
    /// when the connector packed the same ones. `prepare` is applied once to
    /// columns as they are unpacked, so it must be the same on every call.
    pub fn read_shared_schema(
        &mut self,
        storage: &Arc<dyn Storage>,
        path: &str,
        size: u64,
        tail: &mut Vec<u8>,
        prepare: impl FnOnce(&mut [Column]),
    ) -> (Result<SharedSchema, PluginError>, ReadStats) {
        let (answer, stats) = self.call_read_schema(storage, path, size, tail, "");
        let schema = answer.and_then(|answer| match answer {
            Answer::Packed(packed) => {
                let most = self.memory_limit();
                self.last.share(packed, most, prepare).map_err(|m| self.malformed(m))
            }
            Answer::Plain(mut schema) => {
                prepare(&mut schema.columns);
                Ok(SharedSchema { columns: Arc::new(schema.columns), attributes: schema.attributes })
            }
        });
        (schema, stats)
    }

    /// Unpacked, a schema may be no larger than the connector could have returned it.
    fn memory_limit(&self) -> usize {
        self.store.data().sandbox.limits().memory_bytes
    }

    fn malformed(&self, message: String) -> PluginError {
        PluginError::Malformed { plugin: self.plugin.clone(), message }
    }

    fn call_read_schema(
        &mut self,
        storage: &Arc<dyn Storage>,
        path: &str,
        size: u64,
        tail: &mut Vec<u8>,
        config: &str,
    ) -> (Result<Answer, PluginError>, ReadStats) {
        self.store.data_mut().open(storage, path, size);
        let (path, tail_bytes, config) = (path.to_string(), std::mem::take(tail), config.to_string());
        let r = match &self.packed {
            Some(packed) => {
                let input = packed_schema_types::FileInput { path, size, tail: tail_bytes, config };
                let r = packed.call_read_packed_schema(&mut self.store, &input);
                *tail = input.tail;
                r.map(|r| r.map(Answer::Packed))
            }
            None => {
                let input = FileInput { path, size, tail: tail_bytes, config };
                let r = self.bindings.surveyor_connector_format_connector().call_read_schema(&mut self.store, &input);
                *tail = input.tail;
                r.map(|r| r.map(Answer::Plain))
            }
        };
        let stats = self.store.data_mut().close();
        let result = match r {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(PluginError::Returned { plugin: self.plugin.clone(), error }),
            Err(e) => Err(PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox)),
        };
        (result, stats)
    }

    /// Reads the schema of `path` and samples the columns `selection` wants
    /// within `limits`, in one call; a connector without a sampler reads the
    /// schema only. (A connector older than 0.1.4 samples every column; the
    /// samples `selection` does not want are dropped here. A 0.1.4 one that
    /// returns more only costs classification time: no system
    /// classification matches them.)
    #[allow(clippy::too_many_arguments)]
    pub fn read_sample(
        &mut self,
        storage: &Arc<dyn Storage>,
        path: &str,
        size: u64,
        tail: &mut Vec<u8>,
        config: &str,
        limits: SampleLimits,
        selection: &Selection,
    ) -> (Result<Sampled, PluginError>, ReadStats) {
        let Some(sampler) = &self.sampler else {
            let (r, stats) = self.read_schema(storage, path, size, tail, config);
            return (r.map(|schema| Sampled { schema, samples: Vec::new() }), stats);
        };
        self.store.data_mut().open(storage, path, size);
        let (path, tail_bytes, config) = (path.to_string(), std::mem::take(tail), config.to_string());
        // Samplers older than 0.1.4 return every column's sample.
        let older = !matches!(sampler, Sampler::Selective(_));
        // Each sampler has its own copy of the shared records' Rust types.
        let r = match sampler {
            Sampler::Selective(selective) => {
                let input = selective_types::FileInput { path, size, tail: tail_bytes, config };
                let limits =
                    SelectiveLimits { max_rows: limits.max_rows, max_bytes_per_column: limits.max_bytes_per_column };
                let request = SampleRequest {
                    limits,
                    skip: kinds(&selection.skip),
                    named_only: kinds(&selection.named_only),
                    keywords: selection.keywords.clone(),
                };
                let r = selective.call_read_selected_sample(&mut self.store, &input, &request);
                *tail = input.tail;
                r.map(|r| {
                    r.map(|s| Sampled {
                        schema: FileSchema { columns: s.schema.columns, attributes: s.schema.attributes },
                        samples: s.samples.into_iter().map(Sample::from).collect(),
                    })
                })
            }
            Sampler::Packed(packed) => {
                let input = packed_types::FileInput { path, size, tail: tail_bytes, config };
                let limits =
                    PackedLimits { max_rows: limits.max_rows, max_bytes_per_column: limits.max_bytes_per_column };
                let r = packed.call_read_packed_sample(&mut self.store, &input, limits);
                *tail = input.tail;
                r.map(|r| {
                    r.map(|s| Sampled {
                        schema: FileSchema { columns: s.schema.columns, attributes: s.schema.attributes },
                        samples: s.samples.into_iter().map(Sample::from).collect(),
                    })
                })
            }
            Sampler::Values(sampler) => {
                let input = sampling_types::FileInput { path, size, tail: tail_bytes, config };
                let r = sampler.call_read_sample(&mut self.store, &input, limits);
                *tail = input.tail;
                r.map(|r| {
                    r.map(|s| Sampled {
                        schema: FileSchema { columns: s.schema.columns, attributes: s.schema.attributes },
                        samples: s.samples.into_iter().map(Sample::from_values).collect(),
                    })
                })
            }
        };
        let stats = self.store.data_mut().close();
        let result = match r {
            Ok(Ok(mut sampled)) => {
                if older {
                    let columns = sampled.schema.columns.iter().map(|c| (c.data_type.as_str(), c.path.as_slice()));
                    selection.retain(columns, &mut sampled.samples, |s| &s.path);
                }
                Ok(sampled)
            }
            Ok(Err(error)) => Err(PluginError::Returned { plugin: self.plugin.clone(), error }),
            Err(e) => Err(PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox)),
        };
        (result, stats)
    }
}

/// The columns of a `packed-file-schema`, as `read-schema` would have
/// returned them; what is inconsistent (an end out of order or inside a
/// character, a path sharing more than the previous one had, strings left
/// over or missing) is named. Shared path segments are copied, so a
/// connector could make a small answer unpack into a huge one: the columns'
/// strings may not exceed `most` bytes (its memory limit, which bounded what
/// it could return unpacked).
fn unpack(packed: PackedFileSchema, most: usize) -> Result<FileSchema, String> {
    let PackedFileSchema { text, ends, columns: packed_columns, attributes } = packed;
    let mut strings = ends.iter().scan(0usize, |start, &end| {
        let from = *start;
        *start = end as usize;
        Some(text.get(from..end as usize).ok_or(from))
    });
    let mut taken = 0usize;
    let mut next = |what: &str, column: usize| -> Result<String, String> {
        taken += 1;
        match strings.next() {
            Some(Ok(s)) => Ok(s.to_string()),
            Some(Err(from)) => Err(format!(
                "string {} ends at {} (after {from}, within {} bytes, on a character boundary?)",
                taken - 1,
                ends[taken - 1],
                text.len()
            )),
            None => Err(format!("column {column}'s {what} is missing: only {} strings", ends.len())),
        }
    };
    let mut columns: Vec<Column> = Vec::with_capacity(packed_columns.len());
    let mut bytes = text.len();
    for (i, c) in packed_columns.into_iter().enumerate() {
        let previous = columns.last().map_or(&[][..], |p| p.path.as_slice());
        let shared = c.shared as usize;
        if shared > previous.len() {
            return Err(format!("column {i} shares {shared} path segments; the one before has {}", previous.len()));
        }
        // What the shared segments would have cost the connector to return.
        bytes += previous[..shared].iter().map(|s| s.len() + 8).sum::<usize>();
        if bytes > most {
            return Err(format!("column {i}'s paths unpack to more than {} MiB", most >> 20));
        }
        // `added` is the connector's word: sized by the strings there are.
        let mut path = Vec::with_capacity(shared + (c.added as usize).min(ends.len()));
        path.extend_from_slice(&previous[..shared]);
        for _ in 0..c.added {
            path.push(next("path", i)?);
        }
        let physical_type = next("physical type", i)?;
        let logical_type = if c.has_logical_type { Some(next("logical type", i)?) } else { None };
        let data_type = next("data type", i)?;
        columns.push(Column {
            path,
            physical_type,
            logical_type,
            data_type,
            repetition: c.repetition,
            nullable: c.nullable,
            ordinal: c.ordinal,
            attributes: c.attributes,
        });
    }
    if taken != ends.len() {
        return Err(format!("{} strings, of which the columns use {taken}", ends.len()));
    }
    Ok(FileSchema { columns, attributes })
}

/// The contract's `column-kinds` of `kinds`.
fn kinds(kinds: &[ColumnKind]) -> ColumnKinds {
    kinds.iter().fold(ColumnKinds::empty(), |flags, kind| {
        flags
            | match kind {
                ColumnKind::Boolean => ColumnKinds::BOOLEAN,
                ColumnKind::Temporal => ColumnKinds::TEMPORAL,
                ColumnKind::FractionalDecimal => ColumnKinds::FRACTIONAL_DECIMAL,
                ColumnKind::Other => ColumnKinds::empty(),
            }
    })
}

impl types::Host for FormatState {}

impl file::Host for FormatState {
    fn read_range(&mut self, offset: u64, length: u64) -> Result<Vec<u8>, ConnectorError> {
        self.sandbox.touch();
        let cap = (self.sandbox.limits().memory_bytes / 2) as u64;
        let Some(file) = self.file.as_mut() else {
            return Err(ConnectorError { kind: ErrorKind::Refused, message: "no file is open".into(), item: None });
        };
        let refuse =
            |message: String| ConnectorError { kind: ErrorKind::Refused, message, item: Some(file.path.clone()) };
        if offset.checked_add(length).is_none_or(|end| end > file.size) {
            return Err(refuse(format!("range {offset}+{length} lies outside the file ({} bytes)", file.size)));
        }
        if length > cap {
            return Err(refuse(format!("read of {length} bytes exceeds the per-read limit of {cap} bytes")));
        }
        file.reads += 1;
        file.bytes += length;
        let r = file.storage.read_range(&file.path, offset, length).map_err(storage_error);
        self.sandbox.touch();
        r
    }
}

impl log::Host for FormatState {
    fn log(&mut self, level: log::Level, message: String) {
        self.sandbox.touch();
        let message: String = message.chars().take(4096).collect();
        let plugin = self.plugin.as_str();
        let file = self.file.as_ref().map(|f| f.path.as_str()).unwrap_or("");
        match level {
            log::Level::Trace => tracing::trace!(plugin, file, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, file, "{message}"),
            log::Level::Info => tracing::info!(plugin, file, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, file, "{message}"),
            log::Level::Error => tracing::error!(plugin, file, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(text: &str, ends: &[u32]) -> Sample {
        Sample { path: vec!["c".into()], text: text.into(), ends: ends.to_vec(), nulls: 0 }
    }

    #[test]
    fn packed_samples_are_cut_at_their_ends_and_bad_ends_are_refused() {
        assert_eq!(packed("adaalané", &[3, 3, 9]).values(9), Some(vec!["ada", "", "alané"]));
        assert_eq!(packed("", &[]).values(9), Some(vec![]));
        assert_eq!(packed("adaalan", &[3, 7]).values(1), Some(vec!["ada"]));
        // A connector's own mistakes (or malice): past the end, backwards, inside a character.
        assert_eq!(packed("abc", &[4]).values(9), None);
        assert_eq!(packed("abc", &[2, 1]).values(9), None);
        assert_eq!(packed("é", &[1]).values(9), None);
        // Samples from a 0.1.1/0.1.2 `format-sampler` are packed the same way.
        let values = vec!["ada@example.com".to_string(), String::new(), "é".to_string()];
        let sample = Sample::from_values(ColumnSample { path: vec!["c".into()], values: values.clone(), nulls: 2 });
        assert_eq!(sample.values(9), Some(values.iter().map(String::as_str).collect()));
        assert_eq!(sample.nulls, 2);
    }

    fn column(shared: u32, added: u32, logical: bool) -> packed_schema::PackedColumn {
        packed_schema::PackedColumn {
            shared,
            added,
            has_logical_type: logical,
            repetition: types::Repetition::Optional,
            nullable: true,
            ordinal: 0,
            attributes: Vec::new(),
        }
    }

    fn schema(text: &str, ends: &[u32], columns: Vec<packed_schema::PackedColumn>) -> PackedFileSchema {
        PackedFileSchema { text: text.into(), ends: ends.to_vec(), columns, attributes: Vec::new() }
    }

    #[test]
    fn a_packed_schema_unpacks_to_the_columns_read_schema_returns() {
        // `address` (a group), `address.city` (with a logical type), `id`.
        let text = "addressgroupstructcityBYTE_ARRAYSTRINGstringidINT64int64";
        let ends = [7, 12, 18, 22, 32, 38, 44, 46, 51, 56];
        let columns = vec![column(0, 1, false), column(1, 1, true), column(0, 1, false)];
        let unpacked = unpack(schema(text, &ends, columns), 1 << 20).expect("unpacks");
        let shown: Vec<(Vec<&str>, &str, Option<&str>, &str)> = unpacked
            .columns
            .iter()
            .map(|c| {
                let path = c.path.iter().map(String::as_str).collect();
                (path, c.physical_type.as_str(), c.logical_type.as_deref(), c.data_type.as_str())
            })
            .collect();
        assert_eq!(
            shown,
            [
                (vec!["address"], "group", None, "struct"),
                (vec!["address", "city"], "BYTE_ARRAY", Some("STRING"), "string"),
                (vec!["id"], "INT64", None, "int64"),
            ]
        );
    }

    #[test]
    fn a_packed_schema_that_does_not_add_up_is_refused_with_what_is_wrong() {
        let one = || vec![column(0, 1, false)];
        let refused = |s: PackedFileSchema| unpack(s, 1 << 20).expect_err("refused");
        // An end past the text, backwards, or inside a character.
        assert!(refused(schema("idINT64int64", &[2, 7, 13], one())).contains("string 2 ends at 13"));
        assert!(refused(schema("idINT64int64", &[7, 2, 12], one())).contains("string 1 ends at 2"));
        assert!(refused(schema("éINT64int64", &[1, 7, 12], one())).contains("string 0 ends at 1"));
        // Strings missing or left over.
        assert!(refused(schema("idINT64", &[2, 7], one())).contains("column 0's data type is missing"));
        let many = vec![column(0, u32::MAX, false)];
        assert!(refused(schema("idINT64int64", &[2, 7, 12], many)).contains("column 0's path is missing"));
        assert!(
            refused(schema("idINT64int64x", &[2, 7, 12, 13], one())).contains("4 strings, of which the columns use 3")
        );
        // A path sharing more than the column before had.
        let columns = vec![column(0, 1, false), column(2, 1, false)];
        let text = "aINT64int64bINT64int64";
        assert!(refused(schema(text, &[1, 6, 11, 12, 17, 22], columns)).contains("column 1 shares 2 path segments"));
        // Each column sharing the whole path before it and adding a segment:
        // n strings that would unpack to n²/2 segments.
        let n = 5_000;
        let text = "aINT64int64".repeat(n);
        let ends: Vec<u32> = (0..n as u32).flat_map(|i| [i * 11 + 1, i * 11 + 6, i * 11 + 11]).collect();
        let columns = (0..n as u32).map(|i| column(i, 1, false)).collect();
        let error = refused(schema(&text, &ends, columns));
        assert!(error.contains("paths unpack to more than 1 MiB"), "{error}");
    }
}
