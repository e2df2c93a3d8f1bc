//! `surveyor node run`: a registered node working for its integration
//! runtime. It sends heartbeats (CPU, memory, the units it has in progress,
//! which renews their leases), claims queued units of its runtime's runs up
//! to its concurrency (a run's plan, or a slice of a source), runs each, and
//! uploads what it found: a plan's slices as it finds them, a slice's
//! result when it is done (streamed, retried through a service restart).
//! Units to stop (their run was canceled, or they are no longer this
//! node's) come back in the heartbeat's reply. On SIGTERM it stops
//! claiming, gives running units the grace period, then stops them and
//! gives them back at once, for another node. When the service gives it
//! the go to update (a heartbeat's reply), it does the same, then installs
//! the release ([`super::updater`]) and carries on in the new binary; if
//! that fails, it reports why and works on in the old one.
//!
//! The node talks to the service only (outbound HTTP, like Purview's
//! self-hosted integration runtime); the service never connects to a node.

use super::ServiceError;
use super::client::{Client, seg};
use super::rollout::UpdateOffer;
use super::units::{Delivery, UnitJob, UnitRunner};
use super::updater;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use surveyor_engine::scan::unit::UnitSummary;
use surveyor_engine::scan::units::{PlanCursor, UnitSpec};

/// What `surveyor node register` saves in `<data-dir>/node.json` (0600).
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeFile {
    /// The service's API (its first URL).
    pub url: String,
    /// Every URL of the service (its replicas), tried in turn when one does not answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    pub node_id: String,
    /// The node's credential, issued at registration.
    pub credential: String,
    /// The public key that signs releases (base64), as the service handed
    /// it over at registration (or in the first heartbeat reply after the
    /// first publish); a release it does not verify is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_public_key: Option<String>,
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
        let urls = if self.urls.is_empty() { std::slice::from_ref(&self.url) } else { &self.urls[..] };
        Client::with_urls(urls, Some(self.credential.clone()))
    }
}

/// A heartbeat's body: this machine's CPU and memory, and the node's units.
pub fn heartbeat_body(units: &[UnitRef]) -> serde_json::Value {
    let memory = super::sysinfo::memory();
    serde_json::json!({
        "version": super::releases::running_version(),
        "running_jobs": units.len(),
        "units": units,
        "cpu_percent": super::sysinfo::cpu_percent(Duration::from_millis(250)),
        "memory_used_bytes": memory.map(|m| m.1),
        "memory_total_bytes": memory.map(|m| m.0),
    })
}

/// A unit a node holds: its run, its number and the claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitRef {
    pub run_id: String,
    pub seq: i64,
    pub attempt: i64,
}

pub struct AgentOptions {
    pub data_dir: PathBuf,
    /// Units at the same time on this node.
    pub concurrency: usize,
    /// How often to send a heartbeat and look for queued units.
    pub poll: Duration,
    /// After SIGTERM, how long running units may take to finish.
    pub grace: Duration,
    /// Threads reading schemas per unit.
    pub schema_workers: Option<usize>,
    /// How long a new release may take to report healthy before the node rolls back.
    pub trial: Duration,
}

/// How long a node keeps trying to report a unit to a service that does not answer.
const PATIENCE: Duration = Duration::from_secs(600);

struct Running {
    unit: UnitRef,
    cancel: Arc<AtomicBool>,
    /// Stopped to be given back (SIGTERM), not reported.
    releasing: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), String>>,
}

/// Works until `stop` is set; updates itself when the service says it is its turn.
pub fn run(
    options: AgentOptions,
    runtime: surveyor_engine::host::Runtime,
    plugins: surveyor_engine::host::PluginCatalog,
    stop: Arc<AtomicBool>,
) -> Result<(), ServiceError> {
    let mut node = NodeFile::load(&options.data_dir)?;
    let client = Arc::new(node.client()?);
    if let Some(healthy) = std::env::var_os(updater::TRIAL_ENV) {
        return updater::trial(&client, Path::new(&healthy), options.poll, &stop);
    }
    let runner = UnitRunner {
        runtime: Arc::new(runtime),
        plugins: Arc::new(plugins),
        schema_workers: options.schema_workers,
        work_dir: options.data_dir.join("work"),
    };
    let mut running: Vec<Running> = Vec::new();
    // Releases this process failed to move to: not tried again until a restart.
    let mut failed: HashSet<String> = HashSet::new();
    tracing::info!(service = %node.url, node = %node.node_id, concurrency = options.concurrency,
        version = %super::releases::running_version(), "node working");
    loop {
        let next = work(&options, &client, &runner, &mut node, &mut running, &failed, &stop)?;
        wind_down(&client, &mut running, options.grace);
        let offer = match next {
            Next::Stop => return Ok(()),
            Next::Update(offer) => offer,
            Next::Revert(version) => {
                let Err(error) = updater::revert(&version);
                tracing::error!(version = %version, %error, "returning to the previous version failed");
                failed.insert(version);
                continue;
            }
        };
        match updater::install(
            &client,
            &options.data_dir,
            node.release_public_key.as_deref(),
            &offer,
            options.trial,
            &stop,
        ) {
            Ok(never) => match never {},
            Err(error) => {
                tracing::error!(version = %offer.version, %error, "update failed; this node stays on its version");
                let body = serde_json::json!({"version": offer.version, "error": error});
                if let Err(e) = client.retrying(PATIENCE, |c| c.post("/v1/nodes/update-failed", &body)) {
                    tracing::warn!(error = %e, "reporting the failed update");
                }
                failed.insert(offer.version);
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        tracing::info!("node working again");
    }
}

/// Why [`work`] stopped.
enum Next {
    /// `stop` was set.
    Stop,
    /// The service gave this node the go to update to this release.
    Update(UpdateOffer),
    /// A rollout failed: return to this version (the previous binary).
    Revert(String),
}

/// Heartbeats, claims and runs units until `stop` is set or the service
/// tells this node to update or to return to its previous version.
fn work(
    options: &AgentOptions,
    client: &Arc<Client>,
    runner: &UnitRunner,
    node: &mut NodeFile,
    running: &mut Vec<Running>,
    failed: &HashSet<String>,
    stop: &AtomicBool,
) -> Result<Next, ServiceError> {
    while !stop.load(Ordering::SeqCst) {
        let round = Instant::now();
        reap(running, false);
        let units: Vec<UnitRef> = running.iter().map(|r| r.unit.clone()).collect();
        match client.post("/v1/nodes/heartbeat", &heartbeat_body(&units)) {
            Ok(reply) => {
                let stops: Vec<UnitRef> = serde_json::from_value(reply["stop_units"].clone()).unwrap_or_default();
                for r in
                    running.iter().filter(|r| stops.iter().any(|s| s.run_id == r.unit.run_id && s.seq == r.unit.seq))
                {
                    if !r.cancel.swap(true, Ordering::SeqCst) {
                        tracing::info!(run = %r.unit.run_id, unit = r.unit.seq, "unit stopped by the service");
                    }
                }
                if let Some(w) = reply["service_version"]["warning"].as_str() {
                    tracing::warn!("{w}");
                }
                trust_release_key(node, &options.data_dir, reply["release_public_key"].as_str());
                let offer: Option<UpdateOffer> = serde_json::from_value(reply["update"].clone()).ok().flatten();
                if let Some(offer) = offer.filter(|o| o.go && !failed.contains(&o.version))
                    && offer.version != super::releases::running_version()
                {
                    tracing::info!(version = %offer.version, units = running.len(),
                        "this node's turn to update: no more claims; its units finish or are given back");
                    return Ok(Next::Update(offer));
                }
                if let Some(version) = reply["revert_to"].as_str().filter(|v| !failed.contains(*v)) {
                    tracing::warn!(version = %version, units = running.len(),
                        "the rollout that moved this node failed: returning to the version the nodes shared");
                    return Ok(Next::Revert(version.to_string()));
                }
            }
            // A removed node stops: its credential will not come back.
            Err(ServiceError::Unauthorized(e)) => {
                stop_all(running);
                return Err(ServiceError::Unauthorized(format!("the service refused this node: {e}")));
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat"),
        }
        while running.len() < options.concurrency && !stop.load(Ordering::SeqCst) {
            let job = match client.post("/v1/nodes/units/claim", &serde_json::json!({})) {
                Ok(serde_json::Value::Null) => break,
                Ok(v) => match serde_json::from_value::<UnitJob>(v) {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::error!(error = %e, "the service sent a unit this node cannot read (versions differ?)");
                        break;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a unit");
                    break;
                }
            };
            let unit = UnitRef { run_id: job.run_id.clone(), seq: job.seq, attempt: job.attempt };
            tracing::info!(run = %unit.run_id, unit = unit.seq, attempt = unit.attempt, scan = %job.settings.scan, "unit started");
            let (cancel, releasing) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
            let (runner, client, flag, releasing_flag) =
                (runner.clone(), client.clone(), cancel.clone(), releasing.clone());
            let thread = std::thread::Builder::new()
                .name(format!("unit-{}-{}", unit.run_id, unit.seq))
                .spawn(move || {
                    let mut delivery = HttpDelivery { client: &client, job: &job, releasing: releasing_flag };
                    runner.run(&job, flag, &mut delivery)
                })
                .map_err(|e| ServiceError::Invalid(format!("starting a unit: {e}")))?;
            running.push(Running { unit, cancel, releasing, thread });
        }
        // Sleep out the round, waking early for a stop or a unit's end.
        while round.elapsed() < options.poll && !stop.load(Ordering::SeqCst) {
            if running.iter().any(|r| r.thread.is_finished()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(Next::Stop)
}

/// Keeps the release signing key the service hands over, the first time it
/// does (a node registered before the first publish); never replaces one.
fn trust_release_key(node: &mut NodeFile, data_dir: &Path, offered: Option<&str>) {
    match (&node.release_public_key, offered) {
        (None, Some(key)) => {
            node.release_public_key = Some(key.to_string());
            match node.save(data_dir) {
                Ok(()) => tracing::info!(key = %super::releases::fingerprint(key), "release signing key trusted"),
                Err(e) => tracing::warn!(error = %e, "saving the release signing key"),
            }
        }
        (Some(mine), Some(key)) if mine != key => tracing::error!(
            trusted = %super::releases::fingerprint(mine), offered = %super::releases::fingerprint(key),
            "the service signs releases with another key than the one this node trusts: its releases will be refused \
             (register the node again to trust the new key)"
        ),
        _ => {}
    }
}

/// Lets running units finish within `grace`, then stops them and gives them back.
fn wind_down(client: &Client, running: &mut Vec<Running>, grace: Duration) {
    tracing::info!(units = running.len(), grace_seconds = grace.as_secs(), "stopping");
    let deadline = Instant::now() + grace;
    while !running.is_empty() && Instant::now() < deadline {
        reap(running, false);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still running after the grace period: stopped, and given back at once.
    for r in stop_all(running) {
        let path = format!("/v1/nodes/units/{}/{}/release?attempt={}", seg(&r.run_id), r.seq, r.attempt);
        match client.post(&path, &serde_json::json!({})) {
            Ok(_) => {
                tracing::info!(run = %r.run_id, unit = r.seq, "unit stopped and given back; it runs again on a node")
            }
            Err(e) => tracing::warn!(run = %r.run_id, unit = r.seq, error = %e,
                "giving the unit back (the service queues it again once this node is offline)"),
        }
    }
}

/// Collects finished units (logging how they ended).
fn reap(running: &mut Vec<Running>, wait: bool) {
    let mut i = 0;
    while i < running.len() {
        if wait || running[i].thread.is_finished() {
            let r = running.swap_remove(i);
            match r.thread.join() {
                Ok(Ok(())) => tracing::info!(run = %r.unit.run_id, unit = r.unit.seq, "unit reported"),
                Ok(Err(e)) => tracing::warn!(run = %r.unit.run_id, unit = r.unit.seq, error = %e, "unit not reported"),
                Err(_) => tracing::error!(run = %r.unit.run_id, unit = r.unit.seq, "unit crashed"),
            }
        } else {
            i += 1;
        }
    }
}

/// Stops every unit, waits for them, and returns those not reported: they
/// are given back.
fn stop_all(running: &mut Vec<Running>) -> Vec<UnitRef> {
    for r in running.iter() {
        r.releasing.store(true, Ordering::SeqCst);
        r.cancel.store(true, Ordering::SeqCst);
    }
    let mut given_back = Vec::new();
    for r in running.drain(..) {
        if !matches!(r.thread.join(), Ok(Ok(()))) {
            given_back.push(r.unit);
        }
    }
    given_back
}

/// A node reports over the API, retrying while the service does not answer.
struct HttpDelivery<'a> {
    client: &'a Client,
    job: &'a UnitJob,
    releasing: Arc<AtomicBool>,
}

impl HttpDelivery<'_> {
    fn path(&self, what: &str) -> String {
        format!("/v1/nodes/units/{}/{}/{what}?attempt={}", seg(&self.job.run_id), self.job.seq, self.job.attempt)
    }

    fn giving_back(&self) -> Result<(), String> {
        if self.releasing.load(Ordering::SeqCst) {
            Err("the node is stopping; the unit is given back".into())
        } else {
            Ok(())
        }
    }
}

impl Delivery for HttpDelivery<'_> {
    fn planned(&mut self, units: Vec<UnitSpec>, cursor: &PlanCursor, root_uri: &str, done: bool) -> Result<(), String> {
        self.giving_back()?;
        let body = serde_json::json!({"units": units, "cursor": cursor, "root_uri": root_uri, "done": done});
        let path = self.path("plan");
        self.client.retrying(PATIENCE, |c| c.post(&path, &body)).map(|_| ()).map_err(|e| e.to_string())
    }

    fn plan_failed(&mut self, error: &str) -> Result<(), String> {
        self.giving_back()?;
        let body = serde_json::json!({"failed": error});
        let path = self.path("plan");
        self.client.retrying(PATIENCE, |c| c.post(&path, &body)).map(|_| ()).map_err(|e| e.to_string())
    }

    fn result(&mut self, result: &Path, summary: &UnitSummary) -> Result<(), String> {
        self.giving_back()?;
        let path = self.path("result");
        self.client.retrying(PATIENCE, |c| c.put_file(&path, result)).map_err(|e| e.to_string())?;
        tracing::info!(run = %self.job.run_id, unit = self.job.seq, files = summary.counts.files, "unit result uploaded");
        Ok(())
    }
}
