//! Distributed scans on a latency-bound store: one run of an `azure-blob`
//! source on 1, 2 and 3 nodes, side by side, each node with the same fixed
//! number of schema readers. Every storage request goes through a proxy that
//! holds it for `--delay-ms` before passing it on (the kernel here has no
//! netem), so a node is bound by round trips, as against real Azure from a
//! private network, not by Azurite's CPU.
//!
//! ```sh
//! cargo build --release -p surveyor -p surveyor-benches
//! ./target/release/dist-bench --surveyor target/release/surveyor --blobs 20000 --rounds 3
//! ```
//!
//! Needs `azurite-blob` on the PATH (`npm install -g azurite`). Prints one
//! line per run and a table of medians.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use surveyor_engine::storage::azure::{AzureAccount, AzureConnection, AzureCredential, Secret};

const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

struct Args {
    surveyor: PathBuf,
    blobs: usize,
    delay: Duration,
    workers: usize,
    rounds: usize,
    unit_files: usize,
    nodes: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args {
        surveyor: "target/release/surveyor".into(),
        blobs: 20_000,
        delay: Duration::from_millis(20),
        workers: 4,
        rounds: 3,
        unit_files: 1000,
        nodes: vec![1, 2, 3],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--surveyor" => a.surveyor = value.into(),
            "--blobs" => a.blobs = value.parse().expect("--blobs N"),
            "--delay-ms" => a.delay = Duration::from_millis(value.parse().expect("--delay-ms N")),
            "--workers" => a.workers = value.parse().expect("--workers N"),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            "--unit-files" => a.unit_files = value.parse().expect("--unit-files N"),
            "--nodes" => a.nodes = value.split(',').map(|n| n.parse().expect("--nodes 1,2,3")).collect(),
            other => panic!("unknown option {other}"),
        }
    }
    a
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A proxy that holds every request for `delay` before forwarding it (one
/// upstream connection per client connection, kept alive).
fn delaying_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut to_client, from_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut from_server = from_server;
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                });
                forward_requests(BufReader::new(client), server, delay);
            });
        }
    });
    port
}

/// Copies requests (head, then a Content-Length body) to `server`, each after `delay`.
fn forward_requests(mut client: BufReader<TcpStream>, mut server: TcpStream, delay: Duration) {
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if client.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if client.read_exact(&mut body).is_err() {
            return;
        }
        std::thread::sleep(delay);
        if server.write_all(&head).and_then(|_| server.write_all(&body)).is_err() {
            return;
        }
    }
}

fn parquet_file() -> Vec<u8> {
    use surveyor_lakegen::{LakeSpec, write_lake};
    let dir = std::env::temp_dir().join(format!("dist-bench-file-{}", std::process::id()));
    let written = write_lake(&dir, &LakeSpec { files: 1, loose_percent: 100, ..LakeSpec::default() }).unwrap();
    let bytes = std::fs::read(dir.join(&written[0].path)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn upload(account: &AzureAccount, blobs: usize) {
    account.create_container("lake").unwrap();
    let file = parquet_file();
    std::thread::scope(|s| {
        for t in 0..16 {
            let file = &file;
            s.spawn(move || {
                for i in (t..blobs).step_by(16) {
                    let name = format!("table_{:03}/part-{i:06}.parquet", i % 100);
                    account.put_blob("lake", &name, file, "application/octet-stream").unwrap();
                }
            });
        }
    });
}

fn surveyor(args: &Args, data: &Path) -> Command {
    let mut cmd = Command::new(&args.surveyor);
    cmd.env("SURVEYOR_DATA_DIR", data).env("SURVEYOR_PLUGINS_DIR", data.join("no-plugins")).env_remove("RUST_LOG");
    cmd
}

fn call(url: &str, token: &str, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-X", method, "-H", &format!("Authorization: Bearer {token}")]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "-d", &b.to_string()]);
    }
    let out = cmd.arg(format!("{url}{path}")).output().expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn main() {
    let args = args();
    let tmp = std::env::temp_dir().join(format!("dist-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let blob_port = free_port();
    let _azurite = Process(
        Command::new("azurite-blob")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &blob_port.to_string()])
            .args(["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob (npm install -g azurite)"),
    );
    wait_port(blob_port);
    let mut conn = AzureConnection::new(ACCOUNT, AzureCredential::AccountKey(Secret::new(KEY)));
    conn.blob_endpoint = Some(url::Url::parse(&format!("http://127.0.0.1:{blob_port}/{ACCOUNT}")).unwrap());
    let account: Arc<AzureAccount> = AzureAccount::new(conn).unwrap();
    let t = Instant::now();
    upload(&account, args.blobs);
    eprintln!("uploaded {} blobs in {:.1}s", args.blobs, t.elapsed().as_secs_f64());
    let proxy = delaying_proxy(blob_port, args.delay);

    let data = tmp.join("service");
    let mut serve = surveyor(&args, &data);
    serve.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data);
    serve.args(["--unit-files", &args.unit_files.to_string(), "--node-offline-after", "30"]);
    let mut child =
        serve.stdout(Stdio::piped()).stderr(std::fs::File::create(tmp.join("serve.log")).unwrap()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _serve = Process(child);
    let url = line.trim().strip_prefix("surveyor service listening on ").expect("listening line").to_string();
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap().trim().to_string();
    let ir = call(&url, &token, "POST", "/v1/integration-runtimes", Some(serde_json::json!({"name": "bench"})));
    let key = ir["keys"]["key1"].as_str().expect("a key").to_string();
    let source = serde_json::json!({"name": "lake", "type": "azure-blob", "connection": {
        "account": ACCOUNT, "endpoint": format!("http://127.0.0.1:{proxy}/{ACCOUNT}"),
        "credential": {"kind": "account-key", "key": KEY}, "containers": ["lake"]}});
    call(&url, &token, "POST", "/v1/sources", Some(source));
    let scan = serde_json::json!({"name": "lake", "source": "lake", "integration_runtime": "bench",
        "rule_set": {"resource_sets": {"enabled": false}}});
    call(&url, &token, "POST", "/v1/scans", Some(scan));

    // Nodes registered once; each round starts the ones it needs.
    let max = *args.nodes.iter().max().unwrap();
    for n in 0..max {
        let dir = tmp.join(format!("node-{n}"));
        let out = surveyor(&args, &dir)
            .args(["node", "register", "--key", &key, "--url", &url, "--name", &format!("node-{n}"), "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut times: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
    let heartbeats = |url: &str| -> std::collections::HashMap<String, String> {
        let list = call(url, &token, "GET", "/v1/nodes", None);
        list.as_array()
            .into_iter()
            .flatten()
            .map(|n| (n["name"].as_str().unwrap_or("").to_string(), n["last_heartbeat_at"].to_string()))
            .collect()
    };
    for round in 0..args.rounds {
        for &nodes in &args.nodes {
            let before = heartbeats(&url);
            let running: Vec<Process> = (0..nodes)
                .map(|n| {
                    let dir = tmp.join(format!("node-{n}"));
                    Process(
                        surveyor(&args, &dir)
                            .args(["node", "run", "--poll-interval", "1", "--concurrency", "1"])
                            .args(["--workers", &args.workers.to_string(), "--data-dir"])
                            .arg(&dir)
                            .stdout(Stdio::null())
                            .stderr(std::fs::File::create(tmp.join(format!("node-{n}.log"))).unwrap())
                            .spawn()
                            .unwrap(),
                    )
                })
                .collect();
            // Wait until each started node has sent a heartbeat, so that start-up is not timed.
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let now = heartbeats(&url);
                let up = (0..nodes).filter(|n| {
                    let name = format!("node-{n}");
                    now.get(&name).is_some_and(|h| before.get(&name) != Some(h) && h != "null")
                });
                if up.count() == nodes {
                    break;
                }
                assert!(Instant::now() < deadline, "nodes not up: {now:?}");
                std::thread::sleep(Duration::from_millis(200));
            }
            let started = Instant::now();
            let run = call(&url, &token, "POST", "/v1/scans/lake/runs", None);
            let id = run["id"].as_str().expect("a run").to_string();
            let run = loop {
                let run = call(&url, &token, "GET", &format!("/v1/runs/{id}"), None);
                if !matches!(run["state"].as_str(), Some("queued" | "in_progress")) {
                    break run;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let seconds = started.elapsed().as_secs_f64();
            assert_eq!(run["state"], "succeeded", "{run}");
            println!(
                "round {round}: {nodes} node(s): {seconds:.2}s, {} files, {:.0} files/s, units by node {}",
                run["counts"]["files"],
                args.blobs as f64 / seconds,
                run["units"]["by_node"]
            );
            times.entry(nodes).or_default().push(seconds);
            drop(running);
            // Their heartbeats stop; the next round's nodes are the online ones.
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(times.get_mut(&args.nodes[0]).unwrap());
    println!("\n| nodes | median time | files/s | speed-up vs {} node(s) |\n|---|---|---|---|", args.nodes[0]);
    for (nodes, v) in times.iter_mut() {
        let m = median(v);
        println!("| {nodes} | {m:.2} s | {:.0} | {:.2}× |", args.blobs as f64 / m, base / m);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
