//! Every failure as a [`StorageError`] that says what went wrong where:
//! the endpoint, the container and blob, the service's own error code, and
//! what to check. Credentials never appear: messages name endpoints (origin
//! and path), never full URLs, and any `sig=` that slips in is redacted.

use super::client::Service;
use crate::storage::{StorageError, StorageErrorKind};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// A failed attempt: the error, and whether another attempt may succeed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: StorageError,
    pub retryable: bool,
    /// The service's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

/// What a request was about, for messages.
pub(crate) struct Subject<'a> {
    pub service: Service,
    /// The decoded resource path: "", "container", "container/blob".
    pub path: &'a str,
    /// The service endpoint, shown as `scheme://host[:port][/path]`.
    pub endpoint: &'a url::Url,
}

impl Subject<'_> {
    pub(crate) fn endpoint(&self) -> String {
        shown_endpoint(self.endpoint)
    }

    /// "container 'c'", "blob 'a/b' in container 'c'", "queue 'q'"…
    pub(crate) fn thing(&self) -> String {
        let (top, rest) = match self.path.split_once('/') {
            Some((top, rest)) => (top, Some(rest)),
            None => (self.path, None),
        };
        match (self.service, top, rest) {
            (_, "", _) => "the account".to_string(),
            (Service::Queue, q, _) => format!("queue '{q}'"),
            (Service::Blob, c, None) => format!("container '{c}'"),
            (Service::Blob, c, Some(b)) => format!("blob '{b}' in container '{c}'"),
            (Service::Dfs, f, None) => format!("file system '{f}'"),
            (Service::Dfs, f, Some(p)) => format!("path '{p}' in file system '{f}'"),
        }
    }
}

/// An endpoint without query or credentials: `https://acct.blob.core.windows.net`,
/// `http://127.0.0.1:10000/devstoreaccount1`.
pub(crate) fn shown_endpoint(url: &url::Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path().trim_end_matches('/'))
}

fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// A request that got no HTTP response: DNS, refused connection, TLS, timeout, reset.
pub(crate) fn transport(e: &reqwest::Error, path: &str, url: &url::Url, timeout: Duration) -> Failure {
    let host = url.host_str().unwrap_or("?").to_string();
    let hp = host_port(url);
    let mut chain: Vec<String> = Vec::new();
    let mut io_kind = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = s.source();
    }
    let all = chain.join(": ").to_lowercase();
    let innermost = chain.last().cloned().unwrap_or_else(|| text_without_url(e));
    let (retryable, message) = if e.is_timeout() {
        (true, format!("no response from {hp} within {} s (timeout)", timeout.as_secs_f32()))
    } else if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
        (true, format!("connection refused by {hp}: is the endpoint right, and the service running?"))
    } else if all.contains("dns error") || all.contains("failed to lookup address") {
        // A name that does not exist will not exist in a second either; a
        // resolver that is briefly unavailable may answer next time.
        let temporary = all.contains("temporary failure");
        (temporary, format!("cannot resolve host {host}: {innermost} (check the account name or endpoint)"))
    } else if url.scheme() == "https"
        && e.is_connect()
        && (io_kind == Some(std::io::ErrorKind::InvalidData)
            || ["certificate", "tls", "handshake", "alert", "corrupt message"].iter().any(|w| all.contains(w)))
    {
        (false, format!("TLS handshake with {host} failed: {innermost}"))
    } else if e.is_connect() {
        (true, format!("cannot connect to {hp}: {innermost}"))
    } else {
        (true, format!("the connection to {hp} failed: {innermost}"))
    };
    Failure {
        error: StorageError::new(StorageErrorKind::Unreachable, path, redact(&message)),
        retryable,
        retry_after: None,
    }
}

/// A response body that broke off (reset, timeout while reading).
pub(crate) fn body_io(e: &std::io::Error, path: &str, url: &url::Url, timeout: Duration) -> Failure {
    let hp = host_port(url);
    let message = if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timed out") {
        format!("the response from {hp} did not complete within {} s (timeout)", timeout.as_secs_f32())
    } else {
        format!("the connection to {hp} broke while reading the response: {e}")
    };
    Failure {
        error: StorageError::new(StorageErrorKind::Unreachable, path, redact(&message)),
        retryable: true,
        retry_after: None,
    }
}

/// A reqwest error's own text, with its URL cut down to the endpoint.
fn text_without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(url.as_str(), &shown_endpoint(url)),
        None => text,
    }
}

/// The code and the message of a service error: `x-ms-error-code`, then the
/// body — XML (`<Error><Code>…</Code><Message>…</Message></Error>`, Blob and
/// Queue) or JSON (`{"error":{"code":…,"message":…}}`, Data Lake).
pub(crate) fn service_error(headers: &HeaderMap, body: &[u8]) -> (Option<String>, Option<String>) {
    let header_code = headers.get("x-ms-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (body_code, message) = if body.first_non_space() == Some(b'{') {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let error = &json["error"];
        (error["code"].as_str().map(str::to_string), error["message"].as_str().map(str::to_string))
    } else {
        match super::xml::parse::<super::xml::ServiceError>(body) {
            Ok(e) => (e.code, e.message),
            Err(_) => (None, None),
        }
    };
    // The service appends RequestId and Time lines: noise in a message.
    let message = message.and_then(|m| m.lines().next().map(|l| l.trim().to_string())).filter(|m| !m.is_empty());
    (header_code.or(body_code), message)
}

trait FirstNonSpace {
    fn first_non_space(&self) -> Option<u8>;
}

impl FirstNonSpace for [u8] {
    fn first_non_space(&self) -> Option<u8> {
        self.iter().copied().find(|b| !b.is_ascii_whitespace())
    }
}

/// The error for an HTTP response that is not a success.
pub(crate) fn from_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    subject: &Subject<'_>,
    auth_hint: &str,
    attempts: u32,
) -> StorageError {
    let (code, service_message) = service_error(headers, body);
    let code_str = code.as_deref().unwrap_or("");
    let tag = match &code {
        Some(c) => format!("{c}, HTTP {}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    let said = service_message.as_deref().map(|m| format!(" The service said: {m}")).unwrap_or_default();
    let endpoint = subject.endpoint();
    let thing = subject.thing();
    // Azure says `AuthenticationFailed` for a bad signature; Azurite says
    // `AuthorizationFailure` with the same "failed to authenticate" text.
    let authn =
        matches!(code_str, "AuthenticationFailed" | "InvalidAuthenticationInfo" | "NoAuthenticationInformation")
            || service_message.as_deref().is_some_and(|m| m.contains("failed to authenticate"));
    let (kind, message) = if status == StatusCode::UNAUTHORIZED || authn {
        (StorageErrorKind::Auth, format!("authentication failed at {endpoint} ({tag}): {auth_hint}.{said}"))
    } else if status == StatusCode::FORBIDDEN {
        (
            StorageErrorKind::PermissionDenied,
            format!(
                "permission denied for {thing} at {endpoint} ({tag}): the credential is valid but may not do this \
                 (for Entra ID, a data role such as Storage Blob Data Reader; for a SAS, its permissions, \
                 services and resource types).{said}"
            ),
        )
    } else if status == StatusCode::NOT_FOUND {
        let what = match code_str {
            "ContainerNotFound" | "FilesystemNotFound" | "QueueNotFound" | "BlobNotFound" | "PathNotFound" => {
                format!("{thing} does not exist at {endpoint} ({tag})")
            }
            "ResourceNotFound" if auth_hint.contains("anonymous") => {
                format!("{thing} not found at {endpoint} ({tag}): it does not exist, or it is not public")
            }
            _ => format!("{thing} not found at {endpoint} ({tag})"),
        };
        (StorageErrorKind::NotFound, format!("{what}.{said}"))
    } else {
        let retried = if attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
        let what = if status.is_server_error() { "server error" } else { "request refused" };
        (StorageErrorKind::Other, format!("{what} for {thing} at {endpoint} ({tag}){retried}.{said}"))
    };
    StorageError::new(kind, subject.path, redact(message.trim_end_matches('.')))
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = super::client::parse_http_date(value)?;
    let now = jiff::Timestamp::now();
    Some(Duration::from_millis(u64::try_from(at.as_millisecond() - now.as_millisecond()).unwrap_or(0)))
}

/// Replaces the value of every `sig=` (a SAS signature) with `REDACTED`.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.to_ascii_lowercase().find("sig=") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        out.push_str("REDACTED");
        let end = tail.find(|c: char| c == '&' || c == '"' || c == '\'' || c == ')' || c.is_whitespace());
        rest = &tail[end.unwrap_or(tail.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn subject<'a>(path: &'a str, endpoint: &'a url::Url) -> Subject<'a> {
        Subject { service: Service::Blob, path, endpoint }
    }

    #[test]
    fn signatures_are_redacted() {
        assert_eq!(
            redact("GET https://a.blob.core.windows.net/c?sv=2022&sig=abc%2Bdef&se=x failed"),
            "GET https://a.blob.core.windows.net/c?sv=2022&sig=REDACTED&se=x failed"
        );
        assert_eq!(redact("(url: ...?SIG=zzz)"), "(url: ...?SIG=REDACTED)");
        assert_eq!(redact("nothing here"), "nothing here");
    }

    #[test]
    fn xml_and_json_error_bodies_give_code_and_first_line() {
        let xml = b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ContainerNotFound</Code>\
            <Message>The specified container does not exist.\nRequestId:1\nTime:2024</Message></Error>";
        let (code, message) = service_error(&HeaderMap::new(), xml);
        assert_eq!(code.as_deref(), Some("ContainerNotFound"));
        assert_eq!(message.as_deref(), Some("The specified container does not exist."));
        let json = br#"{"error":{"code":"FilesystemNotFound","message":"The specified filesystem does not exist.\nRequestId:2"}}"#;
        assert_eq!(service_error(&HeaderMap::new(), json).0.as_deref(), Some("FilesystemNotFound"));
        let mut h = HeaderMap::new();
        h.insert("x-ms-error-code", HeaderValue::from_static("BlobNotFound"));
        assert_eq!(service_error(&h, b"").0.as_deref(), Some("BlobNotFound"));
    }

    #[test]
    fn statuses_map_to_kinds_with_the_service_code() {
        let endpoint = url::Url::parse("https://acct.blob.core.windows.net/").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ms-error-code", HeaderValue::from_static("AuthenticationFailed"));
        let e = from_status(StatusCode::FORBIDDEN, &h, b"", &subject("c", &endpoint), "wrong key", 1);
        assert_eq!(e.kind, StorageErrorKind::Auth);
        assert!(e.message.contains("AuthenticationFailed") && e.message.contains("https://acct.blob.core.windows.net"));
        h.insert("x-ms-error-code", HeaderValue::from_static("AuthorizationPermissionMismatch"));
        let e = from_status(StatusCode::FORBIDDEN, &h, b"", &subject("c/x", &endpoint), "", 1);
        assert_eq!(e.kind, StorageErrorKind::PermissionDenied);
        assert!(e.message.contains("blob 'x' in container 'c'"), "{}", e.message);
        h.insert("x-ms-error-code", HeaderValue::from_static("ServerBusy"));
        let e = from_status(StatusCode::SERVICE_UNAVAILABLE, &h, b"", &subject("c", &endpoint), "", 5);
        assert_eq!(e.kind, StorageErrorKind::Other);
        assert!(e.message.contains("ServerBusy, HTTP 503") && e.message.contains("after 5 attempts"), "{}", e.message);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }
}
