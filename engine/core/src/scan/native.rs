//! Benchmarks only (`--features bench-native`): the parquet connector's code
//! linked into the host and called directly, outside the sandbox, so that a
//! benchmark can measure what the sandbox costs in a real scan. Never use
//! this to scan untrusted files: it parses them without any of the
//! sandbox's protections.

use crate::host::PluginError;
use crate::host::bindings::packed_schema::exports::surveyor::connector::packed_schema::{
    PackedColumn, PackedFileSchema,
};
use crate::host::bindings::types::{Attribute, ConnectorError, ErrorKind, Repetition, Value};
use crate::host::format::{ReadStats, SharedColumns, SharedSchema};
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
    static LAST: RefCell<SharedColumns> = RefCell::new(SharedColumns::default());
}

/// The file's schema, its columns shared with the last file's on this
/// thread when equal: the connector's packed answer, unpacked as the
/// sandboxed path does.
pub fn read_shared_parquet(
    storage: &Arc<dyn Storage>,
    path: &str,
    size: u64,
    tail: Vec<u8>,
) -> (Result<SharedSchema, PluginError>, ReadStats) {
    let input = FileInput { path: path.to_string(), size, tail, config: String::new() };
    let reader = Reader { storage, path, reads: Cell::new(0), bytes: Cell::new(0) };
    let result = Parquet::read_packed_schema(&input, &reader, &Config::default());
    let stats = ReadStats { extra_reads: reader.reads.get(), extra_bytes: reader.bytes.get() };
    let malformed = |message: String, item: Option<String>| PluginError::Returned {
        plugin: "parquet".into(),
        error: ConnectorError { kind: ErrorKind::MalformedInput, message, item },
    };
    let result = result.map_err(|e| malformed(e.message, e.item)).and_then(|packed| {
        LAST.with_borrow_mut(|last| last.share(packed_schema(packed), usize::MAX, |_| {}))
            .map_err(|m| malformed(m, Some(path.to_string())))
    });
    (result, stats)
}

fn packed_schema(p: surveyor_sdk::packed::PackedFileSchema) -> PackedFileSchema {
    PackedFileSchema {
        text: p.text,
        ends: p.ends,
        columns: p
            .columns
            .into_iter()
            .map(|c| PackedColumn {
                shared: c.shared,
                added: c.added,
                has_logical_type: c.has_logical_type,
                repetition: repetition(c.repetition),
                nullable: c.nullable,
                ordinal: c.ordinal,
                attributes: attributes(c.attributes),
            })
            .collect(),
        attributes: attributes(p.attributes),
    }
}

fn repetition(r: surveyor_sdk::Repetition) -> Repetition {
    match r {
        surveyor_sdk::Repetition::Required => Repetition::Required,
        surveyor_sdk::Repetition::Optional => Repetition::Optional,
        surveyor_sdk::Repetition::Repeated => Repetition::Repeated,
    }
}

/// The SDK's types and the host's have the same shape: move every field across.
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
