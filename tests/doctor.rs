//! `surveyor doctor` as a user runs it, against real things on 127.0.0.1:
//! Azurite (right and wrong key, a sink with a queue), a port where nothing
//! listens, a name that cannot resolve, `surveyor serve` over TLS with
//! certificates of a test CA (unknown issuer, wrong name, expired, a real
//! node registration), and tinyproxy (through the proxy, wrong password).

#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/mod.rs"]
mod support;
#[path = "support/tinyproxy.rs"]
mod tinyproxy;

use azurite::{ACCOUNT, Azurite, KEY};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use support::{stderr, stdout, surveyor};

/// `surveyor doctor <args> --data-dir <data>`: the output and the exit code.
fn doctor(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = surveyor();
    cmd.arg("doctor").args(args).arg("--data-dir").arg(data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run surveyor doctor");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    (out, text)
}

/// The table's line for an endpoint.
fn line<'a>(table: &'a str, endpoint: &str) -> &'a str {
    table.lines().find(|l| l.starts_with(endpoint)).unwrap_or_else(|| panic!("no line for {endpoint} in:\n{table}"))
}

fn azure_source(dir: &Path, name: &str, azurite: &Azurite, key: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\ntype = \"azure-blob\"\n[connection]\naccount = \"{ACCOUNT}\"\nendpoint = \"{}\"\ncredential = {{ kind = \"account-key\", key = \"{key}\" }}\n",
            azurite.blob_endpoint()
        ),
    )
    .unwrap();
    path
}

#[test]
fn azure_source_and_sink_are_green_and_a_wrong_key_fails_auth_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let azurite = Azurite::start_with_queue();
    let good = azure_source(tmp.path(), "lake", &azurite, KEY);
    let sink = tmp.path().join("sink.toml");
    std::fs::write(
        &sink,
        format!(
            "kind = \"azure-blob\"\ncontainer = \"ingest\"\nqueue = \"runs\"\n[connection]\naccount = \"{ACCOUNT}\"\nendpoint = \"{}\"\nqueue_endpoint = \"{}\"\ncredential = {{ kind = \"account-key\", key = \"{KEY}\" }}\n",
            azurite.blob_endpoint(),
            azurite.queue_endpoint()
        ),
    )
    .unwrap();
    let blob = format!("127.0.0.1:{}", azurite.blob_port);
    let queue = format!("127.0.0.1:{}", azurite.queue_port.unwrap());

    let (out, table) = doctor(&data, &["--source", good.to_str().unwrap(), "--sink", sink.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{table}");
    let row = line(&table, &blob);
    assert!(row.contains("source 'lake' (azure-blob)") && row.contains("ok test-connection"), "{row}");
    assert!(line(&table, &format!("{queue} ")).contains("sink queue 'runs'"), "{table}");
    assert!(table.contains("sink container 'ingest'"), "{table}");
    assert!(table.contains("all 3 endpoints ok"), "{table}");
    assert!(!table.contains(KEY), "the key is printed: {table}");

    // A wrong key: the network is fine, the authenticated call is not.
    let wrong_key = "d3Jvbmcgd3Jvbmcgd3Jvbmcgd3Jvbmcgd3Jvbmcgd3Jvbmcgd3Jvbmcgd3Jvbmc=";
    let bad = azure_source(tmp.path(), "bad", &azurite, wrong_key);
    let (out, table) = doctor(&data, &["--source", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let row = line(&table, &blob);
    assert!(row.contains("ok 127.0.0.1") && row.contains("FAIL auth"), "{row}");
    assert!(row.contains("auth: [auth] authentication failed") && row.contains("wrong account key"), "{row}");
    assert!(!table.contains(wrong_key), "the key is printed: {table}");

    // JSON for machines: the same verdicts.
    let (_, text) = doctor(&data, &["--source", bad.to_str().unwrap(), "--json"], &[]);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(report["ok"], false);
    let row = &report["endpoints"][0];
    assert_eq!((row["dns"]["status"].as_str(), row["tcp"]["status"].as_str()), (Some("ok"), Some("ok")), "{row}");
    assert_eq!(
        (row["tls"]["status"].as_str(), row["auth"]["status"].as_str()),
        (Some("not_applicable"), Some("failed"))
    );
}

#[test]
fn refused_ports_and_unknown_names_fail_with_hints_and_urls_lists_them_without_connecting() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A port held by a socket that never listens: connections are refused.
    let closed = support::ClosedPort::new();
    let port = closed.port;
    let pg = |name: &str, host: &str| {
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"{name}\"\ntype = \"postgresql\"\n[connection]\nhost = \"{host}\"\nport = {port}\nencryption = \"off\"\ncredential = {{ kind = \"password\", user = \"u\", password = \"hunter2\" }}\n"
            ),
        )
        .unwrap();
        path
    };
    let refused = pg("closed", "127.0.0.1");
    let unknown = pg("nowhere", "no-such-server.invalid");
    let args = ["--source", refused.to_str().unwrap(), "--source", unknown.to_str().unwrap()];

    let (out, table) = doctor(&data, &args, &[]);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let row = line(&table, &format!("127.0.0.1:{port}"));
    assert!(row.contains("FAIL refused"), "{row}");
    assert!(row.contains(&format!("TCP: connection refused — nothing listens on 127.0.0.1:{port}")), "{row}");
    assert!(row.contains("skip"), "auth is skipped after a failure: {row}");
    let row = line(&table, "no-such-server.invalid");
    assert!(row.contains("FAIL not found"), "{row}");
    assert!(row.contains("DNS: name no-such-server.invalid not found"), "{row}");
    assert!(table.contains("2 of 2 endpoints failed"), "{table}");
    assert!(!table.contains("hunter2"));

    // --urls: host:port and role, one a line, exit 0, nothing contacted.
    let (out, text) = doctor(&data, &[&args[..], &["--urls"]].concat(), &[]);
    assert!(out.status.success(), "{text}");
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with(&format!("127.0.0.1:{port}")) && lines[0].contains("source 'closed' (postgresql)"));
    assert!(lines[1].starts_with(&format!("no-such-server.invalid:{port}")) && lines[1].contains("source 'nowhere'"));

    // Nothing to check is an error that says what to give.
    let (out, text) = doctor(&data, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("nothing to check: give --source FILE"), "{text}");
}

/// A test CA, and a certificate it signs for `names` (IP addresses or DNS names).
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Surveyor doctor test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir: dir.to_path_buf(), ca, ca_key }
    }

    fn ca_file(&self) -> String {
        self.dir.join("ca.pem").to_str().unwrap().to_string()
    }

    /// Writes `<name>.pem` and `<name>.key`.
    fn leaf(&self, name: &str, names: &[&str], expired: bool) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (c, k) = (self.dir.join(format!("{name}.pem")), self.dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c.to_str().unwrap().to_string(), k.to_str().unwrap().to_string())
    }
}

/// `surveyor serve` over TLS on a free port; its URL.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, cert: &str, key: &str) -> Serve {
    let mut child = surveyor()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start surveyor serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("surveyor service listening on ").expect("listening line").to_string();
    Serve { child, url }
}

fn node_file(dir: &Path, url: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let saved = serde_json::json!({"url": url, "node_id": "node-x", "credential": "NODE@node-x@not-a-credential"});
    std::fs::write(dir.join("node.json"), saved.to_string()).unwrap();
}

#[test]
fn tls_problems_of_the_service_are_named_and_a_registered_node_is_green() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let ca = pki.ca_file();
    let trust = [("SSL_CERT_FILE", ca.as_str())];

    // A CA this machine does not trust: unknown issuer.
    let (cert, key) = pki.leaf("ip", &["127.0.0.1"], false);
    let svc = serve(&tmp.path().join("svc"), &cert, &key);
    let port = svc.url.rsplit(':').next().unwrap().to_string();
    let node = tmp.path().join("node");
    node_file(&node, &svc.url);
    let (out, table) = doctor(&node, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let row = line(&table, &format!("127.0.0.1:{port}"));
    assert!(row.contains("service (this node's registration)") && row.contains("FAIL unknown issuer"), "{row}");
    assert!(row.contains("signed by an unknown issuer (self-signed or a private CA)"), "{row}");

    // Trusted (SSL_CERT_FILE), but the node's credential is not one the service issued.
    let (out, table) = doctor(&node, &[], &trust);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let row = line(&table, &format!("127.0.0.1:{port}"));
    assert!(row.contains("ok TLS 1.3") && row.contains("FAIL auth"), "{row}");
    assert!(row.contains("register it again"), "{row}");
    assert!(!table.contains("not-a-credential"), "the credential is printed: {table}");

    // A real registration: every check green.
    let admin = surveyor()
        .args(["ir", "create", "doctor-ir", "--url", &svc.url, "--data-dir"])
        .arg(tmp.path().join("svc"))
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(admin.status.success(), "{}", stderr(&admin));
    let created: Value = serde_json::from_slice(&admin.stdout).unwrap();
    let registered = tmp.path().join("registered");
    let reg = surveyor()
        .args(["node", "register", "--name", "doc-node", "--key", created["keys"]["key1"].as_str().unwrap()])
        .args(["--url", &svc.url, "--data-dir"])
        .arg(&registered)
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(reg.status.success(), "{}", stderr(&reg));
    let (out, table) = doctor(&registered, &[], &trust);
    assert!(out.status.success(), "{table}");
    assert!(line(&table, &format!("127.0.0.1:{port}")).contains("ok heartbeat accepted"), "{table}");
    drop(svc);

    // A certificate for another name.
    let (cert, key) = pki.leaf("other", &["scanner.example"], false);
    let svc = serve(&tmp.path().join("svc2"), &cert, &key);
    node_file(&node, &svc.url);
    let (_, table) = doctor(&node, &[], &trust);
    assert!(table.contains("FAIL wrong name"), "{table}");
    assert!(table.contains("TLS: the certificate for scanner.example is not valid for 127.0.0.1"), "{table}");
    drop(svc);

    // An expired certificate.
    let (cert, key) = pki.leaf("old", &["127.0.0.1"], true);
    let svc = serve(&tmp.path().join("svc3"), &cert, &key);
    node_file(&node, &svc.url);
    let (_, table) = doctor(&node, &[], &trust);
    assert!(table.contains("FAIL expired"), "{table}");
    assert!(table.contains("expired on 2021-01-01"), "{table}");
}

#[test]
fn endpoints_are_checked_through_the_proxy_and_a_wrong_proxy_password_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let azurite = Azurite::start();
    let proxy = tinyproxy::tinyproxy(tmp.path(), "scanner", "proxy-pass");
    let set = |password: &str| {
        let out = surveyor()
            .args(["proxy", "--data-dir"])
            .arg(&data)
            .args(["set", "custom", "--address", "127.0.0.1", "--port", &proxy.port.to_string()])
            .args(["--user", "scanner", "--password-env", "DOCTOR_PROXY_PW"])
            .env("DOCTOR_PROXY_PW", password)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    set("proxy-pass");
    let source = azure_source(tmp.path(), "lake", &azurite, KEY);
    let blob = format!("127.0.0.1:{}", azurite.blob_port);
    let proxy_hp = format!("127.0.0.1:{}", proxy.port);

    let (out, table) = doctor(&data, &["--source", source.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{table}");
    let row = line(&table, &format!("{blob} (via proxy {proxy_hp})"));
    assert!(row.contains("ok via proxy") && row.contains("ok test-connection"), "{row}");
    assert!(line(&table, &format!("{proxy_hp} ")).contains("proxy"), "{table}");
    // The tunnel really went through tinyproxy.
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    assert!(log.contains(&format!("CONNECT {blob}")) || log.contains(&blob), "{log}");

    // --urls says the endpoint is reached through the proxy.
    let (_, text) = doctor(&data, &["--source", source.to_str().unwrap(), "--urls"], &[]);
    assert!(text.contains(&format!("through the proxy {proxy_hp}")), "{text}");

    // A wrong proxy password: 407, named as such, and never printed.
    set("not-the-password");
    let (out, table) = doctor(&data, &["--source", source.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{table}");
    let row = line(&table, &blob);
    // tinyproxy answers a wrong password with 401 rather than 407.
    assert!(row.contains("FAIL proxy 401") || row.contains("FAIL proxy 407"), "{row}");
    assert!(row.contains(&format!("proxy: {proxy_hp} refused the user/password")), "{row}");
    assert!(!table.contains("not-the-password") && !table.contains("proxy-pass"), "{table}");
}
