//! `surveyor node run` processes for the service tests: registered with a
//! runtime's key, started, signalled (SIGKILL, SIGTERM), killed when dropped.
//! Include it next to `support` and `serve`:
//! `#[path = "support/nodes.rs"] mod nodes;`
#![allow(dead_code)]

use crate::serve::Service;
use crate::support::{stderr, surveyor, wait_until_explained};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A `surveyor node run` process, working for the service that registered it.
pub struct NodeAgent {
    child: Child,
    log: PathBuf,
}

impl NodeAgent {
    /// Registers a node with `key` in `data`, and starts it.
    pub fn start(svc: &Service, data: &Path, name: &str, key: &str, plugins: &str) -> NodeAgent {
        Self::start_with(svc, data, name, key, &["--plugins", plugins])
    }

    /// As [`start`](Self::start), with more `node run` options.
    pub fn start_with(svc: &Service, data: &Path, name: &str, key: &str, extra: &[&str]) -> NodeAgent {
        Self::start_at(&svc.url, data, name, key, extra)
    }

    /// Registers with the service at `urls` (its replicas, separated by commas), and starts.
    pub fn start_at(urls: &str, data: &Path, name: &str, key: &str, extra: &[&str]) -> NodeAgent {
        let d = data.to_str().unwrap();
        let out = surveyor()
            .args(["node", "register", "--key", key, "--url", urls, "--name", name, "--data-dir", d])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let log = data.with_extension("log");
        let child = surveyor()
            .args(["node", "run", "--poll-interval", "1", "--grace-period", "0", "--data-dir", d])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        NodeAgent { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&mut self, signal: rustix::process::Signal) -> std::process::ExitStatus {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal).unwrap();
        let child = &mut self.child;
        let log = &self.log;
        wait_until_explained(&format!("the node to stop on {signal:?}"), Duration::from_secs(120), || {
            child.try_wait().unwrap().ok_or_else(|| std::fs::read_to_string(log).unwrap_or_default())
        })
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
