//! Proxy settings against a real proxy: tinyproxy 1.11 from Debian
//! (`apt-get install tinyproxy`), started on 127.0.0.1 by this test with its
//! own configuration (basic authentication, a log file) and stopped by PID.
//!
//! The target behind it is a small HTTP server of this test's own, which
//! records the `Via` header tinyproxy adds to requests it forwards: a
//! request that went through the proxy carries it, a bypassed one does not.

mod support;
#[path = "support/tinyproxy.rs"]
mod tinyproxy;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::{stderr, stdout, surveyor};
use surveyor_engine::backends::http::HttpApiBackend;
use surveyor_engine::host::bindings::http::HttpRequest;
use surveyor_engine::host::http::HttpBackend;
use surveyor_engine::sources::connection::HttpConnectionDef;
use tinyproxy::tinyproxy;

/// A target that records the `Via` header of each request (None: direct).
fn target() -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut via = None;
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.trim().eq_ignore_ascii_case("via")
                {
                    via = Some(v.trim().to_string());
                }
            }
            s.lock().unwrap().push(via);
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
        }
    });
    (port, seen)
}

fn backend() -> HttpApiBackend {
    let def: HttpConnectionDef =
        toml::from_str("allowed_hosts = [\"127.0.0.1\"]\nmax_retries = 0\ntimeout_seconds = 10").unwrap();
    HttpApiBackend::new(&def).unwrap()
}

fn get(b: &HttpApiBackend, port: u16) -> Result<u16, String> {
    let request = HttpRequest {
        method: "GET".into(),
        url: format!("http://127.0.0.1:{port}/hello"),
        headers: vec![],
        body: None,
    };
    b.send(request).map(|r| r.status).map_err(|e| e.message)
}

fn proxy_cli(data: &Path, args: &[&str], password: Option<&str>) -> String {
    let mut cmd = surveyor();
    cmd.arg("proxy").arg("--data-dir").arg(data).args(args);
    if let Some(p) = password {
        cmd.env("TEST_PROXY_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "surveyor proxy {args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn http_capability_goes_through_the_configured_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let proxy = tinyproxy(tmp.path(), "scanner", "pr0xy-pass");
    let (target_port, seen) = target();
    let data = tmp.path().join("data");
    surveyor_engine::net::proxy::set_data_dir(&data);
    let port = proxy.port.to_string();

    // 1. Custom proxy with credentials, set through the CLI; the password is encrypted at rest.
    let shown = proxy_cli(
        &data,
        &[
            "set",
            "custom",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "scanner",
            "--password-env",
            "TEST_PROXY_PASSWORD",
            "--bypass",
            "*.internal.test,10.0.0.0/8",
        ],
        Some("pr0xy-pass"),
    );
    assert!(shown.contains(&format!("custom http://127.0.0.1:{port}")), "{shown}");
    assert!(!shown.contains("pr0xy-pass"));
    let stored = std::fs::read_to_string(data.join("proxy.json")).unwrap();
    assert!(!stored.contains("pr0xy-pass"), "{stored}");
    let shown = proxy_cli(&data, &["show", "--json"], None);
    let json: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(json["passwordSet"], true);
    assert_eq!(json["bypass"], serde_json::json!(["*.internal.test", "10.0.0.0/8"]));

    let b = backend();
    assert_eq!(get(&b, target_port), Ok(200));
    let via = seen.lock().unwrap().last().cloned().unwrap();
    assert!(via.as_deref().unwrap_or("").contains("tinyproxy"), "the request did not go through the proxy: {via:?}");
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    assert!(log.contains(&format!("127.0.0.1:{target_port}")) || log.contains("/hello"), "tinyproxy log: {log}");

    // 2. The target bypassed: the same backend (no restart) now goes direct.
    proxy_cli(
        &data,
        &[
            "set",
            "custom",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "scanner",
            "--password-env",
            "TEST_PROXY_PASSWORD",
            "--bypass",
            "127.0.0.0/8",
        ],
        Some("pr0xy-pass"),
    );
    assert_eq!(get(&b, target_port), Ok(200));
    assert_eq!(seen.lock().unwrap().last().cloned().unwrap(), None, "a bypassed host goes direct");

    // 3. Wrong proxy credentials: a clear error naming the proxy and the 407.
    proxy_cli(
        &data,
        &[
            "set",
            "custom",
            "--address",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "scanner",
            "--password-env",
            "TEST_PROXY_PASSWORD",
        ],
        Some("wrong"),
    );
    // HTTPS goes through a CONNECT tunnel, which the proxy refuses. (tinyproxy 1.11.1
    // answers 401 instead of 407 to a proxy request without valid credentials.)
    let request = HttpRequest {
        method: "GET".into(),
        url: format!("https://127.0.0.1:{target_port}/hello"),
        headers: vec![],
        body: None,
    };
    let err = b.send(request).unwrap_err().message;
    assert!(err.contains(&format!("the proxy http://127.0.0.1:{port} refused to open a tunnel")), "{err}");
    assert!(err.contains("proxy credentials"), "{err}");
    assert!(!err.contains("wrong") && !err.contains("pr0xy-pass"), "{err}");

    // 4. No proxy: direct again.
    proxy_cli(&data, &["clear"], None);
    let before = seen.lock().unwrap().len();
    assert_eq!(get(&b, target_port), Ok(200));
    let seen_now = seen.lock().unwrap();
    assert_eq!(seen_now.len(), before + 1);
    assert_eq!(seen_now.last().cloned().unwrap(), None);
}
