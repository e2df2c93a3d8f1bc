//! `surveyor test-connection` and `surveyor browse`: check a source
//! definition against the real source, and list what is there to choose a
//! scan scope.

use super::GlobalArgs;
use std::path::PathBuf;
use std::process::ExitCode;
use surveyor_engine::sources::SourceDefinition;
use surveyor_engine::sources::probe;

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

/// The user chose not to validate the server's certificate: said once, where
/// the connection is checked (`test-connection`, `doctor`), rather than by
/// the driver on every connection (its warning is filtered out, see `init_logging`).
pub fn certificate_note(definition: &SourceDefinition) -> Option<String> {
    let trusting = definition.connection.get("encryption").and_then(|v| v.as_str()) == Some("trust-server-certificate");
    trusting.then(|| {
        format!(
            "note: '{}' uses encryption = \"trust-server-certificate\": the server's certificate is not validated",
            definition.name
        )
    })
}

pub fn test_connection(global: &GlobalArgs, args: TestConnectionArgs) -> anyhow::Result<ExitCode> {
    let definition = SourceDefinition::from_file(&args.source)?;
    if let Some(note) = certificate_note(&definition) {
        eprintln!("{note}");
    }
    let (runtime, registry) = super::load(global)?;
    match probe::test_connection(&runtime, &registry, &definition) {
        Ok(()) => {
            println!("ok: '{}' ({}) is reachable and the credentials work", definition.name, definition.source_type);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("failed: '{}' ({}): {}", definition.name, definition.source_type, e);
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn browse(global: &GlobalArgs, args: BrowseArgs) -> anyhow::Result<ExitCode> {
    let definition = SourceDefinition::from_file(&args.source)?;
    let (runtime, registry) = super::load(global)?;
    match probe::browse(&runtime, &registry, &definition, &args.path) {
        Ok(entries) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    let size = e.size.map(|s| s.to_string()).unwrap_or_default();
                    println!("{:<6} {:>12}  {}", if e.container { "dir" } else { "file" }, size, e.path);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: cannot browse '{}' at '{}': {}", definition.name, args.path, e);
            Ok(ExitCode::FAILURE)
        }
    }
}
