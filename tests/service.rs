//! `surveyor serve` as a real process on 127.0.0.1, driven over HTTP and by
//! the CLI: integration runtimes and key rotation, nodes, sources (secrets
//! never returned, logged or stored in clear), scans and runs, the data
//! directory lock, SIGTERM.

#[path = "support/nodes.rs"]
mod nodes;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use nodes::NodeAgent;
use serde_json::{Value, json};
use serve::{Service, poll_run};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{Run, stderr, surveyor};
use surveyor_lakegen::{LakeSpec, write_lake};

#[test]
fn runtimes_keys_nodes_and_the_data_directory_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let svc = Service::start(&data);

    // A second service on the same data directory is refused, clearly.
    let second = surveyor().args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data).output().unwrap();
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("another surveyor service") && stderr(&second).contains("is using the data directory"),
        "{}",
        stderr(&second)
    );

    // Health, version, and the admin token.
    let (status, health) = svc.call("GET", "/healthz", None, None);
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(health["version"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["version"]["expires_on"].is_string());
    let (status, err) = svc.call("GET", "/v1/integration-runtimes", None, None);
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = svc.call("GET", "/v1/integration-runtimes", Some("ADMIN@wrong"), None);
    assert_eq!(status, 401);

    // Create a runtime with the CLI: two keys.
    let (ok, created, err) = svc.cli(&["ir", "create", "lake-ir", "--description", "the lake's runtime"]);
    assert!(ok, "{err}");
    let key1 = created["keys"]["key1"].as_str().unwrap().to_string();
    let key2 = created["keys"]["key2"].as_str().unwrap().to_string();
    assert!(key1.starts_with("IR@") && key2.starts_with("IR@") && key1 != key2);
    assert_eq!(created["integration_runtime"]["max_nodes"], 4);
    let (status, keys) = svc.admin("GET", "/v1/integration-runtimes/lake-ir/keys", None);
    assert_eq!((status, keys["key1"].as_str(), keys["key2"].as_str()), (200, Some(&*key1), Some(&*key2)));

    // Bad input: precise 4xx.
    let (status, e) = svc.call("POST", "/v1/integration-runtimes", Some(&svc.token), Some("{\"name\": "));
    assert_eq!(status, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("malformed JSON"), "{e}");
    let (status, e) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "x", "colour": "red"})));
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("colour"), "{e}");
    let (status, e) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "n".repeat(65)})));
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("longer than 64"), "{e}");
    let (status, _) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "lake-ir"})));
    assert_eq!(status, 409);
    let (status, _) = svc.call("POST", "/v1/integration-runtimes", Some(&svc.token), None);
    assert_eq!(status, 415);

    // Rotate key 1: the old key 1 is refused at once, key 2 keeps working.
    let (ok, rotated, err) = svc.cli(&["ir", "regenerate-key", "lake-ir", "--key", "1"]);
    assert!(ok, "{err}");
    let new_key1 = rotated["key1"].as_str().unwrap().to_string();
    assert_ne!(new_key1, key1);
    assert_eq!(rotated["key2"].as_str(), Some(&*key2));
    let (status, e) = svc.call("POST", "/v1/nodes/register", Some(&key1), Some("{\"name\": \"old\"}"));
    assert_eq!(status, 401, "{e}");

    // Register a node with the CLI and key 2 (it sends a first heartbeat).
    let node_dir = tmp.path().join("node-a");
    let out = surveyor()
        .args(["node", "register", "--name", "node-a", "--key", &key2, "--url", &svc.url, "--data-dir"])
        .arg(&node_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let saved: Value = serde_json::from_slice(&std::fs::read(node_dir.join("node.json")).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(node_dir.join("node.json")).unwrap().permissions().mode() & 0o777, 0o600);
    let credential_a = saved["credential"].as_str().unwrap().to_string();

    // The new key 1 works too; heartbeats carry CPU and memory.
    let mut credentials = vec![credential_a.clone()];
    for name in ["node-b", "node-c", "node-d"] {
        let (status, reg) =
            svc.call("POST", "/v1/nodes/register", Some(&new_key1), Some(&json!({"name": name}).to_string()));
        assert_eq!(status, 201, "{reg}");
        credentials.push(reg["credential"].as_str().unwrap().to_string());
    }
    let hb = json!({"version": "0.1.0", "running_jobs": 1, "cpu_percent": 12.5, "memory_used_bytes": 1000, "memory_total_bytes": 4000});
    let (status, reply) = svc.call("POST", "/v1/nodes/heartbeat", Some(&credentials[1]), Some(&hb.to_string()));
    assert_eq!(status, 200, "{reply}");
    let (status, e) = svc.call(
        "POST",
        "/v1/nodes/heartbeat",
        Some(&credentials[1]),
        Some("{\"version\": \"1\", \"cpu_percent\": 250}"),
    );
    assert_eq!(status, 400, "{e}");

    // At most 4 nodes.
    let (status, e) = svc.call("POST", "/v1/nodes/register", Some(&key2), Some("{\"name\": \"node-e\"}"));
    assert_eq!(status, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("maximum"), "{e}");

    let (ok, nodes, err) = svc.cli(&["node", "list"]);
    assert!(ok, "{err}");
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let a = nodes.iter().find(|n| n["name"] == "node-a").unwrap();
    // This machine's real CPU and memory: `limited` when busy (CPU or memory above 90%).
    assert!(matches!(a["status"].as_str(), Some("online" | "limited")), "{a}");
    assert!(a["memory_total_bytes"].as_i64().unwrap() > 0 && a["cpu_percent"].is_number(), "{a}");
    assert_eq!(a["ip_address"], "127.0.0.1");
    let b = nodes.iter().find(|n| n["name"] == "node-b").unwrap();
    assert_eq!((b["running_jobs"].as_i64(), b["cpu_percent"].as_f64()), (Some(1), Some(12.5)));
    assert_eq!(b["status"], "online", "{b}");
    let c = nodes.iter().find(|n| n["name"] == "node-c").unwrap();
    assert_eq!(c["status"], "offline", "no heartbeat yet");

    // Remove node-a: its credential stops working at once, and there is room for a fifth.
    let (ok, _, err) = svc.cli(&["node", "remove", "node-a"]);
    assert!(ok, "{err}");
    let (status, _) = svc.call("POST", "/v1/nodes/heartbeat", Some(&credential_a), Some(&hb.to_string()));
    assert_eq!(status, 401);
    let (status, _) = svc.call("POST", "/v1/nodes/register", Some(&key2), Some("{\"name\": \"node-e\"}"));
    assert_eq!(status, 201);

    // Metrics.
    let (status, metrics) = svc.call("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(metrics.as_str().unwrap().contains("surveyor_build_info{version="), "{metrics}");

    // SIGTERM: a clean exit, and the lock is released.
    let status = svc.stop();
    assert!(status.success(), "{status:?}");
    let again = Service::start(&data);
    let (status, irs) = again.admin("GET", "/v1/integration-runtimes", None);
    assert_eq!((status, irs[0]["name"].as_str(), irs[0]["nodes"].as_i64()), (200, Some("lake-ir"), Some(4)));
    assert!(again.stop().success());
}

#[test]
fn sources_scans_and_runs_with_secrets_kept_out_of_sight() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let written = write_lake(&lake, &LakeSpec { files: 12, files_per_table: 4, ..LakeSpec::default() }).unwrap();
    let data = tmp.path().join("data");
    let svc = Service::start(&data);

    // A local folder source; a bad definition is refused naming the field.
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}, "config": {}});
    let (status, created) = svc.admin("POST", "/v1/sources", Some(source.clone()));
    assert_eq!(status, 201, "{created}");
    let mut bad = source.clone();
    bad["name"] = json!("lake2");
    bad["config"] = json!({"include_hidden": "yes"});
    let (status, e) = svc.admin("POST", "/v1/sources", Some(bad));
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("config.include_hidden"), "{e}");
    let (status, e) = svc.admin(
        "POST",
        "/v1/sources",
        Some(json!({"name": "x", "type": "local-folder", "connection": {}, "colour": 1})),
    );
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("colour"), "{e}");

    // An Azure source with an inline account key: never returned, logged or stored in clear.
    let secret = "c2VjcmV0LWFjY291bnQta2V5LWZvci1zdXJ2ZXlvci10ZXN0cw==";
    let azure = json!({"name": "blobs", "type": "azure-blob",
        "connection": {"account": "devstoreaccount1", "endpoint": "http://127.0.0.1:1/devstoreaccount1",
                       "credential": {"kind": "account-key", "key": secret}},
        "config": {}});
    let (status, view) = svc.admin("POST", "/v1/sources", Some(azure));
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["connection"]["credential"]["key"], "<redacted>");
    let (_, list) = svc.admin("GET", "/v1/sources", None);
    let (_, one) = svc.admin("GET", "/v1/sources/blobs", None);
    assert!(!list.to_string().contains(secret) && !one.to_string().contains(secret));
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A scan with a manual trigger, and rules that catalog every file on its own.
    let scan = json!({"name": "lake-daily", "source": "lake", "rule_set": {"resource_sets": {"enabled": false}},
        "trigger": {"kind": "recurring", "interval": "days", "hours": [3], "minutes": [0], "time_zone": "Europe/Berlin"}});
    let (status, created) = svc.admin("POST", "/v1/scans", Some(scan));
    assert_eq!(status, 201, "{created}");
    assert!(created["next_run_at"].as_str().unwrap().ends_with(":00:00.000Z"), "{created}");
    // Bad triggers and scopes: precise 400s.
    let (status, e) = svc.admin(
        "POST",
        "/v1/scans",
        Some(json!({"name": "s2", "source": "lake", "trigger": {"kind": "once", "at": "2020-01-01T00:00:00Z"}})),
    );
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("trigger.at"), "{e}");
    let (status, e) =
        svc.admin("POST", "/v1/scans", Some(json!({"name": "s2", "source": "lake", "scope": ["../etc"]})));
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("scope[0]"), "{e}");
    let (status, _) = svc.admin("POST", "/v1/scans", Some(json!({"name": "s2", "source": "nope"})));
    assert_eq!(status, 400);

    // Run now, and wait for it.
    let (ok, run, err) = svc.cli(&["scans", "run", "lake-daily"]);
    assert!(ok, "{err}");
    assert_eq!(run["state"], "queued");
    let run = poll_run(&svc, run["id"].as_str().unwrap());
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["counts"]["files"], written.len());
    assert_eq!(run["counts"]["schemas"], written.len());
    assert_eq!(run["counts"]["item_errors"], 0);
    assert!(run["counts"]["assets"].as_i64().unwrap() > written.len() as i64, "files and folders: {run}");
    let location = PathBuf::from(run["location"].as_str().unwrap());
    assert!(location.starts_with(&data), "{location:?}");
    let output = Run::read(&location);
    assert_eq!(output.manifest["status"], "succeeded");
    output.check_references();

    // A scan on a schedule runs on it: `once`, two seconds from now.
    let at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2)).to_string();
    let (status, created) = svc.admin("POST", "/v1/scans", Some(json!({"name": "lake-once", "source": "lake", "scope": ["warehouse"], "trigger": {"kind": "once", "at": at}})));
    assert_eq!(status, 201, "{created}");
    let scheduled = support::wait_until_explained("the scheduled run to start", Duration::from_secs(120), || {
        let (_, runs) = svc.admin("GET", "/v1/runs?scan=lake-once", None);
        runs.as_array().unwrap().first().cloned().ok_or_else(|| format!("no run yet; log: {}", svc.log()))
    });
    assert_eq!(scheduled["reason"], "schedule");
    let scheduled = poll_run(&svc, scheduled["id"].as_str().unwrap());
    assert_eq!(scheduled["state"], "succeeded", "{scheduled}");
    let in_scope = written.iter().filter(|f| f.path.starts_with("warehouse/")).count();
    assert_eq!(scheduled["counts"]["files"], in_scope, "only the scope is scanned");
    let (_, scan) = svc.admin("GET", "/v1/scans/lake-once", None);
    assert!(scan["next_run_at"].is_null(), "a once trigger runs once: {scan}");

    // Run history: newest first, filtered by state; bad filters refused.
    let (status, runs) = svc.admin("GET", "/v1/runs?state=succeeded", None);
    assert_eq!(status, 200);
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let (status, _) = svc.admin("GET", "/v1/runs?state=done", None);
    assert_eq!(status, 400);
    // A finished run cannot be canceled; a deleted scan keeps its history.
    let (status, _) = svc.admin("POST", &format!("/v1/runs/{}/cancel", run["id"].as_str().unwrap()), None);
    assert_eq!(status, 409);
    let (status, _) = svc.admin("DELETE", "/v1/scans/lake-once", None);
    assert_eq!(status, 204);
    let (_, runs) = svc.admin("GET", "/v1/runs?scan=lake-once", None);
    assert_eq!(runs.as_array().unwrap().len(), 1);

    let (_, metrics) = svc.call("GET", "/metrics", None, None);
    assert!(metrics.as_str().unwrap().contains("surveyor_runs_finished_total{state=\"succeeded\"} 2"), "{metrics}");

    assert!(svc.stop().success());
    // The secret is nowhere in clear: not in the database files, not in the log.
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(!log.contains(secret), "the log holds the secret");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the secret",
                path.display()
            );
        }
    }
    assert!(data.join("state.db").exists());
}

#[test]
fn a_run_stopped_by_sigterm_is_queued_again_at_the_next_start_and_can_be_canceled() {
    // A source that emits assets for as long as it is let run (tests/connectors/hostile-source).
    let tmp = tempfile::tempdir().unwrap();
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        Path::new(surveyor_engine::BUILD_OUT_DIR).join("hostile-source.wasm"),
        plugins.join("hostile-source.wasm"),
    )
    .unwrap();
    let p = plugins.to_str().unwrap();
    let data = tmp.path().join("data");
    // No grace: the run in progress is stopped at once.
    let svc = Service::start_with(&data, &["--grace-period", "0", "--plugins", p]);
    let source = json!({"name": "endless", "type": "hostile", "connection": {"kind": "local-folder", "path": tmp.path()},
        "config": {"mode": "flood", "count": 1_000_000_000u64}});
    let (status, e) = svc.admin("POST", "/v1/sources", Some(source));
    assert_eq!(status, 201, "{e}");
    assert_eq!(svc.admin("POST", "/v1/scans", Some(json!({"name": "long", "source": "endless"}))).0, 201);
    let (status, run) = svc.admin("POST", "/v1/scans/long/runs", None);
    assert_eq!(status, 202);
    let id = run["id"].as_str().unwrap().to_string();
    let wait_for = |svc: &Service, pred: &dyn Fn(&Value) -> bool| {
        support::wait_until_explained(&format!("run {id} to reach the awaited state"), Duration::from_secs(180), || {
            let run = svc.admin("GET", &format!("/v1/runs/{id}"), None).1;
            if pred(&run) { Ok(run) } else { Err(format!("{run}; log: {}", svc.log())) }
        })
    };
    wait_for(&svc, &|r| r["units"]["in_progress"] == 1 && r["units"]["planned"] == true);
    let log_path = svc.log.clone();
    assert!(svc.stop().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("unit stopped by the shutdown; queued again"), "{log}");

    // Restarted: the same run goes on; its unit, stopped by the shutdown, is
    // queued again and run again (its second attempt); no second run appears.
    let svc = Service::start_with(&data, &["--grace-period", "0", "--plugins", p]);
    let run = wait_for(&svc, &|r| r["units"]["in_progress"] == 1 && r["units"]["retried"] == 1);
    assert_eq!((run["state"].as_str(), run["attempt"].as_i64()), (Some("in_progress"), Some(1)), "{run}");
    let (_, runs) = svc.admin("GET", "/v1/runs?scan=long", None);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");

    // Canceled through the CLI while in progress: `canceled`.
    let (ok, _, err) = svc.cli(&["runs", "cancel", &id]);
    assert!(ok, "{err}");
    let run = wait_for(&svc, &|r| r["state"] != "in_progress");
    assert_eq!(run["state"], "canceled", "{run}");
    assert!(svc.stop().success());
}

#[test]
fn the_api_is_served_over_tls_when_given_a_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let openssl = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian: apt-get install openssl) makes the test certificate");
    assert!(openssl.status.success(), "{}", stderr(&openssl));

    let data = tmp.path().join("data");
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let svc = Service::start_with(&data, &["--tls-cert", c, "--tls-key", k]);
    assert!(svc.url.starts_with("https://127.0.0.1:"), "{}", svc.url);
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .build()
        .unwrap();
    let health = client.get(format!("{}/healthz", svc.url)).send().unwrap();
    assert_eq!(health.status(), 200);
    let created = client
        .post(format!("{}/v1/integration-runtimes", svc.url))
        .bearer_auth(&svc.token)
        .header("content-type", "application/json")
        .body(json!({"name": "tls-ir"}).to_string())
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    // Plain HTTP and clients that do not trust the certificate get nothing.
    let plain = svc.url.replace("https://", "http://");
    assert!(reqwest::blocking::get(format!("{plain}/healthz")).is_err());
    assert!(reqwest::blocking::get(format!("{}/healthz", svc.url)).is_err());
    assert!(svc.stop().success());
}

fn wait_run(svc: &Service, id: &str, what: &str, pred: &dyn Fn(&Value) -> bool) -> Value {
    support::wait_until_explained(what, Duration::from_secs(300), || {
        let run = svc.admin("GET", &format!("/v1/runs/{id}"), None).1;
        if pred(&run) { Ok(run) } else { Err(format!("{run}; log: {}", svc.log())) }
    })
}

#[test]
fn scans_of_an_integration_runtime_run_on_its_nodes_and_survive_a_node_lost_mid_run() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let written = write_lake(&lake, &LakeSpec { files: 12, files_per_table: 4, ..LakeSpec::default() }).unwrap();
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        Path::new(surveyor_engine::BUILD_OUT_DIR).join("hostile-source.wasm"),
        plugins.join("hostile-source.wasm"),
    )
    .unwrap();
    let p = plugins.to_str().unwrap();
    let svc = Service::start_with(&tmp.path().join("data"), &["--node-offline-after", "3", "--plugins", p]);

    let (status, ir) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "edge"})));
    assert_eq!(status, 201, "{ir}");
    let (key1, key2) = (ir["keys"]["key1"].as_str().unwrap(), ir["keys"]["key2"].as_str().unwrap());
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}});
    assert_eq!(svc.admin("POST", "/v1/sources", Some(source)).0, 201);

    // Test connection and browse, from the service.
    let (status, verdict) = svc.admin("POST", "/v1/sources/lake/test-connection", None);
    assert_eq!((status, &verdict["ok"]), (200, &json!(true)), "{verdict}");
    let (status, entries) = svc.admin("GET", "/v1/sources/lake/browse", None);
    assert_eq!(status, 200, "{entries}");
    let top: Vec<&str> = entries.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    let first_table = written[0].path.split('/').next().unwrap();
    assert!(top.contains(&first_table), "{entries}");
    let (status, e) = svc.admin("GET", "/v1/sources/lake/browse?path=no/such/folder", None);
    assert_eq!(status, 404, "{e}");
    let gone = json!({"name": "gone", "type": "local-folder", "connection": {"path": tmp.path().join("nowhere")}});
    assert_eq!(svc.admin("POST", "/v1/sources", Some(gone)).0, 201);
    let (ok, out, _) = svc.cli(&["sources", "test-connection", "gone"]);
    assert!(!ok, "{out}");
    assert_eq!(out["ok"], false);
    assert!(out["error"]["message"].as_str().unwrap().contains("nowhere"), "{out}");

    // A scan on the runtime's nodes; an unknown runtime is a 400 naming the field.
    let (status, e) =
        svc.admin("POST", "/v1/scans", Some(json!({"name": "x", "source": "lake", "integration_runtime": "nope"})));
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().starts_with("integration_runtime:"), "{e}");
    let (ok, scan, err) =
        svc.cli(&["scans", "create", "edge-lake", "--source", "lake", "--integration-runtime", "edge"]);
    assert!(ok, "{err}");
    assert_eq!(scan["integration_runtime"], "edge");
    let (status, e) = svc.admin("DELETE", "/v1/integration-runtimes/edge", None);
    assert_eq!(status, 409, "{e}");

    // Queued while no node works: it waits; the service does not run it.
    let (_, run) = svc.admin("POST", "/v1/scans/edge-lake/runs", None);
    let id = run["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(svc.admin("GET", &format!("/v1/runs/{id}"), None).1["state"], "queued");

    // A node takes it and runs it; the output is collected by the service (its default ingestion target).
    let node_a_data = tmp.path().join("node-a");
    let mut node_a = NodeAgent::start(&svc, &node_a_data, "node-a", key1, p);
    let run = wait_run(&svc, &id, "the node's run", &|r| r["state"] == "succeeded");
    assert_eq!(run["units"]["by_node"], json!({"node-a": 2}), "the plan and one slice: {run}");
    assert_eq!(run["counts"]["files"], written.len() as i64, "{run}");
    let location = PathBuf::from(run["location"].as_str().unwrap());
    assert!(location.starts_with(svc.data.join("output").join("edge-lake")), "{run}");
    assert!(location.join("manifest.json").is_file(), "{run}");
    assert!(!node_a_data.join("output").exists(), "nothing stays on the node");

    // Updated (PUT): the scan's definition changes, its name cannot.
    let (status, updated) = svc.admin(
        "PUT",
        "/v1/scans/edge-lake",
        Some(json!({"name": "edge-lake", "source": "lake", "scope": [first_table],
            "integration_runtime": "edge"})),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["scope"].as_array().unwrap().len(), 1, "{updated}");
    let (status, e) = svc.admin("PUT", "/v1/scans/edge-lake", Some(json!({"name": "renamed", "source": "lake"})));
    assert_eq!(status, 400, "{e}");
    let (_, run) = svc.admin("POST", "/v1/scans/edge-lake/runs", None);
    let run = wait_run(&svc, run["id"].as_str().unwrap(), "the scoped run", &|r| r["state"] == "succeeded");
    assert!(run["counts"]["files"].as_i64().unwrap() < written.len() as i64, "{run}");

    // A run that never ends by itself: canceled through the service, the node stops it.
    let endless = json!({"name": "endless", "type": "hostile", "connection": {"kind": "local-folder", "path": tmp.path()},
        "config": {"mode": "flood", "count": 1_000_000_000u64}});
    assert_eq!(svc.admin("POST", "/v1/sources", Some(endless)).0, 201);
    let scan = json!({"name": "long", "source": "endless", "integration_runtime": "edge"});
    assert_eq!(svc.admin("POST", "/v1/scans", Some(scan)).0, 201);
    let (_, run) = svc.admin("POST", "/v1/scans/long/runs", None);
    let id = run["id"].as_str().unwrap().to_string();
    wait_run(&svc, &id, "the node to start it", &|r| r["state"] == "in_progress");
    assert_eq!(svc.admin("POST", &format!("/v1/runs/{id}/cancel"), None).0, 202);
    let run = wait_run(&svc, &id, "the cancel", &|r| r["state"] != "in_progress");
    assert_eq!(run["state"], "canceled", "{run}; node log: {}", node_a.log());

    // The node dies mid-run (SIGKILL): once it is offline, its unit is queued
    // again and another node of the runtime takes it (the unit's second attempt).
    let (_, run) = svc.admin("POST", "/v1/scans/long/runs", None);
    let id = run["id"].as_str().unwrap().to_string();
    // Its plan done, its one slice in progress on node-a.
    wait_run(&svc, &id, "node-a to start it", &|r| {
        r["units"]["planned"] == true && r["units"]["in_progress_by_node"]["node-a"] == 1
    });
    node_a.signal(rustix::process::Signal::KILL);
    let mut node_b = NodeAgent::start(&svc, &tmp.path().join("node-b"), "node-b", key2, p);
    let run = wait_run(&svc, &id, "node-b to take it over", &|r| r["units"]["in_progress_by_node"]["node-b"] == 1);
    assert_eq!((run["state"].as_str(), run["units"]["retried"].as_i64()), (Some("in_progress"), Some(1)), "{run}");
    assert!(svc.log().contains("nodes gone offline"), "{}", svc.log());

    // SIGTERM with no grace: the node stops its unit and gives it back to the queue at once.
    assert!(node_b.signal(rustix::process::Signal::TERM).success(), "{}", node_b.log());
    let run = wait_run(&svc, &id, "the unit given back", &|r| r["units"]["queued"] == 1);
    assert_eq!((run["state"].as_str(), &run["units"]["in_progress"]), (Some("in_progress"), &json!(0)), "{run}");
    assert_eq!(svc.admin("POST", &format!("/v1/runs/{id}/cancel"), None).0, 202);
    let (_, runs) = svc.admin("GET", "/v1/runs?scan=long", None);
    assert_eq!(runs.as_array().unwrap().len(), 2, "one run per trigger, however often it moved: {runs}");
}
