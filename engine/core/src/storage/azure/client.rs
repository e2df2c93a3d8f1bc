//! [`AzureAccount`]: one storage account's endpoints, credential and HTTP
//! client, and the one place requests are sent — signed, counted, retried.
//!
//! Retries: exponential backoff with jitter (`backon`) on 5xx, 408, 429,
//! timeouts and connection failures, never on other 4xx; a `Retry-After`
//! from the service lengthens the wait (up to a minute). Each attempt is a
//! fresh request: a new `x-ms-date`, a new signature, a valid token.

use super::credential::Auth;
use super::error::{self, Failure, Subject};
use super::{AzureConnection, ContainerInfo, signing, xml};
use crate::storage::{StorageError, StorageErrorKind};
use backon::BackoffBuilder as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The REST API version sent with every request. Azurite 3.35 knows it
/// (tests start it with `--skipApiVersionCheck` all the same).
pub(crate) const API_VERSION: &str = "2024-11-04";
/// The most List Blobs / List Containers return in one page.
pub(crate) const MAX_PAGE: u32 = 5000;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Everything but RFC 3986's unreserved characters is percent-encoded, in
/// paths (per segment) and in query values, so that what is signed is what
/// the service decodes — no `+` for a space.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Blob,
    Dfs,
    Queue,
}

/// One request, before signing: the resource path is decoded (`container/a b.txt`).
pub(crate) struct Request<'a> {
    pub method: Method,
    pub service: Service,
    pub path: &'a str,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
    /// Also counted here (a storage's own count), besides the account's.
    pub counter: Option<&'a AtomicU64>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, service: Service, path: &'a str) -> Self {
        Request { method, service, path, query: Vec::new(), headers: Vec::new(), body: &[], counter: None }
    }
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub(crate) fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }
    pub(crate) fn counted(mut self, counter: Option<&'a AtomicU64>) -> Self {
        self.counter = counter;
        self
    }
}

/// A response's status and headers; the body went into the caller's buffer.
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    }
    pub(crate) fn error_code(&self) -> Option<&str> {
        self.header("x-ms-error-code")
    }
}

/// One storage account: its endpoints, credential and HTTP client. Shared
/// (`Arc`) by every storage, sink and notifier built on it, so that they
/// share connections and the token cache.
pub struct AzureAccount {
    http: reqwest::blocking::Client,
    account: String,
    blob: url::Url,
    dfs: url::Url,
    queue: url::Url,
    pub(crate) auth: Auth,
    timeout: Duration,
    max_retries: u32,
    requests: AtomicU64,
    hns: OnceLock<Option<bool>>,
}

impl std::fmt::Debug for AzureAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureAccount").field("account", &self.account).field("blob", &self.blob.as_str()).finish()
    }
}

impl AzureAccount {
    /// The token source of an Entra ID credential (for `surveyor doctor`), if the account uses one.
    pub fn token_source(&self) -> Option<&super::credential::TokenSource> {
        match &self.auth {
            Auth::Token(source) => Some(source),
            _ => None,
        }
    }

    pub fn new(conn: AzureConnection) -> Result<Arc<Self>, StorageError> {
        // The runtime's proxy settings, as they are now (docs/proxy.md).
        Self::with_client(conn, crate::net::http_client_builder())
    }

    /// Builds with a given client builder (proxy settings, extra root
    /// certificates); the timeouts and user agent are set here.
    pub fn with_client(
        conn: AzureConnection,
        client: reqwest::blocking::ClientBuilder,
    ) -> Result<Arc<Self>, StorageError> {
        let invalid = |message: String| StorageError::new(StorageErrorKind::Refused, "", message);
        if conn.account.is_empty() || !conn.account.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "'{}' is not a storage account name (lowercase letters and digits only)",
                conn.account
            )));
        }
        let suffix = conn.endpoint_suffix.as_deref().unwrap_or("core.windows.net").trim_matches('.');
        let default = |service: &str| {
            url::Url::parse(&format!("https://{}.{service}.{suffix}", conn.account))
                .map_err(|e| invalid(format!("invalid endpoint suffix '{suffix}': {e}")))
        };
        let blob = match &conn.blob_endpoint {
            Some(url) => normalized(url)?,
            None => default("blob")?,
        };
        let derived = |explicit: &Option<url::Url>, service: &str| -> Result<url::Url, StorageError> {
            match (explicit, &conn.blob_endpoint) {
                (Some(url), _) => normalized(url),
                (None, Some(_)) => Ok(derive_endpoint(&blob, service)),
                (None, None) => default(service),
            }
        };
        let dfs = derived(&conn.dfs_endpoint, "dfs")?;
        let queue = derived(&conn.queue_endpoint, "queue")?;
        let http = client
            .timeout(conn.timeout)
            .connect_timeout(conn.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("surveyor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                StorageError::new(StorageErrorKind::Other, "", format!("cannot set up the HTTP client: {e}"))
            })?;
        Ok(Arc::new(AzureAccount {
            http,
            account: conn.account,
            blob,
            dfs,
            queue,
            auth: Auth::new(conn.credential)?,
            timeout: conn.timeout,
            max_retries: conn.max_retries,
            requests: AtomicU64::new(0),
            hns: OnceLock::new(),
        }))
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The Blob endpoint, e.g. `https://acct.blob.core.windows.net/` (the
    /// `url` crate always shows a root path as `/`), or a path-style
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    pub fn blob_url(&self) -> &url::Url {
        &self.blob
    }

    pub fn dfs_url(&self) -> &url::Url {
        &self.dfs
    }

    pub fn queue_url(&self) -> &url::Url {
        &self.queue
    }

    /// Requests sent through this account so far (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn endpoint(&self, service: Service) -> &url::Url {
        match service {
            Service::Blob => &self.blob,
            Service::Dfs => &self.dfs,
            Service::Queue => &self.queue,
        }
    }

    /// Every container of the account, all pages.
    pub fn list_containers(&self) -> Result<Vec<ContainerInfo>, StorageError> {
        let hns = self.hierarchical_namespace();
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = self.list_containers_page(marker.as_deref(), MAX_PAGE, None)?;
            all.extend(page.into_iter().map(|c| ContainerInfo { has_hierarchical_namespace: hns, ..c }));
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(all),
            }
        }
    }

    pub(crate) fn list_containers_page(
        &self,
        marker: Option<&str>,
        max: u32,
        counter: Option<&AtomicU64>,
    ) -> Result<(Vec<ContainerInfo>, Option<String>), StorageError> {
        let mut req = Request::new(Method::GET, Service::Blob, "").query("comp", "list").counted(counter);
        req = req.query("maxresults", max.to_string());
        if let Some(m) = marker {
            req = req.query("marker", m);
        }
        let mut body = Vec::new();
        self.call(&req, &[], &mut body)?;
        let list: xml::ContainerList = xml::parse(&body).map_err(|m| self.bad_response(&req, m))?;
        let containers = list
            .containers
            .items
            .into_iter()
            .map(|c| ContainerInfo {
                last_modified: xml::nonempty(&c.properties.last_modified).and_then(parse_http_date_ms),
                etag: xml::nonempty(&c.properties.etag).map(str::to_string),
                public_access: xml::nonempty(&c.properties.public_access).map(str::to_string),
                has_hierarchical_namespace: None,
                name: c.name,
            })
            .collect();
        Ok((containers, xml::nonempty(&list.next_marker).map(str::to_string)))
    }

    /// Whether the account has a hierarchical namespace (Get Account
    /// Information), asked once; `None` when the credential may not ask.
    pub fn hierarchical_namespace(&self) -> Option<bool> {
        *self.hns.get_or_init(|| {
            let req =
                Request::new(Method::HEAD, Service::Blob, "").query("restype", "account").query("comp", "properties");
            let head = self.call(&req, &[], &mut Vec::new()).ok()?;
            head.header("x-ms-is-hns-enabled").map(|v| v.eq_ignore_ascii_case("true"))
        })
    }

    /// A cheap authenticated call, for test-connection: one container listed.
    /// A credential scoped to one container (a service SAS, a role on one
    /// container) may not list the account; check with
    /// [`check_container`](Self::check_container) then.
    pub fn check(&self) -> Result<(), StorageError> {
        self.list_containers_page(None, 1, None).map(|_| ())
    }

    /// Get Container Properties: the container exists and the credential may read it.
    pub fn check_container(&self, container: &str) -> Result<(), StorageError> {
        let req = Request::new(Method::GET, Service::Blob, container).query("restype", "container");
        self.call(&req, &[], &mut Vec::new()).map(|_| ())
    }

    pub(crate) fn bad_response(&self, req: &Request<'_>, message: String) -> StorageError {
        let subject = Subject { service: req.service, path: req.path, endpoint: self.endpoint(req.service) };
        StorageError::new(
            StorageErrorKind::Other,
            req.path,
            format!("{} at {}: {message}", subject.thing(), subject.endpoint()),
        )
    }

    /// Sends a request, retrying what may succeed next time. A success, or a
    /// status in `accept`, is returned (the body in `body`); anything else
    /// becomes a [`StorageError`] with the service's code.
    pub(crate) fn call(&self, req: &Request<'_>, accept: &[u16], body: &mut Vec<u8>) -> Result<Head, StorageError> {
        let subject = Subject { service: req.service, path: req.path, endpoint: self.endpoint(req.service) };
        let mut backoff = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(8))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_retries as usize)
            .build();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self.attempt(req, body) {
                Ok(head) if head.status.is_success() || accept.contains(&head.status.as_u16()) => return Ok(head),
                Ok(head) => Failure {
                    error: error::from_status(
                        head.status,
                        &head.headers,
                        body,
                        &subject,
                        self.auth.auth_hint(),
                        attempts,
                    ),
                    retryable: head.status.is_server_error() || matches!(head.status.as_u16(), 408 | 429),
                    retry_after: error::retry_after(&head.headers),
                },
                Err(failure) => failure,
            };
            match backoff.next().filter(|_| failure.retryable) {
                Some(delay) => {
                    let delay = failure.retry_after.map_or(delay, |asked| asked.min(MAX_RETRY_AFTER).max(delay));
                    tracing::debug!(attempt = attempts, ?delay, "retrying Azure Storage request: {}", failure.error);
                    std::thread::sleep(delay);
                }
                None => {
                    let mut error = failure.error;
                    if attempts > 1 && error.kind == StorageErrorKind::Unreachable {
                        error.message.push_str(&format!(" ({attempts} attempts)"));
                    }
                    return Err(error);
                }
            }
        }
    }

    fn attempt(&self, req: &Request<'_>, body: &mut Vec<u8>) -> Result<Head, Failure> {
        let url = self.request_url(req);
        let mut headers = HeaderMap::new();
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        headers.insert("x-ms-date", HeaderValue::from_str(&http_date_now()).expect("a date is a valid header"));
        for (name, value) in &req.headers {
            let value = HeaderValue::from_str(value).map_err(|_| Failure {
                error: StorageError::new(StorageErrorKind::Refused, req.path, format!("invalid {name} header value")),
                retryable: false,
                retry_after: None,
            })?;
            headers.insert(*name, value);
        }
        let authorization = match &self.auth {
            Auth::SharedKey(key) => {
                Some(signing::authorization(&self.account, key, &req.method, &url, &headers, req.body.len()))
            }
            Auth::Token(source) => {
                let token = source.token(&self.http, self.timeout).map_err(|mut f| {
                    f.error.path = req.path.to_string();
                    f
                })?;
                Some(format!("Bearer {}", token.expose()))
            }
            Auth::Sas(_) | Auth::Anonymous => None,
        };
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value).map_err(|_| Failure {
                error: StorageError::new(
                    StorageErrorKind::Auth,
                    req.path,
                    "the credential is not a valid header value",
                ),
                retryable: false,
                retry_after: None,
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(counter) = req.counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let mut builder = self.http.request(req.method.clone(), url.clone()).headers(headers);
        if matches!(req.method, Method::PUT | Method::POST | Method::PATCH) {
            builder = builder.body(req.body.to_vec());
        }
        let mut response = builder.send().map_err(|e| error::transport(&e, req.path, &url, self.timeout))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        body.clear();
        if req.method != Method::HEAD {
            response.read_to_end(body).map_err(|e| error::body_io(&e, req.path, &url, self.timeout))?;
        }
        Ok(Head { status, headers })
    }

    /// The request URL: the endpoint, the encoded resource path, the query
    /// (values percent-encoded), then the SAS token when that is the credential.
    pub(crate) fn request_url(&self, req: &Request<'_>) -> url::Url {
        let base = self.endpoint(req.service);
        let mut url = base.clone();
        let mut path = base.path().trim_end_matches('/').to_string();
        if !req.path.is_empty() {
            path.push('/');
            path.push_str(&encode_path(req.path));
        }
        if path.is_empty() {
            path.push('/');
        }
        url.set_path(&path);
        let mut query: Vec<String> =
            req.query.iter().map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, STRICT))).collect();
        if let Auth::Sas(sas) = &self.auth {
            query.push(sas.expose().to_string());
        }
        let query = query.join("&");
        url.set_query(if query.is_empty() { None } else { Some(&query) });
        url
    }
}

/// An endpoint as given, checked: http(s), no query (a SAS belongs in the
/// credential), no trailing `/`.
fn normalized(url: &url::Url) -> Result<url::Url, StorageError> {
    let shown = error::shown_endpoint(url);
    let refuse = |why: &str| Err(StorageError::new(StorageErrorKind::Refused, "", format!("endpoint {shown}: {why}")));
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return refuse("must be an http(s) URL with a host");
    }
    if url.query().is_some() {
        return refuse("must not have a query; give a SAS token as the credential");
    }
    let mut url = url.clone();
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    url.set_fragment(None);
    Ok(url)
}

/// The dfs or queue endpoint next to a blob endpoint override: `.blob.` →
/// `.dfs.` in the host (private endpoints, sovereign clouds). Where the host
/// does not say (an IP address, Azurite), the blob endpoint itself; give
/// the dfs or queue endpoint explicitly then.
fn derive_endpoint(blob: &url::Url, service: &str) -> url::Url {
    let mut url = blob.clone();
    if let Some(host) = blob.host_str().filter(|h| h.contains(".blob.")) {
        let host = host.replacen(".blob.", &format!(".{service}."), 1);
        if url.set_host(Some(&host)).is_err() {
            return blob.clone();
        }
    }
    url
}

/// Percent-encodes each segment of a resource path, keeping the `/`s.
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/').map(|segment| utf8_percent_encode(segment, STRICT).to_string()).collect::<Vec<_>>().join("/")
}

/// Now, as an RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn http_date_now() -> String {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&jiff::Timestamp::now())
        .expect("the current time prints as an HTTP date")
}

pub(crate) fn parse_http_date(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(text.trim()).ok()
}

/// An HTTP date as milliseconds since the Unix epoch.
pub(crate) fn parse_http_date_ms(text: &str) -> Option<i64> {
    parse_http_date(text).map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::azure::{AzureCredential, Secret};

    fn account(blob: Option<&str>, credential: AzureCredential) -> Arc<AzureAccount> {
        let mut conn = AzureConnection::new("acct", credential);
        conn.blob_endpoint = blob.map(|b| url::Url::parse(b).unwrap());
        AzureAccount::new(conn).unwrap()
    }

    #[test]
    fn endpoints_default_derive_or_follow_the_override() {
        let a = account(None, AzureCredential::Anonymous);
        assert_eq!(a.blob_url().as_str(), "https://acct.blob.core.windows.net/");
        assert_eq!(a.dfs_url().as_str(), "https://acct.dfs.core.windows.net/");
        let a = account(Some("https://acct.privatelink.blob.core.chinacloudapi.cn/"), AzureCredential::Anonymous);
        assert_eq!(a.dfs_url().as_str(), "https://acct.privatelink.dfs.core.chinacloudapi.cn/");
        assert_eq!(a.queue_url().as_str(), "https://acct.privatelink.queue.core.chinacloudapi.cn/");
        let a = account(Some("http://127.0.0.1:10000/devstoreaccount1/"), AzureCredential::Anonymous);
        assert_eq!(a.blob_url().as_str(), "http://127.0.0.1:10000/devstoreaccount1");
        let mut conn = AzureConnection::new("acct", AzureCredential::Anonymous);
        conn.endpoint_suffix = Some("core.usgovcloudapi.net".into());
        assert_eq!(AzureAccount::new(conn).unwrap().blob_url().as_str(), "https://acct.blob.core.usgovcloudapi.net/");
        let mut conn = AzureConnection::new("acct", AzureCredential::Anonymous);
        conn.blob_endpoint = Some(url::Url::parse("https://acct.blob.core.windows.net/?sv=1&sig=secret").unwrap());
        let err = AzureAccount::new(conn).unwrap_err();
        assert!(err.message.contains("SAS") && !err.message.contains("secret"), "{}", err.message);
        assert!(AzureAccount::new(AzureConnection::new("bad.name", AzureCredential::Anonymous)).is_err());
    }

    #[test]
    fn request_urls_encode_paths_and_queries_then_append_the_sas() {
        let a = account(Some("http://127.0.0.1:10000/devstoreaccount1"), AzureCredential::Anonymous);
        let req = Request::new(Method::GET, Service::Blob, "c/dir/a b+é.txt");
        assert_eq!(a.request_url(&req).as_str(), "http://127.0.0.1:10000/devstoreaccount1/c/dir/a%20b%2B%C3%A9.txt");
        let req = Request::new(Method::GET, Service::Blob, "").query("comp", "list");
        assert_eq!(a.request_url(&req).as_str(), "http://127.0.0.1:10000/devstoreaccount1?comp=list");
        let a = account(None, AzureCredential::Sas(Secret::new("?sv=2022-11-02&sig=a%2Bb")));
        let req = Request::new(Method::GET, Service::Blob, "c").query("restype", "container").query("prefix", "x y/");
        assert_eq!(
            a.request_url(&req).as_str(),
            "https://acct.blob.core.windows.net/c?restype=container&prefix=x%20y%2F&sv=2022-11-02&sig=a%2Bb"
        );
        let req = Request::new(Method::GET, Service::Blob, "");
        assert_eq!(a.request_url(&req).as_str(), "https://acct.blob.core.windows.net/?sv=2022-11-02&sig=a%2Bb");
    }

    #[test]
    fn http_dates_print_and_parse() {
        let now = http_date_now();
        assert!(now.ends_with(" GMT") && now.len() == 29, "{now}");
        assert_eq!(parse_http_date_ms("Thu, 01 Jan 1970 00:00:01 GMT"), Some(1000));
    }
}
