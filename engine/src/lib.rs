//! # surveyor-engine
//!
//! The host side of Surveyor: it loads sandboxed connectors ([`host`]), gives
//! them capabilities scoped to one source ([`storage`]), runs scans
//! ([`scan`]) and writes what they find to ingestion storage ([`sink`]).
//! The `surveyor` binary ([`cli`]) is a thin layer over this library.

pub mod backends;
pub mod cli;
pub mod doctor;
pub mod host;
pub mod net;
pub mod report;
pub mod scan;
pub mod service;
pub mod sink;
pub mod sources;
pub mod storage;

/// The engine's version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
