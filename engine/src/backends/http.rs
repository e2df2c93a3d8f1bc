//! Not built yet.

use crate::host::http::HttpBackend;
use crate::sources::SourceError;
use crate::sources::connection::HttpConnectionDef;
use std::sync::Arc;

/// The backend for a source's connection, and the source's root URI.
pub fn backend(_c: &HttpConnectionDef) -> Result<(Arc<dyn HttpBackend>, String), SourceError> {
    Err(SourceError::Invalid("this build cannot make HTTP requests for sources yet".into()))
}
