//! Azure Blob Storage and ADLS Gen2 sources scanned end to end through the
//! `surveyor` binary, against Azurite (`npm install -g azurite`): a
//! partitioned Parquet lake plus CSV, JSON and other files; an incremental
//! run after blobs are added, changed and deleted; connection errors; the
//! emulator killed mid-scan; runs written into an Azurite container.
//!
//! Azurite has no `dfs` endpoint, so the ADLS Gen2 source is scanned here
//! through the Blob API of the same account (`api = "blob"`).

#[path = "support/azurite.rs"]
mod azurite;
#[path = "support/parquet_files.rs"]
mod parquet_files;
#[path = "support/mod.rs"]
mod support;
#[path = "support/tinyproxy.rs"]
mod tinyproxy;

use arrow_schema::DataType;
use azurite::{ACCOUNT, Azurite, KEY};
use parquet_files::parquet;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use support::{Run, stderr, stdout, surveyor};
use surveyor_engine::storage::Storage;
use surveyor_engine::storage::azure::{AzureAccount, BlobStorage};

const SPARK_PART: &str = "c000.snappy.parquet";

/// A small lake: a Spark-partitioned table (3 months × 2 part files), a
/// standalone Parquet file, CSV, NDJSON and a text file; and a second container.
fn upload_lake(acc: &AzureAccount) {
    acc.create_container("lake").unwrap();
    acc.create_container("other").unwrap();
    let sales = parquet(&[("order_id", DataType::Int32), ("amount", DataType::Int32), ("region", DataType::Utf8)]);
    for month in 1..=3 {
        for part in 0..2 {
            let name = format!(
                "sales/year=2023/month={month:02}/part-{part:05}-1b4e28ba-2fa1-11d2-883f-0016d3cca427-{SPARK_PART}"
            );
            acc.put_blob("lake", &name, &sales, "application/octet-stream").unwrap();
        }
    }
    let standalone = parquet(&[("id", DataType::Int32), ("name", DataType::Utf8)]);
    acc.put_blob("lake", "standalone.parquet", &standalone, "application/octet-stream").unwrap();
    acc.put_blob("lake", "ref/customers.csv", b"id,name,joined\n1,Ada,2024-01-02\n2,Grace,2024-03-04\n", "text/csv")
        .unwrap();
    acc.put_blob("lake", "ref/events.json", b"{\"id\":1,\"kind\":\"click\"}\n{\"id\":2,\"kind\":\"view\"}\n", "")
        .unwrap();
    acc.put_blob("lake", "readme.txt", b"not a table", "text/plain").unwrap();
    acc.put_blob("other", "x/y.parquet", &standalone, "application/octet-stream").unwrap();
}

/// A source definition file; the key comes from the environment.
fn source_file(dir: &Path, name: &str, source_type: &str, az: &Azurite, extra_connection: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let toml = format!(
        r#"name = "{name}"
type = "{source_type}"

[connection]
account = "{ACCOUNT}"
endpoint = "{endpoint}"
credential = {{ kind = "account-key", key = {{ env = "TEST_AZURE_KEY" }} }}
{extra_connection}
"#,
        endpoint = az.blob_endpoint()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn run(args: &[&str], key: &str) -> Output {
    surveyor().args(args).env("TEST_AZURE_KEY", key).output().expect("run surveyor")
}

fn scan(source: &Path, out: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["scan", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let output = run(&args, KEY);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {} {}", stdout(&output), stderr(&output)));
    (output, report)
}

fn by_qualified_name(run: &Run) -> std::collections::HashMap<String, &Value> {
    run.entities().map(|e| (e["attributes"]["qualifiedName"].as_str().unwrap().to_string(), e)).collect()
}

/// Nothing of the account key anywhere in a run's output or state.
fn assert_no_key(dir: &Path) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY) && !text.contains(&KEY[..20]), "the key is in {}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_blob_account_is_scanned_end_to_end_then_incrementally() {
    let az = Azurite::start_with_access_log();
    let acc = az.account();
    upload_lake(&acc);
    let tmp = tempfile::tempdir().unwrap();
    let source = source_file(tmp.path(), "lake", "azure-blob", &az, "");
    let out = tmp.path().join("out");
    // Storage timestamps have one-second resolution: let the uploads age
    // past the run's start so that the incremental run below can tell them apart.
    std::thread::sleep(Duration::from_millis(1100));

    let logged = az.log().len();
    let (output, report) = scan(&source, &out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["status"], "succeeded", "{report:#}");
    // The planner's listing is the unit's: each container is listed once a run.
    let blob_listings: Vec<String> = az.log()[logged..]
        .lines()
        .filter(|l| l.contains("restype=container") && l.contains("comp=list"))
        .map(String::from)
        .collect();
    assert_eq!(blob_listings.len(), 2, "{blob_listings:#?}");
    let counts = &report["counts"];
    assert_eq!(counts["files"], 11, "{counts}");
    assert_eq!(counts["schemas"], 10, "every Parquet, CSV and JSON file; not the text file");
    assert_eq!(counts["resourceSets"], 1);

    let root = az.blob_endpoint().to_string();
    let root = root.trim_end_matches('/');
    let first = Run::latest(&out);
    first.check_references();
    let entities = by_qualified_name(&first);
    assert_eq!(entities[root]["typeName"], "azure_blob_service");
    assert_eq!(entities[&format!("{root}/lake")]["typeName"], "azure_blob_container");
    assert_eq!(entities[&format!("{root}/other")]["typeName"], "azure_blob_container");
    assert_eq!(entities[&format!("{root}/lake/ref")]["typeName"], "azure_blob_path", "a virtual folder");
    let standalone = format!("{root}/lake/standalone.parquet");
    assert_eq!(entities[&standalone]["typeName"], "azure_blob_path");
    assert_eq!(
        first.columns_of(&standalone).unwrap(),
        [("id".to_string(), "int32".to_string()), ("name".to_string(), "string".to_string())]
    );
    let csv = first.columns_of(&format!("{root}/lake/ref/customers.csv")).unwrap();
    assert_eq!(csv.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["id", "joined", "name"]);
    assert_eq!(csv[0], ("id".to_string(), "int64".to_string()), "types are inferred from the sample");
    assert!(first.columns_of(&format!("{root}/lake/ref/events.json")).is_some());
    assert!(entities.contains_key(&format!("{root}/lake/readme.txt")));

    // The six part files are one resource set, with its partition keys.
    let set_name = format!("{root}/lake/sales/year={{Year}}/month={{Month}}/part-{{N}}-{{GUID}}-{SPARK_PART}");
    let set = entities.get(set_name.as_str()).unwrap_or_else(|| panic!("no {set_name} in {:?}", entities.keys()));
    assert_eq!(set["typeName"], "azure_blob_resource_set");
    let set_columns: Vec<String> = first.columns_of(&set_name).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(set_columns, ["amount", "order_id", "region"]);
    assert!(!entities.keys().any(|qn| qn.contains("part-00000-1b4e")), "members are not assets of their own");
    let summary = &report["resourceSets"][0];
    assert_eq!(summary["partitions"], 6, "{summary:#}");

    // Then: one blob added, one rewritten with another schema, one deleted.
    acc.put_blob("lake", "new.parquet", &parquet(&[("k", DataType::Int32)]), "").unwrap();
    let changed = parquet(&[("id", DataType::Int32), ("name", DataType::Utf8), ("email", DataType::Utf8)]);
    acc.put_blob("lake", "standalone.parquet", &changed, "").unwrap();
    assert!(acc.delete_blob("lake", "readme.txt").unwrap());

    let (output, report) = scan(&source, &out, &["--incremental"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["previousRunId"], first.manifest["runId"]);
    assert!(report["modifiedSince"].is_string(), "{report:#}");
    let counts = &report["counts"];
    assert_eq!(counts["files"], 11, "everything is listed: {counts}");
    assert_eq!(counts["schemas"], 2, "only the added and the changed file are read: {counts}");
    assert_eq!(counts["deleted"], 1);
    let second = Run::latest(&out);
    assert_eq!(
        second.columns_of(&standalone).unwrap().into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        ["email", "id", "name"]
    );
    assert!(second.columns_of(&format!("{root}/lake/new.parquet")).is_some());
    let deletions: Value = serde_json::from_slice(&std::fs::read(second.dir.join("deletions.json")).unwrap()).unwrap();
    assert_eq!(
        deletions["entities"],
        serde_json::json!([{"typeName": "azure_blob_path", "uniqueAttributes": {"qualifiedName": format!("{root}/lake/readme.txt")}}])
    );
    assert_eq!(deletions["previousRunId"], first.manifest["runId"]);

    // A full run (the default) reads every schema again; nothing more is gone.
    let (output, report) = scan(&source, &out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!((report["counts"]["schemas"].as_u64(), report["counts"]["deleted"].as_u64()), (Some(11), Some(0)));
    assert_no_key(&out);
}

#[test]
fn an_adls_gen2_source_is_named_on_the_dfs_endpoint() {
    let az = Azurite::start();
    let acc = az.account();
    upload_lake(&acc);
    let tmp = tempfile::tempdir().unwrap();
    let dfs = "https://devstoreaccount1.dfs.core.windows.net";
    let source = source_file(
        tmp.path(),
        "adls",
        "adls-gen2",
        &az,
        &format!("api = \"blob\"\ndfs_endpoint = \"{dfs}\"\ncontainers = [\"lake\"]\n"),
    );
    std::fs::write(&source, std::fs::read_to_string(&source).unwrap() + "\n[config]\nexclude = [\"lake/ref/**\"]\n")
        .unwrap();
    let out = tmp.path().join("out");
    let (output, report) = scan(&source, &out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["counts"]["files"], 8, "the ref/ folder is excluded: {:#}", report["counts"]);
    let run = Run::latest(&out);
    let entities = by_qualified_name(&run);
    assert_eq!(entities[dfs]["typeName"], "azure_datalake_gen2_service");
    assert_eq!(entities[&format!("{dfs}/lake")]["typeName"], "azure_datalake_gen2_filesystem");
    assert_eq!(entities[&format!("{dfs}/lake/standalone.parquet")]["typeName"], "azure_datalake_gen2_path");
    assert!(!entities.contains_key(&format!("{dfs}/other")), "the connection allows one file system only");
    let set = entities
        .values()
        .find(|e| e["typeName"] == "azure_datalake_gen2_resource_set")
        .expect("the partitioned table is a resource set");
    assert!(
        set["attributes"]["qualifiedName"].as_str().unwrap().starts_with(&format!("{dfs}/lake/sales/year={{Year}}"))
    );
}

#[test]
fn test_connection_and_browse_say_precisely_what_is_wrong() {
    let mut az = Azurite::start();
    let acc = az.account();
    upload_lake(&acc);
    let tmp = tempfile::tempdir().unwrap();
    let source = source_file(tmp.path(), "lake", "azure-blob", &az, "");
    let path = source.to_str().unwrap();

    let ok = run(&["test-connection", path], KEY);
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    let listing = run(&["browse", path, "lake"], KEY);
    assert!(listing.status.success(), "{}", stderr(&listing));
    let text = stdout(&listing);
    for entry in ["sales", "standalone.parquet", "ref", "readme.txt"] {
        assert!(text.contains(entry), "{entry} not in: {text}");
    }

    let wrong = "d3Jvbmcga2V5IGZvciBkZXZzdG9yZWFjY291bnQxIGF0IGFsbCBieSBhbnkgbWVhbnM=";
    let denied = run(&["test-connection", path], wrong);
    assert!(!denied.status.success());
    let message = stdout(&denied) + &stderr(&denied);
    assert!(message.contains("HTTP 403") && message.contains("wrong account key"), "{message}");
    assert!(!message.contains(wrong) && !message.contains(KEY), "{message}");

    let scoped = source_file(tmp.path(), "scoped", "azure-blob", &az, "containers = [\"lake\", \"missing\"]");
    let missing = run(&["test-connection", scoped.to_str().unwrap()], KEY);
    assert!(!missing.status.success(), "{}{}", stdout(&missing), stderr(&missing));
    let message = stdout(&missing) + &stderr(&missing);
    assert!(message.contains("ContainerNotFound") && message.contains("'missing'"), "{message}");

    let bad_config = source_file(tmp.path(), "bad", "azure-blob", &az, "");
    std::fs::write(
        &bad_config,
        std::fs::read_to_string(&bad_config).unwrap() + "\n[config]\ninclude = \"*.parquet\"\n",
    )
    .unwrap();
    let invalid = run(&["test-connection", bad_config.to_str().unwrap()], KEY);
    assert!(!invalid.status.success());
    assert!(stderr(&invalid).contains("config.include"), "the error names the field: {}", stderr(&invalid));

    let port = az.blob_port;
    az.stop();
    let refused = run(&["test-connection", path], KEY);
    assert!(!refused.status.success());
    let message = stdout(&refused) + &stderr(&refused);
    assert!(message.contains(&format!("127.0.0.1:{port}")) && message.contains("refused"), "{message}");
}

#[test]
fn azurite_killed_mid_scan_fails_the_run_and_keeps_the_last_state() {
    let mut az = Azurite::start_with_access_log();
    let acc = az.account();
    acc.create_container("many").unwrap();
    let file = parquet(&[("a", DataType::Int32)]);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (acc, file) = (&acc, &file);
            s.spawn(move || {
                for i in (t..1500).step_by(4) {
                    acc.put_blob("many", &format!("d{}/f{i:04}.parquet", i % 7), file, "").unwrap();
                }
            });
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let source = source_file(tmp.path(), "many", "azure-blob", &az, "timeout_seconds = 2\nmax_retries = 1\n");
    let out = tmp.path().join("out");
    // Unit results wait in the temporary folder until the commit.
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut child = surveyor()
        .args([
            "scan",
            "--source",
            source.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--workers",
            "1",
        ])
        .env("TEST_AZURE_KEY", KEY)
        .env("TMPDIR", &work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The run is scanning once it has read its first file (the emulator's
    // access log shows the read); then the emulator goes, at once.
    let read_a_file =
        || az.log().lines().any(|l| l.contains("\"GET /devstoreaccount1/many/") && l.contains(".parquet HTTP"));
    support::wait_until_explained("the run to read its first file", Duration::from_secs(300), || {
        if read_a_file() {
            return Ok(());
        }
        match child.try_wait() {
            Ok(Some(status)) => panic!("the run ended ({status}) before the emulator was stopped"),
            _ => Err("no read yet".into()),
        }
    });
    az.stop();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "a run that lost its storage does not succeed: {}", stdout(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "failed", "{report:#}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("127.0.0.1") && error.contains("refused"), "{error}");
    assert!((report["counts"]["itemErrors"].as_u64().unwrap()) < 5, "not one error per remaining file: {report:#}");
    // The run is kept only as failed (for its report), and the source's state is untouched.
    assert!(!out.join("LATEST").exists(), "LATEST names completed runs only");
    let run = Run::read(&out.join("runs").join(report["runId"].as_str().unwrap()));
    assert_eq!(run.manifest["status"], "failed");
    let state = out.join("state");
    assert!(walk_if_exists(&state).iter().all(|p| !p.ends_with("state.svs")), "a failed run is not remembered");
}

fn walk_if_exists(dir: &Path) -> Vec<std::path::PathBuf> {
    if dir.exists() { walk(dir) } else { Vec::new() }
}

#[test]
fn runs_are_written_into_a_container_manifest_last_and_announced_on_a_queue() {
    let az = Azurite::start_with_queue();
    let acc = az.account();
    let lake = tempfile::tempdir().unwrap();
    std::fs::write(lake.path().join("t.parquet"), parquet(&[("a", DataType::Int32)])).unwrap();
    std::fs::create_dir(lake.path().join("sub")).unwrap();
    std::fs::write(lake.path().join("sub/u.csv"), "x,y\n1,2\n").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sink = tmp.path().join("sink.toml");
    let sink_toml = |key: &str| {
        format!(
            r#"kind = "azure-blob"
container = "ingest"
prefix = "surveyor/prod"
queue = "surveyor-runs"

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
    };
    std::fs::write(&sink, sink_toml(KEY)).unwrap();
    let out = tmp.path().join("out");
    let scan = |sink: &Path| {
        surveyor()
            .arg("scan")
            .arg(lake.path())
            .args(["--out", out.to_str().unwrap(), "--json", "--sink", sink.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let output = scan(&sink);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let run_id = report["runId"].as_str().unwrap();
    assert!(!out.join("runs").exists(), "nothing is written locally");

    let storage = BlobStorage::new(acc.clone(), None);
    let latest = storage.read_range("ingest/surveyor/prod/LATEST", 0, 100).unwrap();
    assert_eq!(String::from_utf8(latest).unwrap().trim(), run_id);
    let folder = format!("ingest/surveyor/prod/runs/{run_id}");
    let manifest: Value =
        serde_json::from_slice(&storage.read_range(&format!("{folder}/manifest.json"), 0, 1 << 20).unwrap()).unwrap();
    assert_eq!(manifest["status"], "succeeded");
    let listed: Vec<String> = storage.list(&folder, true).unwrap().map(|o| o.unwrap().path).collect();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len(), files.len() + 1, "the manifest lists every other blob of the run: {listed:?}");
    for f in files {
        let path = format!("{folder}/{}", f["path"].as_str().unwrap());
        let bytes = storage.read_range(&path, 0, 64 << 20).unwrap();
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap(), "{path}");
        let sha = surveyor_engine::host::cache::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!(sha, f["sha256"].as_str().unwrap(), "{path}");
    }
    let manifest_meta = storage.stat(&format!("{folder}/manifest.json")).unwrap();
    for f in files {
        let meta = storage.stat(&format!("{folder}/{}", f["path"].as_str().unwrap())).unwrap();
        assert!(meta.last_modified <= manifest_meta.last_modified, "the manifest is written last");
    }
    let messages =
        surveyor_engine::storage::azure::QueueNotifier::new(acc.clone(), "surveyor-runs".into()).peek(32).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["runId"], run_id);
    assert_eq!(messages[0]["status"], "succeeded");

    // A sink whose key is wrong: the run fails, nothing new appears, no message.
    let wrong = tmp.path().join("wrong-sink.toml");
    std::fs::write(&wrong, sink_toml("d3Jvbmcga2V5IGZvciBkZXZzdG9yZWFjY291bnQxIGF0IGFsbCBieSBhbnkgbWVhbnM=")).unwrap();
    let output = scan(&wrong);
    assert!(!output.status.success());
    let message = stdout(&output) + &stderr(&output);
    assert!(message.contains("403"), "{message}");
    let runs: Vec<String> =
        storage.list("ingest/surveyor/prod/runs", false).unwrap().map(|o| o.unwrap().path).collect();
    assert_eq!(runs, std::slice::from_ref(&folder));
    assert_eq!(
        surveyor_engine::storage::azure::QueueNotifier::new(acc, "surveyor-runs".into()).peek(32).unwrap().len(),
        1
    );
}

#[test]
fn azure_storage_and_the_sink_go_through_the_runtime_proxy() {
    let az = Azurite::start();
    let acc = az.account();
    acc.create_container("lake").unwrap();
    acc.put_blob("lake", "t.parquet", &parquet(&[("a", DataType::Int32)]), "").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let proxy = tinyproxy::tinyproxy(tmp.path(), "scanner", "pr0xy-pass");
    let data = tmp.path().join("data");
    let set = surveyor()
        .args(["proxy", "--data-dir", data.to_str().unwrap(), "set", "custom", "--address", "127.0.0.1"])
        .args(["--port", &proxy.port.to_string(), "--user", "scanner", "--password-env", "TEST_PROXY_PASSWORD"])
        .env("TEST_PROXY_PASSWORD", "pr0xy-pass")
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));

    let source = source_file(tmp.path(), "lake", "azure-blob", &az, "");
    let out = tmp.path().join("out");
    let output = surveyor()
        .args(["scan", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"])
        .env("TEST_AZURE_KEY", KEY)
        .env("SURVEYOR_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["counts"]["schemas"], 1, "{report:#}");
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    let azurite = format!("127.0.0.1:{}", az.blob_port);
    assert!(log.contains(&azurite), "the listing and the reads went through the proxy: {log}");
}
