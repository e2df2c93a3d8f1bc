//! The `parquet` format connector: a Parquet file's schema and facts, from its
//! footer alone.
//!
//! The host hands over the file's tail with the call; when the footer fits in
//! it (the usual case) no further read is made, otherwise exactly one more
//! read fetches the footer. Parsing is done by the `parquet` crate, inside
//! the sandbox.

mod schema;

use parquet::file::metadata::{
    FooterTail, ParquetMetaData, ParquetMetaDataOptions, ParquetMetaDataReader, ParquetStatisticsPolicy,
};
use serde::Deserialize;
use std::collections::BTreeSet;
use surveyor_sdk::{Attribute, Error, FileInput, FileReader, FileSchema, Format, PluginInfo, PluginKind, Result};

/// Bytes in the Parquet trailer: 4-byte footer length + `PAR1`.
const TRAILER: u64 = 8;
/// Smallest possible Parquet file: leading magic + trailer.
const MIN_FILE: u64 = 4 + TRAILER;

pub struct Parquet;

/// Configuration of the `parquet` format connector.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Footers larger than this are refused rather than read (default 64 MiB).
    pub max_footer_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_footer_bytes: 64 << 20 }
    }
}

impl Format for Parquet {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("parquet", env!("CARGO_PKG_VERSION"), PluginKind::Format)
            .handles(["parquet", "parq", "pq"])
            .description("Apache Parquet: schema, types and file facts from the footer")
            .config_schema(
                r#"{"type":"object","additionalProperties":false,"properties":{"max_footer_bytes":{"type":"integer","minimum":1024,"description":"Footers larger than this are refused (default 67108864)."}}}"#,
            )
    }

    fn read_schema(input: &FileInput, file: &dyn FileReader, config: &Config) -> Result<FileSchema> {
        let metadata = read_footer(input, file, config)?;
        Ok(FileSchema { columns: schema::columns(&metadata), attributes: file_facts(&metadata) })
    }
}

#[cfg(feature = "component")]
surveyor_sdk::export_format!(Parquet);

fn malformed(input: &FileInput, message: String) -> Error {
    Error::malformed(message).with_item(input.path.clone())
}

/// Finds, reads and decodes the footer, validating every length against the
/// file's size before trusting it.
fn read_footer(input: &FileInput, file: &dyn FileReader, config: &Config) -> Result<ParquetMetaData> {
    let size = input.size;
    if size == 0 {
        return Err(malformed(input, "empty file (0 bytes): not a Parquet file".into()));
    }
    if size < MIN_FILE {
        return Err(malformed(input, format!("file is {size} bytes, too small for Parquet (at least {MIN_FILE})")));
    }
    let trailer = input.bytes(file, size - TRAILER, TRAILER)?;
    let trailer: [u8; 8] = trailer.as_ref().try_into().expect("8 bytes");
    let magic = &trailer[4..];
    if magic == b"PARE" {
        return Err(Error::unsupported(
            "encrypted footer (PARE): reading encrypted Parquet metadata needs the file's keys, which Surveyor does not hold",
        )
        .with_item(input.path.clone()));
    }
    let tail = FooterTail::try_new(&trailer).map_err(|_| {
        malformed(input, format!("not a Parquet file: trailing magic is {} (expected \"PAR1\")", show_magic(magic)))
    })?;
    let footer_len = tail.metadata_length() as u64;
    if footer_len > size - MIN_FILE {
        return Err(malformed(
            input,
            format!("footer length {footer_len} points outside the file ({size} bytes): truncated or corrupt"),
        ));
    }
    if footer_len > config.max_footer_bytes {
        return Err(Error::unsupported(format!(
            "footer of {footer_len} bytes exceeds the limit of {} bytes (parquet.max_footer_bytes)",
            config.max_footer_bytes
        ))
        .with_item(input.path.clone()));
    }
    let footer = input.bytes(file, size - TRAILER - footer_len, footer_len)?;
    ParquetMetaDataReader::decode_metadata_with_options(&footer, Some(&decode_options()))
        .map_err(|e| malformed(input, format!("corrupt footer: {e}")))
}

/// Statistics (min/max, encodings, size histograms) are not part of a schema:
/// skipping them makes decoding faster and tolerates writers that encode them
/// in ways strict readers reject.
fn decode_options() -> ParquetMetaDataOptions {
    ParquetMetaDataOptions::new()
        .with_column_stats_policy(ParquetStatisticsPolicy::SkipAll)
        .with_encoding_stats_policy(ParquetStatisticsPolicy::SkipAll)
        .with_size_stats_policy(ParquetStatisticsPolicy::SkipAll)
}

fn show_magic(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic()) {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// Facts about the file as a whole: sizes, rows, codecs, writer, metadata keys.
fn file_facts(metadata: &ParquetMetaData) -> Vec<Attribute> {
    let meta = metadata.file_metadata();
    let groups = metadata.row_groups();
    let mut codecs = BTreeSet::new();
    let (mut compressed, mut uncompressed) = (0i64, 0i64);
    for group in groups {
        for column in group.columns() {
            codecs.insert(column.compression_codec().to_string());
            compressed = compressed.saturating_add(column.compressed_size());
            uncompressed = uncompressed.saturating_add(column.uncompressed_size());
        }
    }
    let mut attrs = vec![
        attr("format", "parquet".into()),
        attr("rowCount", meta.num_rows().into()),
        attr("rowGroupCount", (groups.len() as i64).into()),
        attr("compressedSize", compressed.into()),
        attr("uncompressedSize", uncompressed.into()),
        attr("codecs", codecs.into_iter().collect::<Vec<_>>().into()),
        attr("formatVersion", meta.version().into()),
        attr("columnCount", (meta.schema_descr().num_columns() as i64).into()),
    ];
    if let Some(created_by) = meta.created_by() {
        attrs.push(attr("createdBy", created_by.into()));
    }
    if let Some(kv) = meta.key_value_metadata() {
        let keys: Vec<String> = kv.iter().map(|kv| kv.key.clone()).collect();
        attrs.push(attr("keyValueMetadataKeys", keys.into()));
    }
    attrs
}

fn attr(key: &str, value: surveyor_sdk::Value) -> Attribute {
    Attribute { key: key.to_string(), value }
}

#[cfg(test)]
mod tests;
