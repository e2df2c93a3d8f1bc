//! Backends of the `sql` and `http` capabilities: the host's clients for
//! database servers and HTTP APIs, built from a source's connection. They
//! hold the connections and credentials; connectors only see results.

pub mod http;
pub mod oauth;
pub mod pg_tls;
pub mod postgres;
pub mod sql_server;

/// An error and its sources, on one line ("error sending request: connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s = s.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = s_source(&source);
    }
    text
}

fn s_source<'a>(e: &Option<&'a (dyn std::error::Error + 'static)>) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(|e| e.source())
}
