//! What a connector gets from the sandbox, and the limits it runs under.
//!
//! Defaults deny everything: [`SandboxContext::new`] builds a WASI context with
//! no arguments, no environment, no preopened directories, stdin empty, and
//! stdout/stderr captured into a small in-memory buffer (so that a panic
//! message can be reported). WASI sockets are not linked at all
//! ([`link_wasi`]): a component that imports them fails to instantiate.
//! The only ways out of the sandbox are the Surveyor capabilities each world
//! imports, which the host scopes to the source being scanned.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// How much a connector may use. Memory is a hard cap on linear memory;
/// time is checked by the engine's epoch ticker every [`EPOCH_TICK`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Longest a single call into the connector may run (`None`: no cap).
    pub call_timeout: Option<Duration>,
    /// Longest the connector may compute without calling the host: a
    /// connector that loops forever is stopped after this, however long the
    /// whole call is allowed to be.
    pub idle_timeout: Duration,
}

impl Limits {
    /// Source connectors: 512 MiB, no cap on a scan's length, stopped after
    /// 60 s without a host call.
    pub fn source() -> Self {
        Limits { memory_bytes: 512 << 20, call_timeout: None, idle_timeout: Duration::from_secs(60) }
    }
    /// Format connectors: 256 MiB and 30 s per file.
    pub fn format() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            call_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Classifier plugins: 64 MiB and 2 s per column. Classifying 128 values
    /// takes microseconds; a plugin that needs more is stuck or hostile.
    pub fn classifier() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            call_timeout: Some(Duration::from_secs(2)),
            idle_timeout: Duration::from_secs(2),
        }
    }
}

/// How often the engine's epoch advances; the granularity of time limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Captured stdout/stderr kept per instance (the tail of a panic message).
const OUTPUT_CAPTURE: usize = 16 * 1024;

/// Why the host stopped a connector.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Stopped {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("stopped after {0:?} of computing without calling the host (endless loop?)")]
    Idle(Duration),
    #[error("canceled")]
    Canceled,
}

/// Per-store sandbox state: WASI (denying), memory accounting, the watchdog.
pub struct SandboxContext {
    wasi: WasiCtx,
    table: ResourceTable,
    output: MemoryOutputPipe,
    limits: Limits,
    /// Set when a memory grow was refused: the requested size.
    pub memory_refused: Option<usize>,
    call_started: Instant,
    last_activity: Instant,
    cancel: Option<Arc<AtomicBool>>,
}

impl SandboxContext {
    pub fn new(limits: Limits) -> Self {
        let output = MemoryOutputPipe::new(OUTPUT_CAPTURE);
        let wasi = WasiCtx::builder().stdout(output.clone()).stderr(output.clone()).build();
        let now = Instant::now();
        SandboxContext {
            wasi,
            table: ResourceTable::new(),
            output,
            limits,
            memory_refused: None,
            call_started: now,
            last_activity: now,
            cancel: None,
        }
    }

    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Marks the start of a call into the connector.
    pub fn start_call(&mut self) {
        let now = Instant::now();
        self.call_started = now;
        self.last_activity = now;
    }

    /// Marks a host call made by the connector: it is not stuck.
    pub fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    pub fn canceled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn check(&self) -> Result<(), Stopped> {
        if self.canceled() {
            return Err(Stopped::Canceled);
        }
        if let Some(limit) = self.limits.call_timeout
            && self.call_started.elapsed() > limit
        {
            return Err(Stopped::Timeout(limit));
        }
        if self.last_activity.elapsed() > self.limits.idle_timeout {
            return Err(Stopped::Idle(self.limits.idle_timeout));
        }
        Ok(())
    }

    /// Resources handed to the connector (WASI streams, SQL result sets).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// What the connector printed (a panic message, typically), last bytes only.
    pub fn output(&self) -> String {
        let bytes = self.output.contents();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }
}

impl ResourceLimiter for SandboxContext {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            self.memory_refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Gives a state type its sandbox, so one set of helpers serves both worlds.
pub trait Sandboxed: Send + 'static {
    fn sandbox(&mut self) -> &mut SandboxContext;
}

/// A store for one instance: memory limited, time watched by the epoch.
pub fn new_store<T: Sandboxed>(engine: &wasmtime::Engine, state: T) -> Store<T> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| s.sandbox() as &mut dyn ResourceLimiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| match ctx.data_mut().sandbox().check() {
        Ok(()) => Ok(UpdateDeadline::Continue(1)),
        Err(stopped) => Err(wasmtime::Error::new(stopped)),
    });
    store
}

/// Links the WASI interfaces a Rust component's standard library needs, and
/// no sockets. Filesystem functions are linked but have no preopened
/// directory to act on.
pub fn link_wasi<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
    use wasmtime_wasi::p2::bindings::sync as wasi;
    use wasmtime_wasi::p2::bindings::{cli, clocks, random};
    use wasmtime_wasi::random::WasiRandom;
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, HasTable>(l, |t| t.ctx().table)?;
    wasi::io::poll::add_to_linker::<T, HasTable>(l, |t| t.ctx().table)?;
    wasi::io::streams::add_to_linker::<T, HasTable>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasmtime_wasi::p2::bindings::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    wasi::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    Ok(())
}

struct HasTable;
impl wasmtime::component::HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

impl WasiView for SandboxContext {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
