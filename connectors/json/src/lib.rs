//! The `json` format connector: the schema of a JSON or NDJSON file (plain
//! or gzip), inferred from a bounded sample of its first records.
//!
//! Only the start of the file is read (`sample_bytes`, default 1 MiB, fewer
//! when `max_records` are found first), so a file of any size costs the same.
//! The layout (NDJSON, a top-level array, or one object) is detected, and
//! the records are merged into one nested schema (see [`infer`]).

mod infer;
mod layout;
mod scan;
mod temporal;
mod values;

use serde::Deserialize;
use surveyor_connector_text_common::{sample, text};
use surveyor_sdk::{
    Attribute, ColumnSample, Error, FileInput, FileReader, FileSchema, Format, PluginInfo, PluginKind, Result,
    SampleLimits, SampledSchema, Value,
};

pub struct Json;

/// Configuration of the `json` format connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Decompressed bytes sampled from the start of the file (default 1 MiB).
    pub sample_bytes: u64,
    /// Records sampled at most (default 1000).
    pub max_records: u64,
    /// Columns (fields at any depth) reported at most (default 10000).
    pub max_columns: u64,
    /// Nesting depth explored; deeper objects and arrays are `json` (default 64).
    pub max_depth: u64,
    /// Report ISO 8601 strings as `date` / `time[us]` / `timestamp[…]` (default true).
    pub detect_temporal: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { sample_bytes: 1 << 20, max_records: 1000, max_columns: 10_000, max_depth: 64, detect_temporal: true }
    }
}

/// Largest accepted `max_depth`: below it values are merged recursively, and
/// the JSON parser refuses recursion deeper than 128; deeper values are
/// skipped without recursion.
const MAX_DEPTH: u64 = 100;

/// Largest accepted `sample_bytes`: the sample (and its decoded copy) stays
/// well within a format sandbox's 256 MiB.
const MAX_SAMPLE_BYTES: u64 = 32 << 20;

const CONFIG_SCHEMA: &str = r#"{"type":"object","additionalProperties":false,"properties":{
"sample_bytes":{"type":"integer","minimum":1,"maximum":33554432,"description":"Decompressed bytes sampled from the start of the file (default 1048576)."},
"max_records":{"type":"integer","minimum":1,"description":"Records sampled at most (default 1000)."},
"max_columns":{"type":"integer","minimum":1,"description":"Columns (fields at any depth) reported at most (default 10000)."},
"max_depth":{"type":"integer","minimum":1,"maximum":100,"description":"Nesting depth explored; deeper objects and arrays are typed json (default 64)."},
"detect_temporal":{"type":"boolean","description":"Report ISO 8601 strings as date, time or timestamp columns (default true)."}}}"#;

impl Format for Json {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("json", env!("CARGO_PKG_VERSION"), PluginKind::Format)
            .handles(["json", "ndjson", "jsonl", "json.gz", "ndjson.gz", "jsonl.gz"])
            .description("JSON / NDJSON (plain or gzip): layout and nested schema inferred from a bounded sample")
            .config_schema(CONFIG_SCHEMA)
    }

    fn read_schema(input: &FileInput, file: &dyn FileReader, config: &Config) -> Result<FileSchema> {
        if config.sample_bytes == 0 || config.sample_bytes > MAX_SAMPLE_BYTES {
            return Err(Error::config(format!("sample_bytes must be between 1 and {MAX_SAMPLE_BYTES}")));
        }
        if config.max_records == 0 || config.max_columns == 0 {
            return Err(Error::config("max_records and max_columns must be at least 1"));
        }
        if !(1..=MAX_DEPTH).contains(&config.max_depth) {
            return Err(Error::config(format!("max_depth must be between 1 and {MAX_DEPTH}")));
        }
        read(input, file, config, None).map(|(schema, _)| schema)
    }

    /// The schema, and the first records' scalar values as column samples.
    fn read_sample(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Config,
        limits: &SampleLimits,
    ) -> Result<SampledSchema> {
        let (schema, samples) = read(input, file, config, Some(limits))?;
        Ok(SampledSchema { schema, samples })
    }
}

/// Each call is independent: a bump arena reset after every call.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: surveyor_sdk::CallArena = surveyor_sdk::CallArena::new();

surveyor_sdk::export_format!(Json);

/// `.ndjson` / `.jsonl` (optionally `.gz`): one value per line.
fn is_lines(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    lower.ends_with(".ndjson") || lower.ends_with(".jsonl")
}

fn malformed(input: &FileInput, message: String) -> Error {
    Error::malformed(message).with_item(input.path.clone())
}

/// Reads the schema; with `limits`, also samples the first records' values.
fn read(
    input: &FileInput,
    file: &dyn FileReader,
    config: &Config,
    limits: Option<&SampleLimits>,
) -> Result<(FileSchema, Vec<ColumnSample>)> {
    let max_records = usize::try_from(config.max_records).unwrap_or(usize::MAX);
    let lines = is_lines(&input.path);
    let mut counter = scan::RecordCounter::new(lines);
    let sample = sample::read_sample(input, file, config.sample_bytes, |chunk| {
        counter.feed(chunk);
        counter.records >= max_records
    })?;
    if sample.bytes.is_empty() {
        return Err(malformed(input, "empty file (no data after decompression)".into()));
    }
    let decoded = text::decode(&sample.bytes, sample.complete, &input.path)?;
    let text = decoded.text.as_ref();
    if text.trim().is_empty() && sample.complete {
        return Err(malformed(input, "empty file: only whitespace".into()));
    }

    let mut schema = infer::Schema::new(infer::Limits {
        max_columns: usize::try_from(config.max_columns).unwrap_or(usize::MAX),
        max_depth: usize::try_from(config.max_depth).unwrap_or(usize::MAX),
        detect_temporal: config.detect_temporal,
    });
    let mut merge_errors = 0;
    let mut samples = limits.map(values::Samples::new);
    let mut outcome = layout::read_records(text, sample.complete, lines, max_records, |record| {
        if let Some(samples) = &mut samples {
            samples.add(record);
        }
        // Validated by the layout reader, and merged no deeper than
        // MAX_DEPTH: merging does not fail. Counted all the same.
        if schema.add(record).is_err() {
            merge_errors += 1;
        }
    });
    outcome.invalid += merge_errors;
    outcome.records -= merge_errors;
    if outcome.records == 0 {
        let empty_array = outcome.layout == layout::Layout::Array && outcome.invalid == 0;
        if let Some(error) = outcome.first_error {
            return Err(malformed(input, format!("not JSON: {error}")));
        }
        if !empty_array {
            return Err(malformed(
                input,
                format!("no complete JSON record in the first {} bytes (raise json.sample_bytes?)", sample.bytes.len()),
            ));
        }
    }

    let columns = schema.columns();
    let mut attributes = vec![
        attr("format", "json".into()),
        attr("compression", sample.compression.name().into()),
        attr("encoding", decoded.encoding.into()),
        attr("layout", outcome.layout.name().into()),
        attr("sampledRecords", outcome.records.into()),
        attr("sampledBytes", sample.bytes.len().into()),
        attr("sampleComplete", sample.complete.into()),
        attr("invalidRecords", outcome.invalid.into()),
        attr("columnCount", columns.len().into()),
    ];
    if sample.compression == sample::Compression::Gzip {
        attributes.push(attr("compressedBytesRead", sample.file_bytes_read.into()));
    }
    if decoded.invalid_bytes > 0 {
        attributes.push(attr("invalidUtf8Bytes", decoded.invalid_bytes.into()));
    }
    if outcome.partial_record {
        attributes.push(attr("truncatedRecord", true.into()));
    }
    if schema.truncated_columns() {
        attributes.push(attr("truncatedColumns", true.into()));
    }
    if schema.depth_limited() {
        attributes.push(attr("truncatedDepth", true.into()));
    }
    let samples = samples.map(values::Samples::finish).unwrap_or_default();
    Ok((FileSchema { columns, attributes }, samples))
}

fn attr(key: &str, value: Value) -> Attribute {
    Attribute { key: key.to_string(), value }
}

#[cfg(test)]
mod tests;
