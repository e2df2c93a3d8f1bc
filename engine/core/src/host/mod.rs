//! The connector host: a wasmtime engine, the plugins it has loaded, and the
//! capabilities it grants them.
//!
//! - [`Runtime`]: one wasmtime engine per process, with the epoch ticker that
//!   enforces time limits and the on-disk cache of compiled components.
//! - [`Registry`]: the plugins available for a run (built in, or from the
//!   plugins folder), each pre-instantiated (`InstancePre`).
//! - [`source`] and [`format`]: one instance of a connector with a fresh
//!   store and the capabilities granted for one source.
//! - [`classifier`]: one instance of a classifier plugin, which sees one
//!   sampled column per call and nothing else.
//! - [`sandbox`]: what a connector may do, and the limits it runs under.

pub mod bindings;
mod builtin;
pub mod cache;
pub mod catalog;
pub mod classifier;
mod error;
pub mod format;
pub mod http;
pub mod registry;
pub mod sandbox;
pub mod source;
pub mod sql;

pub use catalog::PluginCatalog;
pub use classifier::ClassifierPlugin;
pub use error::{PluginError, kind_name};
pub use registry::{Origin, Plugin, Registry, Rejected};
pub use sandbox::Limits;

use cache::ComponentCache;
use std::path::PathBuf;
use std::thread::JoinHandle;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, OptLevel};

/// Process-wide connector host.
pub struct Runtime {
    engine: Engine,
    source_linker: Linker<source::SourceState>,
    format_linker: Linker<format::FormatState>,
    classifier_linker: Linker<classifier::ClassifierState>,
    cache: Option<ComponentCache>,
    _ticker: EpochTicker,
}

/// How the [`Runtime`] is set up.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot set up the WebAssembly engine: {0:#}")]
    Engine(wasmtime::Error),
    #[error("cannot use the component cache at {path}: {source}")]
    Cache { path: PathBuf, source: std::io::Error },
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> Result<Self, HostError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(OptLevel::Speed);
        config.parallel_compilation(true);
        let engine = Engine::new(&config).map_err(HostError::Engine)?;

        let mut source_linker = Linker::new(&engine);
        sandbox::link_wasi(&mut source_linker).map_err(HostError::Engine)?;
        source::link(&mut source_linker).map_err(HostError::Engine)?;
        let mut format_linker = Linker::new(&engine);
        sandbox::link_wasi(&mut format_linker).map_err(HostError::Engine)?;
        format::link(&mut format_linker).map_err(HostError::Engine)?;
        let mut classifier_linker = Linker::new(&engine);
        sandbox::link_wasi(&mut classifier_linker).map_err(HostError::Engine)?;
        classifier::link(&mut classifier_linker).map_err(HostError::Engine)?;

        let cache = match options.cache_dir {
            Some(path) => Some(ComponentCache::new(path.clone()).map_err(|source| HostError::Cache { path, source })?),
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone());
        Ok(Runtime { engine, source_linker, format_linker, classifier_linker, cache, _ticker: ticker })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component, through the on-disk cache when there is one.
    /// `sha256`: the hex digest of `wasm`.
    pub fn compile(&self, wasm: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm, sha256),
            None => Component::new(&self.engine, wasm),
        }
    }
}

/// Advances the engine's epoch every [`sandbox::EPOCH_TICK`], so that running
/// wasm checks its time limits; stops with the runtime, at once (its channel
/// closing wakes it, where a sleep made every runtime's drop wait up to a tick).
struct EpochTicker {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("surveyor-epoch".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stopped.recv_timeout(sandbox::EPOCH_TICK)
                {
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch ticker");
        EpochTicker { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
