//! Benchmarks only (`--features bench-native`): the parquet connector's code
//! linked into the host and called directly, outside the sandbox, so that a
//! benchmark can measure what the sandbox costs in a real scan. Never use
//! this to scan untrusted files: it parses them without any of the
//! sandbox's protections.

use crate::host::PluginError;
use crate::host::bindings::FileSchema;
use crate::host::bindings::types::{Attribute, Column, ConnectorError, ErrorKind, Repetition, Value};
use crate::host::format::{ReadStats, SharedSchema};
use crate::storage::Storage;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use surveyor_connector_parquet::{Config, Parquet};
use surveyor_sdk::{FileInput, FileReader, Format, LogLevel};

struct Reader<'a> {
    storage: &'a Arc<dyn Storage>,
    path: &'a str,
    reads: Cell<u32>,
    bytes: Cell<u64>,
}

impl FileReader for Reader<'_> {
    fn read_range(&self, offset: u64, length: u64) -> surveyor_sdk::Result<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        self.bytes.set(self.bytes.get() + length);
        self.storage.read_range(self.path, offset, length).map_err(|e| surveyor_sdk::Error::internal(e.message))
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
}

thread_local! {
    /// This worker's last columns: shared with the next file when equal, as
    /// the sandboxed path shares them (`FormatInstance::read_shared_schema`),
    /// so that the comparison measures the sandbox and nothing else.
    static LAST: RefCell<Option<Arc<Vec<Column>>>> = const { RefCell::new(None) };
}

/// The file's schema, its columns shared with the last file's on this thread when equal.
pub fn read_shared_parquet(
    storage: &Arc<dyn Storage>,
    path: &str,
    size: u64,
    tail: Vec<u8>,
) -> (Result<SharedSchema, PluginError>, ReadStats) {
    let (result, stats) = read_parquet(storage, path, size, tail);
    let result = result.map(|s| {
        let columns = LAST.with_borrow_mut(|last| match last {
            Some(last) if **last == s.columns => last.clone(),
            _ => last.insert(Arc::new(s.columns)).clone(),
        });
        SharedSchema { columns, attributes: s.attributes }
    });
    (result, stats)
}

fn read_parquet(
    storage: &Arc<dyn Storage>,
    path: &str,
    size: u64,
    tail: Vec<u8>,
) -> (Result<FileSchema, PluginError>, ReadStats) {
    let input = FileInput { path: path.to_string(), size, tail, config: String::new() };
    let reader = Reader { storage, path, reads: Cell::new(0), bytes: Cell::new(0) };
    let result = Parquet::read_schema(&input, &reader, &Config::default());
    let stats = ReadStats { extra_reads: reader.reads.get(), extra_bytes: reader.bytes.get() };
    let result = result.map(schema).map_err(|e| PluginError::Returned {
        plugin: "parquet".into(),
        error: ConnectorError { kind: ErrorKind::MalformedInput, message: e.message, item: e.item },
    });
    (result, stats)
}

/// The SDK's types and the host's have the same shape: move every field across.
fn schema(s: surveyor_sdk::FileSchema) -> FileSchema {
    FileSchema { columns: s.columns.into_iter().map(column).collect(), attributes: attributes(s.attributes) }
}

fn column(c: surveyor_sdk::Column) -> Column {
    Column {
        path: c.path,
        physical_type: c.physical_type,
        logical_type: c.logical_type,
        data_type: c.data_type,
        repetition: match c.repetition {
            surveyor_sdk::Repetition::Required => Repetition::Required,
            surveyor_sdk::Repetition::Optional => Repetition::Optional,
            surveyor_sdk::Repetition::Repeated => Repetition::Repeated,
        },
        nullable: c.nullable,
        ordinal: c.ordinal,
        attributes: attributes(c.attributes),
    }
}

fn attributes(a: Vec<surveyor_sdk::Attribute>) -> Vec<Attribute> {
    a.into_iter()
        .map(|a| Attribute {
            key: a.key,
            value: match a.value {
                surveyor_sdk::Value::Text(v) => Value::Text(v),
                surveyor_sdk::Value::Integer(v) => Value::Integer(v),
                surveyor_sdk::Value::Float(v) => Value::Float(v),
                surveyor_sdk::Value::Boolean(v) => Value::Boolean(v),
                surveyor_sdk::Value::Timestamp(v) => Value::Timestamp(v),
                surveyor_sdk::Value::Texts(v) => Value::Texts(v),
                surveyor_sdk::Value::Json(v) => Value::Json(v),
            },
        })
        .collect()
}
