//! The `http` capability: outgoing requests by a backend the host built from
//! the source's configuration, which decides which hosts may be reached and
//! adds authentication; the connector sees neither credentials nor sockets.

use super::bindings::http::{HttpRequest, HttpResponse};
use super::bindings::types::ConnectorError;

pub trait HttpBackend: Send + Sync {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError>;
}
