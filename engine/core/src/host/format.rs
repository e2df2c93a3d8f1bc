//! One instance of a format connector, and its one capability: reading the
//! file it was handed, within that file's bounds.

use super::bindings::format::{Format, FormatIndices, surveyor::connector::file};
use super::bindings::sampling::exports::surveyor::connector::format_connector as sampling_types;
use super::bindings::sampling::exports::surveyor::connector::format_sampler::{
    self, ColumnSample, GuestIndices as SamplerIndices, SampleLimits,
};
use super::bindings::types::{self, ConnectorError, ErrorKind};
use super::bindings::{FileInput, FileSchema, log};
use super::error::PluginError;
use super::sandbox::{Limits, SandboxContext, Sandboxed, new_store};
use super::source::storage_error;
use super::{Plugin, Runtime};
use crate::storage::Storage;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
/// sampler when it has one (contract 0.1.1; a 0.1.0 connector has none).
pub struct FormatPre {
    instance_pre: wasmtime::component::InstancePre<FormatState>,
    indices: FormatIndices,
    sampler: Option<SamplerIndices>,
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
    let sampler = SamplerIndices::new(&instance_pre).ok();
    Ok(FormatPre { instance_pre, indices, sampler })
}

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
    sampler: Option<format_sampler::Guest>,
    plugin: String,
}

/// A schema with the samples of its columns (none from a connector that
/// cannot sample). The samples must not outlive classification.
pub struct Sampled {
    pub schema: FileSchema,
    pub samples: Vec<ColumnSample>,
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
        let sampler = match &pre.sampler {
            Some(indices) => Some(indices.load(&mut store, &instance).map_err(|e| trap(e, &store))?),
            None => None,
        };
        Ok(FormatInstance { store, bindings, sampler, plugin: name })
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
        let state = self.store.data_mut();
        state.file = Some(OpenFile { storage: storage.clone(), path: path.to_string(), size, reads: 0, bytes: 0 });
        state.sandbox.start_call();
        let input = FileInput { path: path.to_string(), size, tail: std::mem::take(tail), config: config.to_string() };
        let r = self.bindings.surveyor_connector_format_connector().call_read_schema(&mut self.store, &input);
        *tail = input.tail;
        let file = self.store.data_mut().file.take();
        let stats = file.map(|f| ReadStats { extra_reads: f.reads, extra_bytes: f.bytes }).unwrap_or_default();
        let result = match r {
            Ok(Ok(schema)) => Ok(schema),
            Ok(Err(error)) => Err(PluginError::Returned { plugin: self.plugin.clone(), error }),
            Err(e) => Err(PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox)),
        };
        (result, stats)
    }

    /// Reads the schema of `path` and samples its columns within `limits`,
    /// in one call; a connector without a sampler reads the schema only.
    pub fn read_sample(
        &mut self,
        storage: &Arc<dyn Storage>,
        path: &str,
        size: u64,
        tail: &mut Vec<u8>,
        config: &str,
        limits: SampleLimits,
    ) -> (Result<Sampled, PluginError>, ReadStats) {
        let Some(sampler) = &self.sampler else {
            let (r, stats) = self.read_schema(storage, path, size, tail, config);
            return (r.map(|schema| Sampled { schema, samples: Vec::new() }), stats);
        };
        let state = self.store.data_mut();
        state.file = Some(OpenFile { storage: storage.clone(), path: path.to_string(), size, reads: 0, bytes: 0 });
        state.sandbox.start_call();
        let input = sampling_types::FileInput {
            path: path.to_string(),
            size,
            tail: std::mem::take(tail),
            config: config.to_string(),
        };
        let r = sampler.call_read_sample(&mut self.store, &input, limits);
        *tail = input.tail;
        let file = self.store.data_mut().file.take();
        let stats = file.map(|f| ReadStats { extra_reads: f.reads, extra_bytes: f.bytes }).unwrap_or_default();
        let result = match r {
            Ok(Ok(s)) => Ok(Sampled {
                schema: FileSchema { columns: s.schema.columns, attributes: s.schema.attributes },
                samples: s.samples,
            }),
            Ok(Err(error)) => Err(PluginError::Returned { plugin: self.plugin.clone(), error }),
            Err(e) => Err(PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox)),
        };
        (result, stats)
    }
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
