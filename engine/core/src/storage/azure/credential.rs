//! Credentials, and the cache of Entra ID tokens.
//!
//! A token is fetched on first use and kept until shortly before it
//! expires, so that a scan of a million blobs asks Entra ID (or the instance
//! metadata service) once an hour, not once a request. The lock is held
//! while fetching: threads that need a token at the same time wait for the
//! one request instead of each sending their own.

use super::Secret;
use super::error::{self, Failure};
use crate::storage::{StorageError, StorageErrorKind};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How requests to the account are authorized.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    /// Shared Key signing with the account key (base64, as the portal shows it).
    AccountKey(Secret),
    /// A SAS token, appended to every URL (with or without its leading `?`).
    Sas(Secret),
    /// Entra ID client credentials (a service principal). The token comes from
    /// `{authority or https://login.microsoftonline.com}/{tenant}/oauth2/v2.0/token`.
    ClientSecret { tenant_id: String, client_id: String, secret: Secret, authority: Option<String> },
    /// The managed identity of the Azure VM this runs on (IMDS); `client_id`
    /// picks a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
    /// No authorization: containers with public read access only.
    Anonymous,
}

pub(crate) const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Tokens are renewed this long before they expire (or at half their
/// lifetime, when that is shorter), so that none expires mid-request.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// The credential, ready to use: a decoded key, a SAS query, or a token source.
pub(crate) enum Auth {
    SharedKey(Vec<u8>),
    /// The SAS query string, without its leading `?`.
    Sas(Secret),
    Token(TokenSource),
    Anonymous,
}

impl Auth {
    pub(crate) fn new(credential: AzureCredential) -> Result<Auth, StorageError> {
        use base64::Engine as _;
        Ok(match credential {
            AzureCredential::AccountKey(key) => {
                let bytes = base64::engine::general_purpose::STANDARD.decode(key.expose().trim()).map_err(|_| {
                    StorageError::new(
                        StorageErrorKind::Auth,
                        "",
                        "the account key is not valid base64 (copy key1 or key2 from the storage account's Access keys)",
                    )
                })?;
                Auth::SharedKey(bytes)
            }
            AzureCredential::Sas(token) => Auth::Sas(Secret::new(token.expose().trim().trim_start_matches('?'))),
            AzureCredential::ClientSecret { tenant_id, client_id, secret, authority } => {
                let authority = authority.as_deref().unwrap_or(DEFAULT_AUTHORITY).trim_end_matches('/');
                let url = url::Url::parse(&format!("{authority}/{tenant_id}/oauth2/v2.0/token")).map_err(|e| {
                    StorageError::new(
                        StorageErrorKind::Other,
                        "",
                        format!("invalid Entra ID authority {authority}: {e}"),
                    )
                })?;
                Auth::Token(TokenSource::new(TokenKind::ClientSecret { url, tenant_id, client_id, secret }))
            }
            AzureCredential::ManagedIdentity { client_id } => {
                let mut url = url::Url::parse(IMDS_TOKEN_URL).expect("a valid constant");
                url.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", "https://storage.azure.com/");
                if let Some(id) = &client_id {
                    url.query_pairs_mut().append_pair("client_id", id);
                }
                Auth::Token(TokenSource::new(TokenKind::ManagedIdentity { url }))
            }
            AzureCredential::Anonymous => Auth::Anonymous,
        })
    }

    /// What to suggest when the service says the credential is wrong.
    pub(crate) fn auth_hint(&self) -> &'static str {
        match self {
            Auth::SharedKey(_) | Auth::Sas(_) => "wrong account key or expired/invalid SAS",
            Auth::Token(_) => "the Entra ID token was refused (wrong tenant, or a token for another resource)",
            Auth::Anonymous => "the container does not allow anonymous access; give a credential",
        }
    }
}

pub(crate) enum TokenKind {
    ClientSecret { url: url::Url, tenant_id: String, client_id: String, secret: Secret },
    ManagedIdentity { url: url::Url },
}

struct Cached {
    token: Secret,
    renew_at: Instant,
}

pub struct TokenSource {
    kind: TokenKind,
    cached: Mutex<Option<Cached>>,
}

impl TokenSource {
    pub(crate) fn new(kind: TokenKind) -> Self {
        TokenSource { kind, cached: Mutex::new(None) }
    }

    /// The cached token, or a new one. A failure to reach the token endpoint
    /// is retryable like any other connection failure.
    /// Asks for a token once (for `surveyor doctor`); the error says why none was issued.
    pub fn try_issue(&self, http: &reqwest::blocking::Client, timeout: Duration) -> Result<(), StorageError> {
        self.token(http, timeout).map(|_| ()).map_err(|f| f.error)
    }

    pub(crate) fn token(&self, http: &reqwest::blocking::Client, timeout: Duration) -> Result<Secret, Failure> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch(http, timeout)?;
        let renew_in = lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
        *cached = Some(Cached { token: token.clone(), renew_at: Instant::now() + renew_in });
        Ok(token)
    }

    fn fetch(&self, http: &reqwest::blocking::Client, timeout: Duration) -> Result<(Secret, Duration), Failure> {
        let (url, who, request) = match &self.kind {
            TokenKind::ClientSecret { url, tenant_id, client_id, secret } => {
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", secret.expose())
                    .append_pair("scope", STORAGE_SCOPE)
                    .finish();
                let request = http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form);
                (url, format!("Entra ID ({}) for tenant {tenant_id}, client {client_id}", origin(url)), request)
            }
            TokenKind::ManagedIdentity { url } => (
                url,
                format!("the managed identity endpoint {}", origin(url)),
                http.get(url.clone()).header("Metadata", "true"),
            ),
        };
        let response = request.timeout(timeout).send().map_err(|e| {
            let mut failure = error::transport(&e, "", url, timeout);
            failure.error.message = format!("cannot get a token from {who}: {}", failure.error.message);
            failure.error.kind = StorageErrorKind::Auth;
            failure
        })?;
        let status = response.status();
        let body = response.text().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if !status.is_success() {
            let retryable = status.is_server_error() || status.as_u16() == 429;
            let code = json.get("error").and_then(|v| v.as_str()).unwrap_or("");
            // Entra ID appends trace and correlation ids on further lines.
            let why = json.get("error_description").and_then(|v| v.as_str()).unwrap_or("").lines().next().unwrap_or("");
            let mut message = format!("{who} refused the token request (HTTP {}", status.as_u16());
            if !code.is_empty() {
                message.push_str(&format!(", {code}"));
            }
            message.push(')');
            if !why.is_empty() {
                message.push_str(&format!(": {why}"));
            }
            return Err(Failure {
                error: StorageError::new(StorageErrorKind::Auth, "", message),
                retryable,
                retry_after: None,
            });
        }
        parse_token(&json).ok_or_else(|| Failure {
            error: StorageError::new(StorageErrorKind::Auth, "", format!("{who} answered without an access token")),
            retryable: false,
            retry_after: None,
        })
    }
}

/// `scheme://host[:port]` of a URL: enough to name an endpoint, nothing more.
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// The access token and its lifetime from a token response: Entra ID gives
/// `expires_in` as a number, IMDS as a string.
pub(crate) fn parse_token(json: &serde_json::Value) -> Option<(Secret, Duration)> {
    let token = json.get("access_token")?.as_str()?;
    let seconds = match json.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(300);
    Some((Secret::new(token), Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_come_as_numbers_or_strings() {
        let aad = serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "t1"});
        let (t, d) = parse_token(&aad).unwrap();
        assert_eq!((t.expose(), d), ("t1", Duration::from_secs(3599)));
        let imds =
            serde_json::json!({"access_token": "t2", "expires_in": "86399", "resource": "https://storage.azure.com/"});
        assert_eq!(parse_token(&imds).unwrap().1, Duration::from_secs(86399));
        assert!(parse_token(&serde_json::json!({"error": "invalid_client"})).is_none());
    }

    #[test]
    fn sas_tokens_lose_their_question_mark_and_keys_must_be_base64() {
        let Auth::Sas(s) = Auth::new(AzureCredential::Sas(Secret::new("?sv=2022-11-02&sig=x"))).unwrap() else {
            panic!("not a SAS")
        };
        assert_eq!(s.expose(), "sv=2022-11-02&sig=x");
        let err = Auth::new(AzureCredential::AccountKey(Secret::new("not base64!"))).err().unwrap();
        assert_eq!(err.kind, StorageErrorKind::Auth);
        assert!(!err.message.contains("not base64!"));
    }

    #[test]
    fn managed_identity_asks_imds_for_storage() {
        let Auth::Token(source) =
            Auth::new(AzureCredential::ManagedIdentity { client_id: Some("abc".into()) }).unwrap()
        else {
            panic!("not a token source")
        };
        let TokenKind::ManagedIdentity { url } = &source.kind else { panic!() };
        assert_eq!(
            url.as_str(),
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F&client_id=abc"
        );
    }
}
