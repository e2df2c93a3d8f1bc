//! A small blocking client of the service's API, for the command line and
//! the node agent (which retries what it must not lose: [`Client::retrying`]).

use super::ServiceError;
use backon::{BlockingRetryable, ExponentialBuilder};
use std::path::Path;
use std::time::Duration;

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ServiceError> {
        // A node reaches its service through the runtime's proxy settings, like every other call.
        let http = surveyor_engine::net::http_client_builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ServiceError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Client { base: base.trim_end_matches('/').to_string(), token, http })
    }

    /// Calls the API; returns the JSON body of a 2xx answer (`null` when
    /// empty), and the API's error message otherwise.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ServiceError> {
        let body = body.map(|b| ("application/json", reqwest::blocking::Body::from(b.to_string())));
        self.send(method, path, body)
    }

    /// Uploads a file as the body of a `PUT` (streamed, not read into memory).
    pub fn put_file(&self, path: &str, file: &Path) -> Result<serde_json::Value, ServiceError> {
        let f =
            std::fs::File::open(file).map_err(|e| ServiceError::Io { path: file.display().to_string(), source: e })?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let body = reqwest::blocking::Body::sized(f, len);
        self.send(reqwest::Method::PUT, path, Some(("application/octet-stream", body)))
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, reqwest::blocking::Body)>,
    ) -> Result<serde_json::Value, ServiceError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        }
        let resp = req.send().map_err(|e| {
            ServiceError::Unavailable(format!(
                "cannot reach the service at {}: {e} (is `surveyor serve` running?)",
                self.base
            ))
        })?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        let json: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()))
        };
        if status.is_success() {
            return Ok(json);
        }
        let message = json["error"]["message"].as_str().map(str::to_string).unwrap_or(text);
        Err(match status.as_u16() {
            401 => ServiceError::Unauthorized(format!("{status}: {message}")),
            404 => ServiceError::NotFound(format!("{status}: {message}")),
            409 => ServiceError::Conflict(format!("{status}: {message}")),
            500.. => ServiceError::Unavailable(format!("{status}: {message}")),
            _ => ServiceError::Invalid(format!("{status}: {message}")),
        })
    }

    /// Calls `f` until it succeeds, fails for good (anything but the
    /// service being unreachable or answering 5xx), or `patience` has
    /// passed: a node keeps what it found through a service restart.
    pub fn retrying<T>(
        &self,
        patience: Duration,
        mut f: impl FnMut(&Client) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let started = std::time::Instant::now();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times();
        (|| f(self))
            .retry(backoff)
            .when(|e| matches!(e, ServiceError::Unavailable(_)) && started.elapsed() < patience)
            .notify(|e, wait| tracing::warn!(error = %e, retry_in = ?wait, "the service did not answer; trying again"))
            .call()
    }

    pub fn get(&self, path: &str) -> Result<serde_json::Value, ServiceError> {
        self.call(reqwest::Method::GET, path, None)
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ServiceError> {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<serde_json::Value, ServiceError> {
        self.call(reqwest::Method::DELETE, path, None)
    }
}

/// A path segment, percent-encoded.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
