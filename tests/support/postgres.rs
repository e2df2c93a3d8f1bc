//! A real, throwaway PostgreSQL cluster for tests: Debian's `postgresql`
//! package (`apt-get install postgresql`, any major version), `initdb` in a
//! temporary folder, listening on 127.0.0.1 and a free port, stopped with
//! `pg_ctl stop` and deleted when dropped. PostgreSQL refuses to run as root:
//! when the tests run as root, the server runs as the unprivileged `postgres`
//! user the package creates. [`Cluster::start_tls`] starts one with
//! `ssl = on` and a given certificate, optionally refusing plain TCP.
#![allow(dead_code)]

// Included by each helper file on its own (they are included independently).
#[allow(clippy::duplicate_mod)]
#[path = "waits.rs"]
mod waits;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The password of the cluster's `postgres` superuser (over TCP: scram-sha-256).
pub const ADMIN_PASSWORD: &str = "postgres-admin-pw";

/// The server binaries of Debian's `postgresql` package, whatever its major version.
pub fn bin() -> String {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|p| p.join("initdb").is_file()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|p| p.display().to_string()).unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into())
}

pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
}

/// The server side of TLS: its certificate chain and key (PEM), and
/// whether plain connections over TCP are refused (`hostssl` only in pg_hba.conf).
pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
    pub ssl_only: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl").arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A PostgreSQL program, run as `postgres` when we are root.
fn as_postgres(program: &str) -> Command {
    let program = format!("{}/{program}", bin());
    if rustix::process::geteuid().is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl Cluster {
    /// Creates and starts a cluster; the `postgres` superuser's password is [`ADMIN_PASSWORD`].
    pub fn start() -> Cluster {
        Self::start_with(None)
    }

    /// A cluster with `ssl = on` and the given certificate.
    pub fn start_tls(tls: &Tls) -> Cluster {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<&Tls>) -> Cluster {
        assert!(Path::new(&bin()).is_dir(), "PostgreSQL is installed (apt-get install postgresql)");
        let suffix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
        let dir = PathBuf::from(format!("/tmp/surveyor-pg-{}-{suffix}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("pw"), format!("{ADMIN_PASSWORD}\n")).unwrap();
        std::fs::set_permissions(dir.join("pw"), std::fs::Permissions::from_mode(0o644)).unwrap();
        // From here on, dropping the value stops and deletes the cluster, even if starting fails.
        let mut cluster = Cluster { dir, port: 0 };
        let dir = cluster.dir.clone();
        run(as_postgres("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", dir.join("pw").display())));
        let mut ssl = String::new();
        if let Some(tls) = tls {
            let data = dir.join("data");
            std::fs::write(data.join("server.crt"), &tls.cert_pem).unwrap();
            std::fs::write(data.join("server.key"), &tls.key_pem).unwrap();
            // The server reads its key only when the key is its own and private.
            std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
            if rustix::process::geteuid().is_root() {
                let owner = std::fs::metadata(data.join("PG_VERSION")).unwrap();
                use std::os::unix::fs::MetadataExt;
                for file in ["server.crt", "server.key"] {
                    std::os::unix::fs::chown(data.join(file), Some(owner.uid()), Some(owner.gid())).unwrap();
                }
            }
            if tls.ssl_only {
                let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
                let hba: String = hba
                    .lines()
                    .map(|l| {
                        l.strip_prefix("host ").map(|rest| format!("hostssl {rest}")).unwrap_or(l.to_string()) + "\n"
                    })
                    .collect();
                std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
            }
            ssl = " -c ssl=on".into();
        }
        // PostgreSQL cannot bind port 0: a free port is picked and handed to
        // it; when a parallel test took it meanwhile, the server says so in
        // its log and is started again on another.
        for attempt in 1..=5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let started = as_postgres("pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-l")
                .arg(dir.join("log"))
                .arg("-o")
                .arg(format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{ssl}", dir.display()))
                // pg_ctl's own wait is 60 s by default: short on a cold, loaded machine.
                .args(["-w", "-t", &waits::scaled(Duration::from_secs(300)).as_secs().to_string(), "start"])
                .output()
                .unwrap_or_else(|e| panic!("pg_ctl: {e}"));
            if started.status.success() {
                cluster.port = port;
                cluster.wait_ready();
                return cluster;
            }
            let log = cluster.log();
            let taken = log.contains("could not bind") || log.contains("Address already in use");
            assert!(
                taken && attempt < 5,
                "PostgreSQL did not start on port {port}: {}{}\nlog: {log}",
                String::from_utf8_lossy(&started.stdout),
                String::from_utf8_lossy(&started.stderr)
            );
            let _ = std::fs::remove_file(dir.join("log"));
        }
        unreachable!()
    }

    /// Waits until a real query over TCP, with the password, succeeds.
    fn wait_ready(&self) {
        waits::wait_until_explained(
            &format!("a query to PostgreSQL on 127.0.0.1:{}", self.port),
            Duration::from_secs(120),
            || {
                let out = as_postgres("psql")
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
                    .args(["-w", "-A", "-t", "-c", "SELECT 1"])
                    .env("PGPASSWORD", ADMIN_PASSWORD)
                    .env("PGCONNECT_TIMEOUT", "10")
                    .output()
                    .map_err(|e| e.to_string())?;
                if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1" {
                    Ok(())
                } else {
                    Err(format!("{}; log: {}", String::from_utf8_lossy(&out.stderr), self.log()))
                }
            },
        )
    }

    /// Runs SQL as the superuser over the cluster's Unix socket; stops the test if it fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        run(as_postgres("psql").arg("-h").arg(&self.dir).args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-A",
            "-t",
            "-c",
            sql,
        ]))
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}
