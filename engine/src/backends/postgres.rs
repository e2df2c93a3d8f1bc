//! Not built yet.

use crate::host::sql::SqlBackend;
use crate::sources::SourceError;
use crate::sources::connection::SqlConnectionDef;
use std::sync::Arc;

/// The backend for a source's connection, and the source's root URI.
pub fn backend(_c: &SqlConnectionDef) -> Result<(Arc<dyn SqlBackend>, String), SourceError> {
    Err(SourceError::Invalid("this build cannot connect to this kind of database yet".into()))
}
