//! `surveyor node run`: a registered node working for its integration
//! runtime. It sends heartbeats (CPU, memory, the runs it has in progress),
//! claims queued runs of its runtime's scans up to its concurrency, runs them
//! as `surveyor scan` does with the output in its own data directory, and
//! reports how each ended. Cancels come back in the heartbeat's reply. On
//! SIGTERM it stops claiming, gives running scans the grace period, then
//! stops them and gives them back to the queue.
//!
//! The node talks to the service only (outbound HTTP, like Purview's
//! self-hosted integration runtime); the service never connects to a node.

use super::ServiceError;
use super::client::{Client, seg};
use super::runner::{Finished, Job, run_job};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What `surveyor node register` saves in `<data-dir>/node.json` (0600).
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeFile {
    /// The service's API.
    pub url: String,
    pub node_id: String,
    /// The node's credential, issued at registration.
    pub credential: String,
}

impl NodeFile {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("node.json")
    }

    pub fn load(data_dir: &Path) -> Result<NodeFile, ServiceError> {
        let path = Self::path(data_dir);
        let bytes = std::fs::read(&path).map_err(|e| {
            ServiceError::Invalid(format!("{}: {e}; register this node first (surveyor node register)", path.display()))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ServiceError::Invalid(format!("{}: {e}", path.display())))
    }

    pub fn save(&self, data_dir: &Path) -> Result<(), ServiceError> {
        let path = Self::path(data_dir);
        let io = |e| ServiceError::Io { path: path.display().to_string(), source: e };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let _ = std::fs::remove_file(&path);
        super::crypto::write_private(&path, &serde_json::to_vec(self).expect("serializes")).map_err(io)
    }

    pub fn client(&self) -> Result<Client, ServiceError> {
        Client::new(&self.url, Some(self.credential.clone()))
    }
}

/// A heartbeat's body: this machine's CPU and memory, and the node's runs.
pub fn heartbeat_body(running: &[String]) -> serde_json::Value {
    let memory = super::sysinfo::memory();
    serde_json::json!({
        "version": surveyor_engine::VERSION,
        "running_jobs": running.len(),
        "running": running,
        "cpu_percent": super::sysinfo::cpu_percent(Duration::from_millis(250)),
        "memory_used_bytes": memory.map(|m| m.1),
        "memory_total_bytes": memory.map(|m| m.0),
    })
}

pub struct AgentOptions {
    pub data_dir: PathBuf,
    /// Runs at the same time on this node.
    pub concurrency: usize,
    /// How often to send a heartbeat and look for queued runs.
    pub poll: Duration,
    /// After SIGTERM, how long running scans may take to finish.
    pub grace: Duration,
    /// Threads reading schemas per run.
    pub schema_workers: Option<usize>,
}

struct Running {
    cancel: Arc<AtomicBool>,
    canceled_by_user: bool,
    thread: JoinHandle<Finished>,
}

/// Works until `stop` is set.
pub fn run(
    options: AgentOptions,
    runtime: surveyor_engine::host::Runtime,
    registry: surveyor_engine::host::Registry,
    stop: Arc<AtomicBool>,
) -> Result<(), ServiceError> {
    let node = NodeFile::load(&options.data_dir)?;
    let client = node.client()?;
    let runtime = Arc::new(runtime);
    let registry = Arc::new(registry);
    let output = options.data_dir.join("output");
    let mut running: HashMap<String, Running> = HashMap::new();
    // Ends not yet reported (the service was unreachable): sent again each round.
    let mut unreported: Vec<(String, Finished)> = Vec::new();
    tracing::info!(service = %node.url, node = %node.node_id, concurrency = options.concurrency, "node working");
    while !stop.load(Ordering::SeqCst) {
        let round = Instant::now();
        reap(&mut running, &mut unreported, false);
        report(&client, &mut unreported);
        let ids: Vec<String> = running.keys().cloned().collect();
        match client.post("/v1/nodes/heartbeat", &heartbeat_body(&ids)) {
            Ok(reply) => {
                for id in reply["cancel"].as_array().into_iter().flatten().filter_map(|v| v.as_str()) {
                    if let Some(r) = running.get_mut(id)
                        && !r.canceled_by_user
                    {
                        tracing::info!(run = %id, "run canceled by the service");
                        r.canceled_by_user = true;
                        r.cancel.store(true, Ordering::SeqCst);
                    }
                }
                if let Some(w) = reply["service_version"]["warning"].as_str() {
                    tracing::warn!("{w}");
                }
            }
            // A removed node stops: its credential will not come back.
            Err(ServiceError::Unauthorized(e)) => {
                stop_all(&mut running, Duration::ZERO);
                return Err(ServiceError::Unauthorized(format!("the service refused this node: {e}")));
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat"),
        }
        while running.len() < options.concurrency && !stop.load(Ordering::SeqCst) {
            let job = match client.post("/v1/nodes/runs/claim", &serde_json::json!({})) {
                Ok(serde_json::Value::Null) => break,
                Ok(v) => match serde_json::from_value::<Job>(v) {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::error!(error = %e, "the service sent a job this node cannot read (versions differ?)");
                        break;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a run");
                    break;
                }
            };
            let id = job.run_id.clone();
            tracing::info!(run = %id, scan = %job.scan, attempt = job.attempt, "run started");
            let cancel = Arc::new(AtomicBool::new(false));
            let (rt, reg, out, flag, workers) =
                (runtime.clone(), registry.clone(), output.clone(), cancel.clone(), options.schema_workers);
            let thread = std::thread::Builder::new()
                .name(format!("run-{id}"))
                .spawn(move || run_job(&rt, &reg, job, &out, workers, flag))
                .map_err(|e| ServiceError::Invalid(format!("starting a run: {e}")))?;
            running.insert(id, Running { cancel, canceled_by_user: false, thread });
        }
        // Sleep out the round, waking early for a stop or a run's end.
        while round.elapsed() < options.poll && !stop.load(Ordering::SeqCst) {
            if running.values().any(|r| r.thread.is_finished()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    tracing::info!(runs = running.len(), grace_seconds = options.grace.as_secs(), "stopping");
    let deadline = Instant::now() + options.grace;
    while !running.is_empty() && Instant::now() < deadline {
        reap(&mut running, &mut unreported, false);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still running after the grace period: stopped, and given back to the queue.
    for id in stop_all(&mut running, Duration::from_secs(30)) {
        match client.post(&format!("/v1/nodes/runs/{}/release", seg(&id)), &serde_json::json!({})) {
            Ok(_) => tracing::info!(run = %id, "run stopped and given back; it runs again on a node"),
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "giving the run back (the service queues it again once this node is offline)")
            }
        }
    }
    reap(&mut running, &mut unreported, true);
    report(&client, &mut unreported);
    for (id, _) in &unreported {
        tracing::error!(run = %id, "the run's end could not be reported; the service runs it again once this node is offline");
    }
    Ok(())
}

/// Collects finished runs (all of them when `wait`).
fn reap(running: &mut HashMap<String, Running>, unreported: &mut Vec<(String, Finished)>, wait: bool) {
    let done: Vec<String> =
        running.iter().filter(|(_, r)| wait || r.thread.is_finished()).map(|(id, _)| id.clone()).collect();
    for id in done {
        let r = running.remove(&id).expect("listed");
        let finished = r
            .thread
            .join()
            .unwrap_or_else(|_| Finished::failed("the run crashed".into()))
            .canceled_if(r.canceled_by_user && r.cancel.load(Ordering::SeqCst));
        tracing::info!(run = %id, state = %finished.state, assets = finished.counts.assets, "run finished");
        unreported.push((id, finished));
    }
}

fn report(client: &Client, unreported: &mut Vec<(String, Finished)>) {
    unreported.retain(|(id, finished)| {
        let body = serde_json::to_value(finished).expect("serializes");
        match client.post(&format!("/v1/nodes/runs/{}/finish", seg(id)), &body) {
            Ok(_) => false,
            Err(ServiceError::Conflict(e)) => {
                tracing::warn!(run = %id, error = %e, "the run's end was not recorded");
                false
            }
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "reporting the run's end; trying again");
                true
            }
        }
    });
}

/// Stops every run (waiting up to `wait` for each) and returns their ids;
/// their outcome is dropped: they are given back, not reported.
fn stop_all(running: &mut HashMap<String, Running>, wait: Duration) -> Vec<String> {
    for r in running.values() {
        r.cancel.store(true, Ordering::SeqCst);
    }
    let deadline = Instant::now() + wait;
    while running.values().any(|r| !r.thread.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    running.drain().map(|(id, _)| id).collect()
}
