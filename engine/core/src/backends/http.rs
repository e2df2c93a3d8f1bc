//! The `http` capability's backend: outgoing HTTP(S) requests for API
//! sources (Power BI), with reqwest's blocking client.
//!
//! - Only hosts on the source's allow-list are reached (exact names, or
//!   `*.suffix` wildcards); anything else is refused before a connection is
//!   made. Redirects are not followed by the host: a 3xx goes back to the
//!   connector, whose next request is checked like any other.
//! - Authentication is added here: an OAuth 2.0 client-credentials token
//!   (cached until shortly before it expires, renewed once when the service
//!   answers 401). The connector never sees it; an `Authorization` header
//!   set by the connector is replaced.
//! - `429 Too Many Requests` waits for `Retry-After` (capped), 5xx and
//!   connection failures are retried with exponential backoff.
//! - Response bodies are capped (`max_response_bytes`, 64 MiB by default).
//! - The runtime's proxy settings apply ([`crate::net::proxy`]); a change
//!   applies to the next request.

use crate::backends::error_chain;
use crate::backends::oauth::ClientCredentials;
use crate::host::bindings::http::{HttpRequest, HttpResponse};
use crate::host::bindings::types::{ConnectorError, ErrorKind};
use crate::host::http::HttpBackend;
use crate::net::proxy::{self, ProxySettings};
use crate::sources::SourceError;
use crate::sources::connection::HttpConnectionDef;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a `Retry-After` is waited for before the request fails.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// One source's HTTP access.
pub struct HttpApiBackend {
    allowed: Vec<String>,
    oauth: Option<ClientCredentials>,
    max_response_bytes: u64,
    timeout: Duration,
    max_retries: u32,
    /// First backoff after a 5xx or a connection failure; doubles each time.
    backoff: Duration,
    client: Mutex<Option<(ProxySettings, reqwest::blocking::Client)>>,
}

/// The backend for a source's connection, and the source's root URI
/// (`root_uri`, else `https://<first allowed host>`).
pub fn backend(c: &HttpConnectionDef) -> Result<(Arc<dyn HttpBackend>, String), SourceError> {
    let b = HttpApiBackend::new(c)?;
    let root = c.root_uri.clone().unwrap_or_else(|| format!("https://{}", b.allowed[0].trim_start_matches("*.")));
    Ok((Arc::new(b), root.trim_end_matches('/').to_string()))
}

impl HttpApiBackend {
    pub fn new(c: &HttpConnectionDef) -> Result<Self, SourceError> {
        let invalid = SourceError::Invalid;
        let allowed: Vec<String> = c.allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
        if allowed.is_empty() {
            return Err(invalid("connection.allowed_hosts is empty: name the hosts this source may reach".into()));
        }
        for h in &allowed {
            let bare = h.strip_prefix("*.").unwrap_or(h);
            if bare.is_empty() || bare.contains(['*', '/', ':', ' ']) {
                return Err(invalid(format!(
                    "connection.allowed_hosts: '{h}' is not a host name or a '*.domain' wildcard (no scheme, port or path)"
                )));
            }
        }
        let oauth = match &c.oauth {
            Some(o) => Some(ClientCredentials::new(
                o.authority.as_deref(),
                &o.tenant_id,
                &o.client_id,
                o.client_secret.resolve("connection.oauth.client_secret").map_err(invalid)?,
                &o.scope,
            )),
            None => None,
        };
        Ok(HttpApiBackend {
            allowed,
            oauth,
            max_response_bytes: c.max_response_bytes.unwrap_or(64 * 1024 * 1024).max(1),
            timeout: Duration::from_secs(c.timeout_seconds.unwrap_or(60).max(1)),
            max_retries: c.max_retries.unwrap_or(4),
            backoff: Duration::from_millis(c.retry_backoff_ms.unwrap_or(500)),
            client: Mutex::new(None),
        })
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed.iter().any(|a| match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == *a,
        })
    }

    /// The client for the proxy settings in force now (rebuilt when they change).
    fn client(&self) -> Result<reqwest::blocking::Client, ConnectorError> {
        let settings = proxy::current();
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, c)) = slot.as_ref()
            && *s == settings
        {
            return Ok(c.clone());
        }
        let client = proxy::apply(reqwest::blocking::Client::builder(), &settings)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .build()
            .map_err(|e| err(ErrorKind::Internal, format!("cannot build the HTTP client: {}", error_chain(&e))))?;
        *slot = Some((settings, client.clone()));
        Ok(client)
    }

    fn send_once(
        &self,
        client: &reqwest::blocking::Client,
        request: &HttpRequest,
        url: &url::Url,
        token: Option<&str>,
    ) -> Result<HttpResponse, Failure> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = client.request(method, url.clone());
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") && token.is_some() {
                continue;
            }
            if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("proxy-authorization") {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().map_err(Failure::Net)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
            .collect();
        let mut body = Vec::new();
        response
            .take(self.max_response_bytes + 1)
            .read_to_end(&mut body)
            .map_err(|e| Failure::Body(error_chain(&e)))?;
        Ok(HttpResponse { status, headers, body })
    }
}

enum Failure {
    Net(reqwest::Error),
    Body(String),
}

fn err(kind: ErrorKind, message: String) -> ConnectorError {
    ConnectorError { kind, message, item: None }
}

fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?.1.trim().to_string();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT"
    let when = jiff::fmt::rfc2822::parse(&value).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    Some(Duration::from_millis((when.as_millisecond() - now.as_millisecond()).max(0) as u64))
}

impl HttpBackend for HttpApiBackend {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let url = url::Url::parse(&request.url)
            .map_err(|e| err(ErrorKind::Refused, format!("invalid URL '{}': {e}", request.url)))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(err(
                ErrorKind::Refused,
                format!("only http and https URLs may be requested, not '{}'", url.scheme()),
            ));
        }
        let host = url.host_str().unwrap_or("");
        if !self.allows(host) {
            return Err(err(
                ErrorKind::Refused,
                format!(
                    "host '{host}' is not on this source's allow-list ({}); add it to [connection] allowed_hosts if it should be reached",
                    self.allowed.join(", ")
                ),
            ));
        }
        let client = self.client()?;
        let mut renewed = false;
        let mut attempt = 0u32;
        loop {
            let token = match &self.oauth {
                Some(o) => Some(o.token(&client, self.timeout)?),
                None => None,
            };
            let result = self.send_once(&client, &request, &url, token.as_ref().map(|t| t.expose()));
            let wait = match result {
                Ok(response) => {
                    if response.body.len() as u64 > self.max_response_bytes {
                        return Err(err(
                            ErrorKind::Refused,
                            format!(
                                "the response from {host} exceeds the limit of {} bytes (max_response_bytes)",
                                self.max_response_bytes
                            ),
                        ));
                    }
                    match response.status {
                        401 if self.oauth.is_some() && !renewed => {
                            // An expired or revoked token: renew once.
                            renewed = true;
                            if let Some(o) = &self.oauth {
                                o.invalidate();
                            }
                            continue;
                        }
                        407 => {
                            let via = proxy::route(&proxy::current(), &url).unwrap_or_default();
                            return Err(err(
                                ErrorKind::Auth,
                                format!(
                                    "the proxy {via} refused the credentials (HTTP 407): check `surveyor proxy show`"
                                ),
                            ));
                        }
                        429 if attempt < self.max_retries => {
                            let wait = retry_after(&response.headers).unwrap_or(self.backoff * 2u32.pow(attempt));
                            if wait > MAX_RETRY_AFTER {
                                return Ok(response);
                            }
                            wait
                        }
                        500 | 502 | 503 | 504 if attempt < self.max_retries => retry_after(&response.headers)
                            .unwrap_or(self.backoff * 2u32.pow(attempt))
                            .min(MAX_RETRY_AFTER),
                        _ => return Ok(response),
                    }
                }
                Err(Failure::Body(message)) => {
                    return Err(err(
                        ErrorKind::Unreachable,
                        format!("reading the response from {host} failed: {message}"),
                    ));
                }
                Err(Failure::Net(e)) => {
                    let message = error_chain(&e);
                    let kind =
                        if e.is_timeout() || e.is_connect() { ErrorKind::Unreachable } else { ErrorKind::Internal };
                    let proxied = proxy::route(&proxy::current(), &url);
                    let lower = message.to_ascii_lowercase();
                    if let Some(p) = &proxied
                        && (lower.contains("tunnel") || lower.contains("proxy authentication"))
                    {
                        // The proxy answered CONNECT with something else than 200: wrong
                        // credentials (407, or 401 from some proxies), or a port it does not allow.
                        let kind =
                            if lower.contains("authentication") { ErrorKind::Auth } else { ErrorKind::Unreachable };
                        return Err(err(
                            kind,
                            format!(
                                "the proxy {p} refused to open a tunnel to {host} (check the proxy credentials with `surveyor proxy show`, and the ports the proxy allows): {message}"
                            ),
                        ));
                    }
                    if attempt >= self.max_retries || !(e.is_timeout() || e.is_connect()) {
                        let via = proxied.map(|p| format!(" (through proxy {p})")).unwrap_or_default();
                        return Err(err(kind, format!("request to {host} failed{via}: {message}")));
                    }
                    self.backoff * 2u32.pow(attempt)
                }
            };
            attempt += 1;
            tracing::debug!(host, attempt, wait_ms = wait.as_millis() as u64, "retrying request");
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        assert_eq!(retry_after(&h("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&h("Wed, 21 Oct 2015 07:28:00 GMT")), Some(Duration::ZERO));
        assert_eq!(retry_after(&[]), None);
    }
}
