//! The Azure Storage client against Azurite, the Azure Storage emulator
//! (`npm install -g azurite`): each test starts its own, in memory. What
//! Azurite cannot do (fail on purpose, issue tokens, serve the dfs API) is
//! played by a tiny local HTTP stand-in.

#[path = "support/azurite.rs"]
mod azurite;

use azurite::{ACCOUNT, Azurite, KEY, Reply, StandIn};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use surveyor_engine::host::bindings::storage::ObjectMeta;
use surveyor_engine::host::bindings::types::Value;
use surveyor_engine::sink::Sink;
use surveyor_engine::storage::azure::{
    AzureAccount, AzureConnection, AzureCredential, BlobSink, BlobStorage, DfsStorage, QueueNotifier, Secret,
};
use surveyor_engine::storage::{Storage, StorageError, StorageErrorKind};

fn connection(endpoint: url::Url, credential: AzureCredential) -> AzureConnection {
    let mut conn = AzureConnection::new(ACCOUNT, credential);
    conn.blob_endpoint = Some(endpoint);
    conn.timeout = Duration::from_secs(10);
    conn.max_retries = 2;
    conn
}

fn key() -> AzureCredential {
    AzureCredential::AccountKey(Secret::new(KEY))
}

fn account(endpoint: url::Url) -> Arc<AzureAccount> {
    AzureAccount::new(connection(endpoint, key())).unwrap()
}

fn put(account: &AzureAccount, container: &str, name: &str, bytes: &[u8]) {
    account.create_container(container).unwrap();
    account.put_blob(container, name, bytes, "application/octet-stream").unwrap();
}

fn paths(listing: impl Iterator<Item = Result<ObjectMeta, StorageError>>) -> Vec<(String, bool)> {
    listing.map(|o| o.unwrap()).map(|o| (o.path, o.is_dir)).collect()
}

fn attr(meta: &ObjectMeta, key: &str) -> Option<Value> {
    meta.attributes.iter().find(|a| a.key == key).map(|a| a.value.clone())
}

fn text(value: &str) -> Option<Value> {
    Some(Value::Text(value.to_string()))
}

#[test]
fn lists_containers_and_blobs_page_by_page() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    for c in ["gamma", "alpha", "beta"] {
        assert!(acc.create_container(c).unwrap());
    }
    assert!(!acc.create_container("alpha").unwrap(), "an existing container is fine");
    // More than one page of the service's 5,000, uploaded by four threads.
    const N: usize = 5_100;
    std::thread::scope(|s| {
        for t in 0..4 {
            let acc = &acc;
            s.spawn(move || {
                for i in (t..N).step_by(4) {
                    acc.put_blob("alpha", &format!("part-{i:05}.bin"), b"x", "application/octet-stream").unwrap();
                }
            });
        }
    });

    let containers = acc.list_containers().unwrap();
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    assert!(containers.iter().all(|c| c.etag.is_some() && c.last_modified.is_some()));
    assert_eq!(containers[0].has_hierarchical_namespace, Some(false));

    let storage = BlobStorage::new(acc.clone(), None);
    assert_eq!(
        paths(storage.list("", false).unwrap()),
        [("alpha".into(), true), ("beta".into(), true), ("gamma".into(), true)]
    );
    let before = storage.request_count();
    let listed: Vec<String> = storage.list("alpha", true).unwrap().map(|o| o.unwrap().path).collect();
    assert_eq!(storage.request_count() - before, 2, "5,100 blobs are two pages of 5,000");
    assert_eq!(listed.len(), N);
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "lexicographic order");
    assert_eq!(listed[0], "alpha/part-00000.bin");

    // Lazily: a page is fetched when the previous one is used up.
    let storage = BlobStorage::new(acc.clone(), None).with_page_size(1000);
    let mut listing = storage.list("alpha", true).unwrap();
    assert_eq!(storage.request_count(), 1);
    assert_eq!(listing.by_ref().take(1500).count(), 1500);
    assert_eq!(storage.request_count(), 2);
    assert_eq!(listing.count(), N - 1500);
    assert_eq!(storage.request_count(), 6);

    // The whole account, recursively: each container, then its blobs.
    let all = paths(BlobStorage::new(acc.clone(), None).list("", true).unwrap());
    assert_eq!(all.len(), N + 3);
    assert_eq!(all[0], ("alpha".into(), true));
    assert_eq!(all[N + 1], ("beta".into(), true));

    // A source scoped to some containers sees only those.
    let scoped = BlobStorage::new(acc, Some(vec!["beta".into()]));
    assert_eq!(paths(scoped.list("", false).unwrap()), [("beta".into(), true)]);
    let refused = scoped.list("alpha", true).err().unwrap();
    assert_eq!(refused.kind, StorageErrorKind::Refused);
    assert!(refused.message.contains("outside this source"), "{}", refused.message);
}

/// Work units of a container: each picks the listing up at the page its
/// slice starts on (the mark its planner kept), so a run's units together
/// list each page about twice, not everything before each unit again
/// (which grows with the square of the container's size).
#[test]
fn units_resume_the_listing_at_their_page() {
    use surveyor_engine::scan::units::{PlanCursor, UnitSize, UnitSpec, UnitView, plan};
    const N: usize = 200;
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    acc.create_container("alpha").unwrap();
    acc.create_container("beta").unwrap();
    for i in 0..N {
        acc.put_blob("alpha", &format!("t/part-{i:05}.bin"), b"x", "").unwrap();
    }
    acc.put_blob("beta", "one.bin", b"x", "").unwrap();
    for scope in [vec![], vec!["alpha".to_string()]] {
        let storage: Arc<BlobStorage> = Arc::new(BlobStorage::new(acc.clone(), None).with_page_size(10));
        let mut units: Vec<UnitSpec> = Vec::new();
        plan(&*storage, &scope, UnitSize::fixed(10), PlanCursor::default(), 4, &mut |batch, _| {
            units.extend(batch);
            Ok(())
        })
        .unwrap();
        assert!(units.len() >= N / 10, "{units:?}");
        assert!(units.iter().skip(1).take(N / 10 - 1).all(|u| u.mark.is_some()), "{units:?}");
        let before = storage.request_count();
        let mut seen: Vec<String> = Vec::new();
        for unit in &units {
            let view = UnitView::wrap(storage.clone(), unit);
            for container in ["alpha", "beta"].iter().filter(|c| scope.is_empty() || scope.contains(&c.to_string())) {
                seen.extend(view.list(container, true).unwrap().map(|o| o.unwrap().path));
            }
        }
        let requests = storage.request_count() - before;
        let mut expected: Vec<String> = (0..N).map(|i| format!("alpha/t/part-{i:05}.bin")).collect();
        if scope.is_empty() {
            expected.push("beta/one.bin".into());
        }
        assert_eq!(seen, expected, "every blob in exactly one unit, in order");
        // 20 pages of 10: each unit reads the page of its first blob and the next.
        eprintln!("scope {scope:?}: {requests} listing requests for {} units", units.len());
        assert!(requests <= 4 * units.len() as u64, "{requests} listing requests for {} units", units.len());
    }
}

#[test]
fn blob_properties_come_with_the_listing() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    acc.create_container("data").unwrap();
    let started = jiff::Timestamp::now().as_millisecond() - 2_000;
    acc.put_blob("data", "sales/q1.parquet", &[7u8; 1234], "application/vnd.apache.parquet").unwrap();
    let storage = BlobStorage::new(acc, None);

    let listed: Vec<ObjectMeta> = storage.list("data", true).unwrap().map(Result::unwrap).collect();
    let [meta] = listed.as_slice() else { panic!("one blob expected: {listed:?}") };
    assert_eq!((meta.path.as_str(), meta.size, meta.is_dir), ("data/sales/q1.parquet", 1234, false));
    assert_eq!(meta.content_type.as_deref(), Some("application/vnd.apache.parquet"));
    assert!(meta.last_modified.unwrap() >= started);
    let etag = meta.etag.clone().expect("an etag");
    assert!(!etag.starts_with('"'), "etags without quotes: {etag}");
    assert_eq!(attr(meta, "etag"), text(&etag));
    assert_eq!(attr(meta, "blobType"), text("BlockBlob"));
    assert_eq!(attr(meta, "contentType"), text("application/vnd.apache.parquet"));
    assert_eq!(attr(meta, "accessTier"), text("Hot"));
    assert_eq!(attr(meta, "accessTierInferred"), Some(Value::Boolean(true)));
    assert!(matches!(attr(meta, "creationTime"), Some(Value::Timestamp(t)) if t >= started));

    // HEAD gives the same facts.
    let stat = storage.stat("data/sales/q1.parquet").unwrap();
    assert_eq!((stat.size, stat.etag.as_deref(), stat.last_modified), (1234, Some(etag.as_str()), meta.last_modified));
    assert_eq!(stat.content_type, meta.content_type);
    assert_eq!(attr(&stat, "blobType"), text("BlockBlob"));
    assert_eq!(attr(&stat, "creationTime"), attr(meta, "creationTime"));
    let container = storage.stat("data").unwrap();
    assert!(container.is_dir && container.etag.is_some() && container.last_modified.is_some());
}

#[test]
fn one_level_listing_returns_virtual_folders() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    for name in ["a.txt", "a/b.txt", "a/c/d.txt", "a0", "b/x", "folder-marker/"] {
        put(&acc, "box", name, b"1");
    }
    let storage = BlobStorage::new(acc, None);
    assert_eq!(
        paths(storage.list("box", false).unwrap()),
        [
            ("box/a.txt".into(), false),
            ("box/a".into(), true),
            ("box/a0".into(), false),
            ("box/b".into(), true),
            ("box/folder-marker".into(), true)
        ]
    );
    assert_eq!(paths(storage.list("box/a", false).unwrap()), [("box/a/b.txt".into(), false), ("box/a/c".into(), true)]);
    assert_eq!(
        paths(storage.list("box", true).unwrap()),
        [
            ("box/a.txt".into(), false),
            ("box/a/b.txt".into(), false),
            ("box/a/c/d.txt".into(), false),
            ("box/a0".into(), false),
            ("box/b/x".into(), false)
        ],
        "recursive listings hold the files; folder-marker blobs are not files"
    );
    assert!(storage.stat("box/a").unwrap().is_dir, "a virtual folder stats as a folder");
    assert_eq!(storage.stat("box/a/c").unwrap().path, "box/a/c");
    assert_eq!(storage.stat("box/nothing").unwrap_err().kind, StorageErrorKind::NotFound);
    assert!(storage.list("box/nothing", false).unwrap().next().is_none());
    assert_eq!(storage.list("box/../d", true).err().unwrap().kind, StorageErrorKind::Refused);
}

#[test]
fn names_with_spaces_and_unicode_round_trip() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    let name = "dir with space/naïve+plus%25 &=?#.txt";
    put(&acc, "box", name, b"hello");
    let storage = BlobStorage::new(acc, None);
    let listed = paths(storage.list("box/dir with space", false).unwrap());
    assert_eq!(listed, [(format!("box/{name}"), false)]);
    assert_eq!(storage.read_range(&format!("box/{name}"), 1, 3).unwrap(), b"ell");
    assert_eq!(storage.stat(&format!("box/{name}")).unwrap().size, 5);
}

#[test]
fn range_reads_return_exactly_the_bytes_asked() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    put(&acc, "box", "f.bin", &bytes);
    put(&acc, "box", "empty", b"");
    let big: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 253) as u8).collect();
    put(&acc, "box", "big.bin", &big);
    let storage = BlobStorage::new(acc, None);

    assert_eq!(storage.read_range("box/f.bin", 0, 10).unwrap(), bytes[..10]);
    assert_eq!(storage.read_range("box/f.bin", 12_345, 777).unwrap(), bytes[12_345..13_122]);
    assert_eq!(storage.read_range("box/f.bin", 99_990, 100).unwrap(), bytes[99_990..], "fewer at the end");
    assert!(storage.read_range("box/f.bin", 100_000, 10).unwrap().is_empty(), "past the end");
    assert!(storage.read_range("box/f.bin", 500, 0).unwrap().is_empty());
    assert!(storage.read_range("box/empty", 0, 64 << 10).unwrap().is_empty(), "an empty blob");
    let mut buf = Vec::with_capacity(1 << 20);
    storage.read_range_into("box/f.bin", 99_000, 65_536, &mut buf).unwrap();
    assert_eq!(buf, bytes[99_000..]);
    storage.read_range_into("box/f.bin", 0, 3, &mut buf).unwrap();
    assert_eq!(buf, bytes[..3], "the buffer is cleared first");
    assert_eq!(storage.read_range("box/big.bin", 0, 6 << 20).unwrap(), big);
    let e = storage.read_range("box/missing.bin", 0, 10).unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::NotFound);
    assert!(e.message.contains("BlobNotFound") && e.message.contains("blob 'missing.bin' in container 'box'"), "{e}");
}

#[test]
fn wrong_key_is_an_auth_error_with_the_service_code() {
    let az = Azurite::start();
    let wrong = "dGhpcyBpcyBub3QgdGhlIGtleSBvZiBkZXZzdG9yZWFjY291bnQxIGF0IGFsbCwgbm8=";
    let acc =
        AzureAccount::new(connection(az.blob_endpoint(), AzureCredential::AccountKey(Secret::new(wrong)))).unwrap();
    let e = acc.check().unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Auth, "{e}");
    // Azure's code is AuthenticationFailed; Azurite's AuthorizationFailure.
    assert!(e.message.contains("AuthenticationFailed") || e.message.contains("AuthorizationFailure"), "{e}");
    for needle in ["HTTP 403", "wrong account key or expired/invalid SAS", "127.0.0.1"] {
        assert!(e.message.contains(needle), "{needle:?} not in: {}", e.message);
    }
    assert!(!e.message.contains(wrong) && !e.message.contains("SharedKey"), "{}", e.message);
    assert_eq!(acc.request_count(), 1, "a refused credential is not retried");
    let e = BlobStorage::new(acc, None).list("box", true).err().unwrap();
    assert_eq!(e.kind, StorageErrorKind::Auth);
}

#[test]
fn missing_container_is_not_found() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    let storage = BlobStorage::new(acc.clone(), None);
    let e = storage.list("nope", true).err().unwrap();
    assert_eq!((e.kind, e.path.as_str()), (StorageErrorKind::NotFound, "nope"));
    assert!(e.message.contains("ContainerNotFound") && e.message.contains("container 'nope'"), "{}", e.message);
    assert!(e.message.contains(&format!("http://127.0.0.1:{}/{ACCOUNT}", az.blob_port)), "{}", e.message);
    assert_eq!(storage.stat("nope").unwrap_err().kind, StorageErrorKind::NotFound);
    assert_eq!(storage.stat("nope/x.parquet").unwrap_err().kind, StorageErrorKind::NotFound);
    assert_eq!(acc.check_container("nope").unwrap_err().kind, StorageErrorKind::NotFound);
    assert_eq!(acc.request_count(), 4, "not found is not retried");
}

#[test]
fn connection_refused_names_the_endpoint() {
    let mut az = Azurite::start();
    let acc = account(az.blob_endpoint());
    acc.check().unwrap();
    az.stop();
    let started = Instant::now();
    let e = acc.check().unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Unreachable);
    let expected = format!("connection refused by 127.0.0.1:{}", az.blob_port);
    assert!(e.message.contains(&expected) && e.message.contains("3 attempts"), "{}", e.message);
    assert_eq!(acc.request_count(), 4, "one, then three attempts (two retries)");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn dns_failure_names_the_host() {
    let endpoint = url::Url::parse("http://surveyor-test.invalid/devstoreaccount1").unwrap();
    let mut conn = connection(endpoint, key());
    conn.max_retries = 0;
    let e = AzureAccount::new(conn).unwrap().check().unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Unreachable);
    assert!(e.message.starts_with("cannot resolve host surveyor-test.invalid"), "{}", e.message);
}

#[test]
fn tls_failure_names_the_host() {
    // TLS to a plain-HTTP port: the handshake fails.
    let az = Azurite::start();
    let endpoint = url::Url::parse(&format!("https://127.0.0.1:{}/{ACCOUNT}", az.blob_port)).unwrap();
    let e = account(endpoint).check().unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Unreachable);
    assert!(e.message.starts_with("TLS handshake with 127.0.0.1 failed"), "{}", e.message);
}

#[test]
fn sas_token_authenticates() {
    let az = Azurite::start();
    let acc = account(az.blob_endpoint());
    put(&acc, "box", "dir/a.txt", b"hello sas");

    let sas = azurite::account_sas(ACCOUNT, KEY, "rl", "b", "sco");
    let with_sas = |sas: &str| {
        AzureAccount::new(connection(az.blob_endpoint(), AzureCredential::Sas(Secret::new(format!("?{sas}"))))).unwrap()
    };
    let storage = BlobStorage::new(with_sas(&sas), None);
    assert_eq!(paths(storage.list("", false).unwrap()), [("box".into(), true)]);
    assert_eq!(paths(storage.list("box", true).unwrap()), [("box/dir/a.txt".into(), false)]);
    assert_eq!(storage.read_range("box/dir/a.txt", 6, 100).unwrap(), b"sas");
    assert_eq!(storage.stat("box/dir/a.txt").unwrap().size, 9);

    // Read-only: writing is refused with the service's code.
    let e = with_sas(&sas).put_blob("box", "x", b"1", "text/plain").unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::PermissionDenied, "{e}");
    assert!(e.message.contains("AuthorizationPermissionMismatch"), "{}", e.message);

    // A tampered signature: an authentication error that does not show it.
    let tampered = sas.replace("sig=", "sig=AAAA");
    let e = with_sas(&tampered).check().unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Auth, "{e}");
    assert!(e.message.contains("HTTP 403") && e.message.contains("expired/invalid SAS"), "{}", e.message);
    assert!(!e.message.contains("AAAA"), "{}", e.message);
}

fn committed_paths(acc: &Arc<AzureAccount>, prefix: &str) -> Vec<String> {
    BlobStorage::new(acc.clone(), None)
        .list(prefix, true)
        .map(|l| l.map(|o| o.unwrap().path).collect())
        .unwrap_or_default()
}

#[test]
fn sink_writes_batches_then_manifest_last_and_latest() {
    let az = Azurite::start();
    let proxy = StandIn::proxy(az.blob_port, |_| None);
    let acc = account(proxy.url(&format!("/{ACCOUNT}")));
    let sink = BlobSink::new(acc.clone(), "ingest".into(), "/surveyor/prod/".into(), None);
    assert_eq!(sink.describe(), format!("Azure Blob Storage http://{}/{ACCOUNT}/ingest/surveyor/prod", proxy.addr));

    for run in ["run-1", "run-2"] {
        let mut writer = sink.begin(run).unwrap();
        writer.put("batches/000001.json", b"[1]").unwrap();
        writer.put("batches/000002.json", b"[2]").unwrap();
        writer.put("report.json", b"{}").unwrap();
        let location = writer.commit(br#"{"status":"succeeded"}"#).unwrap();
        assert_eq!(location, format!("http://{}/{ACCOUNT}/ingest/surveyor/prod/runs/{run}", proxy.addr));
        assert_eq!(acc.get_blob("ingest", "surveyor/prod/LATEST").unwrap(), format!("{run}\n").as_bytes());
    }
    let puts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && !r.target.contains("restype=container"))
        .map(|r| r.path().trim_start_matches(&format!("/{ACCOUNT}/ingest/surveyor/prod/")).to_string())
        .collect();
    assert_eq!(
        puts,
        [
            "runs/run-1/batches/000001.json",
            "runs/run-1/batches/000002.json",
            "runs/run-1/report.json",
            "runs/run-1/manifest.json",
            "LATEST",
            "runs/run-2/batches/000001.json",
            "runs/run-2/batches/000002.json",
            "runs/run-2/report.json",
            "runs/run-2/manifest.json",
            "LATEST",
        ],
        "each run's files, its manifest last, then LATEST"
    );
    let creates = proxy.requests().iter().filter(|r| r.target.contains("restype=container")).count();
    assert_eq!(creates, 1, "the container is created once per sink");
    assert_eq!(committed_paths(&acc, "ingest/surveyor/prod/runs/run-2").len(), 4);
    let manifest = BlobStorage::new(acc, None).stat("ingest/surveyor/prod/runs/run-1/manifest.json").unwrap();
    assert_eq!(manifest.content_type.as_deref(), Some("application/json"));
}

#[test]
fn large_files_go_up_in_blocks() {
    let az = Azurite::start();
    let proxy = StandIn::proxy(az.blob_port, |_| None);
    let acc = account(proxy.url(&format!("/{ACCOUNT}")));
    let sink = BlobSink::new(acc.clone(), "ingest".into(), String::new(), None).with_upload_sizes(1 << 20, 256 << 10);
    let big: Vec<u8> = (0..1_300_000u32).map(|i| (i % 249) as u8).collect();
    let mut writer = sink.begin("r").unwrap();
    writer.put("batches/000001.json", &big).unwrap();
    writer.commit(b"{}").unwrap();
    let blocks = proxy.requests().iter().filter(|r| r.target.contains("comp=block&")).count();
    let lists = proxy.requests().iter().filter(|r| r.target.contains("comp=blocklist")).count();
    assert_eq!((blocks, lists), (5, 1), "1.3 MB in blocks of 256 KiB, then the block list");
    assert_eq!(acc.get_blob("ingest", "runs/r/batches/000001.json").unwrap(), big);
    let meta = BlobStorage::new(acc, None).stat("ingest/runs/r/batches/000001.json").unwrap();
    assert_eq!((meta.size, meta.content_type.as_deref()), (1_300_000, Some("application/json")));
}

#[test]
fn failed_upload_leaves_nothing_visible() {
    let mut az = Azurite::start();
    let failing = Arc::new(AtomicBool::new(false));
    let proxy = StandIn::proxy(az.blob_port, {
        let failing = failing.clone();
        move |r| {
            (failing.load(Ordering::Relaxed) && r.method == "PUT").then(|| {
                Reply::with(
                    503,
                    &[("x-ms-error-code", "ServerBusy")],
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>\
                     <Message>The server is busy.</Message></Error>",
                )
            })
        }
    });
    let acc = account(proxy.url(&format!("/{ACCOUNT}")));
    let sink = BlobSink::new(acc.clone(), "ingest".into(), "out".into(), None);
    let mut writer = sink.begin("run-x").unwrap();
    writer.put("batches/000001.json", b"[1]").unwrap();
    writer.put("batches/000002.json", b"[2]").unwrap();
    assert_eq!(committed_paths(&acc, "ingest/out/runs/run-x").len(), 2);
    failing.store(true, Ordering::Relaxed);
    let e = writer.put("batches/000003.json", b"[3]").unwrap_err().to_string();
    assert!(e.contains("ServerBusy, HTTP 503") && e.contains("after 3 attempts"), "{e}");
    assert!(e.contains("batches/000003.json") && e.contains("run-x"), "{e}");
    drop(writer); // never committed
    assert!(committed_paths(&acc, "ingest/out").is_empty(), "the run's files are deleted");
    let deletes = proxy.requests().iter().filter(|r| r.method == "DELETE").count();
    assert_eq!(deletes, 3);
    failing.store(false, Ordering::Relaxed);

    // The service gone mid-run: the put fails naming the endpoint, nothing is committed.
    let mut writer = sink.begin("run-y").unwrap();
    writer.put("batches/000001.json", b"[1]").unwrap();
    az.stop();
    let e = writer.put("batches/000002.json", b"[2]").unwrap_err().to_string();
    assert!(e.contains("cannot upload batches/000002.json of run run-y"), "{e}");
    let started = Instant::now();
    drop(writer);
    assert!(started.elapsed() < Duration::from_secs(10), "an unreachable service does not hold the drop");
}

#[test]
fn queue_message_announces_each_committed_run() {
    let az = Azurite::start_with_queue();
    let mut conn = connection(az.blob_endpoint(), key());
    conn.queue_endpoint = Some(az.queue_endpoint());
    let acc = AzureAccount::new(conn).unwrap();
    let sink =
        BlobSink::new(acc.clone(), "ingest".into(), "p".into(), Some(QueueNotifier::new(acc.clone(), "runs".into())));
    for (run, status) in [("run-1", "succeeded"), ("run-2", "completed_with_exceptions")] {
        let mut writer = sink.begin(run).unwrap();
        writer.put("report.json", b"{}").unwrap();
        writer.commit(format!(r#"{{"status":"{status}"}}"#).as_bytes()).unwrap();
    }
    // An uncommitted run announces nothing.
    let mut writer = sink.begin("run-3").unwrap();
    writer.put("report.json", b"{}").unwrap();
    drop(writer);

    let messages = QueueNotifier::new(acc, "runs".into()).peek(32).unwrap();
    let base = format!("http://127.0.0.1:{}/{ACCOUNT}/ingest/p/runs", az.blob_port);
    assert_eq!(
        messages,
        [
            serde_json::json!({"runId": "run-1", "status": "succeeded", "location": format!("{base}/run-1"),
                "manifest": format!("{base}/run-1/manifest.json")}),
            serde_json::json!({"runId": "run-2", "status": "completed_with_exceptions",
                "location": format!("{base}/run-2"), "manifest": format!("{base}/run-2/manifest.json")}),
        ]
    );
}

const LIST_XML: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults>\
    <Containers><Container><Name>c</Name></Container></Containers><NextMarker /></EnumerationResults>";

#[test]
fn retries_transient_server_errors() {
    let calls = Arc::new(AtomicUsize::new(0));
    let script = calls.clone();
    let stand_in = StandIn::start(move |r| {
        let n = script.fetch_add(1, Ordering::SeqCst);
        match (r.path(), n) {
            ("/devstoreaccount1/busy", 0 | 1) => Reply::with(503, &[("x-ms-error-code", "ServerBusy")], ""),
            ("/devstoreaccount1/throttled", 3) => Reply::with(429, &[("retry-after", "1")], ""),
            ("/devstoreaccount1/reset", 5) => Reply::Hangup,
            ("/devstoreaccount1/bad", _) => Reply::with(400, &[("x-ms-error-code", "InvalidQueryParameterValue")], ""),
            ("/devstoreaccount1/down", _) => Reply::with(500, &[("x-ms-error-code", "InternalError")], ""),
            _ => Reply::with(200, &[("content-type", "application/xml")], LIST_XML),
        }
    });
    let mut conn = connection(stand_in.url("/devstoreaccount1"), key());
    conn.max_retries = 3;
    let acc = AzureAccount::new(conn).unwrap();
    let storage = BlobStorage::new(acc.clone(), None);

    drop(storage.list("busy", false).unwrap());
    assert_eq!(storage.request_count(), 3, "503, 503, then 200");
    let started = Instant::now();
    drop(storage.list("throttled", false).unwrap());
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After is honoured");
    assert_eq!(storage.request_count(), 5);
    drop(storage.list("reset", false).unwrap());
    assert_eq!(storage.request_count(), 7, "a dropped connection is retried");

    let e = storage.list("bad", false).err().unwrap();
    assert_eq!(storage.request_count(), 8, "a 400 is not retried");
    assert!(e.message.contains("InvalidQueryParameterValue, HTTP 400"), "{}", e.message);
    let e = storage.list("down", false).err().unwrap();
    assert_eq!(storage.request_count(), 12, "bounded: one attempt and three retries");
    assert_eq!(e.kind, StorageErrorKind::Other);
    assert!(e.message.contains("InternalError, HTTP 500") && e.message.contains("after 4 attempts"), "{}", e.message);
    // Every request was signed, with a date and a version.
    let requests = stand_in.requests();
    assert!(requests.iter().all(|r| {
        r.header("authorization").is_some_and(|a| a.starts_with("SharedKey devstoreaccount1:"))
            && r.header("x-ms-date").is_some()
            && r.header("x-ms-version").is_some()
    }));
}

#[test]
fn client_secret_token_is_fetched_once_and_sent_as_bearer() {
    let stand_in = StandIn::start(|r| match (r.method.as_str(), r.path()) {
        ("POST", "/tenant-1/oauth2/v2.0/token") => Reply::with(
            200,
            &[("content-type", "application/json")],
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-1"}"#,
        ),
        ("POST", _) => Reply::with(
            401,
            &[],
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
        ),
        _ => Reply::with(200, &[], LIST_XML),
    });
    let credential = |tenant: &str| AzureCredential::ClientSecret {
        tenant_id: tenant.into(),
        client_id: "app-1".into(),
        secret: Secret::new("s3cr3t-value"),
        authority: Some(stand_in.url("/").to_string()),
    };
    let acc = AzureAccount::new(connection(stand_in.url("/devstoreaccount1"), credential("tenant-1"))).unwrap();
    acc.check().unwrap();
    acc.check().unwrap();
    let requests = stand_in.requests();
    let tokens: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(tokens.len(), 1, "the token is cached");
    let form = String::from_utf8_lossy(&tokens[0].body).to_string();
    for part in ["grant_type=client_credentials", "client_id=app-1", "scope=https%3A%2F%2Fstorage.azure.com%2F.default"]
    {
        assert!(form.contains(part), "{part} not in {form}");
    }
    let gets: Vec<_> = requests.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(gets.len(), 2);
    assert!(gets.iter().all(|r| r.header("authorization") == Some("Bearer tok-1")));

    let acc = AzureAccount::new(connection(stand_in.url("/devstoreaccount1"), credential("tenant-2"))).unwrap();
    let e = acc.check().unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Auth);
    assert!(e.message.contains("invalid_client") && e.message.contains("AADSTS7000215"), "{}", e.message);
    assert!(
        e.message.contains("tenant-2") && !e.message.contains("s3cr3t") && !e.message.contains("Trace ID"),
        "{}",
        e.message
    );
}

#[test]
fn dfs_listing_follows_continuations_against_a_stand_in() {
    // Azurite has no dfs endpoint: the stand-in answers as the service documents.
    let stand_in = StandIn::start(|r| {
        let query = r.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        if r.method == "HEAD" {
            return Reply::with(
                200,
                &[("x-ms-acl", "user::rwx,group::r-x,other::---"), ("x-ms-owner", "$superuser")],
                "",
            );
        }
        if query.contains("continuation=") {
            Reply::with(
                200,
                &[],
                r#"{"paths":[{"name":"raw/b.parquet","contentLength":"20","lastModified":"Tue, 02 Jan 2024 10:00:00 GMT","etag":"0x2","owner":"o","group":"g","permissions":"rw-r-----"}]}"#,
            )
        } else {
            Reply::with(
                200,
                &[("x-ms-continuation", "page/2+")],
                r#"{"paths":[{"name":"raw","isDirectory":"true","lastModified":"Tue, 02 Jan 2024 10:00:00 GMT","etag":"0x1","permissions":"rwxr-x---"},{"name":"raw/a.parquet","contentLength":"10","lastModified":"Tue, 02 Jan 2024 10:00:00 GMT","etag":"0x3"}]}"#,
            )
        }
    });
    let mut conn = connection(stand_in.url("/devstoreaccount1"), key());
    conn.dfs_endpoint = Some(stand_in.url("/devstoreaccount1"));
    let storage = DfsStorage::new(AzureAccount::new(conn).unwrap(), Some(vec!["lake".into()])).with_acls(true);
    let listed: Vec<ObjectMeta> = storage.list("lake", true).unwrap().map(Result::unwrap).collect();
    assert_eq!(
        listed.iter().map(|m| (m.path.as_str(), m.is_dir, m.size)).collect::<Vec<_>>(),
        [("lake/raw", true, 0), ("lake/raw/a.parquet", false, 10), ("lake/raw/b.parquet", false, 20)]
    );
    assert_eq!(attr(&listed[2], "permissions"), text("rw-r-----"));
    assert_eq!(attr(&listed[0], "acl"), text("user::rwx,group::r-x,other::---"));
    let targets: Vec<String> =
        stand_in.requests().iter().filter(|r| r.method == "GET").map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        [
            "/devstoreaccount1/lake?resource=filesystem&recursive=true&maxResults=5000",
            "/devstoreaccount1/lake?resource=filesystem&recursive=true&maxResults=5000&continuation=page%2F2%2B",
        ]
    );
    assert_eq!(storage.request_count(), 2 + 3, "two pages, and one ACL request per entry");
}

/// ADLS Gen2 units, like Blob ones, pick List Paths up at the page their
/// slice starts on: the continuation travels with the unit (a stand-in
/// serving six pages of three files).
#[test]
fn dfs_units_resume_the_listing_at_their_page() {
    use surveyor_engine::scan::units::{PlanCursor, UnitSize, UnitSpec, UnitView, plan};
    const PAGES: usize = 6;
    let stand_in = StandIn::start(|r| {
        let query = r.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let page: usize = query.split("continuation=p").nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        let paths: Vec<String> = (0..3)
            .map(|i| format!(r#"{{"name":"d/f-{:02}.parquet","contentLength":"1","etag":"0x1"}}"#, page * 3 + i))
            .collect();
        let body = format!(r#"{{"paths":[{}]}}"#, paths.join(","));
        let next = format!("p{}", page + 1);
        let headers: &[(&str, &str)] = if page + 1 < PAGES { &[("x-ms-continuation", &next)] } else { &[] };
        Reply::with(200, headers, body)
    });
    let mut conn = connection(stand_in.url("/devstoreaccount1"), key());
    conn.dfs_endpoint = Some(stand_in.url("/devstoreaccount1"));
    let storage: Arc<DfsStorage> =
        Arc::new(DfsStorage::new(AzureAccount::new(conn).unwrap(), Some(vec!["lake".into()])));
    let mut units: Vec<UnitSpec> = Vec::new();
    plan(&*storage, &["lake".to_string()], UnitSize::fixed(3), PlanCursor::default(), 4, &mut |batch, _| {
        units.extend(batch);
        Ok(())
    })
    .unwrap();
    assert_eq!(units.len(), PAGES, "{units:?}");
    let planned = stand_in.requests().len();
    let mut seen: Vec<String> = Vec::new();
    for unit in &units {
        seen.extend(UnitView::wrap(storage.clone(), unit).list("lake", true).unwrap().map(|o| o.unwrap().path));
    }
    let expected: Vec<String> = (0..PAGES * 3).map(|i| format!("lake/d/f-{i:02}.parquet")).collect();
    assert_eq!(seen, expected, "every file in exactly one unit, in order");
    let pages_read: Vec<String> = stand_in.requests()[planned..]
        .iter()
        .map(|r| r.target.split("continuation=").nth(1).unwrap_or("first").to_string())
        .collect();
    // Each unit reads its own page and the next (to see where its slice ends).
    assert!(pages_read.len() <= 2 * PAGES, "{pages_read:?}");
    assert_eq!(pages_read.iter().filter(|p| *p == "first").count(), 1, "{pages_read:?}");
}
