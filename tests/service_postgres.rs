//! `surveyor serve --database-url postgres://…`: the service's state in a real
//! PostgreSQL (a throwaway cluster from Debian's `postgresql` package, see
//! `support/postgres.rs`) instead of the embedded SQLite, driven over its API
//! as a real process: runtimes, nodes and heartbeats, sources, scans on a
//! schedule and on demand, runs with their counts, canceling a queued run, and
//! a restart (the run it interrupted is queued again, everything else is kept).

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;
#[path = "support/test_ca.rs"]
mod test_ca;

use serde_json::{Value, json};
use serve::{Service, poll_run};
use std::path::Path;
use std::time::Duration;
use support::Run;
use surveyor_lakegen::{LakeSpec, write_lake};

const DB_PASSWORD: &str = "st4te-Db-pw";

/// Waits until the run satisfies `pred`.
fn wait_for(svc: &Service, id: &str, pred: &dyn Fn(&Value) -> bool) -> Value {
    support::wait_until_explained(&format!("run {id} to reach the awaited state"), Duration::from_secs(180), || {
        let (status, run) = svc.admin("GET", &format!("/v1/runs/{id}"), None);
        assert_eq!(status, 200, "{run}");
        if pred(&run) { Ok(run) } else { Err(format!("{run}; log: {}", svc.log())) }
    })
}

#[test]
fn the_service_keeps_its_state_in_postgresql() {
    let cluster = postgres::Cluster::start();
    // The service's own login and database, not the superuser.
    cluster.psql("postgres", &format!("CREATE ROLE surveyor LOGIN PASSWORD '{DB_PASSWORD}'"));
    cluster.psql("postgres", "CREATE DATABASE surveyor_state OWNER surveyor");
    let url = format!("postgres://surveyor:{DB_PASSWORD}@127.0.0.1:{}/surveyor_state", cluster.port);

    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let written = write_lake(&lake, &LakeSpec { files: 8, files_per_table: 4, ..LakeSpec::default() }).unwrap();
    // A source that emits assets for as long as it is let run (tests/connectors/hostile-source).
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        Path::new(surveyor_engine::BUILD_OUT_DIR).join("hostile-source.wasm"),
        plugins.join("hostile-source.wasm"),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let args =
        ["--database-url", &url, "--concurrency", "1", "--grace-period", "0", "--plugins", plugins.to_str().unwrap()];
    let svc = Service::start_with(&data, &args);

    // An integration runtime; a node registers with its key and sends a heartbeat.
    let (status, created) =
        svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "pg-ir", "max_nodes": 2})));
    assert_eq!(status, 201, "{created}; log: {}", svc.log());
    let key = created["keys"]["key1"].as_str().unwrap().to_string();
    let (status, e) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "pg-ir"})));
    assert_eq!(status, 409, "a unique violation in PostgreSQL is a conflict: {e}");
    let (status, reg) = svc.call("POST", "/v1/nodes/register", Some(&key), Some(r#"{"name": "node-1"}"#));
    assert_eq!(status, 201, "{reg}");
    let credential = reg["credential"].as_str().unwrap().to_string();
    let hb = json!({"version": "0.1.0", "running_jobs": 3, "cpu_percent": 12.5, "memory_used_bytes": 6_000_000_000i64, "memory_total_bytes": 16_000_000_000i64});
    let (status, reply) = svc.call("POST", "/v1/nodes/heartbeat", Some(&credential), Some(&hb.to_string()));
    assert_eq!(status, 200, "{reply}");
    let (_, nodes) = svc.admin("GET", "/v1/nodes?integration_runtime=pg-ir", None);
    let node = &nodes[0];
    assert_eq!((node["name"].as_str(), node["status"].as_str()), (Some("node-1"), Some("online")), "{nodes}");
    assert_eq!(node["running_jobs"], 3);
    assert_eq!(node["cpu_percent"], 12.5);
    assert_eq!(node["memory_total_bytes"], 16_000_000_000i64, "64-bit values survive");
    let (_, irs) = svc.admin("GET", "/v1/integration-runtimes", None);
    assert_eq!((irs[0]["max_nodes"].as_i64(), irs[0]["nodes"].as_i64()), (Some(2), Some(1)), "{irs}");
    let (_, all) = svc.admin("GET", "/v1/nodes", None);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    // Key rotation: the old key is refused, the new one registers.
    let (status, rotated) = svc.admin("POST", "/v1/integration-runtimes/pg-ir/keys/1/regenerate", None);
    assert_eq!(status, 200, "{rotated}");
    let (status, _) = svc.call("POST", "/v1/nodes/register", Some(&key), Some(r#"{"name": "node-2"}"#));
    assert_eq!(status, 401);
    let new_key = rotated["key1"].as_str().unwrap();
    let (status, _) = svc.call("POST", "/v1/nodes/register", Some(new_key), Some(r#"{"name": "node-2"}"#));
    assert_eq!(status, 201);
    assert_eq!(svc.admin("DELETE", "/v1/nodes/node-2", None).0, 204);

    // A local lake, scanned on demand: the run succeeds with its counts.
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}, "config": {}});
    let (status, e) = svc.admin("POST", "/v1/sources", Some(source));
    assert_eq!(status, 201, "{e}");
    let scan = json!({"name": "lake-scan", "source": "lake", "incremental": true, "rule_set": {"resource_sets": {"enabled": false}}});
    let (status, e) = svc.admin("POST", "/v1/scans", Some(scan));
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["incremental"], true);
    let (status, queued) = svc.admin("POST", "/v1/scans/lake-scan/runs", None);
    // The service may have taken its plan already (PostgreSQL serves both at once).
    assert_eq!(status, 202, "{queued}");
    assert!(matches!(queued["state"].as_str(), Some("queued" | "in_progress")), "{queued}");
    let lake_run = poll_run(&svc, queued["id"].as_str().unwrap());
    assert_eq!(lake_run["state"], "succeeded", "{lake_run}; log: {}", svc.log());
    assert_eq!(lake_run["counts"]["files"], written.len());
    assert_eq!(lake_run["counts"]["schemas"], written.len());
    assert!(lake_run["counts"]["bytes_read"].as_i64().unwrap() > 0, "{lake_run}");
    assert!(lake_run["duration_ms"].as_i64().is_some(), "{lake_run}");
    let output = Run::read(Path::new(lake_run["location"].as_str().unwrap()));
    assert_eq!(output.manifest["status"], "succeeded");

    // On a schedule: `once`, two seconds from now, over one folder.
    let at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2)).to_string();
    let once =
        json!({"name": "lake-once", "source": "lake", "scope": ["warehouse"], "trigger": {"kind": "once", "at": at}});
    let (status, e) = svc.admin("POST", "/v1/scans", Some(once));
    assert_eq!(status, 201, "{e}");
    let scheduled = support::wait_until_explained("the scheduled run to start", Duration::from_secs(120), || {
        let (_, runs) = svc.admin("GET", "/v1/runs?scan=lake-once", None);
        runs.as_array().unwrap().first().cloned().ok_or_else(|| format!("no run yet; log: {}", svc.log()))
    });
    assert_eq!(scheduled["reason"], "schedule");
    let scheduled = poll_run(&svc, scheduled["id"].as_str().unwrap());
    assert_eq!(scheduled["state"], "succeeded", "{scheduled}");
    let in_scope = written.iter().filter(|f| f.path.starts_with("warehouse/")).count();
    assert_eq!(scheduled["counts"]["files"], in_scope);
    let (_, once) = svc.admin("GET", "/v1/scans/lake-once", None);
    assert!(once["next_run_at"].is_null(), "{once}");

    // An endless run holds the only slot; a second one waits queued and is canceled there.
    let endless = json!({"name": "endless", "type": "hostile", "connection": {"kind": "local-folder", "path": tmp.path()},
        "config": {"mode": "flood", "count": 1_000_000_000u64}});
    assert_eq!(svc.admin("POST", "/v1/sources", Some(endless)).0, 201);
    assert_eq!(svc.admin("POST", "/v1/scans", Some(json!({"name": "long", "source": "endless"}))).0, 201);
    let (_, first) = svc.admin("POST", "/v1/scans/long/runs", None);
    let long_id = first["id"].as_str().unwrap().to_string();
    wait_for(&svc, &long_id, &|r| r["state"] == "in_progress");
    let (_, second) = svc.admin("POST", "/v1/scans/long/runs", None);
    let second_id = second["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(svc.admin("GET", &format!("/v1/runs/{second_id}"), None).1["state"], "queued");
    let (status, canceled) = svc.admin("POST", &format!("/v1/runs/{second_id}/cancel"), None);
    assert_eq!((status, canceled["state"].as_str()), (202, Some("canceled")), "{canceled}");
    let (status, _) = svc.admin("POST", &format!("/v1/runs/{second_id}/cancel"), None);
    assert_eq!(status, 409, "an ended run cannot be canceled again");

    // History: filters and limits.
    let count =
        |svc: &Service, query: &str| svc.admin("GET", &format!("/v1/runs{query}"), None).1.as_array().unwrap().len();
    assert_eq!(count(&svc, ""), 4);
    assert_eq!(count(&svc, "?state=succeeded"), 2);
    assert_eq!(count(&svc, "?state=canceled"), 1);
    assert_eq!(count(&svc, "?scan=long"), 2);
    assert_eq!(count(&svc, "?scan=long&state=in_progress"), 1);
    assert_eq!(count(&svc, "?limit=1"), 1);
    let (_, metrics) = svc.call("GET", "/metrics", None, None);
    assert!(metrics.as_str().unwrap().contains("surveyor_runs{state=\"succeeded\"} 2"), "{metrics}");

    // Stopped with a run in progress: the state is in PostgreSQL, not in a state.db.
    assert!(svc.stop().success());
    assert!(!data.join("state.db").exists(), "no SQLite database next to a PostgreSQL one");
    let states =
        cluster.psql("surveyor_state", "SELECT state || ':' || COUNT(*) FROM runs GROUP BY state ORDER BY state");
    assert_eq!(
        states.split_whitespace().collect::<Vec<_>>(),
        ["canceled:1", "in_progress:1", "succeeded:2"],
        "{states}"
    );

    // Restarted: the interrupted run goes on (its unit, given back at the
    // shutdown, runs again: its second attempt); the rest is as it was.
    let svc = Service::start_with(&data, &args);
    let resumed = wait_for(&svc, &long_id, &|r| r["units"]["retried"] == 1 && r["units"]["in_progress"] == 1);
    assert_eq!((resumed["reason"].as_str(), resumed["attempt"].as_i64()), (Some("manual"), Some(1)), "{resumed}");
    assert_eq!(count(&svc, ""), 4, "no run is added or lost by the restart");
    let (_, again) = svc.admin("GET", &format!("/v1/runs/{}", lake_run["id"].as_str().unwrap()), None);
    assert_eq!(again["counts"], lake_run["counts"]);
    assert_eq!(again["finished_at"], lake_run["finished_at"]);
    let (_, irs) = svc.admin("GET", "/v1/integration-runtimes/pg-ir", None);
    assert_eq!(irs["nodes"], 1, "{irs}");
    let (status, _) = svc.call("POST", "/v1/nodes/heartbeat", Some(&credential), Some(&hb.to_string()));
    assert_eq!(status, 200, "the node's credential still works");
    let (_, scans) = svc.admin("GET", "/v1/scans", None);
    assert_eq!(scans.as_array().unwrap().len(), 3, "{scans}");
    let (status, _) = svc.admin("POST", &format!("/v1/runs/{long_id}/cancel"), None);
    assert_eq!(status, 202);
    let ended = wait_for(&svc, &long_id, &|r| r["state"] != "in_progress");
    assert_eq!(ended["state"], "canceled", "{ended}");
    assert!(svc.stop().success());

    // The database password is never logged.
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(!log.contains(DB_PASSWORD), "the log holds the database password");
}

/// `surveyor serve` that should refuse to start; its exit status and log (killed after a minute if it does not stop).
fn serve_fails(data: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let log = data.with_extension("log");
    let mut child = support::surveyor()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("surveyor serve did not stop: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_service_reaches_its_postgresql_state_database_over_tls() {
    let ca = test_ca::TestCa::new("Surveyor state database test CA");
    let (cert_pem, key_pem) = ca.issue(&["localhost"]);
    // pg_hba.conf: TLS only.
    let cluster = postgres::Cluster::start_tls(&postgres::Tls { cert_pem, key_pem, ssl_only: true });
    cluster.psql("postgres", "ALTER SYSTEM SET log_connections = on");
    cluster.psql("postgres", "SELECT pg_reload_conf()");
    cluster.psql("postgres", &format!("CREATE ROLE surveyor LOGIN PASSWORD '{DB_PASSWORD}'"));
    cluster.psql("postgres", "CREATE DATABASE surveyor_state OWNER surveyor");
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("db-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let url = |host: &str| format!("postgres://surveyor:{DB_PASSWORD}@{host}:{}/surveyor_state", cluster.port);

    // Not trusted (no CA given): the service does not start, and says why.
    let (status, log) = serve_fails(
        &tmp.path().join("d1"),
        &["--database-url", &url("localhost"), "--database-encryption", "required"],
    );
    assert!(!status.success());
    assert!(log.contains("not signed by a trusted certificate authority"), "{log}");
    assert!(!log.contains(DB_PASSWORD), "the password stays out of the log: {log}");
    // The wrong name with verify-full.
    let (status, log) = serve_fails(
        &tmp.path().join("d2"),
        &[
            "--database-url",
            &url("127.0.0.1"),
            "--database-encryption",
            "verify-full",
            "--database-ca-certificate",
            ca_file.to_str().unwrap(),
        ],
    );
    assert!(!status.success());
    assert!(log.contains("not valid for the host name '127.0.0.1'"), "{log}");
    // Plain, to a server that takes only TLS.
    let (status, log) =
        serve_fails(&tmp.path().join("d3"), &["--database-url", &url("127.0.0.1"), "--database-encryption", "off"]);
    assert!(!status.success());
    assert!(log.contains("only over TLS"), "{log}");

    // The CA and the right name: the service runs on it, over TLS.
    let data = tmp.path().join("data");
    let args = [
        "--database-url",
        &url("localhost"),
        "--database-encryption",
        "verify-full",
        "--database-ca-certificate",
        ca_file.to_str().unwrap(),
    ];
    let svc = Service::start_with(&data, &args);
    let (status, created) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "tls-ir"})));
    assert_eq!(status, 201, "{created}; log: {}", svc.log());
    let (_, irs) = svc.admin("GET", "/v1/integration-runtimes", None);
    assert_eq!(irs[0]["name"], "tls-ir", "{irs}");
    let stored = cluster.psql("surveyor_state", "SELECT name FROM integration_runtimes");
    assert_eq!(stored.trim(), "tls-ir");
    let server_log = cluster.log();
    let sessions: Vec<&str> =
        server_log.lines().filter(|l| l.contains("connection authorized: user=surveyor")).collect();
    assert!(!sessions.is_empty() && sessions.iter().all(|l| l.contains("SSL enabled")), "{server_log}");
}
