//! One instance of a source connector, and the capabilities it is granted:
//! `storage`, `log`, `progress` and `emit`.

use super::bindings::http::{HttpRequest, HttpResponse};
use super::bindings::source::{Source, SourcePre};
use super::bindings::sql::{SqlColumn, SqlValue};
use super::bindings::storage::{ListPage, ObjectMeta};
use super::bindings::types::{Asset, ConnectorError, ErrorKind};
use super::bindings::{BrowseEntry, ScanRequest, ScanSummary, emit, http, log, progress, sql, storage, types};
use super::error::PluginError;
use super::http::HttpBackend;
use super::sandbox::{Limits, SandboxContext, Sandboxed, new_store};
use super::sql::{BufferedRows, SqlBackend};
use super::{Plugin, Runtime};
use crate::report::ItemError;
use crate::storage::{Listing, Storage, StorageError, StorageErrorKind};
use std::collections::HashMap;
use std::iter::Peekable;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, Resource};

/// Objects per page handed to the connector.
const PAGE: usize = 1000;
/// Listings a connector may keep open at once.
const OPEN_LISTINGS: usize = 64;

/// Where a scan's results go: the host's pipeline.
pub trait ScanOutput: Send {
    /// Takes a batch of assets; may block (backpressure). An error stops the
    /// scan (the run was canceled, or the pipeline is gone).
    fn assets(&mut self, plugin: &str, assets: Vec<Asset>) -> Result<(), ConnectorError>;
    fn item_error(&mut self, error: ItemError);
}

/// Progress callback: items done, total when known, what is being done.
pub type ProgressFn = Arc<dyn Fn(u64, Option<u64>, &str) + Send + Sync>;

/// The capabilities a source connector gets for one call.
///
/// Defaults grant nothing: no storage (every storage call is refused), no
/// output (emitted assets are dropped), no progress. Each grant is one
/// builder call, so what a source may reach is read in one place: the code
/// that builds its `SourceCapabilities` from the source's configuration.
pub struct SourceCapabilities {
    storage: Option<Arc<dyn Storage>>,
    sql: Option<Arc<dyn SqlBackend>>,
    http: Option<Arc<dyn HttpBackend>>,
    output: Option<Box<dyn ScanOutput>>,
    progress: Option<ProgressFn>,
    listings: HashMap<String, Peekable<Listing>>,
    next_listing: u64,
}

impl SourceCapabilities {
    pub fn none() -> Self {
        SourceCapabilities {
            storage: None,
            sql: None,
            http: None,
            output: None,
            progress: None,
            listings: HashMap::new(),
            next_listing: 0,
        }
    }
    /// Grants list/stat/read on this storage (already scoped to the source's root).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }
    /// Grants SQL on the source's server, through this backend.
    pub fn sql(mut self, sql: Arc<dyn SqlBackend>) -> Self {
        self.sql = Some(sql);
        self
    }
    /// Grants HTTP to the hosts this backend allows.
    pub fn http(mut self, http: Arc<dyn HttpBackend>) -> Self {
        self.http = Some(http);
        self
    }
    pub fn output(mut self, output: Box<dyn ScanOutput>) -> Self {
        self.output = Some(output);
        self
    }
    pub fn progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }
}

/// Store data of a source instance.
pub struct SourceState {
    sandbox: SandboxContext,
    caps: SourceCapabilities,
    plugin: String,
}

impl Sandboxed for SourceState {
    fn sandbox(&mut self) -> &mut SandboxContext {
        &mut self.sandbox
    }
}

impl wasmtime_wasi::WasiView for SourceState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.sandbox.ctx()
    }
}

pub(super) fn link(linker: &mut Linker<SourceState>) -> wasmtime::Result<()> {
    Source::add_to_linker::<SourceState, HasSelf<SourceState>>(linker, |s| s)
}

pub(super) fn pre(
    runtime: &Runtime,
    component: &wasmtime::component::Component,
) -> wasmtime::Result<SourcePre<SourceState>> {
    SourcePre::new(runtime.source_linker.instantiate_pre(component)?)
}

/// A source connector instance with a fresh store.
pub struct SourceInstance {
    store: Store<SourceState>,
    bindings: Source,
    plugin: String,
}

impl SourceInstance {
    pub(super) fn new(
        runtime: &Runtime,
        plugin: &Plugin,
        pre: &SourcePre<SourceState>,
        caps: SourceCapabilities,
        limits: Limits,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Self, PluginError> {
        let name = plugin.info.name.clone();
        let mut sandbox = SandboxContext::new(limits);
        if let Some(cancel) = cancel {
            sandbox = sandbox.with_cancel(cancel);
        }
        let mut store = new_store(runtime.engine(), SourceState { sandbox, caps, plugin: name.clone() });
        store.data_mut().sandbox.start_call();
        let bindings =
            pre.instantiate(&mut store).map_err(|e| PluginError::from_trap(&name, e, &store.data().sandbox))?;
        Ok(SourceInstance { store, bindings, plugin: name })
    }

    pub fn info(&mut self) -> Result<types::PluginInfo, PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_plugin().call_info(&mut self.store);
        r.map_err(|e| self.trap(e))
    }

    pub fn test_connection(&mut self, config: &str) -> Result<(), PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_source_connector().call_test_connection(&mut self.store, config);
        self.finish(r)
    }

    pub fn browse(&mut self, config: &str, path: &str) -> Result<Vec<BrowseEntry>, PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_source_connector().call_browse(&mut self.store, config, path);
        self.finish(r)
    }

    pub fn scan(&mut self, config: &str, request: &ScanRequest) -> Result<ScanSummary, PluginError> {
        self.store.data_mut().sandbox.start_call();
        let r = self.bindings.surveyor_connector_source_connector().call_scan(&mut self.store, config, request);
        self.finish(r)
    }

    fn finish<T>(&mut self, r: wasmtime::Result<Result<T, ConnectorError>>) -> Result<T, PluginError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(error)) => Err(PluginError::Returned { plugin: self.plugin.clone(), error }),
            Err(e) => Err(self.trap(e)),
        }
    }

    fn trap(&self, e: wasmtime::Error) -> PluginError {
        PluginError::from_trap(&self.plugin, e, &self.store.data().sandbox)
    }
}

pub(crate) fn storage_error(e: StorageError) -> ConnectorError {
    let kind = match e.kind {
        StorageErrorKind::NotFound => ErrorKind::NotFound,
        StorageErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        StorageErrorKind::Refused => ErrorKind::Refused,
        StorageErrorKind::Unreachable => ErrorKind::Unreachable,
        StorageErrorKind::Auth => ErrorKind::Auth,
        StorageErrorKind::Other => ErrorKind::Internal,
    };
    ConnectorError { kind, message: e.message, item: Some(e.path) }
}

fn refused(message: &str) -> ConnectorError {
    ConnectorError { kind: ErrorKind::Refused, message: message.to_string(), item: None }
}

impl SourceState {
    fn storage(&mut self) -> Result<Arc<dyn Storage>, ConnectorError> {
        self.sandbox.touch();
        self.caps.storage.clone().ok_or_else(|| refused("no storage is granted to this source"))
    }

    /// Next page of an open listing; per-entry problems become item errors
    /// of the run (the connector sees only the entries that could be read).
    fn page(&mut self, token: String) -> ListPage {
        let mut objects = Vec::with_capacity(PAGE);
        let mut errors = Vec::new();
        let mut exhausted = true;
        if let Some(listing) = self.caps.listings.get_mut(&token) {
            while objects.len() < PAGE {
                match listing.next() {
                    Some(Ok(object)) => objects.push(object),
                    Some(Err(e)) => errors.push(e),
                    None => break,
                }
            }
            exhausted = listing.peek().is_none();
        }
        for e in errors {
            let item =
                ItemError::new(&e.path, crate::host::kind_name(storage_error(e.clone()).kind), &e.message, "storage");
            if let Some(out) = self.caps.output.as_mut() {
                out.item_error(item);
            }
        }
        if exhausted {
            self.caps.listings.remove(&token);
        }
        ListPage { objects, next_page: (!exhausted).then_some(token) }
    }
}

impl types::Host for SourceState {}

impl storage::Host for SourceState {
    fn list_objects(
        &mut self,
        prefix: String,
        recursive: bool,
        page_token: Option<String>,
    ) -> Result<ListPage, ConnectorError> {
        let storage = self.storage()?;
        let token = match page_token {
            Some(token) if self.caps.listings.contains_key(&token) => token,
            Some(_) => return Err(refused("unknown or expired page token")),
            None => {
                if self.caps.listings.len() >= OPEN_LISTINGS {
                    return Err(refused("too many listings open at once; read them to the end"));
                }
                let listing = storage.list(&prefix, recursive).map_err(storage_error)?;
                self.caps.next_listing += 1;
                let token = self.caps.next_listing.to_string();
                self.caps.listings.insert(token.clone(), listing.peekable());
                token
            }
        };
        let page = self.page(token);
        self.sandbox.touch();
        Ok(page)
    }

    fn stat(&mut self, path: String) -> Result<ObjectMeta, ConnectorError> {
        self.storage()?.stat(&path).map_err(storage_error)
    }

    fn read_range(&mut self, path: String, offset: u64, length: u64) -> Result<Vec<u8>, ConnectorError> {
        let cap = (self.sandbox.limits().memory_bytes / 4) as u64;
        if length > cap {
            return Err(refused(&format!("read of {length} bytes exceeds the per-read limit of {cap} bytes")));
        }
        let r = self.storage()?.read_range(&path, offset, length).map_err(storage_error);
        self.sandbox.touch();
        r
    }
}

impl sql::HostRows for SourceState {
    fn columns(&mut self, rows: Resource<BufferedRows>) -> Vec<SqlColumn> {
        self.sandbox.touch();
        self.sandbox.table().get(&rows).map(|r| r.columns()).unwrap_or_default()
    }

    fn next(&mut self, rows: Resource<BufferedRows>, max: u32) -> Result<Vec<Vec<SqlValue>>, ConnectorError> {
        self.sandbox.touch();
        let rows = self.sandbox.table().get_mut(&rows).map_err(|e| refused(&format!("invalid rows handle: {e}")))?;
        Ok(rows.next(max.min(10_000)))
    }

    fn next_result(&mut self, rows: Resource<BufferedRows>) -> bool {
        self.sandbox.touch();
        self.sandbox.table().get_mut(&rows).map(|r| r.next_result()).unwrap_or(false)
    }

    fn drop(&mut self, rows: Resource<BufferedRows>) -> wasmtime::Result<()> {
        self.sandbox.table().delete(rows)?;
        Ok(())
    }
}

impl sql::Host for SourceState {
    fn query(
        &mut self,
        database: Option<String>,
        statement: String,
        params: Vec<SqlValue>,
    ) -> Result<Resource<BufferedRows>, ConnectorError> {
        self.sandbox.touch();
        let backend = self.caps.sql.clone().ok_or_else(|| super::sql::not_granted("SQL"))?;
        let sets = backend.query(database.as_deref(), &statement, &params);
        self.sandbox.touch();
        let rows = BufferedRows::new(sets?);
        self.sandbox.table().push(rows).map_err(|e| refused(&format!("too many open result sets: {e}")))
    }
}

impl http::Host for SourceState {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.sandbox.touch();
        let backend = self.caps.http.clone().ok_or_else(|| super::sql::not_granted("HTTP"))?;
        let response = backend.send(request);
        self.sandbox.touch();
        response
    }
}

impl log::Host for SourceState {
    fn log(&mut self, level: log::Level, message: String) {
        self.sandbox.touch();
        let message: String = message.chars().take(4096).collect();
        let plugin = self.plugin.as_str();
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl progress::Host for SourceState {
    fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        self.sandbox.touch();
        if let Some(progress) = &self.caps.progress {
            progress(done, total, &message);
        }
    }
}

impl emit::Host for SourceState {
    fn emit(&mut self, assets: Vec<Asset>) -> Result<(), ConnectorError> {
        self.sandbox.touch();
        if self.sandbox.canceled() {
            return Err(ConnectorError {
                kind: ErrorKind::Canceled,
                message: "the run was canceled".into(),
                item: None,
            });
        }
        let r = match self.caps.output.as_mut() {
            Some(out) => out.assets(&self.plugin, assets),
            None => Ok(()),
        };
        self.sandbox.touch();
        r
    }

    fn item_error(&mut self, error: ConnectorError) {
        self.sandbox.touch();
        if let Some(out) = self.caps.output.as_mut() {
            let item = error.item.clone().unwrap_or_default();
            out.item_error(ItemError::new(&item, crate::host::kind_name(error.kind), &error.message, &self.plugin));
        }
    }
}
