//! Managing a running service: `surveyor ir|node|sources|scans|runs ...`.
//!
//! These commands are clients of the service's HTTP API (`--url`, default
//! `http://127.0.0.1:7400`), authenticated with the admin token (`--token`
//! or `SURVEYOR_TOKEN`, else `<data-dir>/admin-token` on the same machine).
//! They print the API's JSON answers.

use anyhow::Context;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use surveyor_engine::sources::SourceDefinition;
use surveyor_service::agent::{self, NodeFile, heartbeat_body};
use surveyor_service::client::{Client, seg};

#[derive(clap::Args, Clone)]
pub struct ApiArgs {
    /// The service's API; repeat it (or separate with commas) for a service of several replicas:
    /// a call that cannot reach one goes to the next.
    #[arg(long, global = true, env = "SURVEYOR_URL", value_delimiter = ',', default_value = "http://127.0.0.1:7400")]
    pub url: Vec<String>,
    /// The admin token [default: read from <data-dir>/admin-token].
    #[arg(long, global = true, env = "SURVEYOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The service's data directory (for its admin token and node.json).
    #[arg(long, global = true, env = "SURVEYOR_DATA_DIR", default_value = "surveyor-data")]
    pub data_dir: PathBuf,
}

impl ApiArgs {
    pub fn admin(&self) -> anyhow::Result<Client> {
        let token = match &self.token {
            Some(t) => t.clone(),
            None => surveyor_service::read_admin_token(&self.data_dir).with_context(
                || "no admin token: pass --token (or SURVEYOR_TOKEN), or --data-dir of the service on this machine",
            )?,
        };
        Ok(Client::with_urls(&self.url, Some(token))?)
    }
}

pub fn print(v: &Value) -> anyhow::Result<ExitCode> {
    if !v.is_null() {
        println!("{}", serde_json::to_string_pretty(v)?);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct IrArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: IrCommand,
}

#[derive(clap::Subcommand)]
enum IrCommand {
    /// Create an integration runtime; prints its two keys.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Nodes allowed [default: the service's --max-nodes].
        #[arg(long)]
        max_nodes: Option<i64>,
    },
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Show both keys.
    Keys {
        name: String,
    },
    /// Regenerate one key: its old value stops working at once, the other keeps working.
    RegenerateKey {
        name: String,
        #[arg(long, value_parser = ["1", "2"])]
        key: String,
    },
    /// Write the runtime's runs to this sink (the TOML of `surveyor scan --sink`); tried before it is saved.
    SetIngestion {
        name: String,
        #[arg(long, value_name = "FILE")]
        sink: PathBuf,
    },
    /// Where the runtime's runs are written (no target: the service's own output folder).
    Ingestion {
        name: String,
    },
    /// Write the runtime's runs to the service's own output folder again.
    ClearIngestion {
        name: String,
    },
    /// How the runtime's nodes are updated: `auto` (a newer release rolls out by itself,
    /// one node at a time, inside the window if one is given) or `manual`.
    SetUpdate {
        name: String,
        #[arg(long, value_parser = ["auto", "manual"])]
        mode: String,
        /// Daily maintenance window for automatic updates, `HH:MM-HH:MM` (may span midnight).
        #[arg(long)]
        window: Option<String>,
        /// Time zone of the window [default: UTC].
        #[arg(long, requires = "window")]
        time_zone: Option<String>,
    },
    /// Each node's version, the runtime's current and available version, and the latest rollout.
    Versions {
        name: String,
    },
    /// Roll a release out to the runtime's nodes now, one at a time (also after a rollout failed).
    Update {
        name: String,
        /// The release [default: the newest].
        #[arg(long)]
        version: Option<String>,
    },
}

pub fn ir(args: IrArgs) -> anyhow::Result<ExitCode> {
    let c = args.api.admin()?;
    let base = "/v1/integration-runtimes";
    let out = match args.command {
        IrCommand::Create { name, description, max_nodes } => {
            c.post(base, &json!({"name": name, "description": description, "max_nodes": max_nodes}))?
        }
        IrCommand::List => c.get(base)?,
        IrCommand::Show { name } => c.get(&format!("{base}/{}", seg(&name)))?,
        IrCommand::Delete { name } => c.delete(&format!("{base}/{}", seg(&name)))?,
        IrCommand::Keys { name } => c.get(&format!("{base}/{}/keys", seg(&name)))?,
        IrCommand::RegenerateKey { name, key } => {
            c.post(&format!("{base}/{}/keys/{key}/regenerate", seg(&name)), &json!({}))?
        }
        IrCommand::SetIngestion { name, sink } => {
            let text = std::fs::read_to_string(&sink).with_context(|| format!("cannot read {}", sink.display()))?;
            let table: toml::Table =
                toml::from_str(&text).with_context(|| format!("invalid TOML in {}", sink.display()))?;
            let body = serde_json::to_value(table)?;
            c.call(reqwest::Method::PUT, &format!("{base}/{}/ingestion", seg(&name)), Some(&body))?
        }
        IrCommand::Ingestion { name } => c.get(&format!("{base}/{}/ingestion", seg(&name)))?,
        IrCommand::ClearIngestion { name } => c.delete(&format!("{base}/{}/ingestion", seg(&name)))?,
        IrCommand::SetUpdate { name, mode, window, time_zone } => {
            let window = match window {
                None => Value::Null,
                Some(w) => {
                    let (start, end) = w
                        .split_once('-')
                        .with_context(|| format!("--window '{w}': expected HH:MM-HH:MM, e.g. 01:00-05:00"))?;
                    json!({"start": start.trim(), "end": end.trim(), "time_zone": time_zone})
                }
            };
            let body = json!({"mode": mode, "window": window});
            c.call(reqwest::Method::PUT, &format!("{base}/{}/update-policy", seg(&name)), Some(&body))?
        }
        IrCommand::Versions { name } => c.get(&format!("{base}/{}/update", seg(&name)))?,
        IrCommand::Update { name, version } => {
            c.post(&format!("{base}/{}/update", seg(&name)), &json!({"version": version}))?
        }
    };
    print(&out)
}

#[derive(clap::Args)]
pub struct NodeArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: NodeCommand,
}

impl NodeArgs {
    /// `node run`: the long-running agent.
    pub fn works(&self) -> bool {
        matches!(self.command, NodeCommand::Run { .. })
    }
}

#[derive(clap::Subcommand)]
enum NodeCommand {
    /// Register this machine as a node of the runtime the key belongs to; the
    /// node's credential is saved in <data-dir>/node.json (0600).
    Register {
        /// One of the integration runtime's keys.
        #[arg(long, env = "SURVEYOR_IR_KEY", hide_env_values = true)]
        key: String,
        /// This node's name [default: the host name].
        #[arg(long)]
        name: Option<String>,
    },
    /// Work for the integration runtime: heartbeats, and the work units of its
    /// scans (results uploaded to the service), until SIGTERM.
    Run {
        /// Units at the same time [default: from the machine's cores and memory].
        #[arg(long)]
        concurrency: Option<usize>,
        /// Seconds between heartbeats and looks at the queue.
        #[arg(long, default_value_t = 10)]
        poll_interval: u64,
        /// Seconds running units get to finish after SIGTERM before they are stopped and given back.
        #[arg(long, default_value_t = 30)]
        grace_period: u64,
        /// Threads reading schemas per unit [default: one per CPU, 16 for remote storage].
        #[arg(long)]
        workers: Option<usize>,
        /// Seconds a new release may take to report healthy before this node rolls back to its binary.
        #[arg(long, default_value_t = 120)]
        update_trial_timeout: u64,
    },
    /// Send heartbeats (CPU, memory) with the credential in <data-dir>/node.json, without running scans.
    Heartbeat {
        /// Keep sending, every this many seconds.
        #[arg(long)]
        every: Option<u64>,
    },
    List {
        #[arg(long)]
        integration_runtime: Option<String>,
    },
    /// Remove a node (by id or name); its credential stops working at once.
    Remove { node: String },
}

fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().to_string()
}

pub fn node(global: &super::GlobalArgs, args: NodeArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NodeCommand::Register { key, name } => {
            let c = Client::with_urls(&args.api.url, Some(key))?;
            let name = name.unwrap_or_else(hostname);
            let out = c.post(
                "/v1/nodes/register",
                &json!({"name": name, "url": c.base(), "version": surveyor_service::releases::running_version()}),
            )?;
            let saved = NodeFile {
                url: args.api.url[0].clone(),
                urls: if args.api.url.len() > 1 { args.api.url.clone() } else { Vec::new() },
                node_id: out["node"]["id"].as_str().unwrap_or_default().to_string(),
                credential: out["credential"].as_str().unwrap_or_default().to_string(),
                release_public_key: out["release_public_key"].as_str().map(str::to_string),
            };
            saved.save(&args.api.data_dir)?;
            saved.client()?.post("/v1/nodes/heartbeat", &heartbeat_body(&[]))?;
            eprintln!("node registered; its credential is in {}", NodeFile::path(&args.api.data_dir).display());
            print(&out["node"])
        }
        NodeCommand::Run { concurrency, poll_interval, grace_period, workers, update_trial_timeout } => {
            surveyor_engine::net::proxy::set_data_dir(&args.api.data_dir);
            let (runtime, plugins) = super::load_catalog(global)?;
            let options = agent::AgentOptions {
                data_dir: args.api.data_dir.clone(),
                concurrency: concurrency.unwrap_or_else(surveyor_service::default_concurrency).max(1),
                poll: std::time::Duration::from_secs(poll_interval.max(1)),
                grace: std::time::Duration::from_secs(grace_period),
                schema_workers: workers,
                trial: std::time::Duration::from_secs(update_trial_timeout.max(1)),
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                signal_hook::flag::register(signal, stop.clone())?;
            }
            agent::run(options, runtime, plugins, stop)?;
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Heartbeat { every } => {
            let c = NodeFile::load(&args.api.data_dir)?.client()?;
            loop {
                let out = c.post("/v1/nodes/heartbeat", &heartbeat_body(&[]))?;
                if let Some(w) = out["service_version"]["warning"].as_str() {
                    tracing::warn!("{w}");
                }
                match every {
                    Some(s) => std::thread::sleep(std::time::Duration::from_secs(s.max(1))),
                    None => return print(&out),
                }
            }
        }
        NodeCommand::List { integration_runtime } => {
            let c = args.api.admin()?;
            let q = integration_runtime.map(|r| format!("?integration_runtime={}", seg(&r))).unwrap_or_default();
            print(&c.get(&format!("/v1/nodes{q}"))?)
        }
        NodeCommand::Remove { node } => print(&args.api.admin()?.delete(&format!("/v1/nodes/{}", seg(&node)))?),
    }
}

#[derive(clap::Args)]
pub struct SourcesArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: SourcesCommand,
}

#[derive(clap::Subcommand)]
enum SourcesCommand {
    /// Create a source from a definition file (TOML, as for `surveyor scan --source`).
    Create {
        file: PathBuf,
    },
    /// Replace a source's definition.
    Update {
        file: PathBuf,
    },
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Test a stored source's connection, from the service.
    TestConnection {
        name: String,
    },
    /// List what is in a stored source at a path, from the service.
    Browse {
        name: String,
        #[arg(default_value = "")]
        path: String,
    },
}

fn definition_json(file: &std::path::Path) -> anyhow::Result<(String, Value)> {
    let def = SourceDefinition::from_file(file)?;
    Ok((def.name.clone(), serde_json::to_value(&def)?))
}

pub fn sources(args: SourcesArgs) -> anyhow::Result<ExitCode> {
    let c = args.api.admin()?;
    let out = match args.command {
        SourcesCommand::Create { file } => c.post("/v1/sources", &definition_json(&file)?.1)?,
        SourcesCommand::Update { file } => {
            let (name, body) = definition_json(&file)?;
            c.call(reqwest::Method::PUT, &format!("/v1/sources/{}", seg(&name)), Some(&body))?
        }
        SourcesCommand::List => c.get("/v1/sources")?,
        SourcesCommand::Show { name } => c.get(&format!("/v1/sources/{}", seg(&name)))?,
        SourcesCommand::Delete { name } => c.delete(&format!("/v1/sources/{}", seg(&name)))?,
        SourcesCommand::TestConnection { name } => {
            let out = c.post(&format!("/v1/sources/{}/test-connection", seg(&name)), &json!({}))?;
            print(&out)?;
            return Ok(if out["ok"] == true { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        SourcesCommand::Browse { name, path } => {
            c.get(&format!("/v1/sources/{}/browse?path={}", seg(&name), seg(&path)))?
        }
    };
    print(&out)
}

#[derive(clap::Args)]
pub struct ScansArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ScansCommand,
}

#[derive(clap::Subcommand)]
enum ScansCommand {
    /// Create a scan of a source.
    Create(ScanSpec),
    /// Replace a scan's definition (every option as for create).
    Update(ScanSpec),
    List,
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Run a scan now.
    Run {
        name: String,
    },
}

#[derive(clap::Args)]
struct ScanSpec {
    name: String,
    #[arg(long)]
    source: String,
    /// A path under the source's root (repeatable) [default: all].
    #[arg(long)]
    scope: Vec<String>,
    /// The trigger as JSON (see docs/service.md), e.g. '{"kind":"recurring","interval":"days","hours":[2]}'.
    #[arg(long, conflicts_with = "cron")]
    trigger: Option<String>,
    /// A cron expression (five fields).
    #[arg(long)]
    cron: Option<String>,
    /// Time zone of --cron.
    #[arg(long, requires = "cron")]
    time_zone: Option<String>,
    /// Read schemas only of files modified since the last complete run.
    #[arg(long)]
    incremental: bool,
    /// Read schemas only of files of these formats (comma-separated, e.g. parquet,csv) [default: all].
    #[arg(long, value_delimiter = ',')]
    schema_formats: Option<Vec<String>>,
    /// Run on the nodes of this integration runtime (`surveyor node run`) instead of the service itself.
    #[arg(long)]
    integration_runtime: Option<String>,
}

impl ScanSpec {
    fn body(self) -> anyhow::Result<Value> {
        let trigger: Option<Value> = match (self.trigger, self.cron) {
            (Some(t), _) => Some(serde_json::from_str(&t).context("--trigger is not JSON")?),
            (None, Some(expr)) => Some(json!({"kind": "cron", "expression": expr, "time_zone": self.time_zone})),
            (None, None) => None,
        };
        Ok(json!({"name": self.name, "source": self.source, "scope": self.scope, "trigger": trigger,
            "incremental": self.incremental, "rule_set": {"schema_formats": self.schema_formats},
            "integration_runtime": self.integration_runtime}))
    }
}

pub fn scans(args: ScansArgs) -> anyhow::Result<ExitCode> {
    let c = args.api.admin()?;
    let out = match args.command {
        ScansCommand::Create(spec) => c.post("/v1/scans", &spec.body()?)?,
        ScansCommand::Update(spec) => {
            let path = format!("/v1/scans/{}", seg(&spec.name));
            c.call(reqwest::Method::PUT, &path, Some(&spec.body()?))?
        }
        ScansCommand::List => c.get("/v1/scans")?,
        ScansCommand::Show { name } => c.get(&format!("/v1/scans/{}", seg(&name)))?,
        ScansCommand::Delete { name } => c.delete(&format!("/v1/scans/{}", seg(&name)))?,
        ScansCommand::Run { name } => c.post(&format!("/v1/scans/{}/runs", seg(&name)), &json!({}))?,
    };
    print(&out)
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(clap::Subcommand)]
enum RunsCommand {
    List {
        #[arg(long)]
        scan: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// A run, with its work units (total, done, queued, in progress, by node).
    Show {
        id: String,
    },
    Cancel {
        id: String,
    },
    /// A committed run's assets (every page), from the service's results.
    Assets {
        id: String,
        /// Only assets of this type (e.g. `azure_blob_resource_set`).
        #[arg(long = "type", value_name = "TYPE")]
        type_name: Option<String>,
        /// Only assets whose name or qualified name contains this.
        #[arg(long)]
        q: Option<String>,
    },
    /// A run's report (report.json).
    Report {
        id: String,
    },
}

pub fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let c = args.api.admin()?;
    let out = match args.command {
        RunsCommand::List { scan, state, limit } => {
            let mut q = Vec::new();
            if let Some(s) = scan {
                q.push(format!("scan={}", seg(&s)));
            }
            if let Some(s) = state {
                q.push(format!("state={}", seg(&s)));
            }
            if let Some(l) = limit {
                q.push(format!("limit={l}"));
            }
            let q = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
            c.get(&format!("/v1/runs{q}"))?
        }
        RunsCommand::Show { id } => c.get(&format!("/v1/runs/{}", seg(&id)))?,
        RunsCommand::Cancel { id } => c.post(&format!("/v1/runs/{}/cancel", seg(&id)), &json!({}))?,
        RunsCommand::Report { id } => c.get(&format!("/v1/runs/{}/report", seg(&id)))?,
        RunsCommand::Assets { id, type_name, q } => {
            let mut filter = String::new();
            if let Some(t) = type_name {
                filter += &format!("&type={}", seg(&t));
            }
            if let Some(q) = q {
                filter += &format!("&q={}", seg(&q));
            }
            let mut assets = Vec::new();
            let mut cursor = -1i64;
            loop {
                let page = c.get(&format!("/v1/runs/{}/assets?limit=1000&cursor={cursor}{filter}", seg(&id)))?;
                assets.extend(page["assets"].as_array().cloned().unwrap_or_default());
                match page["next"].as_i64() {
                    Some(next) => cursor = next,
                    None => break,
                }
            }
            Value::Array(assets)
        }
    };
    print(&out)
}
