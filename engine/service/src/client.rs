//! A small blocking client of the service's API, for the command line.

use super::ServiceError;
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
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let resp = req.send().map_err(|e| {
            ServiceError::Invalid(format!(
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
            _ => ServiceError::Invalid(format!("{status}: {message}")),
        })
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
