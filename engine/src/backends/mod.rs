//! Backends of the `sql` and `http` capabilities: the host's clients for
//! database servers and HTTP APIs, built from a source's connection. They
//! hold the connections and credentials; connectors only see results.

pub mod http;
pub mod postgres;
pub mod sql_server;
