//! `surveyor test-connection` and `surveyor browse`: check a source
//! definition against the real source, and list what is there to choose a
//! scan scope.

use super::GlobalArgs;
use crate::host::source::SourceInstance;
use crate::sources::SourceDefinition;
use crate::sources::connect::explain;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct TestConnectionArgs {
    /// The source definition (TOML).
    pub source: PathBuf,
}

#[derive(clap::Args)]
pub struct BrowseArgs {
    /// The source definition (TOML).
    pub source: PathBuf,
    /// Where to look, relative to the source's root (e.g. a container or a folder).
    #[arg(default_value = "")]
    pub path: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A connector instance for the source, with its capabilities and nothing to emit to.
fn instance(global: &GlobalArgs, definition: &SourceDefinition) -> anyhow::Result<(SourceInstance, String)> {
    let (runtime, registry) = super::load(global)?;
    Ok(crate::sources::connect::instance(&runtime, &registry, definition)?)
}

pub fn test_connection(global: &GlobalArgs, args: TestConnectionArgs) -> anyhow::Result<ExitCode> {
    let definition = SourceDefinition::from_file(&args.source)?;
    let (mut instance, config) = instance(global, &definition)?;
    match instance.test_connection(&config) {
        Ok(()) => {
            println!("ok: '{}' ({}) is reachable and the credentials work", definition.name, definition.source_type);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("failed: '{}' ({}): {}", definition.name, definition.source_type, explain(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn browse(global: &GlobalArgs, args: BrowseArgs) -> anyhow::Result<ExitCode> {
    let definition = SourceDefinition::from_file(&args.source)?;
    let (mut instance, config) = instance(global, &definition)?;
    match instance.browse(&config, &args.path) {
        Ok(entries) => {
            if args.json {
                let rows: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|e| serde_json::json!({"path": e.path, "name": e.name, "container": e.is_container, "size": e.size}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for e in &entries {
                    let size = e.size.map(|s| s.to_string()).unwrap_or_default();
                    println!("{:<6} {:>12}  {}", if e.is_container { "dir" } else { "file" }, size, e.path);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: cannot browse '{}' at '{}': {}", definition.name, args.path, explain(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}
