//! Format connectors: the [`Format`] trait, the one-file capability it may use
//! ([`FileReader`]), and the glue behind [`export_format!`](crate::export_format).

use crate::bindings::format as wit;
use crate::{Error, LogLevel, Result};
use serde::de::DeserializeOwned;
use std::borrow::Cow;

pub use wit::exports::surveyor::connector::format_connector::{FileInput, FileSchema};

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

    pub fn read_schema<F: Format>(input: FileInput) -> Result<FileSchema> {
        let config: F::Config = crate::parse_config(&input.config)?;
        F::read_schema(&input, &WasmFileReader, &config)
    }
}

/// Exports a [`Format`] implementation as the component's `format` world.
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
            $crate::bindings::format::__export_format_world!(
                __SurveyorFormat with_types_in $crate::bindings::format
            );
        };
    };
}
