//! # surveyor-engine
//!
//! The host side of Surveyor: it loads sandboxed connectors ([`host`]), gives
//! them capabilities scoped to one source ([`storage`]), runs scans
//! ([`scan`]) and writes what they find to ingestion storage ([`sink`]).
//! It compiles without the service (`surveyor-service`), which sits above
//! it, as does the `surveyor` binary.

pub mod backends;
pub mod classify;
pub mod host;
pub mod net;
pub mod report;
pub mod scan;
pub mod sink;
pub mod sources;
pub mod storage;

/// The engine's version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where this crate's build script put the connectors it built (the
/// built-in ones, and the misbehaving test connectors the end-to-end tests
/// load as plugins).
#[doc(hidden)]
pub const BUILD_OUT_DIR: &str = env!("OUT_DIR");
