//! Releases and rolling updates of nodes, end to end: a real `surveyor
//! serve`, real `surveyor node run` processes each running its own copy of
//! the binary (which they replace), releases that are copies of this build
//! with another version stamped in (the same code, another version), and a
//! broken release (`/bin/false`: an executable that exits at start).

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use serde_json::{Value, json};
use serve::Service;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{stderr, stdout, surveyor};
use surveyor_lakegen::{LakeSpec, write_lake};
use surveyor_service::updater::spawn_when_not_busy;

/// A version above this build's: its minor version plus `step`.
fn higher(step: u64) -> String {
    let mut parts = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u64>().unwrap());
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    format!("{major}.{}.0", minor + step)
}

fn wait<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A copy of this build at `path`, with `version` stamped in (none: as built).
fn binary(path: &Path, version: Option<&str>) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_surveyor"), path).unwrap();
    if let Some(v) = version {
        surveyor_service::releases::stamp_version(path, v).unwrap();
    }
    path.to_path_buf()
}

/// What `<binary> version` says the version is.
fn version_of(bin: &Path) -> String {
    let child = spawn_when_not_busy(Command::new(bin).arg("version").stdout(Stdio::piped()).stderr(Stdio::piped()));
    let out = child.unwrap().wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).split_whitespace().nth(1).unwrap_or_default().to_string()
}

fn sha256(path: &Path) -> String {
    surveyor_service::releases::sha256_file(path).unwrap()
}

/// A node running its own copy of the binary (`<dir>/bin/surveyor`), which an update replaces.
struct Node {
    child: Child,
    bin: PathBuf,
    log: PathBuf,
}

impl Node {
    /// Registers and starts a node that sends a heartbeat every `poll` seconds.
    fn start(svc: &Service, dir: &Path, name: &str, key: &str, poll: u64) -> Node {
        let data = dir.join("data");
        let out = surveyor()
            .args(["node", "register", "--key", key, "--url", &svc.url, "--name", name, "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let bin = binary(&dir.join("bin/surveyor"), None);
        let log = dir.join("node.log");
        // The binary was just written: spawn it as the updater spawns a release.
        let child = spawn_when_not_busy(
            Command::new(&bin)
                .args(["node", "run", "--poll-interval", &poll.to_string(), "--grace-period", "0"])
                .args(["--update-trial-timeout", "60"])
                .arg("--data-dir")
                .arg(&data)
                .env("SURVEYOR_CACHE_DIR", support::cache_dir())
                .env("SURVEYOR_PLUGINS_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-plugins"))
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        )
        .unwrap();
        Node { child, bin, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a run to end.
fn poll_run(svc: &Service, id: &str, limit: Duration) -> Value {
    wait(&format!("run {id} to end"), limit, || {
        let (status, run) = svc.admin("GET", &format!("/v1/runs/{id}"), None);
        assert_eq!(status, 200, "{run}");
        (!matches!(run["state"].as_str(), Some("queued" | "in_progress"))).then_some(run)
    })
}

struct Setup {
    tmp: tempfile::TempDir,
    svc: Service,
    key: PathBuf,
    ir_key: String,
}

/// A service, a release signing key, and an integration runtime `edge`.
fn setup() -> Setup {
    setup_on(None)
}

/// [`setup`], with the service's state in the database at `url` (default: SQLite).
fn setup_on(url: Option<&str>) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    // Units of 10 files, so that a run is spread over both nodes in many units.
    let mut args = vec!["--grace-period", "5", "--unit-files", "10"];
    if let Some(url) = url {
        args.extend(["--database-url", url]);
    }
    let svc = Service::start_with(&tmp.path().join("svc"), &args);
    let key = tmp.path().join("release.key");
    let out = surveyor().args(["releases", "keygen", "--out"]).arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, ir) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "edge"})));
    assert_eq!(status, 201, "{ir}");
    let ir_key = ir["keys"]["key1"].as_str().unwrap().to_string();
    Setup { tmp, svc, key, ir_key }
}

impl Setup {
    fn publish(&self, bin: &Path, version: &str) -> (bool, Value, String) {
        let key = self.key.to_str().unwrap();
        self.svc.cli(&["releases", "publish", bin.to_str().unwrap(), "--version", version, "--signing-key", key])
    }

    fn status(&self) -> Value {
        let (status, v) = self.svc.admin("GET", "/v1/integration-runtimes/edge/update", None);
        assert_eq!(status, 200, "{v}");
        v
    }

    fn node_versions(&self) -> Vec<String> {
        let s = self.status();
        s["nodes"].as_array().unwrap().iter().map(|n| n["version"].as_str().unwrap_or("").to_string()).collect()
    }
}

#[test]
fn a_rolling_update_moves_both_nodes_one_after_the_other_while_a_run_finishes() {
    let s = setup();
    let old = env!("CARGO_PKG_VERSION");
    let new = higher(1);
    let lake = s.tmp.path().join("lake");
    let files = 400;
    write_lake(&lake, &LakeSpec { files, files_per_table: 10, ..LakeSpec::default() }).unwrap();
    let (ok, _, err) = s.svc.cli(&["ir", "set-update", "edge", "--mode", "manual"]);
    assert!(ok, "{err}");
    let mut nodes: Vec<Node> =
        ["n1", "n2"].iter().map(|n| Node::start(&s.svc, &s.tmp.path().join(n), n, &s.ir_key, 1)).collect();
    wait("both nodes online", Duration::from_secs(60), || {
        let v = s.node_versions();
        (v.len() == 2 && v.iter().all(|v| v == old)).then_some(())
    });

    // Publish: checked, stored, listed; a manual runtime does not move by itself.
    let release = binary(&s.tmp.path().join("release/surveyor"), Some(&new));
    assert_eq!(version_of(&release), new, "a stamped copy reports its version");
    let (ok, published, err) = s.publish(&release, &new);
    assert!(ok, "{err}");
    assert_eq!(published["sha256"], sha256(&release));
    let (ok, list, _) = s.svc.cli(&["releases", "list"]);
    assert!(ok);
    assert_eq!(list["releases"][0]["version"], new.as_str());
    let status = s.status();
    assert_eq!(status["current_version"], old);
    assert_eq!(status["available_version"], new.as_str());
    assert!(status["rollout"].is_null(), "manual: no rollout yet: {status}");

    // A run spread over both nodes, in many small units.
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}});
    assert_eq!(s.svc.admin("POST", "/v1/sources", Some(source)).0, 201);
    let scan = json!({"name": "lake", "source": "lake", "integration_runtime": "edge"
    });
    let (status, body) = s.svc.admin("POST", "/v1/scans", Some(scan));
    assert_eq!(status, 201, "{body}");
    let (status, run) = s.svc.admin("POST", "/v1/scans/lake/runs", None);
    assert_eq!(status, 202, "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();
    wait("the run to be under way", Duration::from_secs(60), || {
        let (_, r) = s.svc.admin("GET", &format!("/v1/runs/{run_id}"), None);
        (r["units"]["done"].as_i64().unwrap_or(0) >= 2).then_some(())
    });

    // The rollout, started while the run is in progress.
    let started = Instant::now();
    let (ok, status, err) = s.svc.cli(&["ir", "update", "edge"]);
    assert!(ok, "{err}");
    assert_eq!(status["rollout"]["state"], "in_progress", "{status}");
    let (_, r) = s.svc.admin("GET", &format!("/v1/runs/{run_id}"), None);
    assert_eq!(r["state"], "in_progress", "the update starts while the run is in progress: {r}");

    let done = wait("the rollout to end", Duration::from_secs(300), || {
        let st = s.status();
        (st["rollout"]["state"] != "in_progress").then_some(st)
    });
    let took = started.elapsed();
    assert_eq!(done["rollout"]["state"], "succeeded", "{done}\n{}\n{}", nodes[0].log(), nodes[1].log());
    assert_eq!(done["current_version"], new.as_str());
    assert!(done["available_version"].is_null());
    let steps = done["rollout"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{done}");
    assert!(steps.iter().all(|st| st["state"] == "succeeded"), "{done}");
    assert!(
        steps[1]["started_at"].as_str().unwrap() >= steps[0]["finished_at"].as_str().unwrap(),
        "one node after the other: {done}"
    );
    assert_eq!(s.node_versions(), vec![new.clone(), new.clone()]);

    // Each node now runs the release from its own path, the previous binary kept beside it.
    for node in &mut nodes {
        assert!(node.alive(), "{}", node.log());
        assert_eq!(sha256(&node.bin), sha256(&release));
        assert_eq!(version_of(&node.bin.with_file_name("surveyor.previous")), old);
        assert!(!node.bin.with_file_name("surveyor.new").exists());
        assert!(node.log().contains("release installed; restarting into it"), "{}", node.log());
    }

    // The run finishes without loss, and the updated nodes go on working.
    let run = poll_run(&s.svc, &run_id, Duration::from_secs(300));
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["counts"]["files"], files as i64, "{run}");
    let (_, run2) = s.svc.admin("POST", "/v1/scans/lake/runs", None);
    let run2 = poll_run(&s.svc, run2["id"].as_str().unwrap(), Duration::from_secs(300));
    assert_eq!(run2["state"], "succeeded", "{run2}");
    assert_eq!(run2["counts"]["files"], files as i64);
    eprintln!("rolling update of 2 nodes: {:.1} s", took.as_secs_f64());
}

#[test]
fn a_release_that_does_not_start_is_rolled_back_on_the_first_node_and_never_reaches_the_second() {
    broken_release_is_rolled_back(&setup());
}

/// The same on PostgreSQL: the release's binary, the rollout's compare-and-set and its steps.
#[test]
fn on_postgresql_a_release_that_does_not_start_is_rolled_back_too() {
    let cluster = postgres::Cluster::start();
    cluster.psql("postgres", "CREATE DATABASE updates");
    let url = format!("postgres://postgres:{}@127.0.0.1:{}/updates", postgres::ADMIN_PASSWORD, cluster.port);
    let s = setup_on(Some(&url));
    broken_release_is_rolled_back(&s);
    let stored = cluster.psql("updates", "SELECT version, state FROM rollouts");
    assert!(stored.contains(&higher(2)) && stored.contains("failed"), "{stored}");
}

fn broken_release_is_rolled_back(s: &Setup) {
    let old = env!("CARGO_PKG_VERSION");
    let mut nodes: Vec<Node> =
        ["n1", "n2"].iter().map(|n| Node::start(&s.svc, &s.tmp.path().join(n), n, &s.ir_key, 1)).collect();
    wait("both nodes online", Duration::from_secs(60), || (s.node_versions().len() == 2).then_some(()));
    let original = sha256(&nodes[0].bin);

    // `/bin/false`: an executable for this platform that exits at once. The
    // runtime's policy is `auto` (the default): the rollout starts by itself.
    let broken = s.tmp.path().join("broken/surveyor");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::copy("/bin/false", &broken).unwrap();
    let version = higher(2);
    let (ok, _, err) = s.publish(&broken, &version);
    assert!(ok, "{err}");

    let done = wait("the rollout to stop", Duration::from_secs(180), || {
        let st = s.status();
        (st["rollout"]["state"] == "failed").then_some(st)
    });
    let steps = done["rollout"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "one node tried it: {done}");
    let error = done["rollout"]["error"].as_str().unwrap();
    assert!(error.contains("exited at start") && error.contains("rolled back"), "{error}");
    // It never reaches the second node, and the service does not try it again.
    std::thread::sleep(Duration::from_secs(6));
    let later = s.status();
    assert_eq!(later["rollout"]["steps"].as_array().unwrap().len(), 1, "{later}");
    assert_eq!(later["rollout"]["state"], "failed");
    assert_eq!(s.node_versions(), vec![old.to_string(), old.to_string()]);
    assert_eq!(later["available_version"], version.as_str());
    for node in &mut nodes {
        assert!(node.alive(), "the node works on: {}", node.log());
        assert_eq!(sha256(&node.bin), original, "the binary was never replaced");
        assert!(!node.bin.with_file_name("surveyor.new").exists());
    }
    let tried = nodes.iter().find(|n| n.log().contains("exited at start")).expect("a node tried it");
    assert!(tried.log().contains("node working again"), "{}", tried.log());
}

#[test]
fn bad_releases_are_refused_at_publish_and_on_the_node_before_they_run() {
    let s = setup();
    let old = env!("CARGO_PKG_VERSION");
    let good = binary(&s.tmp.path().join("release/surveyor"), Some(&higher(1)));

    // At publish: each refused with a clear error, nothing stored.
    let script = s.tmp.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let (ok, _, err) = s.publish(&script, &higher(1));
    assert!(!ok && err.contains("is not a surveyor binary") && err.contains("a script"), "{err}");
    let (ok, _, err) = s.publish(&good, "0.0.1");
    assert!(!ok && err.contains("not higher than the service's own version"), "{err}");
    let (ok, _, err) = s.publish(&good, "latest");
    assert!(!ok && err.contains("not a semantic version"), "{err}");
    // Straight to the API: a hash that is not the binary's, a signature by no trusted key.
    let put = |version: &str, sha: &str, sig: &str, public: &str| {
        let url = format!(
            "{}/v1/releases/{version}?sha256={sha}&signature={}&public_key={}",
            s.svc.url,
            surveyor_service::client::seg(sig),
            surveyor_service::client::seg(public)
        );
        let resp = reqwest::blocking::Client::new()
            .put(url)
            .bearer_auth(&s.svc.token)
            .header("content-type", "application/octet-stream")
            .body(std::fs::read(&good).unwrap())
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    let signer = surveyor_service::releases::SigningKey::load(&s.key).unwrap();
    let real = sha256(&good);
    let v = higher(1);
    let wrong_sha = "0".repeat(64);
    let (status, body) = put(&v, &wrong_sha, &signer.sign(&v, &wrong_sha), &signer.public_key());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(&format!("SHA-256 is {real}")), "{body}");
    let (status, body) = put(&v, &real, &signer.sign(&higher(9), &real), &signer.public_key());
    assert_eq!(status, 400, "a signature of another version: {body}");
    assert!(body.contains("not signed by the trusted key"), "{body}");
    let (_, list, _) = s.svc.cli(&["releases", "list"]);
    assert_eq!(list["releases"], json!([]), "nothing stored: {list}");
    assert!(list["public_key"].is_null(), "no key trusted by a refused publish: {list}");

    // A node, then good releases, tampered with where the service keeps them
    // (the runtime updates manually, so that the tampering comes first).
    let (ok, _, err) = s.svc.cli(&["ir", "set-update", "edge", "--mode", "manual"]);
    assert!(ok, "{err}");
    let mut node = Node::start(&s.svc, &s.tmp.path().join("n1"), "n1", &s.ir_key, 1);
    let original = sha256(&node.bin);
    let (ok, _, err) = s.publish(&good, &higher(1));
    assert!(ok, "{err}");
    // Another key than the trusted one: 409.
    let other = s.tmp.path().join("other.key");
    surveyor_service::releases::SigningKey::generate().unwrap().save(&other).unwrap();
    let (ok, _, err) = s.svc.cli(&[
        "releases",
        "publish",
        good.to_str().unwrap(),
        "--version",
        &higher(5),
        "--signing-key",
        other.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("trust the key"), "{err}");
    let db = s.svc.data.join("state.db");
    let sqlite = |sql: &str| {
        let out = Command::new("sqlite3").arg(&db).arg(sql).output().expect("sqlite3");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    // 1. The stored binary is damaged (its second MiB zeroed): its hash no longer matches.
    sqlite(&format!(
        "UPDATE blob_parts SET bytes = zeroblob(length(bytes)) WHERE name = 'release/{}' AND part = 1",
        higher(1)
    ));
    let (ok, _, err) = s.svc.cli(&["ir", "update", "edge"]);
    assert!(ok, "{err}");
    let failed = wait("the damaged release to be refused", Duration::from_secs(120), || {
        let st = s.status();
        (st["rollout"]["state"] == "failed").then_some(st)
    });
    let error = failed["rollout"]["error"].as_str().unwrap();
    assert!(error.contains("refused release") && error.contains("SHA-256"), "{error}");
    // 2. A release whose stored signature is another version's: refused by the node's key check.
    let v2 = higher(2);
    let good2 = binary(&s.tmp.path().join("release2/surveyor"), Some(&v2));
    let (ok, _, err) = s.publish(&good2, &v2);
    assert!(ok, "{err}");
    sqlite(&format!(
        "UPDATE releases SET signature = '{}' WHERE version = '{v2}'",
        signer.sign(&higher(1), &sha256(&good2))
    ));
    let (ok, _, err) = s.svc.cli(&["ir", "update", "edge", "--version", &v2]);
    assert!(ok, "{err}");
    let failed = wait("the release with a bad signature to be refused", Duration::from_secs(120), || {
        let st = s.status();
        (st["rollout"]["version"] == v2.as_str() && st["rollout"]["state"] == "failed").then_some(st)
    });
    let error = failed["rollout"]["error"].as_str().unwrap();
    assert!(error.contains("refused release") && error.contains("not signed by the trusted key"), "{error}");
    // Neither ran: the node is on its binary and its version, working.
    assert!(node.alive(), "{}", node.log());
    assert_eq!(sha256(&node.bin), original);
    assert!(!node.bin.with_file_name("surveyor.new").exists());
    assert!(!node.log().contains("trying it"), "{}", node.log());
    assert_eq!(s.node_versions(), vec![old.to_string()]);
}

#[test]
fn a_failed_rollout_returns_the_nodes_it_moved_to_the_version_all_shared() {
    let s = setup();
    let old = env!("CARGO_PKG_VERSION");
    let new = higher(1);
    let (ok, _, err) = s.svc.cli(&["ir", "set-update", "edge", "--mode", "manual"]);
    assert!(ok, "{err}");
    let mut n1 = Node::start(&s.svc, &s.tmp.path().join("n1"), "n1", &s.ir_key, 1);
    let original = sha256(&n1.bin);
    // n2 heartbeats every 30 s, and cannot take the release: where it would
    // download it, there is a folder.
    let heartbeat_of = |name: &str| {
        let (_, nodes) = s.svc.admin("GET", "/v1/nodes", None);
        let node = nodes.as_array().unwrap().iter().find(|n| n["name"] == name).cloned();
        node.and_then(|n| n["last_heartbeat_at"].as_str().map(str::to_string))
    };
    let n2 = Node::start(&s.svc, &s.tmp.path().join("n2"), "n2", &s.ir_key, 30);
    let registered = heartbeat_of("n2");
    std::fs::create_dir_all(n2.bin.with_file_name("surveyor.new").join("in-the-way")).unwrap();
    let release = binary(&s.tmp.path().join("release/surveyor"), Some(&new));
    let (ok, _, err) = s.publish(&release, &new);
    assert!(ok, "{err}");
    // Started right after n2's first heartbeat of `node run`: n1 (every second) gets the go first.
    wait("n2 at work", Duration::from_secs(60), || (heartbeat_of("n2") != registered).then_some(()));
    let (ok, _, err) = s.svc.cli(&["ir", "update", "edge"]);
    assert!(ok, "{err}");

    let failed = wait("the rollout to fail on n2", Duration::from_secs(180), || {
        let st = s.status();
        (st["rollout"]["state"] == "failed").then_some(st)
    });
    let steps = failed["rollout"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{failed}\n{}", n1.log());
    assert_eq!((steps[0]["node"].as_str(), steps[0]["state"].as_str()), (Some("n1"), Some("succeeded")), "{failed}");
    assert_eq!((steps[1]["node"].as_str(), steps[1]["state"].as_str()), (Some("n2"), Some("failed")), "{failed}");
    let error = failed["rollout"]["error"].as_str().unwrap();
    assert!(error.contains("node n2") && error.contains("downloading release"), "{error}");
    assert_eq!(failed["rollout"]["from_version"], old);

    // n1 returns to the version both shared, and to its previous binary.
    wait("n1 back on the shared version", Duration::from_secs(60), || {
        (s.node_versions() == vec![old.to_string(), old.to_string()]).then_some(())
    });
    assert!(n1.alive(), "{}", n1.log());
    assert_eq!(sha256(&n1.bin), original, "{}", n1.log());
    assert!(n1.log().contains("previous binary restored"), "{}", n1.log());
    let after = s.status();
    assert_eq!(after["current_version"], old);
    assert_eq!(after["rollout"]["state"], "failed", "the rollout stays stopped: {after}");
}
