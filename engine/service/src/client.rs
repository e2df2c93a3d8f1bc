//! A small blocking client of the service's API, for the command line and
//! the node agent (which retries what it must not lose: [`Client::retrying`]).

use super::ServiceError;
use backon::{BlockingRetryable, ExponentialBuilder};
use std::path::Path;
use std::time::Duration;

/// A client of one service, through any of its replicas' URLs: a call that
/// cannot reach one (or gets a 5xx) goes to the next, which then stays the
/// one used. (A single name that resolves to several addresses is tried
/// address by address by the connector itself.)
pub struct Client {
    bases: Vec<String>,
    current: std::sync::atomic::AtomicUsize,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ServiceError> {
        Self::with_urls(&[base.to_string()], token)
    }

    /// A client of the service at any of `urls` (the first is tried first).
    pub fn with_urls(urls: &[String], token: Option<String>) -> Result<Client, ServiceError> {
        if urls.is_empty() {
            return Err(ServiceError::Invalid("no service URL".into()));
        }
        // A node reaches its service through the runtime's proxy settings, like every other call.
        let http = surveyor_engine::net::http_client_builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ServiceError::Invalid(format!("HTTP client: {e}")))?;
        let bases = urls.iter().map(|u| u.trim_end_matches('/').to_string()).collect();
        Ok(Client { bases, current: Default::default(), token, http })
    }

    /// The URL calls go to now.
    pub fn base(&self) -> &str {
        &self.bases[self.current.load(std::sync::atomic::Ordering::Relaxed) % self.bases.len()]
    }

    /// Calls the API; returns the JSON body of a 2xx answer (`null` when
    /// empty), and the API's error message otherwise.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ServiceError> {
        let text = body.map(|b| b.to_string());
        self.send(method, path, &|| Ok(text.clone().map(|t| ("application/json", reqwest::blocking::Body::from(t)))))
    }

    /// Uploads a file as the body of a `PUT` (streamed, not read into memory).
    pub fn put_file(&self, path: &str, file: &Path) -> Result<serde_json::Value, ServiceError> {
        self.send(reqwest::Method::PUT, path, &|| {
            let f = std::fs::File::open(file)
                .map_err(|e| ServiceError::Io { path: file.display().to_string(), source: e })?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            Ok(Some(("application/octet-stream", reqwest::blocking::Body::sized(f, len))))
        })
    }

    /// Downloads a `GET` answer's body into `dest` (streamed), through any
    /// URL that answers; returns its size.
    pub fn download(&self, path: &str, dest: &Path) -> Result<u64, ServiceError> {
        use std::sync::atomic::Ordering;
        let start = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..self.bases.len() {
            let index = (start + i) % self.bases.len();
            let base = &self.bases[index];
            let mut req = self.http.get(format!("{base}{path}")).timeout(Duration::from_secs(3600));
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            let mut resp = match req.send() {
                Ok(r) if r.status().is_server_error() => {
                    last = Some(ServiceError::Unavailable(format!("{base}: {}", r.status())));
                    continue;
                }
                Ok(r) => r,
                Err(e) => {
                    last = Some(ServiceError::Unavailable(format!("cannot reach the service at {base}: {e}")));
                    continue;
                }
            };
            self.current.store(index, Ordering::Relaxed);
            let status = resp.status();
            if !status.is_success() {
                let text = resp.text().unwrap_or_default();
                let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let message = json["error"]["message"].as_str().map(str::to_string).unwrap_or(text);
                return Err(match status.as_u16() {
                    401 => ServiceError::Unauthorized(format!("{status}: {message}")),
                    404 => ServiceError::NotFound(format!("{status}: {message}")),
                    _ => ServiceError::Invalid(format!("{status}: {message}")),
                });
            }
            let io = |e: std::io::Error| ServiceError::Io { path: dest.display().to_string(), source: e };
            let mut file = std::fs::File::create(dest).map_err(io)?;
            let size = resp
                .copy_to(&mut file)
                .map_err(|e| ServiceError::Unavailable(format!("the download from {base} broke off: {e}")))?;
            file.sync_all().map_err(io)?;
            return Ok(size);
        }
        Err(last.expect("at least one URL"))
    }

    /// Sends to the current URL, and to the next ones while the service cannot answer there.
    fn send(&self, method: reqwest::Method, path: &str, body: &Body<'_>) -> Result<serde_json::Value, ServiceError> {
        use std::sync::atomic::Ordering;
        let start = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..self.bases.len() {
            let index = (start + i) % self.bases.len();
            match self.send_to(&self.bases[index], method.clone(), path, body()?) {
                Err(ServiceError::Unavailable(e)) => {
                    if self.bases.len() > 1 {
                        tracing::warn!(url = %self.bases[index], error = %e, "the service does not answer there; trying another URL");
                    }
                    last = Some(ServiceError::Unavailable(e));
                }
                answer => {
                    self.current.store(index, Ordering::Relaxed);
                    return answer;
                }
            }
        }
        Err(last.expect("at least one URL"))
    }

    fn send_to(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, reqwest::blocking::Body)>,
    ) -> Result<serde_json::Value, ServiceError> {
        let url = format!("{base}{path}");
        let mut req = self.http.request(method, &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        }
        let resp = req.send().map_err(|e| {
            ServiceError::Unavailable(format!("cannot reach the service at {base}: {e} (is `surveyor serve` running?)"))
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

/// Makes a request's body afresh for each URL tried.
type Body<'a> = dyn Fn() -> Result<Option<(&'static str, reqwest::blocking::Body)>, ServiceError> + 'a;

/// A path segment, percent-encoded.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
