//! `surveyor serve --config FILE` as a real process: the file's options are
//! used, flags and environment variables win over them, a wrong file stops the
//! service with an error naming the key and the file; the packaged
//! configuration (packaging/surveyor.toml) starts a service, and the packaged
//! systemd unit passes `systemd-analyze verify` where systemd is installed.

#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use serde_json::json;
use serve::Service;
use std::path::{Path, PathBuf};
use support::{stderr, surveyor};

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

/// The default max_nodes of a runtime created without one.
fn default_max_nodes(svc: &Service, name: &str) -> i64 {
    let (status, created) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({ "name": name })));
    assert_eq!(status, 201, "{created}");
    created["integration_runtime"]["max_nodes"].as_i64().unwrap()
}

#[test]
fn the_config_file_is_used_and_flags_and_environment_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (from_file, from_flag) = (tmp.path().join("file-data"), tmp.path().join("flag-data"));
    let config = tmp.path().join("surveyor.toml");
    // A port nothing listens on: the environment's listen address must win.
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:9\"\nmax_nodes = 7\ngrace_period = 1\nlog_json = true\n",
            from_file.to_str().unwrap()
        ),
    )
    .unwrap();

    // The file through SURVEYOR_CONFIG; SURVEYOR_LISTEN overrides its listen, --data-dir its data_dir.
    let mut cmd = surveyor();
    cmd.env("SURVEYOR_CONFIG", &config)
        .env("SURVEYOR_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .arg("--data-dir")
        .arg(&from_flag);
    let svc = Service::spawn(cmd, &from_flag);
    assert!(!svc.url.ends_with(":9"), "{}", svc.url);
    assert!(!from_file.exists(), "the flag's data directory is used, not the file's");
    assert_eq!(default_max_nodes(&svc, "a"), 7, "max_nodes from the file");
    assert!(svc.stop().success());
    // log_json from the file: every log line is a JSON object.
    let log = std::fs::read_to_string(from_flag.with_extension("log")).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event["level"].is_string(), "{line}");
    }

    // --config and a flag over the file's value.
    let mut cmd = surveyor();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--max-nodes", "2", "--config"]).arg(&config);
    let svc = Service::spawn(cmd, &from_file);
    assert_eq!(default_max_nodes(&svc, "b"), 2, "--max-nodes wins over the file");
    assert!(svc.stop().success());
}

#[test]
fn a_wrong_config_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("surveyor.toml");
    let serve = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let out = surveyor()
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "started with {text:?}");
        stderr(&out)
    };
    let name = config.to_str().unwrap();
    let e = serve("listen = \"127.0.0.1:0\"\nretention_dayz = 30\n");
    assert!(e.contains(name) && e.contains("retention_dayz") && e.contains("line 2"), "{e}");
    let e = serve("grace_period = \"30s\"\n");
    assert!(e.contains(name) && e.contains("grace_period") && e.contains("invalid type"), "{e}");
    let e = serve("[serve]\nlisten = \"127.0.0.1:0\"\n");
    assert!(e.contains(name) && e.contains("serve"), "{e}");
    let e = serve("tls_cert = \"/etc/surveyor/cert.pem\"\n");
    assert!(e.contains("tls_key"), "{e}");
    // Nothing was started or created.
    assert!(!tmp.path().join("surveyor-data").exists());

    let out = surveyor().args(["serve", "--config"]).arg(tmp.path().join("missing.toml")).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn the_packaged_config_file_starts_a_service() {
    // Its data directory and plugins folder are the installed ones: the flags move them here.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut cmd = surveyor();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(packaging().join("surveyor.toml"))
        .arg("--data-dir")
        .arg(&data);
    let svc = Service::spawn(cmd, &data);
    let (status, health) = svc.call("GET", "/healthz", None, None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(default_max_nodes(&svc, "packaged"), 4);
    assert!(svc.stop().success());
}

#[test]
fn the_packaged_systemd_unit_verifies() {
    let Ok(version) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit is not verified");
        return;
    };
    assert!(version.status.success());
    let unit = std::fs::read_to_string(packaging().join("surveyor.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/surveyor serve --config /etc/surveyor/surveyor.toml"), "{unit}");
    for line in ["User=surveyor", "Restart=on-failure", "NoNewPrivileges=true", "ProtectSystem=strict"] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
    // Verified with ExecStart pointing at the binary built for the tests (systemd checks it exists).
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("surveyor.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/surveyor", env!("CARGO_BIN_EXE_surveyor"))).unwrap();
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    let complaints = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    // Unknown keys and bad values are warnings with exit status 0: any output is a failure.
    assert!(out.status.success() && complaints.trim().is_empty(), "{complaints}");
}
