//! The `parquet` format connector: a Parquet file's schema and facts, from its
//! footer alone.
//!
//! The host hands over the file's tail with the call; when the footer fits in
//! it (the usual case) no further read is made, otherwise exactly one more
//! read fetches the footer. The footer is decoded in one pass by [`footer`]
//! (only what the schema and facts need), the schema tree built by [`tree`]
//! with the `parquet` crate's type builders, inside the sandbox.
//!
//! For classification (`read-sample`), the first rows of the first row group
//! are decoded too (uncompressed, Snappy and gzip pages; see [`sample`]).

mod footer;
mod own_pages;
mod sample;
mod schema;
mod text;
mod tree;

use parquet::file::metadata::FooterTail;
use serde::Deserialize;
use std::borrow::Cow;
use surveyor_sdk::packed::{PackedFileSchema, SchemaPacker};
use surveyor_sdk::{
    Attribute, Error, FileInput, FileReader, FileSchema, Format, PluginInfo, PluginKind, Result, SampleLimits,
    SampledSchema, Selection,
};

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
        let footer = read_footer(input, file, config)?;
        decode(input, &footer, false).map(|(schema, _)| schema)
    }

    /// The columns go straight into the packed form: no string per name,
    /// path segment and type inside the sandbox. A schema whose bytes are
    /// the last file's is not decoded again ([`LastSchema`]).
    fn read_packed_schema(input: &FileInput, file: &dyn FileReader, config: &Config) -> Result<PackedFileSchema> {
        let footer = read_footer(input, file, config)?;
        LAST_SCHEMA.with_borrow_mut(|last| {
            let known = last.as_ref().map(|l| &l.bytes[..]);
            let facts = footer::read(&footer, false, known).map_err(|e| corrupt(input, e.to_string()))?;
            if let Some(last) = last.as_ref().filter(|_| facts.schema_known) {
                return Ok(last.packed(file_facts(last.leaves, &facts)));
            }
            let tree = build_tree(input, &facts)?;
            let mut packer = SchemaPacker::with_capacity(tree.leaves + 8);
            schema::columns(&tree.root, &mut packer);
            let packed = packer.finish(file_facts(tree.leaves, &facts));
            *last = LastSchema::keep(&footer[facts.schema_bytes.clone()], tree.leaves, &packed);
            Ok(packed)
        })
    }

    /// The schema, and the first rows of the first row group as samples.
    /// A footer whose row groups cannot be decoded still gives its schema.
    fn read_sample(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Config,
        limits: &SampleLimits,
    ) -> Result<SampledSchema> {
        Self::read_selected_sample(input, file, config, limits, &Selection::default())
    }

    /// As `read_sample`; the columns `selection` does not want are neither
    /// fetched nor decoded.
    fn read_selected_sample(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Config,
        limits: &SampleLimits,
        selection: &Selection,
    ) -> Result<SampledSchema> {
        let footer = read_footer(input, file, config)?;
        let (schema, first_row_group) = decode(input, &footer, true)?;
        let unwanted = selection.unwanted(schema.columns.iter().map(|c| (c.data_type.as_str(), c.path.as_slice())));
        let samples =
            first_row_group.map_or_else(Vec::new, |rows| sample::sample(input, file, &rows, limits, &unwanted));
        Ok(SampledSchema { schema, samples })
    }
}

/// Each call is independent: a bump arena reset after every call.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: surveyor_sdk::CallArena = surveyor_sdk::CallArena::new();

#[cfg(feature = "component")]
surveyor_sdk::export_format!(Parquet);

fn malformed(input: &FileInput, message: String) -> Error {
    Error::malformed(message).with_item(input.path.clone())
}

thread_local! {
    /// The last schema this instance packed (a thread's, natively).
    static LAST_SCHEMA: std::cell::RefCell<Option<LastSchema>> = const { std::cell::RefCell::new(None) };
}

/// A schema's bytes and the columns packed from them. The files of a table
/// mostly share one schema: a file whose schema bytes are the last file's
/// gets these columns again without decoding, checking and packing them
/// (on the generated lake that was about a third of the connector's time).
/// The answer is the same as decoding would give: it was computed from the
/// same bytes, and only a schema that decoded without error is kept.
struct LastSchema {
    bytes: Vec<u8>,
    leaves: usize,
    text: String,
    ends: Vec<u32>,
    columns: Vec<surveyor_sdk::packed::PackedColumn>,
}

/// Schemas that take more than this to keep are not kept (a footer may be 64 MiB).
const KEEP_SCHEMA_MOST: usize = 1 << 20;

impl LastSchema {
    /// Kept outside the call's arena, so that the arena still empties after the call.
    fn keep(bytes: &[u8], leaves: usize, packed: &PackedFileSchema) -> Option<LastSchema> {
        let make = || LastSchema {
            bytes: bytes.to_vec(),
            leaves,
            text: packed.text.clone(),
            ends: packed.ends.clone(),
            columns: packed.columns.clone(),
        };
        let size = bytes.len()
            + packed.text.len()
            + packed.ends.len() * 4
            + packed.columns.len() * std::mem::size_of::<surveyor_sdk::packed::PackedColumn>();
        if size > KEEP_SCHEMA_MOST {
            return None;
        }
        #[cfg(target_arch = "wasm32")]
        return Some(ALLOC.outside(make));
        #[cfg(not(target_arch = "wasm32"))]
        Some(make())
    }

    fn packed(&self, attributes: Vec<Attribute>) -> PackedFileSchema {
        PackedFileSchema { text: self.text.clone(), ends: self.ends.clone(), columns: self.columns.clone(), attributes }
    }
}

/// The schema and facts of a complete `FileMetaData` buffer and, for
/// sampling, its first row group as the `parquet` crate's column readers
/// want it (`None` when it has none, or none they could read).
fn decode(input: &FileInput, footer: &[u8], sampling: bool) -> Result<(FileSchema, Option<sample::FirstRowGroup>)> {
    let (tree, facts) = schema_tree(input, footer, sampling)?;
    let mut columns = Vec::with_capacity(tree.leaves + 8);
    schema::columns(&tree.root, &mut columns);
    let schema = FileSchema { columns, attributes: file_facts(tree.leaves, &facts) };
    let first_row_group = facts.first_row_group.as_ref().and_then(|rows| sample::row_group(&tree.root, rows));
    Ok((schema, first_row_group))
}

/// The footer's facts and its schema as a tree.
fn schema_tree<'a>(input: &FileInput, footer: &'a [u8], sampling: bool) -> Result<(tree::Tree, footer::Facts<'a>)> {
    let facts = footer::read(footer, sampling, None).map_err(|e| corrupt(input, e.to_string()))?;
    let tree = build_tree(input, &facts)?;
    Ok((tree, facts))
}

fn build_tree(input: &FileInput, facts: &footer::Facts<'_>) -> Result<tree::Tree> {
    if !facts.has_schema {
        return Err(corrupt(input, "Input does not contain a schema".into()));
    }
    tree::build(&facts.schema).map_err(|e| corrupt(input, e))
}

fn corrupt(input: &FileInput, message: String) -> Error {
    malformed(input, format!("corrupt footer: {message}"))
}

/// Finds and reads the footer (from the tail when it is there), validating
/// every length against the file's size before trusting it.
fn read_footer<'a>(input: &'a FileInput, file: &dyn FileReader, config: &Config) -> Result<Cow<'a, [u8]>> {
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
    input.bytes(file, size - TRAILER - footer_len, footer_len)
}

fn show_magic(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic()) {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// Facts about the file as a whole: sizes, rows, codecs, writer, metadata keys.
fn file_facts(leaves: usize, facts: &footer::Facts<'_>) -> Vec<Attribute> {
    let mut attrs = vec![
        attr("format", "parquet".into()),
        attr("rowCount", facts.num_rows.into()),
        attr("rowGroupCount", (facts.row_groups as i64).into()),
        attr("compressedSize", facts.compressed.into()),
        attr("uncompressedSize", facts.uncompressed.into()),
        attr("codecs", facts.codecs.iter().map(|c| c.to_string()).collect::<Vec<_>>().into()),
        attr("formatVersion", facts.version.into()),
        attr("columnCount", (leaves as i64).into()),
    ];
    if let Some(created_by) = &facts.created_by {
        attrs.push(attr("createdBy", created_by.as_str().into()));
    }
    if !facts.key_value_keys.is_empty() {
        attrs.push(attr("keyValueMetadataKeys", facts.key_value_keys.clone().into()));
    }
    attrs
}

fn attr(key: &str, value: surveyor_sdk::Value) -> Attribute {
    Attribute { key: key.to_string(), value }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod equivalence;
