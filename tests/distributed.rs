//! One scan spread over the nodes of an integration runtime, committed once
//! into the runtime's ingestion storage: real `surveyor serve` and `surveyor
//! node run` processes on 127.0.0.1, a real Azurite (blob and queue) as the
//! source and as the ingestion target, nodes killed with real signals.

#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/nodes.rs"]
mod nodes;
#[path = "support/parquet_files.rs"]
mod parquet_files;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use arrow_schema::DataType;
use azurite::{ACCOUNT, Azurite, KEY, StandIn};
use nodes::NodeAgent;
use parquet_files::parquet;
use serde_json::{Value, json};
use serve::Service;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{Run, stderr, surveyor};
use surveyor_engine::storage::Storage;
use surveyor_engine::storage::azure::{AzureAccount, BlobStorage};

/// A name of letters only (so that files are not grouped into resource sets).
fn letters(mut i: usize) -> String {
    let mut s = String::new();
    for _ in 0..3 {
        s.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
    }
    s
}

/// `folders` × `per_folder` Parquet blobs (`dept_07/kqa.parquet`), plus a
/// Hive-partitioned table of 12 months × `parts` part files whose schema
/// drifts (three variants). Returns the number of files.
fn upload_lake(acc: &AzureAccount, container: &str, folders: usize, per_folder: usize, parts: usize) -> usize {
    acc.create_container(container).unwrap();
    let plain = parquet(&[("id", DataType::Int32), ("name", DataType::Utf8)]);
    let v1 = parquet(&[("order_id", DataType::Int32), ("amount", DataType::Int32)]);
    let v2 = parquet(&[("order_id", DataType::Int32), ("amount", DataType::Int32), ("region", DataType::Utf8)]);
    let v3 = parquet(&[("order_id", DataType::Int32), ("amount", DataType::Int64), ("region", DataType::Utf8)]);
    let mut blobs: Vec<(String, &[u8])> = Vec::new();
    for f in 0..folders {
        for i in 0..per_folder {
            blobs.push((format!("dept_{f:02}/{}.parquet", letters(i)), &plain));
        }
    }
    for month in 1..=12 {
        let schema = if month <= 4 {
            &v1
        } else if month <= 8 {
            &v2
        } else {
            &v3
        };
        for part in 0..parts {
            blobs.push((
                format!(
                    "sales/year=2024/month={month:02}/part-{part:05}-1b4e28ba-2fa1-11d2-883f-0016d3cca427-c000.snappy.parquet"
                ),
                schema,
            ));
        }
    }
    std::thread::scope(|s| {
        for t in 0..8 {
            let blobs = &blobs;
            s.spawn(move || {
                for (name, bytes) in blobs.iter().skip(t).step_by(8) {
                    acc.put_blob(container, name, bytes, "application/octet-stream").unwrap();
                }
            });
        }
    });
    blobs.len()
}

fn source(name: &str, container: &str, az: &Azurite, key: &str) -> Value {
    json!({"name": name, "type": "azure-blob", "connection": {
        "account": ACCOUNT, "endpoint": az.blob_endpoint().to_string(),
        "credential": {"kind": "account-key", "key": key}, "containers": [container], "max_retries": 1}})
}

fn sink_toml(az: &Azurite, key: &str) -> String {
    format!(
        r#"kind = "azure-blob"
container = "ingest"
queue = "runs"

[connection]
account = "{ACCOUNT}"
endpoint = "{}"
queue_endpoint = "{}"
credential = {{ kind = "account-key", key = "{key}" }}
max_retries = 1
"#,
        az.blob_endpoint(),
        az.queue_endpoint()
    )
}

fn wait_run(svc: &Service, id: &str, what: &str, limit: Duration, pred: &dyn Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, run) = svc.admin("GET", &format!("/v1/runs/{id}"), None);
        assert_eq!(status, 200, "{run}");
        if pred(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}: {run}; log: {}", svc.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ended(r: &Value) -> bool {
    !matches!(r["state"].as_str(), Some("queued" | "in_progress"))
}

/// The batches of a committed run in the ingestion container: (path, sha256) from its manifest.
fn committed_batches(storage: &BlobStorage, run_id: &str) -> (Value, Vec<(String, String)>) {
    let folder = format!("ingest/runs/{run_id}");
    let manifest: Value =
        serde_json::from_slice(&storage.read_range(&format!("{folder}/manifest.json"), 0, 16 << 20).unwrap())
            .unwrap_or_else(|e| panic!("no manifest for run {run_id}: {e}"));
    let batches = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with("batches/"))
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string()))
        .collect();
    (manifest, batches)
}

/// Every entity of a committed run's batches, read from the container.
fn committed_entities(storage: &BlobStorage, run_id: &str) -> Vec<Value> {
    let (_, batches) = committed_batches(storage, run_id);
    let mut entities = Vec::new();
    for (path, _) in batches {
        let bytes = storage.read_range(&format!("ingest/runs/{run_id}/{path}"), 0, 256 << 20).unwrap();
        let batch: Value = serde_json::from_slice(&bytes).unwrap();
        entities.extend(batch["entities"].as_array().unwrap().iter().cloned());
    }
    entities
}

fn ids(entities: &[Value]) -> Vec<(String, String)> {
    entities
        .iter()
        .map(|e| {
            (
                e["typeName"].as_str().unwrap().to_string(),
                e["attributes"]["qualifiedName"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_scan_spreads_over_three_nodes_and_commits_once_into_ingestion_storage() {
    let az = Azurite::start_with_queue();
    let acc = az.account();
    let files = upload_lake(&acc, "lake", 50, 100, 50);
    assert!(files >= 5600);
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("no-plugins");
    let plugins = p.to_str().unwrap();
    let svc = Service::start_with(
        &tmp.path().join("data"),
        &["--grace-period", "5", "--node-offline-after", "4", "--unit-files", "200", "--plugins", plugins],
    );
    let (status, ir) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "lake-ir"})));
    assert_eq!(status, 201, "{ir}");
    let key = ir["keys"]["key1"].as_str().unwrap().to_string();

    // The runtime's ingestion target: a wrong key is refused with the storage's own error.
    let sink = tmp.path().join("sink.toml");
    std::fs::write(&sink, sink_toml(&az, "d3Jvbmcga2V5IGZvciBkZXZzdG9yZWFjY291bnQxIGF0IGFsbCBieSBhbnkgbWVhbnM="))
        .unwrap();
    let (ok, _, err) = svc.cli(&["ir", "set-ingestion", "lake-ir", "--sink", sink.to_str().unwrap()]);
    assert!(!ok && err.contains("refused") && err.contains("403"), "{err}");
    let (_, shown) = svc.admin("GET", "/v1/integration-runtimes/lake-ir/ingestion", None);
    assert_eq!(shown["target"], Value::Null, "nothing saved: {shown}");
    std::fs::write(&sink, sink_toml(&az, KEY)).unwrap();
    let (ok, shown, err) = svc.cli(&["ir", "set-ingestion", "lake-ir", "--sink", sink.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(shown["target"]["connection"]["credential"]["key"], "<redacted>", "{shown}");

    assert_eq!(svc.admin("POST", "/v1/sources", Some(source("lake", "lake", &az, KEY))).0, 201);
    let scan = json!({"name": "spread", "source": "lake", "integration_runtime": "lake-ir"});
    assert_eq!(svc.admin("POST", "/v1/scans", Some(scan)).0, 201);

    // Three nodes, each running one unit at a time; the run starts once all are online.
    let mut nodes: Vec<NodeAgent> = ["node-a", "node-b", "node-c"]
        .iter()
        .map(|n| {
            let data = tmp.path().join(n);
            NodeAgent::start_with(&svc, &data, n, &key, &["--plugins", plugins, "--concurrency", "1", "--workers", "4"])
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, list) = svc.admin("GET", "/v1/nodes", None);
        let online = list.as_array().unwrap().iter().filter(|n| n["status"] != "offline").count();
        if online == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the nodes did not come online: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let (_, run) = svc.admin("POST", "/v1/scans/spread/runs", None);
    let first = run["id"].as_str().unwrap().to_string();
    let run = wait_run(&svc, &first, "the spread run", Duration::from_secs(600), &ended);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["counts"]["files"], files as i64, "{run}");
    let units = &run["units"];
    let slices = units["total"].as_i64().unwrap() - 1;
    assert!(slices >= files as i64 / 200, "{units}");
    let by_node: BTreeMap<String, i64> = serde_json::from_value(units["by_node"].clone()).unwrap();
    assert_eq!(by_node.len(), 3, "{units}");
    for (node, done) in &by_node {
        assert!(*done * 5 >= slices, "{node} did {done} of {slices} units: {units}");
    }

    // One run, one result: the batches are those a single process writes
    // from the same source, byte for byte (same entities, same order).
    let storage = BlobStorage::new(acc.clone(), None);
    let (manifest, batches) = committed_batches(&storage, &first);
    assert_eq!(manifest["status"], "succeeded");
    let latest = storage.read_range("ingest/LATEST", 0, 100).unwrap();
    assert_eq!(String::from_utf8(latest).unwrap().trim(), first);
    let local_source = tmp.path().join("lake.toml");
    std::fs::write(
        &local_source,
        format!(
            "name = \"lake\"\ntype = \"azure-blob\"\n[connection]\naccount = \"{ACCOUNT}\"\nendpoint = \"{}\"\ncontainers = [\"lake\"]\ncredential = {{ kind = \"account-key\", key = \"{KEY}\" }}\n",
            az.blob_endpoint()
        ),
    )
    .unwrap();
    let out = tmp.path().join("single");
    let single = surveyor()
        .args(["scan", "--source", local_source.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"])
        .args(["--unit-files", "0", "--no-progress"])
        .output()
        .unwrap();
    assert!(single.status.success(), "{}", stderr(&single));
    let local = Run::latest(&out);
    let local_batches: Vec<(String, String)> = local.manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with("batches/"))
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(batches, local_batches, "the same batches as a single process");
    let entities = committed_entities(&storage, &first);
    let mut seen = ids(&entities);
    let count = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), count, "no entity twice");
    let sets: Vec<&Value> = entities.iter().filter(|e| e["typeName"] == "azure_blob_resource_set").collect();
    assert_eq!(sets.len(), 1);
    let variants: Value = serde_json::from_str(sets[0]["attributes"]["schemaVariants"].as_str().unwrap()).unwrap();
    assert_eq!(variants.as_array().unwrap().len(), 3, "{variants}");
    assert_eq!(variants[0]["files"], 200, "the newest months' schema, of 4 months × 50 files: {variants}");

    // The results, through the API and the CLI.
    let (ok, assets, err) = svc.cli(&["runs", "assets", &first, "--type", "azure_blob_resource_set"]);
    assert!(ok, "{err}");
    assert_eq!(assets[0]["detail"]["resourceSet"]["variants"].as_array().unwrap().len(), 3, "{assets}");
    let (ok, assets, err) = svc.cli(&["runs", "assets", &first, "--q", "dept_07/"]);
    assert!(ok, "{err}");
    assert_eq!(assets.as_array().unwrap().len(), 100, "the files of one folder");
    let (status, page) = svc.admin("GET", &format!("/v1/runs/{first}/assets?limit=7"), None);
    assert_eq!((status, page["assets"].as_array().unwrap().len()), (200, 7), "{page}");
    let (status, report) = svc.admin("GET", &format!("/v1/runs/{first}/report"), None);
    assert_eq!((status, &report["counts"]["files"]), (200, &json!(files)), "{report}");

    // kill -9 of a node mid-run: its unit goes back to the queue when its
    // lease expires; the run succeeds with exactly the same output.
    let (_, run) = svc.admin("POST", "/v1/scans/spread/runs", None);
    let second = run["id"].as_str().unwrap().to_string();
    let run = wait_run(&svc, &second, "units under way", Duration::from_secs(300), &|r| {
        r["units"]["done"].as_i64().unwrap_or(0) >= 4 && r["units"]["in_progress_by_node"]["node-b"] == 1
    });
    assert_eq!(run["state"], "in_progress");
    nodes[1].signal(rustix::process::Signal::KILL);
    let run = wait_run(&svc, &second, "the run without node-b", Duration::from_secs(600), &ended);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert!(run["units"]["retried"].as_i64().unwrap() >= 1, "node-b's unit was run again: {run}");
    assert_eq!(committed_batches(&storage, &second).1, batches, "the same output, nothing twice");

    // A run that fails (its source refuses the key) writes nothing to ingestion storage.
    let broken = source("broken", "lake", &az, "d3Jvbmcga2V5IGZvciBkZXZzdG9yZWFjY291bnQxIGF0IGFsbCBieSBhbnkgbWVhbnM=");
    assert_eq!(svc.admin("POST", "/v1/sources", Some(broken)).0, 201);
    let scan = json!({"name": "broken-scan", "source": "broken", "integration_runtime": "lake-ir"});
    assert_eq!(svc.admin("POST", "/v1/scans", Some(scan)).0, 201);
    let (_, run) = svc.admin("POST", "/v1/scans/broken-scan/runs", None);
    let failed = run["id"].as_str().unwrap().to_string();
    let run = wait_run(&svc, &failed, "the broken run", Duration::from_secs(120), &ended);
    assert_eq!(run["state"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("403"), "{run}");
    let (status, report) = svc.admin("GET", &format!("/v1/runs/{failed}/report"), None);
    assert_eq!((status, &report["status"]), (200, &json!("failed")), "its report stays in the service");
    let runs: Vec<String> = storage.list("ingest/runs", false).unwrap().map(|o| o.unwrap().path).collect();
    assert_eq!(runs, [format!("ingest/runs/{first}"), format!("ingest/runs/{second}")], "only committed runs");
    let latest = storage.read_range("ingest/LATEST", 0, 100).unwrap();
    assert_eq!(String::from_utf8(latest).unwrap().trim(), second);
    let messages = surveyor_engine::storage::azure::QueueNotifier::new(acc.clone(), "runs".into()).peek(32).unwrap();
    let announced: Vec<&str> = messages.iter().map(|m| m["runId"].as_str().unwrap()).collect();
    assert_eq!(announced, [first.as_str(), second.as_str()], "one message per committed run");
    drop(nodes);
}

/// Reads of blobs (not listings) that went through the proxy.
fn blob_reads(proxy: &StandIn) -> usize {
    proxy.requests().iter().filter(|r| r.method == "GET" && !r.target.contains("comp=")).count()
}

#[test]
fn a_service_restart_resumes_a_run_from_its_unfinished_units() {
    let az = Azurite::start();
    let acc = az.account();
    let files = upload_lake(&acc, "lake", 20, 100, 0);
    // Every request of the scan goes through a recording proxy.
    let proxy = StandIn::proxy(az.blob_port, |_| None);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = ["--grace-period", "0", "--unit-files", "100", "--concurrency", "1", "--workers", "1"];
    let svc = Service::start_with(&data, &args);
    let mut lake = source("lake", "lake", &az, KEY);
    lake["connection"]["endpoint"] = json!(format!("http://{}/{ACCOUNT}", proxy.addr));
    assert_eq!(svc.admin("POST", "/v1/sources", Some(lake)).0, 201);
    assert_eq!(svc.admin("POST", "/v1/scans", Some(json!({"name": "s", "source": "lake"}))).0, 201);
    let (_, run) = svc.admin("POST", "/v1/scans/s/runs", None);
    let id = run["id"].as_str().unwrap().to_string();
    let run = wait_run(&svc, &id, "some units done", Duration::from_secs(300), &|r| {
        r["units"]["planned"] == true && r["units"]["done"].as_i64().unwrap_or(0) >= 6
    });
    let done_before = run["units"]["files_done"].as_u64().unwrap() as usize;
    assert!(done_before < files, "{run}");
    // SIGTERM: a unit in progress is stopped and queued again (or finishes,
    // if it was about to); what follows checks that nothing is lost or redone.
    assert!(svc.stop().success());

    proxy.received.lock().unwrap().clear();
    let svc = Service::start_with(&data, &args);
    let run = wait_run(&svc, &id, "the resumed run", Duration::from_secs(300), &ended);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["counts"]["files"], files as i64, "{run}");
    let reads = blob_reads(&proxy);
    assert!(
        reads > 0 && reads <= files - done_before,
        "{reads} reads after the restart, {done_before} of {files} files done before it"
    );
    let output = Run::read(Path::new(run["location"].as_str().unwrap()));
    let mut names: Vec<&str> = output.entities().map(|e| e["attributes"]["qualifiedName"].as_str().unwrap()).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "no entity twice");
}

#[test]
fn unit_uploads_are_checked_before_anything_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    std::fs::create_dir_all(lake.join("a")).unwrap();
    std::fs::write(lake.join("a/t.parquet"), parquet(&[("x", DataType::Int32)])).unwrap();
    let svc = Service::start_with(&tmp.path().join("data"), &["--max-unit-result-mb", "1"]);
    let (_, ir) = svc.admin("POST", "/v1/integration-runtimes", Some(json!({"name": "edge"})));
    let key = ir["keys"]["key1"].as_str().unwrap();
    let (status, node) = svc.call("POST", "/v1/nodes/register", Some(key), Some(r#"{"name": "n1"}"#));
    assert_eq!(status, 201, "{node}");
    let credential = node["credential"].as_str().unwrap().to_string();
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}});
    assert_eq!(svc.admin("POST", "/v1/sources", Some(source)).0, 201);
    let scan = json!({"name": "s", "source": "lake", "integration_runtime": "edge"});
    assert_eq!(svc.admin("POST", "/v1/scans", Some(scan)).0, 201);
    let (_, run) = svc.admin("POST", "/v1/scans/s/runs", None);
    let id = run["id"].as_str().unwrap().to_string();

    // This test is the node: it takes the plan, reports one slice, takes that slice.
    let claim = |cred: &str| svc.call("POST", "/v1/nodes/units/claim", Some(cred), Some("{}"));
    let (status, plan) = claim(&credential);
    assert_eq!((status, plan["seq"].as_i64()), (200, Some(0)), "{plan}");
    let attempt = plan["attempt"].as_i64().unwrap();
    let body =
        json!({"units": [{"root": "", "files": 1}], "cursor": {"root": 1}, "root_uri": "file://n1/lake", "done": true});
    let path = format!("/v1/nodes/units/{id}/0/plan?attempt={attempt}");
    assert_eq!(svc.call("POST", &path, Some(&credential), Some(&body.to_string())).0, 204);
    let (status, unit) = claim(&credential);
    assert_eq!((status, unit["seq"].as_i64()), (200, Some(1)), "{unit}");
    let result = format!("/v1/nodes/units/{id}/1/result?attempt={}", unit["attempt"]);
    let put = |cred: &str, body: Vec<u8>| {
        let resp = reqwest::blocking::Client::new()
            .put(format!("{}{result}", svc.url))
            .bearer_auth(cred)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().unwrap())
    };
    let (status, body) = put("NODE-forged-credential", b"SVU1".to_vec());
    assert_eq!(status, 401, "{body}");
    let (status, body) = put(&credential, b"SVU1\x10\x00\x00\x00truncated".to_vec());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("truncated"), "{body}");
    let (status, body) = put(&credential, vec![7u8; 2 << 20]);
    assert_eq!(status, 413, "{body}");
    let (_, run) = svc.admin("GET", &format!("/v1/runs/{id}"), None);
    assert_eq!(
        (&run["state"], &run["units"]["in_progress"], &run["units"]["done"]),
        (&json!("in_progress"), &json!(1), &json!(1)),
        "the unit is still the node's, nothing recorded: {run}"
    );
    // A late report of a unit given to another attempt is refused.
    let stale = format!("/v1/nodes/units/{id}/1/release?attempt={}", unit["attempt"].as_i64().unwrap() + 1);
    assert_eq!(svc.call("POST", &stale, Some(&credential), Some("{}")).0, 409);
}
