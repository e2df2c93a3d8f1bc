//! Network settings shared by every outbound HTTP connection of the runtime.

pub mod proxy;

/// A blocking HTTP client builder with the runtime's proxy settings applied
/// (see [`proxy`]). SQL (TDS) connections do not go through a proxy.
pub fn http_client_builder() -> reqwest::blocking::ClientBuilder {
    proxy::apply(reqwest::blocking::Client::builder(), &proxy::current())
}
