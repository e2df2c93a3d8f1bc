//! Format connectors: the [`Format`] trait, the one-file capability it may use
//! ([`FileReader`]), and the glue behind [`export_format!`](crate::export_format).

use crate::bindings::format as wit;
use crate::sampling::{ColumnKind, Selection};
use crate::{Error, LogLevel, Result};
use serde::de::DeserializeOwned;
use std::borrow::Cow;

pub use wit::exports::surveyor::connector::format_connector::{FileInput, FileSchema};
pub use wit::exports::surveyor::connector::format_sampler::SampleLimits;
/// A column's sample (the contract's `packed-sample`): its values one
/// after another in `text`, value `i` ending at byte `ends[i]`.
pub use wit::exports::surveyor::connector::packed_sampler::PackedSample as ColumnSample;
/// A file's schema and its columns' samples.
pub use wit::exports::surveyor::connector::packed_sampler::PackedSampledSchema as SampledSchema;

impl ColumnSample {
    /// The values, in row order (as far as `ends` cuts `text` into values).
    pub fn values(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends
            .iter()
            .map_while(|&end| {
                let value = self.text.get(start..end as usize)?;
                start = end as usize;
                Some(value)
            })
            .collect()
    }
}

/// A format connector: reads the schema of one file.
///
/// The host hands over the file's tail (read speculatively) with the call, so
/// a format whose metadata sits at the end (Parquet, ORC) usually needs no
/// further read; [`FileInput::bytes`] serves a range from the tail when it can
/// and reads through the host otherwise.
pub trait Format {
    type Config: DeserializeOwned;
    fn info() -> crate::PluginInfo;
    fn read_schema(input: &FileInput, file: &dyn FileReader, config: &Self::Config) -> Result<FileSchema>;

    /// [`Format::read_schema`], packed for the host (contract 0.1.5 hosts
    /// prefer it). The default packs what `read_schema` returns; a connector
    /// that builds many columns can build them packed with a
    /// [`SchemaPacker`](crate::packed::SchemaPacker), sparing the sandbox a
    /// string per name and type.
    fn read_packed_schema(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Self::Config,
    ) -> Result<crate::packed::PackedFileSchema> {
        Self::read_schema(input, file, config).map(crate::packed::pack)
    }

    /// Reads the schema and a bounded sample of each column's values, for the
    /// host's classification. The default samples nothing; a connector that
    /// can sample overrides it, collecting values with a [`SampleBuilder`].
    fn read_sample(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Self::Config,
        limits: &SampleLimits,
    ) -> Result<SampledSchema> {
        let _ = limits;
        Ok(SampledSchema { schema: Self::read_schema(input, file, config)?, samples: Vec::new() })
    }

    /// [`Format::read_sample`] for the columns `selection` wants, and no
    /// other. A connector that can skip a column's decoding overrides it; the
    /// default samples every column, then drops what `selection` does not
    /// want before it leaves the sandbox.
    fn read_selected_sample(
        input: &FileInput,
        file: &dyn FileReader,
        config: &Self::Config,
        limits: &SampleLimits,
        selection: &Selection,
    ) -> Result<SampledSchema> {
        let mut sampled = Self::read_sample(input, file, config, limits)?;
        sampled.retain_selected(selection);
        Ok(sampled)
    }
}

impl SampledSchema {
    /// Drops the samples of columns `selection` does not want.
    pub fn retain_selected(&mut self, selection: &Selection) {
        let columns = self.schema.columns.iter().map(|c| (c.data_type.as_str(), c.path.as_slice()));
        selection.retain(columns, &mut self.samples, |s| &s.path);
    }
}

/// Collects a column's sample within [`SampleLimits`]: at most `max_rows`
/// values, and values are dropped once the column holds
/// `max_bytes_per_column` bytes.
#[derive(Debug, Clone)]
pub struct SampleBuilder {
    sample: ColumnSample,
    bytes: u64,
    max_rows: u32,
    max_bytes: u64,
}

impl SampleBuilder {
    pub fn new(path: Vec<String>, limits: &SampleLimits) -> Self {
        SampleBuilder {
            sample: ColumnSample { path, text: String::new(), ends: Vec::new(), nulls: 0 },
            bytes: 0,
            max_rows: limits.max_rows,
            max_bytes: limits.max_bytes_per_column,
        }
    }

    /// Whether the sample holds as many rows as the limits allow.
    pub fn is_full(&self) -> bool {
        self.sample.ends.len() as u64 + u64::from(self.sample.nulls) >= u64::from(self.max_rows)
            || self.bytes >= self.max_bytes
    }

    /// Adds one value (`None` for a null); ignored once the sample is full.
    pub fn push(&mut self, value: Option<&str>) {
        if self.is_full() {
            return;
        }
        match value {
            None => self.sample.nulls += 1,
            Some(v) => {
                let len = v.len() as u64;
                if self.bytes + len > self.max_bytes {
                    self.bytes = self.max_bytes;
                    return;
                }
                self.bytes += len;
                // One string per column, not per value: the host reads it
                // out of the sandbox in one piece.
                self.sample.text.push_str(v);
                self.sample.ends.push(self.sample.text.len() as u32);
            }
        }
    }

    pub fn finish(self) -> ColumnSample {
        self.sample
    }
}

/// The one file being read, through the host.
pub trait FileReader {
    fn read_range(&self, offset: u64, length: u64) -> Result<Vec<u8>>;
    fn log(&self, level: LogLevel, message: &str);
}

impl FileInput {
    /// Bytes `[offset, offset + length)` of the file, from the speculative tail
    /// when it covers them, otherwise with one host read. Ranges past the end
    /// of the file are a malformed-input error naming the file.
    pub fn bytes<'a>(&'a self, file: &dyn FileReader, offset: u64, length: u64) -> Result<Cow<'a, [u8]>> {
        offset.checked_add(length).filter(|&e| e <= self.size).ok_or_else(|| {
            Error::malformed(format!("range {offset}+{length} lies outside the file ({} bytes)", self.size))
                .with_item(self.path.clone())
        })?;
        let tail_start = self.size.saturating_sub(self.tail.len() as u64);
        if offset >= tail_start {
            let from = (offset - tail_start) as usize;
            return Ok(Cow::Borrowed(&self.tail[from..from + length as usize]));
        }
        let bytes = file.read_range(offset, length)?;
        if (bytes.len() as u64) < length {
            return Err(Error::malformed(format!(
                "file ended after {} of {length} bytes at offset {offset} (changed while reading?)",
                bytes.len()
            ))
            .with_item(self.path.clone()));
        }
        Ok(Cow::Owned(bytes))
    }
}

/// [`FileReader`] over the component's imports.
pub struct WasmFileReader;

impl FileReader for WasmFileReader {
    fn read_range(&self, offset: u64, length: u64) -> Result<Vec<u8>> {
        wit::surveyor::connector::file::read_range(offset, length)
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
}

#[doc(hidden)]
pub mod glue {
    use super::*;
    use wit::exports::surveyor::connector::format_sampler as unpacked;
    use wit::exports::surveyor::connector::selective_sampler as selective;

    pub fn read_schema<F: Format>(input: FileInput) -> Result<FileSchema> {
        let config: F::Config = crate::parse_config(&input.config)?;
        F::read_schema(&input, &WasmFileReader, &config)
    }

    pub fn read_packed_schema<F: Format>(input: FileInput) -> Result<crate::packed::PackedFileSchema> {
        let config: F::Config = crate::parse_config(&input.config)?;
        F::read_packed_schema(&input, &WasmFileReader, &config)
    }

    pub fn read_packed_sample<F: Format>(input: FileInput, limits: SampleLimits) -> Result<SampledSchema> {
        let config: F::Config = crate::parse_config(&input.config)?;
        F::read_sample(&input, &WasmFileReader, &config, &limits)
    }

    pub fn read_selected_sample<F: Format>(
        input: FileInput,
        request: selective::SampleRequest,
    ) -> Result<SampledSchema> {
        let config: F::Config = crate::parse_config(&input.config)?;
        let limits = request.limits;
        F::read_selected_sample(&input, &WasmFileReader, &config, &limits, &selection(request))
    }

    /// The request's [`Selection`].
    fn selection(request: selective::SampleRequest) -> Selection {
        use selective::ColumnKinds;
        let kinds = |flags: ColumnKinds| {
            [
                (ColumnKinds::BOOLEAN, ColumnKind::Boolean),
                (ColumnKinds::TEMPORAL, ColumnKind::Temporal),
                (ColumnKinds::FRACTIONAL_DECIMAL, ColumnKind::FractionalDecimal),
            ]
            .into_iter()
            .filter(|(flag, _)| flags.contains(*flag))
            .map(|(_, kind)| kind)
            .collect()
        };
        Selection { skip: kinds(request.skip), named_only: kinds(request.named_only), keywords: request.keywords }
    }

    /// `format-sampler.read-sample`, for 0.1.1 and 0.1.2 hosts: the values
    /// one string each.
    pub fn read_sample<F: Format>(input: FileInput, limits: SampleLimits) -> Result<unpacked::SampledSchema> {
        let SampledSchema { schema, samples } = read_packed_sample::<F>(input, limits)?;
        let samples = samples
            .iter()
            .map(|s| unpacked::ColumnSample {
                path: s.path.clone(),
                values: s.values().into_iter().map(str::to_string).collect(),
                nulls: s.nulls,
            })
            .collect();
        Ok(unpacked::SampledSchema { schema, samples })
    }
}

/// Exports a [`Format`] implementation as the component's
/// `packed-schema-format` world (contract 0.1.5): `read-packed-schema` (0.1.5
/// hosts) and `read-schema`, and for classification `read-selected-sample`
/// (0.1.4 hosts), `read-packed-sample` (0.1.3) and `read-sample` (0.1.1 and
/// 0.1.2).
#[macro_export]
macro_rules! export_format {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SurveyorFormat;
            impl $crate::bindings::format::exports::surveyor::connector::plugin::Guest for __SurveyorFormat {
                fn info() -> $crate::PluginInfo {
                    <$connector as $crate::Format>::info()
                }
            }
            impl $crate::bindings::format::exports::surveyor::connector::format_connector::Guest for __SurveyorFormat {
                fn read_schema(input: $crate::FileInput) -> $crate::Result<$crate::FileSchema> {
                    $crate::__format_glue::read_schema::<$connector>(input)
                }
            }
            impl $crate::bindings::format::exports::surveyor::connector::packed_schema::Guest for __SurveyorFormat {
                fn read_packed_schema(
                    input: $crate::FileInput,
                ) -> $crate::Result<$crate::packed::PackedFileSchema> {
                    $crate::__format_glue::read_packed_schema::<$connector>(input)
                }
            }
            impl $crate::bindings::format::exports::surveyor::connector::format_sampler::Guest for __SurveyorFormat {
                fn read_sample(
                    input: $crate::FileInput,
                    limits: $crate::SampleLimits,
                ) -> $crate::Result<$crate::bindings::format::exports::surveyor::connector::format_sampler::SampledSchema> {
                    $crate::__format_glue::read_sample::<$connector>(input, limits)
                }
            }
            impl $crate::bindings::format::exports::surveyor::connector::packed_sampler::Guest for __SurveyorFormat {
                fn read_packed_sample(
                    input: $crate::FileInput,
                    limits: $crate::SampleLimits,
                ) -> $crate::Result<
                    $crate::bindings::format::exports::surveyor::connector::packed_sampler::PackedSampledSchema,
                > {
                    $crate::__format_glue::read_packed_sample::<$connector>(input, limits)
                }
            }
            impl $crate::bindings::format::exports::surveyor::connector::selective_sampler::Guest for __SurveyorFormat {
                fn read_selected_sample(
                    input: $crate::FileInput,
                    request: $crate::bindings::format::exports::surveyor::connector::selective_sampler::SampleRequest,
                ) -> $crate::Result<
                    $crate::bindings::format::exports::surveyor::connector::packed_sampler::PackedSampledSchema,
                > {
                    $crate::__format_glue::read_selected_sample::<$connector>(input, request)
                }
            }
            $crate::bindings::format::__export_format_world!(
                __SurveyorFormat with_types_in $crate::bindings::format
            );
        };
    };
}
