//! OAuth 2.0 client-credentials tokens (Entra ID service principals), fetched
//! by the host and cached until shortly before they expire. Used by the SQL
//! Server backend (Azure SQL Database tokens) and the HTTP backend (Power BI
//! and other APIs). The secret and the tokens are never logged.

use crate::host::bindings::types::{ConnectorError, ErrorKind};
use crate::sources::Secret;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entra ID's public-cloud authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// `application/x-www-form-urlencoded` values: everything but the unreserved characters escaped.
const FORM: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A token is renewed this long before it expires.
const EARLY_RENEWAL: Duration = Duration::from_secs(120);

/// One service principal asking for one scope.
pub struct ClientCredentials {
    token_url: String,
    client_id: String,
    secret: Secret,
    scope: String,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// `authority` is the token service's base (`https://login.microsoftonline.com`
    /// unless set); the token endpoint is `<authority>/<tenant>/oauth2/v2.0/token`.
    pub fn new(authority: Option<&str>, tenant_id: &str, client_id: &str, secret: Secret, scope: &str) -> Self {
        let authority = authority.unwrap_or(DEFAULT_AUTHORITY).trim_end_matches('/');
        ClientCredentials {
            token_url: format!("{authority}/{tenant_id}/oauth2/v2.0/token"),
            client_id: client_id.to_string(),
            secret,
            scope: scope.to_string(),
            cached: Mutex::new(None),
        }
    }

    /// The token endpoint (for messages; it holds no secret).
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// A valid token: the cached one, or a new one from the authority.
    pub fn token(&self, http: &reqwest::blocking::Client, timeout: Duration) -> Result<Secret, ConnectorError> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch(http, timeout)?;
        let until = Instant::now() + lifetime.saturating_sub(EARLY_RENEWAL).max(Duration::from_secs(1));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// Forgets the cached token (after the service rejected it).
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn fetch(&self, http: &reqwest::blocking::Client, timeout: Duration) -> Result<(Secret, Duration), ConnectorError> {
        let err = |kind: ErrorKind, message: String| ConnectorError { kind, message, item: None };
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, FORM)))
            .collect::<Vec<_>>()
            .join("&");
        let response = http
            .post(&self.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .timeout(timeout)
            .send()
            .map_err(|e| {
                err(
                    ErrorKind::Unreachable,
                    format!("cannot reach the token endpoint {}: {}", self.token_url, crate::backends::error_chain(&e)),
                )
            })?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            // Entra ID's error body: {"error": "invalid_client", "error_description": "AADSTS7000215: ..."}
            let code = json["error"].as_str().unwrap_or("");
            let description = json["error_description"].as_str().unwrap_or("").lines().next().unwrap_or("");
            let kind =
                if status.as_u16() == 400 || status.as_u16() == 401 { ErrorKind::Auth } else { ErrorKind::Unreachable };
            return Err(err(
                kind,
                format!(
                    "the token endpoint {} refused client {} (HTTP {}): {code} {description}",
                    self.token_url,
                    self.client_id,
                    status.as_u16()
                )
                .trim_end()
                .to_string(),
            ));
        }
        let token = json["access_token"].as_str().ok_or_else(|| {
            err(ErrorKind::Auth, format!("the token endpoint {} answered without an access_token", self.token_url))
        })?;
        let seconds = match &json["expires_in"] {
            serde_json::Value::Number(n) => n.as_u64().unwrap_or(3600),
            serde_json::Value::String(s) => s.parse().unwrap_or(3600),
            _ => 3600,
        };
        Ok((Secret::new(token), Duration::from_secs(seconds)))
    }
}
