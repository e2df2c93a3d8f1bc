//! Sink definitions: where runs are written, from a TOML file
//! (`surveyor scan --sink FILE`).
//!
//! ```toml
//! kind = "azure-blob"            # or "local-folder" with path = "…"
//! container = "catalog-ingest"
//! prefix = "surveyor/prod"       # optional
//! queue = "surveyor-runs"        # optional: one message per committed run
//!
//! [connection]                   # as a source's azure-blob connection
//! account = "contosoingest"
//! credential = { kind = "account-key", key = { env = "INGEST_KEY" } }
//! ```

use super::{LocalFolderSink, Sink};
use crate::sources::SourceError;
use crate::sources::connection::{Connection, azure_account};
use crate::storage::azure::{BlobSink, QueueNotifier};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SinkDefinition {
    LocalFolder {
        path: PathBuf,
    },
    AzureBlob {
        container: String,
        #[serde(default)]
        prefix: String,
        /// A Storage Queue of the same account told of each committed run.
        queue: Option<String>,
        connection: toml::Table,
    },
}

impl SinkDefinition {
    pub fn from_file(path: &Path) -> Result<Self, SourceError> {
        let read = |message: String| SourceError::Read { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        toml::from_str(&text).map_err(|e| read(e.to_string()))
    }

    /// The sink, ready to write (nothing is contacted yet).
    pub fn build(&self) -> Result<Box<dyn Sink>, SourceError> {
        match self {
            SinkDefinition::LocalFolder { path } => Ok(Box::new(LocalFolderSink::new(path))),
            SinkDefinition::AzureBlob { container, prefix, queue, connection } => {
                let Connection::AzureBlob(def) =
                    Connection::parse("azure-blob", connection).map_err(SourceError::Invalid)?
                else {
                    return Err(SourceError::Invalid("a sink's [connection] must be of kind azure-blob".into()));
                };
                let account = azure_account(&def)?;
                let notify = queue.as_ref().map(|q| QueueNotifier::new(account.clone(), q.clone()));
                Ok(Box::new(BlobSink::new(account, container.clone(), prefix.clone(), notify)))
            }
        }
    }
}
