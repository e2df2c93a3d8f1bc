//! A real HTTP proxy for tests: tinyproxy from Debian (`apt-get install
//! tinyproxy`), started on 127.0.0.1 with a configuration of the test's own
//! (basic authentication, a log file) and stopped by PID when dropped.
//!
//! tinyproxy cannot bind port 0, so the port is picked free and handed to
//! it; when a parallel test took the port meanwhile, tinyproxy exits
//! ("Could not create listening sockets") and is started again on another.
//! It is ready once an authenticated CONNECT through it reaches a listener
//! of ours: that proves the proxy on the port is this one, and that it
//! tunnels.
#![allow(dead_code)]

// Included by each helper file on its own (they are included independently).
#[allow(clippy::duplicate_mod)]
#[path = "waits.rs"]
mod waits;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Tinyproxy {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        // Stop the one we started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free at the time of the call (racy when handed to another
/// process; see the module's doc). For a port where nothing listens, use
/// `support::ClosedPort`.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How often a port taken by someone else is replaced by another.
const ATTEMPTS: usize = 5;

pub fn tinyproxy(dir: &Path, user: &str, password: &str) -> Tinyproxy {
    let log = dir.join("tinyproxy.log");
    let conf = dir.join("tinyproxy.conf");
    let stderr_path = dir.join("tinyproxy.stderr");
    for _ in 0..ATTEMPTS {
        let port = free_port();
        // Our own configuration: Debian's restricts CONNECT ports and logs to /var/log.
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth {user} {password}\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("tinyproxy is installed (apt-get install tinyproxy)");
        let mut proxy = Tinyproxy { child, port, log: log.clone() };
        if proxy.wait_ready(user, password) {
            return proxy;
        }
    }
    panic!(
        "tinyproxy could not listen on any of {ATTEMPTS} free ports: {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
}

impl Tinyproxy {
    /// Waits until a CONNECT through the proxy succeeds; false when
    /// tinyproxy exited because its port was taken.
    fn wait_ready(&mut self, user: &str, password: &str) -> bool {
        use base64::Engine as _;
        // Held while waiting: the kernel completes the tunnel's handshake without an accept().
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let target_port = target.local_addr().unwrap().port();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let request = format!(
            "CONNECT 127.0.0.1:{0} HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\nProxy-Authorization: Basic {auth}\r\n\r\n",
            target_port
        );
        let port = self.port;
        let stderr = self.log.with_file_name("tinyproxy.stderr");
        let child = &mut self.child;
        waits::wait_until_explained(
            &format!("a CONNECT through tinyproxy on port {port}"),
            Duration::from_secs(60),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    let said = std::fs::read_to_string(&stderr).unwrap_or_default();
                    if said.contains("Could not create listening sockets") {
                        return Ok(false);
                    }
                    panic!("tinyproxy exited ({status}): {said}");
                }
                let answer = TcpStream::connect(("127.0.0.1", port)).and_then(|mut conn| {
                    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
                    conn.write_all(request.as_bytes())?;
                    let mut head = [0u8; 64];
                    let n = conn.read(&mut head)?;
                    Ok(String::from_utf8_lossy(&head[..n]).to_string())
                });
                match answer {
                    Ok(head) if head.starts_with("HTTP/1.") && head.split_whitespace().nth(1) == Some("200") => {
                        Ok(true)
                    }
                    Ok(head) => Err(format!("answered {head:?}")),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
    }
}
