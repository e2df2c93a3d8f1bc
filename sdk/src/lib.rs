//! # surveyor-sdk
//!
//! Write a Surveyor connector as plain Rust: implement [`Source`] (enumerate a
//! source and emit assets) or [`Format`] (read one file's schema), then call
//! [`export_source!`] or [`export_format!`] once. Build with
//! `cargo build --release --target wasm32-wasip2` and drop the `.wasm` into the
//! plugins folder.
//!
//! The connector never touches files, sockets or credentials: everything goes
//! through the host capabilities behind [`SourceHost`] and [`FileReader`]. The
//! same traits are implemented in memory by [`testing`], so a connector's logic
//! is unit-tested natively with `cargo test`.
//!
//! A classifier plugin (contract 0.1.2) implements [`Classifier`]: it gets
//! one sampled column at a time (name, type, values) and returns the
//! classifications it finds; export it with [`export_classifier!`].
//!
//! Enable exactly one of the crate features `source`, `format` or
//! `classifier` in a plugin crate.

mod arena;
pub mod bindings;
mod model;
pub mod qualified_name;
pub mod sampling;
pub mod tree;

#[cfg(feature = "classifier")]
mod classifier;
#[cfg(feature = "format")]
mod format;
#[cfg(feature = "format")]
pub mod packed;
#[cfg(feature = "source")]
mod source;
#[cfg(any(feature = "source", feature = "format"))]
pub mod testing;

pub use arena::CallArena;
pub use bindings::types::{
    Asset, AssetRef, Attribute, Column, ConnectorError as Error, ErrorKind, FileRef, PluginInfo, PluginKind, Relation,
    Repetition, Value,
};
#[cfg(feature = "classifier")]
pub use classifier::{Classification, Classifier, ClassifierInfo, ColumnInput, log};
#[cfg(feature = "format")]
pub use format::{ColumnSample, FileInput, FileReader, FileSchema, Format, SampleBuilder, SampleLimits, SampledSchema};
pub use model::LogLevel;
pub use sampling::{ColumnKind, Selection};
#[cfg(feature = "source")]
pub use source::{
    BrowseEntry, Emitter, HttpRequest, HttpResponse, ListPage, ObjectMeta, ScanRequest, ScanSummary, Source,
    SourceHost, SqlColumn, SqlResultSet, SqlValue, walk,
};

/// Result type of every connector entry point.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Parses a plugin's JSON configuration; an empty string means "all defaults".
pub fn parse_config<T: serde::de::DeserializeOwned>(config: &str) -> Result<T> {
    let text = if config.trim().is_empty() { "{}" } else { config };
    serde_json::from_str(text).map_err(|e| Error::config(format!("invalid configuration: {e}")))
}

#[doc(hidden)]
pub mod __private {
    pub use std::string::String;
    pub use std::vec::Vec;
}

#[cfg(feature = "format")]
#[doc(hidden)]
pub use format::glue as __format_glue;
#[cfg(feature = "source")]
#[doc(hidden)]
pub use source::glue as __source_glue;
