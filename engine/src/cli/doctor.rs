//! `surveyor doctor`: network diagnostics of every endpoint this node needs
//! (see [`crate::doctor`]).

use super::GlobalArgs;
use crate::doctor::{self, Inputs};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use surveyor_engine::sink::SinkDefinition;
use surveyor_engine::sources::SourceDefinition;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// A source definition (TOML, as for `surveyor scan --source`); repeat for several.
    #[arg(long = "source", value_name = "FILE")]
    pub sources: Vec<PathBuf>,
    /// The ingestion sink definition (TOML, as for `surveyor scan --sink`).
    #[arg(long, value_name = "FILE")]
    pub sink: Option<PathBuf>,
    /// The data directory: proxy settings and node.json (the service this node is registered with).
    #[arg(long, env = "SURVEYOR_DATA_DIR", default_value = "surveyor-data")]
    pub data_dir: PathBuf,
    /// Print the host:port pairs to allow through a firewall, and connect to nothing.
    #[arg(long)]
    pub urls: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    surveyor_engine::net::proxy::set_data_dir(&args.data_dir);
    let mut sources = Vec::new();
    for path in &args.sources {
        let def = SourceDefinition::from_file(path)?;
        def.connection().with_context(|| format!("{}", path.display()))?;
        sources.push(def);
    }
    let sink = args.sink.as_deref().map(SinkDefinition::from_file).transpose()?;
    let endpoints = doctor::plan(&Inputs { sources, sink, data_dir: args.data_dir.clone() })?;
    if endpoints.is_empty() {
        anyhow::bail!(
            "nothing to check: give --source FILE or --sink FILE, or --data-dir of a registered node or one with proxy settings"
        );
    }
    if args.urls {
        let list = doctor::firewall_list(&endpoints);
        if args.json {
            let rows: Vec<_> = list.iter().map(|(e, r)| serde_json::json!({"endpoint": e, "role": r})).collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            let width = list.iter().map(|(e, _)| e.len()).max().unwrap_or(0);
            for (endpoint, role) in list {
                println!("{endpoint:<width$}  {role}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The connectors are loaded (and compiled, when not cached) only when a
    // source's network checks passed and its test-connection runs.
    let loaded = std::sync::OnceLock::new();
    let test = |def: &SourceDefinition| -> Result<(), String> {
        if let Some(note) = super::source::certificate_note(def) {
            eprintln!("{note}");
        }
        match loaded.get_or_init(|| super::load(global).map_err(|e| format!("cannot load the connectors: {e:#}"))) {
            Ok((runtime, registry)) => {
                surveyor_engine::sources::probe::test_connection(runtime, registry, def).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.clone()),
        }
    };
    let report = doctor::run(&endpoints, &test);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
