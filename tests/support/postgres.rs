//! A real, throwaway PostgreSQL cluster for tests: Debian's `postgresql`
//! package (`apt-get install postgresql`, any major version), `initdb` in a
//! temporary folder, listening on 127.0.0.1 and a free port, stopped with
//! `pg_ctl stop` and deleted when dropped. PostgreSQL refuses to run as root:
//! when the tests run as root, the server runs as the unprivileged `postgres`
//! user the package creates.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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
        assert!(Path::new(&bin()).is_dir(), "PostgreSQL is installed (apt-get install postgresql)");
        let suffix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
        let dir = PathBuf::from(format!("/tmp/surveyor-pg-{}-{suffix}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("pw"), format!("{ADMIN_PASSWORD}\n")).unwrap();
        std::fs::set_permissions(dir.join("pw"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // From here on, dropping the value stops and deletes the cluster, even if starting fails.
        let cluster = Cluster { dir, port };
        let dir = &cluster.dir;
        run(as_postgres("initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", dir.join("pw").display())));
        run(as_postgres("pg_ctl")
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(dir.join("log"))
            .arg("-o")
            .arg(format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.display()))
            .args(["-w", "start"]));
        cluster
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
