//! The Debian package, as an administrator meets it: built with
//! `packaging/build-deb.sh` from this build's binary, installed with
//! `dpkg -i` on this machine, `surveyor version` run as the `surveyor`
//! system user it creates, then purged. Needs root and dpkg (the test
//! machine has both); elsewhere it says why it is skipped.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use support::{stderr, stdout};

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}{}", stdout(&out), stderr(&out));
    out
}

#[test]
fn the_debian_package_installs_a_stripped_binary_a_unit_a_config_and_the_surveyor_user() {
    if !rustix::process::geteuid().is_root() || Command::new("dpkg").arg("--version").output().is_err() {
        eprintln!("skipped: installing a Debian package needs root and dpkg");
        return;
    }
    if Command::new("dpkg").args(["-s", "surveyor"]).output().unwrap().status.success() {
        eprintln!("skipped: a surveyor package is installed on this machine already; not touching it");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let version = "0.1.0+test";
    let out = run(Command::new("bash")
        .arg(root.join("packaging/build-deb.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_surveyor"), "--version", version, "--fast", "--out"])
        .arg(tmp.path()));
    let deb = stdout(&out).trim().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).exists(), "{deb}");
    let info = stdout(&run(Command::new("dpkg-deb").args(["--info", &deb])));
    assert!(info.contains("Package: surveyor") && info.contains(&format!("Version: {version}")), "{info}");
    let contents = stdout(&run(Command::new("dpkg-deb").args(["--contents", &deb])));
    for file in ["./usr/bin/surveyor", "./lib/systemd/system/surveyor.service", "./etc/surveyor/surveyor.toml"] {
        assert!(contents.contains(file), "{file} in the package: {contents}");
    }

    /// Purges the package whatever happens below.
    struct Purge;
    impl Drop for Purge {
        fn drop(&mut self) {
            let _ = Command::new("dpkg").args(["--purge", "surveyor"]).output();
        }
    }
    let _purge = Purge;
    run(Command::new("dpkg").args(["-i", &deb]));

    // The surveyor system user, with no login shell and its data directory.
    let passwd = stdout(&run(Command::new("getent").args(["passwd", "surveyor"])));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    assert_eq!(fields[5], "/var/lib/surveyor", "{passwd}");
    assert!(fields[6].ends_with("nologin"), "{passwd}");
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "a system user: {passwd}");
    let data = std::fs::metadata("/var/lib/surveyor").unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&data), uid);
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&data.permissions()) & 0o777, 0o700);

    // The binary is stripped (no symbol table) and runs as that user.
    let sections = stdout(&run(Command::new("readelf").args(["-S", "-W", "/usr/bin/surveyor"])));
    assert!(!sections.contains(".symtab"), "stripped");
    let out = run(Command::new("setpriv")
        .args(["--reuid", "surveyor", "--regid", "surveyor", "--init-groups", "/usr/bin/surveyor", "version"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin"));
    assert!(stdout(&out).starts_with("surveyor 0.1.0 (released"), "{}", stdout(&out));
    let whoami = stdout(&run(Command::new("setpriv").args([
        "--reuid",
        "surveyor",
        "--regid",
        "surveyor",
        "--init-groups",
        "id",
        "-un",
    ])));
    assert_eq!(whoami.trim(), "surveyor");

    // The unit runs the packaged binary as that user; the configuration is a conffile.
    let unit = std::fs::read_to_string("/lib/systemd/system/surveyor.service").unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/surveyor serve --config /etc/surveyor/surveyor.toml"), "{unit}");
    assert!(unit.contains("User=surveyor"));
    let config = std::fs::read_to_string("/etc/surveyor/surveyor.toml").unwrap();
    assert_eq!(config, std::fs::read_to_string(root.join("packaging/surveyor.toml")).unwrap());
    let conffiles = stdout(&run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "surveyor"])));
    assert!(conffiles.contains("/etc/surveyor/surveyor.toml"), "{conffiles}");

    // Purged: the files and the data directory go.
    run(Command::new("dpkg").args(["--purge", "surveyor"]));
    assert!(!Path::new("/usr/bin/surveyor").exists());
    assert!(!Path::new("/etc/surveyor/surveyor.toml").exists());
    assert!(!Path::new("/var/lib/surveyor").exists());
}
