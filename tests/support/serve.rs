//! A real `surveyor serve` process on 127.0.0.1 for the service tests: started
//! on a free port (the printed "listening on" line gives the URL), called
//! over HTTP and through the CLI, stopped with SIGTERM. Include it next to
//! `support` (it uses `support::surveyor`):
//! `#[path = "support/serve.rs"] mod serve;`
#![allow(dead_code)]

use crate::support::{scaled, stderr, stdout, surveyor, wait_until_explained};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running service.
pub struct Service {
    child: Child,
    pub url: String,
    pub token: String,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Service {
    pub fn start(data: &Path) -> Service {
        Service::start_with(data, &["--grace-period", "5"])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Service {
        let offline =
            if extra.contains(&"--node-offline-after") { &[][..] } else { &["--node-offline-after", "30"][..] };
        let mut cmd = surveyor();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(offline).args(extra).arg("--data-dir").arg(data);
        Service::spawn(cmd, data)
    }

    /// Starts `cmd` (a `surveyor serve` command line) whose data directory is `data`.
    pub fn spawn(mut cmd: Command, data: &Path) -> Service {
        let log = data.with_extension("log");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start surveyor serve");
        // The first line says where it listens; it comes after the state
        // database is migrated, which can be slow on a loaded machine.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let limit = scaled(Duration::from_secs(180));
        let line = rx.recv_timeout(limit).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "surveyor serve printed no listening line within {} s; log: {}",
                limit.as_secs(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        let url = line
            .trim()
            .strip_prefix("surveyor service listening on ")
            .unwrap_or_else(|| panic!("no listening line: {line:?}; log: {}", std::fs::read_to_string(&log).unwrap()))
            .to_string();
        let token = std::fs::read_to_string(data.join("admin-token")).unwrap().trim().to_string();
        let svc = Service { child, url, token, data: data.to_path_buf(), log };
        svc.wait_ready();
        svc
    }

    /// Waits until an authenticated API call succeeds (plain HTTP only: a
    /// TLS service's test brings its own trust).
    fn wait_ready(&self) {
        if !self.url.starts_with("http://") {
            return;
        }
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        wait_until_explained("the service to answer GET /v1/runs", Duration::from_secs(120), || {
            match client.get(format!("{}/v1/runs?limit=1", self.url)).bearer_auth(&self.token).send() {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("{}; log: {}", resp.status(), self.log())),
                Err(e) => Err(format!("{e}; log: {}", self.log())),
            }
        })
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let client = reqwest::blocking::Client::new();
        let mut req = client.request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(&self.token), body.map(|b| b.to_string()).as_deref())
    }

    /// The CLI, pointed at this service.
    pub fn cli(&self, args: &[&str]) -> (bool, Value, String) {
        let out =
            surveyor().args(args).env("SURVEYOR_URL", &self.url).env("SURVEYOR_DATA_DIR", &self.data).output().unwrap();
        (out.status.success(), serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null), stderr(&out))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: gone at once, as a crash would leave it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), rustix::process::Signal::TERM)
            .unwrap();
        let child = &mut self.child;
        let log = &self.log;
        wait_until_explained("the service to stop on SIGTERM", Duration::from_secs(120), || {
            child.try_wait().unwrap().ok_or_else(|| std::fs::read_to_string(log).unwrap_or_default())
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the run has ended (neither queued nor in progress).
pub fn poll_run(svc: &Service, id: &str) -> Value {
    wait_until_explained(&format!("run {id} to end"), Duration::from_secs(300), || {
        let (status, run) = svc.admin("GET", &format!("/v1/runs/{id}"), None);
        assert_eq!(status, 200, "{run}");
        if matches!(run["state"].as_str(), Some("queued" | "in_progress")) {
            Err(format!("{run}; log: {}", svc.log()))
        } else {
            Ok(run)
        }
    })
}
