//! Several `surveyor serve` processes on one real PostgreSQL are one
//! service: a scan due every minute fires once per slot across replicas and
//! a `kill -9` of the leader; the API answers through the other replica;
//! nodes registered with both URLs keep working; the killed replica comes
//! back as a follower. A replica with another secret key, and a second
//! service on one SQLite file, are refused.

#[path = "support/nodes.rs"]
mod nodes;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use nodes::NodeAgent;
use serde_json::{Value, json};
use serve::Service;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::surveyor;
use surveyor_lakegen::{LakeSpec, write_lake};

const KEY: &str = "c3VydmV5b3ItdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE=";

fn replica(data: &Path, url: &str, key: &str) -> Service {
    let mut cmd = surveyor();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--node-offline-after", "10", "--grace-period", "5"])
        .args(["--database-url", url, "--data-dir"])
        .arg(data)
        .env("SURVEYOR_SECRET_KEY", key);
    Service::spawn(cmd, data)
}

fn leads(svc: &Service) -> bool {
    svc.log().contains("this replica leads")
}

/// Runs of the scan, by the minute their slot fired in.
fn runs_by_minute(svc: &Service) -> BTreeMap<String, Vec<Value>> {
    let (_, runs) = svc.admin("GET", "/v1/runs?scan=every-minute&limit=100", None);
    let mut by = BTreeMap::<String, Vec<Value>>::new();
    for r in runs.as_array().unwrap() {
        by.entry(r["queued_at"].as_str().unwrap()[..16].to_string()).or_default().push(r.clone());
    }
    by
}

fn wait<T>(what: &str, limit: Duration, f: impl FnMut() -> Option<T>) -> T {
    support::wait_until(what, limit, f)
}

#[test]
fn two_replicas_fire_each_slot_once_across_a_leader_killed() {
    let cluster = postgres::Cluster::start();
    cluster.psql("postgres", "CREATE DATABASE replicas");
    let url = format!("postgres://postgres:{}@127.0.0.1:{}/replicas", postgres::ADMIN_PASSWORD, cluster.port);
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    write_lake(&lake, &LakeSpec { files: 30, files_per_table: 10, ..LakeSpec::default() }).unwrap();

    let a = replica(&tmp.path().join("a"), &url, KEY);
    let b = replica(&tmp.path().join("b"), &url, KEY);
    assert_eq!(a.token, b.token, "one admin token for the service, whichever replica");
    wait("a leader", Duration::from_secs(120), || (leads(&a) || leads(&b)).then_some(()));
    assert!(!(leads(&a) && leads(&b)), "one leader");
    let (mut leader, follower) = if leads(&a) { (a, b) } else { (b, a) };

    // A replica with another key refuses to start and changes nothing.
    let wrong = surveyor()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url, "--data-dir"])
        .arg(tmp.path().join("wrong"))
        .env("SURVEYOR_SECRET_KEY", "b3RoZXIta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXMhISE=")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let err = support::stderr(&wrong);
    assert!(err.contains("secret key is not the one"), "{err}");

    // Nodes registered with both replicas' URLs.
    let (status, ir) = leader.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "ha"})));
    assert_eq!(status, 201, "{ir}");
    let key = ir["keys"]["key1"].as_str().unwrap().to_string();
    let urls = format!("{},{}", leader.url, follower.url);
    let plugins = tmp.path().join("no-plugins");
    let _nodes: Vec<NodeAgent> = ["n1", "n2"]
        .iter()
        .map(|n| NodeAgent::start_at(&urls, &tmp.path().join(n), n, &key, &["--plugins", plugins.to_str().unwrap()]))
        .collect();
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}});
    assert_eq!(follower.admin("POST", "/v1/sources", Some(source)).0, 201, "the API of either replica");
    let scan = json!({"name": "every-minute", "source": "lake", "integration_runtime": "ha",
        "trigger": {"kind": "cron", "expression": "* * * * *"}});
    assert_eq!(follower.admin("POST", "/v1/scans", Some(scan)).0, 201);

    // The first slot fires; the leader is killed right after it.
    let first = wait("the first slot", Duration::from_secs(180), || runs_by_minute(&follower).into_iter().next());
    leader.kill();
    let killed_at = Instant::now();
    let (status, _) = follower.admin("GET", "/v1/runs", None);
    assert_eq!(status, 200, "the other replica answers at once");
    wait("the follower to take over", Duration::from_secs(60), || leads(&follower).then_some(()));
    let takeover = killed_at.elapsed();

    // The next two slots fire once each, and every run finishes, on the nodes.
    let slots = wait("two more slots", Duration::from_secs(300), || {
        let by = runs_by_minute(&follower);
        (by.len() >= 3).then_some(by)
    });
    let restarted = replica(&tmp.path().join(if leader.data.ends_with("a") { "a" } else { "b" }), &url, KEY);
    for (minute, runs) in &slots {
        assert_eq!(runs.len(), 1, "slot {minute} fired {} times: {runs:?}", runs.len());
    }
    assert!(slots.contains_key(&first.0));
    for (_, runs) in slots {
        let id = runs[0]["id"].as_str().unwrap();
        let run = wait("the run to end", Duration::from_secs(300), || {
            let (_, r) = follower.admin("GET", &format!("/v1/runs/{id}"), None);
            (!matches!(r["state"].as_str(), Some("queued" | "in_progress"))).then_some(r)
        });
        assert_eq!(run["state"], "succeeded", "{run}");
        assert_eq!(run["counts"]["files"], 30, "{run}");
    }
    // The restarted replica answers and stays a follower.
    assert_eq!(restarted.admin("GET", "/v1/scans", None).0, 200);
    std::thread::sleep(Duration::from_secs(5));
    assert!(!leads(&restarted), "{}", restarted.log());
    eprintln!("takeover after kill -9 of the leader: {:.1} s", takeover.as_secs_f64());
}

#[test]
fn a_second_service_on_one_sqlite_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("shared.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let first = Service::start_with(&tmp.path().join("one"), &["--database-url", &url]);
    let second = surveyor()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url, "--data-dir"])
        .arg(tmp.path().join("two"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = support::stderr(&second);
    assert!(err.contains("SQLite serves one service") && err.contains("PostgreSQL"), "{err}");
    assert_eq!(first.admin("GET", "/v1/runs", None).0, 200, "the first goes on");
}
