//! Ingestion output: what a run found, as Apache Atlas v2 entity JSON, and
//! where it is written.
//!
//! A run's output is a set of files: `batches/NNNNNN.json` (each the body of
//! a `POST /api/atlas/v2/entity/bulk`), `typedefs.json` (the Surveyor type
//! definitions the batches use beyond Atlas's and Purview's own),
//! `report.json`, and `manifest.json` — written last, listing every other
//! file with its size and SHA-256. A run without a manifest is incomplete,
//! whatever else is there.

pub mod atlas;
mod definition;
mod local;
mod manifest;
pub mod relations;

pub use definition::SinkDefinition;
pub use local::LocalFolderSink;
pub(crate) use local::start_writeback;
pub use manifest::{Manifest, ManifestEntry, RunOutput, completed};

/// Where runs are written.
pub trait Sink: Send + Sync {
    /// What this sink is, for messages (never includes credentials).
    fn describe(&self) -> String;
    /// Starts the output of one run; nothing of it is visible as complete
    /// until [`RunWriter::commit`].
    fn begin(&self, run_id: &str) -> Result<Box<dyn RunWriter>, SinkError>;
    /// Checks that runs can be written (before a sink is saved as an
    /// integration runtime's target): the error is the storage's.
    fn check(&self) -> Result<(), SinkError>;
}

/// The output of one run, being written.
pub trait RunWriter: Send {
    /// Writes one file of the run (a relative path such as `batches/000001.json`).
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), SinkError>;
    /// Writes the manifest, last, and makes the run visible. Returns where it is.
    fn commit(self: Box<Self>, manifest: &[u8]) -> Result<String, SinkError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}
