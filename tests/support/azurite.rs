//! Azurite (the Azure Storage emulator) for tests, one process per test, and
//! two tiny HTTP servers: a scripted stand-in (for what Azurite cannot do,
//! such as failing on purpose) and a recording, fault-injecting proxy in
//! front of Azurite.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use surveyor_engine::storage::azure::{AzureAccount, AzureConnection, AzureCredential, Secret};

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

// Included by each helper file on its own (they are included independently).
#[allow(clippy::duplicate_mod)]
#[path = "waits.rs"]
mod waits;
pub use waits::ClosedPort;

/// A running Azurite: the blob service, and the queue service when asked.
/// Each service binds a port of the kernel's choosing and prints it; the
/// emulator is ready once a real, signed listing succeeds. Killed (by
/// process id) when dropped.
pub struct Azurite {
    children: Vec<Child>,
    pub blob_port: u16,
    pub queue_port: Option<u16>,
    log_dir: PathBuf,
    /// The ports of a stopped emulator, held so that connections to them stay refused.
    stopped: Vec<ClosedPort>,
    /// Each service's output (and its access log, when asked for).
    logs: Vec<PathBuf>,
    access_log: bool,
}

fn bin_dir_candidates(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("AZURITE_BIN_DIR")
        .map(|d| vec![PathBuf::from(d)])
        .unwrap_or_else(|| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A port free at the time of the call. Racy when handed to another process
/// (a parallel test may take it first): prefer a server that binds port 0
/// and reports its port, or [`ClosedPort`] for a port where nothing listens.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How long an emulator may take to start and answer, on a cold, loaded machine.
const START_LIMIT: Duration = Duration::from_secs(120);

impl Azurite {
    /// A client for the development account on this emulator (blob, and
    /// queue when it runs), for tests that put their own blobs.
    pub fn account(&self) -> Arc<AzureAccount> {
        let mut conn = AzureConnection::new(ACCOUNT, AzureCredential::AccountKey(Secret::new(KEY)));
        conn.blob_endpoint = Some(self.blob_endpoint());
        if self.queue_port.is_some() {
            conn.queue_endpoint = Some(self.queue_endpoint());
        }
        AzureAccount::new(conn).unwrap()
    }

    /// The blob service on a port of its own, in memory.
    pub fn start() -> Azurite {
        Self::launch(false)
    }

    /// The blob and the queue services.
    pub fn start_with_queue() -> Azurite {
        Self::launch(true)
    }

    /// The blob service, logging every request it serves (see [`log`](Self::log)):
    /// a test can wait for the request it needs to have happened.
    pub fn start_with_access_log() -> Azurite {
        Self::launch_with(false, true)
    }

    /// What the services printed so far: with an access log, one line per
    /// request (`"GET /devstoreaccount1/box/a.parquet HTTP/1.1" 206 ...`).
    pub fn log(&self) -> String {
        self.logs.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect()
    }

    fn launch(queue: bool) -> Azurite {
        Self::launch_with(queue, false)
    }

    fn launch_with(queue: bool, access_log: bool) -> Azurite {
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("azurite-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut azurite = Azurite {
            children: Vec::new(),
            blob_port: 0,
            queue_port: None,
            log_dir,
            stopped: Vec::new(),
            logs: Vec::new(),
            access_log,
        };
        azurite.blob_port = azurite.spawn("azurite-blob", "Blob", &["--blobHost", "127.0.0.1", "--blobPort", "0"]);
        azurite.wait_listing(azurite.blob_port, "b");
        if queue {
            let port = azurite.spawn("azurite-queue", "Queue", &["--queueHost", "127.0.0.1", "--queuePort", "0"]);
            azurite.queue_port = Some(port);
            azurite.wait_listing(port, "q");
        }
        azurite
    }

    /// Starts `name` and returns the port it reports listening on.
    fn spawn(&mut self, name: &str, service: &str, args: &[&str]) -> u16 {
        static SPAWNED: AtomicUsize = AtomicUsize::new(0);
        let bin = bin_dir_candidates(name).unwrap_or_else(|| {
            panic!("azurite not found: npm install -g azurite (or set AZURITE_BIN_DIR); looked for {name}")
        });
        let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
        let log = self.log_dir.join(format!("{name}-{}-{n}.log", std::process::id()));
        let out = std::fs::File::create(&log).unwrap();
        // --inMemoryPersistence cannot be combined with --location.
        let child = Command::new(bin)
            .args(args)
            .args(["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose"])
            .args((!self.access_log).then_some("--silent"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.children.push(child);
        self.logs.push(log.clone());
        let child = self.children.last_mut().unwrap();
        // "Azurite Blob service successfully listens on http://127.0.0.1:PORT"
        let marker = format!("Azurite {service} service successfully listens on http://127.0.0.1:");
        waits::wait_until_explained(&format!("{name} to report its port"), START_LIMIT, || {
            let printed = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(port) = printed
                .split(marker.as_str())
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|p| p.parse::<u16>().ok()))
            {
                return Ok(port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}) before listening: {printed}");
            }
            Err(format!("its log {}: {printed}", log.display()))
        })
    }

    /// Waits until a signed listing of the account succeeds on `port`
    /// (`services`: `b` blob, `q` queue).
    fn wait_listing(&mut self, port: u16, services: &str) {
        let sas = account_sas(ACCOUNT, KEY, "rl", services, "sco");
        let url = format!("http://127.0.0.1:{port}/{ACCOUNT}?comp=list&{sas}");
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let children = &mut self.children;
        waits::wait_until_explained(&format!("a listing of Azurite on port {port}"), START_LIMIT, || {
            for child in children.iter_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("Azurite exited ({status}) before answering a listing");
                }
            }
            match client.get(&url).send() {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("{}: {}", resp.status(), resp.text().unwrap_or_default())),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    pub fn blob_endpoint(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/{ACCOUNT}", self.blob_port)).unwrap()
    }

    pub fn queue_endpoint(&self) -> url::Url {
        let port = self.queue_port.expect("started without the queue service");
        url::Url::parse(&format!("http://127.0.0.1:{port}/{ACCOUNT}")).unwrap()
    }

    /// Kills the emulator now (its data is gone: it runs in memory). Its
    /// ports stay held until the value is dropped, so connections to them
    /// are refused rather than reaching another test's server.
    pub fn stop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.children.is_empty() {
            for port in std::iter::once(self.blob_port).chain(self.queue_port) {
                self.stopped.extend(ClosedPort::reserve(port).ok());
            }
        }
        self.children.clear();
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP request as a stand-in server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What a stand-in answers.
pub enum Reply {
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Bytes sent as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// The connection is closed without an answer.
    Hangup,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Http { status, headers: Vec::new(), body: Vec::new() }
    }
    pub fn with(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        Reply::Http {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.into(),
        }
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// A tiny HTTP/1.1 server: each request is recorded and answered by the
/// handler. Enough for reqwest (Content-Length bodies, keep-alive).
pub struct StandIn {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl StandIn {
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (rec, stopped) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (rec, handler) = (rec.clone(), handler.clone());
                std::thread::spawn(move || serve(conn, &rec, &*handler));
            }
        });
        StandIn { addr, received, stop }
    }

    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// A recording proxy in front of `upstream`; `fault` may answer a request
    /// itself (to fail it) instead of forwarding it.
    pub fn proxy(upstream: u16, fault: impl Fn(&Received) -> Option<Reply> + Send + Sync + 'static) -> StandIn {
        StandIn::start(move |req| fault(req).unwrap_or_else(|| forward(upstream, req)))
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, target, headers, body })
}

fn serve(conn: TcpStream, received: &Mutex<Vec<Received>>, handler: &Handler) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader) {
        received.lock().unwrap().push(req.clone());
        match handler(&req) {
            Reply::Http { status, headers, body } => {
                let mut head = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\n", body.len());
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let mut out = head.into_bytes();
                if req.method != "HEAD" {
                    out.extend_from_slice(&body);
                }
                if writer.write_all(&out).is_err() {
                    return;
                }
            }
            Reply::Raw(bytes) => {
                let _ = writer.write_all(&bytes);
                return;
            }
            Reply::Hangup => return,
        }
    }
}

/// Sends the request to 127.0.0.1:`port` on a fresh connection and returns
/// the whole response as it came.
fn forward(port: u16, req: &Received) -> Reply {
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)) else { return Reply::Hangup };
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (n, v) in &req.headers {
        if n != "connection" {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    out.push_str("connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&req.body);
    if upstream.write_all(&bytes).is_err() {
        return Reply::Hangup;
    }
    let mut response = Vec::new();
    let _ = upstream.read_to_end(&mut response);
    Reply::Raw(response)
}

/// An account SAS (versions 2020-12-06 and later), signed with `key`:
/// string-to-sign `account \n sp \n ss \n srt \n st \n se \n sip \n spr \n sv \n ses \n`.
pub fn account_sas(account: &str, key: &str, permissions: &str, services: &str, resource_types: &str) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let version = "2022-11-02";
    let expiry = "2099-01-01T00:00:00Z";
    let to_sign =
        format!("{account}\n{permissions}\n{services}\n{resource_types}\n\n{expiry}\n\nhttps,http\n{version}\n\n");
    let key = base64::engine::general_purpose::STANDARD.decode(key).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let enc = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!(
        "sv={version}&ss={services}&srt={resource_types}&sp={permissions}&se={}&spr=https,http&sig={}",
        enc(expiry),
        enc(&sig)
    )
}
