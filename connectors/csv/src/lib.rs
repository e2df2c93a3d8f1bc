//! The `csv` format connector: the schema of a CSV or TSV file (plain or
//! gzip), inferred from a bounded sample of its first records.
//!
//! Only the start of the file is read (`sample_bytes`, default 1 MiB, fewer
//! when `max_records` are found first), so a file of any size costs the same.
//! The delimiter, the header row and every column's type are inferred from
//! that sample; each can be overridden in the configuration.

mod detect;
mod infer;
mod parse;

use infer::ColumnStats;
use parse::{Dialect, Record, RecordCounter};
use serde::Deserialize;
use std::collections::HashSet;
use surveyor_connector_text_common::{sample, text};
use surveyor_sdk::{
    Attribute, Column, ColumnSample, Error, FileInput, FileReader, FileSchema, Format, PluginInfo, PluginKind,
    Repetition, Result, SampleBuilder, SampleLimits, SampledSchema, Value,
};

pub struct Csv;

/// Configuration of the `csv` format connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Decompressed bytes sampled from the start of the file (default 1 MiB).
    pub sample_bytes: u64,
    /// Data records sampled at most (default 1000).
    pub max_records: u64,
    /// Field delimiter (one ASCII character, or `"tab"`); detected when unset.
    pub delimiter: Option<String>,
    /// Quote character (one ASCII character, default `"`).
    pub quote: Option<String>,
    /// Whether the first record is a header; detected when unset.
    pub has_header: Option<bool>,
    /// Columns reported at most (default 10000).
    pub max_columns: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sample_bytes: 1 << 20,
            max_records: 1000,
            delimiter: None,
            quote: None,
            has_header: None,
            max_columns: 10_000,
        }
    }
}

/// Largest accepted `sample_bytes`: the sample, its records and their text
/// stay well within a format sandbox's 256 MiB.
const MAX_SAMPLE_BYTES: u64 = 32 << 20;

const CONFIG_SCHEMA: &str = r#"{"type":"object","additionalProperties":false,"properties":{
"sample_bytes":{"type":"integer","minimum":1,"maximum":33554432,"description":"Decompressed bytes sampled from the start of the file (default 1048576)."},
"max_records":{"type":"integer","minimum":1,"description":"Data records sampled at most (default 1000)."},
"delimiter":{"type":"string","description":"Field delimiter: one ASCII character, or \"tab\". Detected among , TAB ; | when unset."},
"quote":{"type":"string","minLength":1,"maxLength":1,"description":"Quote character (default \")."},
"has_header":{"type":"boolean","description":"Whether the first record is a header. Detected when unset."},
"max_columns":{"type":"integer","minimum":1,"description":"Columns reported at most (default 10000)."}}}"#;

impl Format for Csv {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("csv", env!("CARGO_PKG_VERSION"), PluginKind::Format)
            .handles(["csv", "tsv", "csv.gz", "tsv.gz"])
            .description("CSV/TSV (plain or gzip): delimiter, header and column types inferred from a bounded sample")
            .config_schema(CONFIG_SCHEMA)
    }

    fn read_schema(input: &FileInput, file: &dyn FileReader, config: &Config) -> Result<FileSchema> {
        let settings = Settings::from_config(config)?;
        read(input, file, &settings, None).map(|(schema, _)| schema)
    }

    /// The schema, and the first sampled records' fields as column samples.
    fn read_sample(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Config,
        limits: &SampleLimits,
    ) -> Result<SampledSchema> {
        let settings = Settings::from_config(config)?;
        let (schema, samples) = read(input, file, &settings, Some(limits))?;
        Ok(SampledSchema { schema, samples })
    }
}

/// Each call is independent: a bump arena reset after every call.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: surveyor_sdk::CallArena = surveyor_sdk::CallArena::new();

surveyor_sdk::export_format!(Csv);

/// The configuration, validated.
struct Settings {
    sample_bytes: u64,
    max_records: usize,
    delimiter: Option<u8>,
    quote: u8,
    has_header: Option<bool>,
    max_columns: usize,
}

impl Settings {
    fn from_config(config: &Config) -> Result<Self> {
        if config.sample_bytes == 0 || config.sample_bytes > MAX_SAMPLE_BYTES {
            return Err(Error::config(format!("sample_bytes must be between 1 and {MAX_SAMPLE_BYTES}")));
        }
        if config.max_records == 0 || config.max_columns == 0 {
            return Err(Error::config("max_records and max_columns must be at least 1"));
        }
        let delimiter = match config.delimiter.as_deref() {
            None => None,
            Some("tab" | "\\t") => Some(b'\t'),
            Some(d) => Some(ascii_char("delimiter", d)?),
        };
        let quote = match config.quote.as_deref() {
            None => b'"',
            Some(q) => ascii_char("quote", q)?,
        };
        if delimiter == Some(quote) {
            return Err(Error::config("delimiter and quote must differ"));
        }
        Ok(Settings {
            sample_bytes: config.sample_bytes,
            max_records: usize::try_from(config.max_records).unwrap_or(usize::MAX),
            delimiter,
            quote,
            has_header: config.has_header,
            max_columns: usize::try_from(config.max_columns).unwrap_or(usize::MAX),
        })
    }
}

/// One ASCII character other than a line break.
fn ascii_char(name: &str, value: &str) -> Result<u8> {
    match value.as_bytes() {
        [c] if c.is_ascii() && *c != b'\n' && *c != b'\r' => Ok(*c),
        _ => Err(Error::config(format!("{name} must be one ASCII character other than a line break, not {value:?}"))),
    }
}

/// `.tsv` / `.tab` (and their `.gz`) default to tab; everything else to comma.
fn is_tsv(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    lower.ends_with(".tsv") || lower.ends_with(".tab")
}

fn malformed(input: &FileInput, message: String) -> Error {
    Error::malformed(message).with_item(input.path.clone())
}

/// Reads the schema; with `limits`, also samples the first records' fields.
fn read(
    input: &FileInput,
    file: &dyn FileReader,
    settings: &Settings,
    limits: Option<&SampleLimits>,
) -> Result<(FileSchema, Vec<ColumnSample>)> {
    let preferred: Vec<u8> = match settings.delimiter {
        Some(d) => vec![d],
        None if is_tsv(&input.path) => vec![b'\t', b',', b';', b'|'],
        None => detect::CANDIDATES.to_vec(),
    };
    // One more record than asked for: the first may be a header.
    let wanted = settings.max_records.saturating_add(1);
    let mut counter = RecordCounter::new(preferred.clone(), settings.quote);
    let sample = sample::read_sample(input, file, settings.sample_bytes, |chunk| {
        counter.feed(chunk);
        counter.records >= wanted
    })?;
    if sample.bytes.is_empty() {
        return Err(malformed(input, "empty file (no data after decompression)".into()));
    }
    let decoded = text::decode(&sample.bytes, sample.complete, &input.path)?;
    let text = decoded.text.as_ref();
    if text.trim().is_empty() && sample.complete {
        return Err(malformed(input, "empty file: no records, only blank lines".into()));
    }

    let delimiter = match settings.delimiter {
        Some(d) => d,
        None => detect::delimiter(text, settings.quote, sample.complete, &preferred),
    };
    let dialect = Dialect { delimiter, quote: settings.quote };
    let mut parsed = parse::parse(text, dialect, sample.complete, wanted);
    if parsed.records.is_empty() {
        return Err(malformed(
            input,
            format!("no complete record in the first {} bytes (raise csv.sample_bytes?)", sample.bytes.len()),
        ));
    }
    let has_header = settings.has_header.unwrap_or_else(|| detect::has_header(&parsed.records));
    let header = has_header.then(|| parsed.records.remove(0));
    let mut data = parsed.records;
    data.truncate(settings.max_records);

    let width = match &header {
        Some(h) => h.len(),
        None => detect::mode(data.iter().map(Record::len)).map_or(0, |(m, _)| m),
    };
    let truncated_columns = width > settings.max_columns;
    let width = width.min(settings.max_columns);
    let names = column_names(header.as_ref(), width);

    let mut stats = vec![ColumnStats::default(); width];
    let mut ragged = 0u64;
    for row in &data {
        if row.len() != names.len() {
            ragged += 1;
        }
        for (col, stat) in stats.iter_mut().enumerate() {
            stat.add(row.get(col));
        }
    }

    let samples = match limits {
        Some(limits) => names
            .iter()
            .enumerate()
            .map(|(col, name)| {
                let mut builder = SampleBuilder::new(vec![name.clone()], limits);
                for row in &data {
                    if builder.is_full() {
                        break;
                    }
                    builder.push(row.get(col).filter(|v| !v.trim().is_empty()));
                }
                builder.finish()
            })
            .collect(),
        None => Vec::new(),
    };

    let columns = names
        .into_iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, (name, stat))| {
            let nullable = stat.nulls > 0 || stat.values == 0;
            Column::new([name], "text", stat.kind.data_type())
                .repetition(if nullable { Repetition::Optional } else { Repetition::Required })
                .ordinal(i as u32)
        })
        .collect::<Vec<_>>();

    let mut attributes = vec![
        attr("format", "csv".into()),
        attr("compression", sample.compression.name().into()),
        attr("encoding", decoded.encoding.into()),
        attr("delimiter", char::from(delimiter).to_string().into()),
        attr("quote", char::from(settings.quote).to_string().into()),
        attr("hasHeader", has_header.into()),
        attr("sampledRecords", data.len().into()),
        attr("sampledBytes", sample.bytes.len().into()),
        attr("sampleComplete", sample.complete.into()),
        attr("raggedRecords", ragged.into()),
        attr("columnCount", columns.len().into()),
    ];
    if sample.compression == sample::Compression::Gzip {
        attributes.push(attr("compressedBytesRead", sample.file_bytes_read.into()));
    }
    if decoded.invalid_bytes > 0 {
        attributes.push(attr("invalidUtf8Bytes", decoded.invalid_bytes.into()));
    }
    if truncated_columns {
        attributes.push(attr("truncatedColumns", true.into()));
    }
    if parsed.unterminated_quote {
        attributes.push(attr("unterminatedQuote", true.into()));
    }
    Ok((FileSchema { columns, attributes }, samples))
}

/// Header names, trimmed and made unique (`name`, `name_2`, …); empty or
/// missing names (and every name without a header) are `column_<n>`.
fn column_names(header: Option<&Record>, width: usize) -> Vec<String> {
    let mut used = HashSet::new();
    (0..width)
        .map(|i| {
            let base = header
                .and_then(|h| h.get(i))
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map_or_else(|| format!("column_{}", i + 1), str::to_string);
            let mut name = base.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}_{n}");
                n += 1;
            }
            name
        })
        .collect()
}

fn attr(key: &str, value: Value) -> Attribute {
    Attribute { key: key.to_string(), value }
}

#[cfg(test)]
mod tests;
