//! Source connectors: the [`Source`] trait, the host capabilities it may use
//! ([`SourceHost`]), and the glue behind [`export_source!`](crate::export_source).

use crate::bindings::source as wit;
use crate::{Asset, Error, LogLevel, Result};
use serde::de::DeserializeOwned;

pub use wit::exports::surveyor::connector::source_connector::{BrowseEntry, ScanRequest, ScanSummary};
pub use wit::surveyor::connector::http::{HttpRequest, HttpResponse};
pub use wit::surveyor::connector::sql::{SqlColumn, SqlValue};
pub use wit::surveyor::connector::storage::{ListPage, ObjectMeta};

/// One result set of a statement run through [`SourceHost::sql_query`], read completely.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlResultSet {
    pub columns: Vec<SqlColumn>,
    pub rows: Vec<Vec<SqlValue>>,
}

impl SqlResultSet {
    /// The position of the column named `name` (case-insensitive).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// A source connector: enumerates a source and streams assets to the host.
///
/// Functions are associated (no `self`): the host creates a fresh instance
/// for every call, so a connector keeps no state between calls.
pub trait Source {
    /// The connector's configuration, deserialised from the source definition
    /// after the host validated it against [`PluginInfo::config_schema`](crate::PluginInfo).
    type Config: DeserializeOwned;

    fn info() -> crate::PluginInfo;
    /// Checks reachability and credentials; the error says what to fix.
    fn test_connection(host: &dyn SourceHost, config: Self::Config) -> Result<()>;
    /// Lists the children of `path`, for choosing a scan scope.
    fn browse(host: &dyn SourceHost, config: Self::Config, path: &str) -> Result<Vec<BrowseEntry>>;
    /// Scans the source, emitting assets as they are found (see [`Emitter`]).
    fn scan(host: &dyn SourceHost, config: Self::Config, request: &ScanRequest) -> Result<ScanSummary>;
}

/// The capabilities a source connector gets from the host, each already scoped
/// by the host to the source being scanned.
pub trait SourceHost {
    /// One page of objects under `prefix`; see [`walk`] for all pages.
    fn list_objects(&self, prefix: &str, recursive: bool, page_token: Option<&str>) -> Result<ListPage>;
    fn stat(&self, path: &str) -> Result<ObjectMeta>;
    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>>;
    fn log(&self, level: LogLevel, message: &str);
    fn progress(&self, done: u64, total: Option<u64>, message: &str);
    /// Hands assets to the host; blocks while the host is busy (backpressure).
    fn emit(&self, assets: &[Asset]) -> Result<()>;
    /// Reports a problem with one item; the scan goes on.
    fn item_error(&self, error: &Error);
    /// Runs a statement on the source's database server (`database`: `None`
    /// for the source's default) and reads every result set. Positional
    /// parameters: `@P1`… on SQL Server, `$1`… on PostgreSQL. Refused unless
    /// the source's connection is a database.
    fn sql_query(&self, database: Option<&str>, statement: &str, params: &[SqlValue]) -> Result<Vec<SqlResultSet>> {
        let _ = (database, statement, params);
        Err(Error::new(crate::ErrorKind::Refused, "this host grants no SQL access"))
    }
    /// Sends an HTTP request through the host, which checks the host name
    /// against the source's allow-list and adds authentication. Refused
    /// unless the source's connection allows HTTP.
    fn http_send(&self, request: &HttpRequest) -> Result<HttpResponse> {
        let _ = request;
        Err(Error::new(crate::ErrorKind::Refused, "this host grants no HTTP access"))
    }
}

/// Every object under `prefix`, page by page, as one iterator.
pub fn walk<'h>(
    host: &'h dyn SourceHost,
    prefix: &str,
    recursive: bool,
) -> impl Iterator<Item = Result<ObjectMeta>> + 'h {
    let prefix = prefix.to_string();
    let mut page: std::vec::IntoIter<ObjectMeta> = Vec::new().into_iter();
    let mut token: Option<String> = None;
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if let Some(obj) = page.next() {
                return Some(Ok(obj));
            }
            if done {
                return None;
            }
            match host.list_objects(&prefix, recursive, token.as_deref()) {
                Ok(p) => {
                    done = p.next_page.is_none();
                    token = p.next_page;
                    page = p.objects.into_iter();
                }
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }
    })
}

/// Batches assets before handing them to the host: one host call per batch
/// rather than per asset.
pub struct Emitter<'h> {
    host: &'h dyn SourceHost,
    buffer: Vec<Asset>,
    batch: usize,
    emitted: u64,
}

impl<'h> Emitter<'h> {
    /// Batches of 256 assets.
    pub fn new(host: &'h dyn SourceHost) -> Self {
        Self::with_batch_size(host, 256)
    }
    pub fn with_batch_size(host: &'h dyn SourceHost, batch: usize) -> Self {
        Emitter { host, buffer: Vec::with_capacity(batch), batch: batch.max(1), emitted: 0 }
    }
    pub fn push(&mut self, asset: Asset) -> Result<()> {
        self.buffer.push(asset);
        if self.buffer.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }
    pub fn flush(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.host.emit(&self.buffer)?;
            self.emitted += self.buffer.len() as u64;
            self.buffer.clear();
        }
        Ok(())
    }
    /// Flushes what is left and returns how many assets were emitted in all.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        Ok(self.emitted)
    }
}

/// [`SourceHost`] over the component's imports.
pub struct WasmSourceHost;

impl SourceHost for WasmSourceHost {
    fn list_objects(&self, prefix: &str, recursive: bool, page_token: Option<&str>) -> Result<ListPage> {
        wit::surveyor::connector::storage::list_objects(prefix, recursive, page_token)
    }
    fn stat(&self, path: &str) -> Result<ObjectMeta> {
        wit::surveyor::connector::storage::stat(path)
    }
    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        wit::surveyor::connector::storage::read_range(path, offset, length)
    }
    fn log(&self, level: LogLevel, message: &str) {
        use wit::surveyor::connector::log::{Level, log};
        let level = match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        log(level, message)
    }
    fn progress(&self, done: u64, total: Option<u64>, message: &str) {
        wit::surveyor::connector::progress::report(done, total, message)
    }
    fn emit(&self, assets: &[Asset]) -> Result<()> {
        wit::surveyor::connector::emit::emit(assets)
    }
    fn item_error(&self, error: &Error) {
        wit::surveyor::connector::emit::item_error(error)
    }
    fn sql_query(&self, database: Option<&str>, statement: &str, params: &[SqlValue]) -> Result<Vec<SqlResultSet>> {
        let rows = wit::surveyor::connector::sql::query(database, statement, params)?;
        let mut sets = Vec::new();
        loop {
            let mut set = SqlResultSet { columns: rows.columns(), rows: Vec::new() };
            loop {
                let page = rows.next(4096)?;
                if page.is_empty() {
                    break;
                }
                set.rows.extend(page);
            }
            sets.push(set);
            if !rows.next_result() {
                break;
            }
        }
        Ok(sets)
    }
    fn http_send(&self, request: &HttpRequest) -> Result<HttpResponse> {
        wit::surveyor::connector::http::send(request)
    }
}

#[doc(hidden)]
pub mod glue {
    use super::*;

    pub fn test_connection<S: Source>(config: String) -> Result<()> {
        S::test_connection(&WasmSourceHost, crate::parse_config(&config)?)
    }
    pub fn browse<S: Source>(config: String, path: String) -> Result<Vec<BrowseEntry>> {
        S::browse(&WasmSourceHost, crate::parse_config(&config)?, &path)
    }
    pub fn scan<S: Source>(config: String, request: ScanRequest) -> Result<ScanSummary> {
        S::scan(&WasmSourceHost, crate::parse_config(&config)?, &request)
    }
}

/// Exports a [`Source`] implementation as the component's `source` world.
///
/// ```ignore
/// struct MyConnector;
/// impl surveyor_sdk::Source for MyConnector { /* ... */ }
/// surveyor_sdk::export_source!(MyConnector);
/// ```
#[macro_export]
macro_rules! export_source {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SurveyorSource;
            impl $crate::bindings::source::exports::surveyor::connector::plugin::Guest for __SurveyorSource {
                fn info() -> $crate::PluginInfo {
                    <$connector as $crate::Source>::info()
                }
            }
            impl $crate::bindings::source::exports::surveyor::connector::source_connector::Guest for __SurveyorSource {
                fn test_connection(config: $crate::__private::String) -> $crate::Result<()> {
                    $crate::__source_glue::test_connection::<$connector>(config)
                }
                fn browse(
                    config: $crate::__private::String,
                    path: $crate::__private::String,
                ) -> $crate::Result<$crate::__private::Vec<$crate::BrowseEntry>> {
                    $crate::__source_glue::browse::<$connector>(config, path)
                }
                fn scan(
                    config: $crate::__private::String,
                    request: $crate::ScanRequest,
                ) -> $crate::Result<$crate::ScanSummary> {
                    $crate::__source_glue::scan::<$connector>(config, request)
                }
            }
            $crate::bindings::source::__export_source_world!(
                __SurveyorSource with_types_in $crate::bindings::source
            );
        };
    };
}
