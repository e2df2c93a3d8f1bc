//! A real HTTP proxy for tests: tinyproxy from Debian (`apt-get install
//! tinyproxy`), started on 127.0.0.1 with a configuration of the test's own
//! (basic authentication, a log file) and stopped by PID when dropped.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn tinyproxy(dir: &Path, user: &str, password: &str) -> Tinyproxy {
    let port = free_port();
    let log = dir.join("tinyproxy.log");
    let conf = dir.join("tinyproxy.conf");
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
        .stderr(Stdio::null())
        .spawn()
        .expect("tinyproxy is installed (apt-get install tinyproxy)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tinyproxy did not start on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Tinyproxy { child, port, log }
}
