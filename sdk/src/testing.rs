//! A native test harness: the host capabilities, in memory.
//!
//! Connector logic runs unchanged against these implementations of
//! [`SourceHost`](crate::SourceHost) and [`FileReader`](crate::FileReader),
//! so connectors are unit-tested with plain `cargo test`, no wasm involved.
//! The end-to-end path through the real sandbox is the engine's to test.

#[cfg(feature = "source")]
use crate::Error;
use crate::{LogLevel, Result};
use std::cell::{Cell, RefCell};

#[cfg(feature = "source")]
pub use memory_host::MemoryHost;

#[cfg(feature = "source")]
mod memory_host {
    use super::*;
    use crate::{Asset, HttpRequest, HttpResponse, ListPage, ObjectMeta, SourceHost, SqlResultSet, SqlValue};
    use std::collections::BTreeMap;

    /// Answers the connector's SQL statements: `(database, statement, params)`.
    pub type SqlHandler = Box<dyn Fn(Option<&str>, &str, &[SqlValue]) -> Result<Vec<SqlResultSet>>>;
    /// Answers the connector's HTTP requests.
    pub type HttpHandler = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse>>;

    /// An in-memory storage with the host's listing semantics (sorted,
    /// paginated, one level or recursive), recording what the connector emits.
    #[derive(Default)]
    pub struct MemoryHost {
        files: BTreeMap<String, (Vec<u8>, Option<i64>)>,
        page_size: usize,
        /// Everything the connector emitted, in order.
        pub emitted: RefCell<Vec<Asset>>,
        /// Every per-item error the connector reported.
        pub item_errors: RefCell<Vec<Error>>,
        pub logs: RefCell<Vec<(LogLevel, String)>>,
        /// Number of `read_range` calls made.
        pub reads: Cell<u64>,
        /// Number of `emit` calls made.
        pub emit_calls: Cell<u64>,
        sql: Option<SqlHandler>,
        http: Option<HttpHandler>,
        /// Every SQL statement run, with its database.
        pub sql_queries: RefCell<Vec<(Option<String>, String)>>,
        /// Every HTTP request sent (method and URL).
        pub http_requests: RefCell<Vec<(String, String)>>,
    }

    impl MemoryHost {
        /// An empty storage listing 1,000 objects per page.
        pub fn new() -> Self {
            MemoryHost { page_size: 1000, ..Default::default() }
        }
        pub fn page_size(mut self, size: usize) -> Self {
            self.page_size = size.max(1);
            self
        }
        pub fn file(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> Self {
            self.files.insert(path.trim_start_matches('/').to_string(), (bytes.into(), None));
            self
        }
        pub fn file_modified(mut self, path: &str, bytes: impl Into<Vec<u8>>, modified_ms: i64) -> Self {
            self.files.insert(path.trim_start_matches('/').to_string(), (bytes.into(), Some(modified_ms)));
            self
        }
        /// Grants SQL access, answered by `handler`.
        pub fn with_sql(
            mut self,
            handler: impl Fn(Option<&str>, &str, &[SqlValue]) -> Result<Vec<SqlResultSet>> + 'static,
        ) -> Self {
            self.sql = Some(Box::new(handler));
            self
        }
        /// Grants HTTP access, answered by `handler`.
        pub fn with_http(mut self, handler: impl Fn(&HttpRequest) -> Result<HttpResponse> + 'static) -> Self {
            self.http = Some(Box::new(handler));
            self
        }
        /// The item errors reported so far.
        pub fn errors(&self) -> Vec<Error> {
            self.item_errors.borrow().clone()
        }
        /// The assets emitted so far.
        pub fn assets(&self) -> Vec<Asset> {
            self.emitted.borrow().clone()
        }
        /// The emitted asset with this qualified name.
        pub fn asset(&self, qualified_name: &str) -> Option<Asset> {
            self.emitted.borrow().iter().find(|a| a.qualified_name == qualified_name).cloned()
        }

        fn meta(path: &str, bytes: &[u8], modified: Option<i64>) -> ObjectMeta {
            ObjectMeta {
                path: path.to_string(),
                is_dir: false,
                size: bytes.len() as u64,
                last_modified: modified,
                etag: None,
                content_type: None,
                attributes: Vec::new(),
            }
        }
        fn dir(path: String) -> ObjectMeta {
            ObjectMeta {
                path,
                is_dir: true,
                size: 0,
                last_modified: None,
                etag: None,
                content_type: None,
                attributes: Vec::new(),
            }
        }
    }

    impl SourceHost for MemoryHost {
        fn list_objects(&self, prefix: &str, recursive: bool, page_token: Option<&str>) -> Result<ListPage> {
            let prefix = prefix.trim_matches('/');
            let base = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
            let mut entries: Vec<ObjectMeta> = Vec::new();
            let mut dirs = std::collections::BTreeSet::new();
            for (path, (bytes, modified)) in self.files.range(base.clone()..) {
                if !path.starts_with(&base) {
                    break;
                }
                let rest = &path[base.len()..];
                match rest.split_once('/') {
                    Some((dir, _)) if !recursive => {
                        dirs.insert(format!("{base}{dir}"));
                    }
                    _ => entries.push(Self::meta(path, bytes, *modified)),
                }
            }
            entries.extend(dirs.into_iter().map(Self::dir));
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            if entries.is_empty() && !prefix.is_empty() && !self.files.contains_key(prefix) {
                return Err(Error::not_found(format!("no such folder: {prefix}")).with_item(prefix));
            }
            let start: usize = page_token.map(|t| t.parse().unwrap_or(0)).unwrap_or(0);
            let end = (start + self.page_size).min(entries.len());
            let next_page = (end < entries.len()).then(|| end.to_string());
            Ok(ListPage { objects: entries[start.min(end)..end].to_vec(), next_page })
        }
        fn stat(&self, path: &str) -> Result<ObjectMeta> {
            let (bytes, modified) = self
                .files
                .get(path)
                .ok_or_else(|| Error::not_found(format!("no such file: {path}")).with_item(path))?;
            Ok(Self::meta(path, bytes, *modified))
        }
        fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
            self.reads.set(self.reads.get() + 1);
            let (bytes, _) = self
                .files
                .get(path)
                .ok_or_else(|| Error::not_found(format!("no such file: {path}")).with_item(path))?;
            Ok(slice(bytes, offset, length).to_vec())
        }
        fn log(&self, level: LogLevel, message: &str) {
            self.logs.borrow_mut().push((level, message.to_string()));
        }
        fn progress(&self, _done: u64, _total: Option<u64>, _message: &str) {}
        fn emit(&self, assets: &[Asset]) -> Result<()> {
            self.emit_calls.set(self.emit_calls.get() + 1);
            self.emitted.borrow_mut().extend_from_slice(assets);
            Ok(())
        }
        fn item_error(&self, error: &Error) {
            self.item_errors.borrow_mut().push(error.clone());
        }
        fn sql_query(&self, database: Option<&str>, statement: &str, params: &[SqlValue]) -> Result<Vec<SqlResultSet>> {
            self.sql_queries.borrow_mut().push((database.map(str::to_string), statement.to_string()));
            match &self.sql {
                Some(handler) => handler(database, statement, params),
                None => Err(Error::new(crate::ErrorKind::Refused, "no SQL access is granted to this source")),
            }
        }
        fn http_send(&self, request: &HttpRequest) -> Result<HttpResponse> {
            self.http_requests.borrow_mut().push((request.method.clone(), request.url.clone()));
            match &self.http {
                Some(handler) => handler(request),
                None => Err(Error::new(crate::ErrorKind::Refused, "no HTTP access is granted to this source")),
            }
        }
    }
}

fn slice(bytes: &[u8], offset: u64, length: u64) -> &[u8] {
    let start = (offset as usize).min(bytes.len());
    let end = start.saturating_add(length as usize).min(bytes.len());
    &bytes[start..end]
}

#[cfg(feature = "format")]
pub use memory_file::{MemoryFile, read_packed_schema, read_sample, read_schema, read_selected_sample};

#[cfg(feature = "format")]
mod memory_file {
    use super::*;
    use crate::{FileInput, FileReader, FileSchema, Format, SampleLimits, SampledSchema};

    /// One file in memory, counting the reads a format connector makes
    /// beyond the speculative tail.
    pub struct MemoryFile {
        pub bytes: Vec<u8>,
        pub reads: Cell<u64>,
        pub logs: RefCell<Vec<(LogLevel, String)>>,
    }

    impl MemoryFile {
        pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
            MemoryFile { bytes: bytes.into(), reads: Cell::new(0), logs: RefCell::new(Vec::new()) }
        }
        /// The input the host would hand over: the last `tail_len` bytes.
        pub fn input(&self, path: &str, tail_len: usize) -> FileInput {
            let start = self.bytes.len().saturating_sub(tail_len);
            FileInput {
                path: path.to_string(),
                size: self.bytes.len() as u64,
                tail: self.bytes[start..].to_vec(),
                config: String::new(),
            }
        }
    }

    impl FileReader for MemoryFile {
        fn read_range(&self, offset: u64, length: u64) -> Result<Vec<u8>> {
            self.reads.set(self.reads.get() + 1);
            Ok(slice(&self.bytes, offset, length).to_vec())
        }
        fn log(&self, level: LogLevel, message: &str) {
            self.logs.borrow_mut().push((level, message.to_string()));
        }
    }

    /// Runs `F` on `bytes` as the host would, with a `tail_len`-byte
    /// speculative tail and default configuration; returns the schema and the
    /// number of extra reads.
    pub fn read_schema<F: Format>(path: &str, bytes: &[u8], tail_len: usize) -> (Result<FileSchema>, u64) {
        let file = MemoryFile::new(bytes);
        let input = file.input(path, tail_len);
        let result = crate::parse_config::<F::Config>("").and_then(|config| F::read_schema(&input, &file, &config));
        (result, file.reads.get())
    }

    /// [`read_schema`], packed, as a 0.1.5 host asks for it.
    pub fn read_packed_schema<F: Format>(
        path: &str,
        bytes: &[u8],
        tail_len: usize,
    ) -> Result<crate::packed::PackedFileSchema> {
        let file = MemoryFile::new(bytes);
        let input = file.input(path, tail_len);
        let config = crate::parse_config::<F::Config>("")?;
        F::read_packed_schema(&input, &file, &config)
    }

    /// Runs `F`'s sampling read on `bytes` as the host would, with a
    /// `tail_len`-byte tail, default configuration and `limits`.
    pub fn read_sample<F: Format>(
        path: &str,
        bytes: &[u8],
        tail_len: usize,
        limits: SampleLimits,
    ) -> Result<SampledSchema> {
        let file = MemoryFile::new(bytes);
        let input = file.input(path, tail_len);
        let config = crate::parse_config::<F::Config>("")?;
        F::read_sample(&input, &file, &config, &limits)
    }

    /// [`read_sample`] of the columns `selection` wants,
    /// as a 0.1.4 host asks for them.
    pub fn read_selected_sample<F: Format>(
        path: &str,
        bytes: &[u8],
        tail_len: usize,
        limits: SampleLimits,
        selection: &crate::Selection,
    ) -> Result<SampledSchema> {
        let file = MemoryFile::new(bytes);
        let input = file.input(path, tail_len);
        let config = crate::parse_config::<F::Config>("")?;
        F::read_selected_sample(&input, &file, &config, &limits, selection)
    }
}
