//! `surveyor plugins list`: what this runtime would load, and what it refused.

use super::GlobalArgs;
use clap::Subcommand;
use std::process::ExitCode;
use surveyor_engine::host::bindings::types::PluginKind;

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// List loaded plugins (name, version, kind, origin, what each handles or,
    /// for classifiers, the classifications each may emit) and rejected files.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &GlobalArgs, command: PluginsCommand) -> anyhow::Result<ExitCode> {
    let PluginsCommand::List { json } = command;
    let (_runtime, registry) = super::load(global)?;
    if json {
        let mut plugins: Vec<serde_json::Value> = registry
            .plugins()
            .map(|p| {
                serde_json::json!({
                    "name": p.info.name,
                    "version": p.info.version,
                    "kind": kind(p.info.kind),
                    "origin": p.origin.to_string(),
                    "handles": p.info.handles,
                    "description": p.info.description,
                    "sha256": p.sha256,
                    "configSchema": serde_json::from_str::<serde_json::Value>(&p.info.config_schema).unwrap_or_default(),
                })
            })
            .collect();
        plugins.extend(registry.classifiers().map(|p| {
            serde_json::json!({
                "name": p.info.name,
                "version": p.info.version,
                "kind": "classifier",
                "origin": p.origin.to_string(),
                "emits": p.info.emits,
                "description": p.info.description,
                "sha256": p.sha256,
            })
        }));
        let rejected: Vec<serde_json::Value> = registry
            .rejected()
            .iter()
            .map(|r| serde_json::json!({"file": r.file.display().to_string(), "reason": r.reason}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"plugins": plugins, "rejected": rejected}))?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<[String; 5]> = registry
        .plugins()
        .map(|p| {
            [
                p.info.name.clone(),
                p.info.version.clone(),
                kind(p.info.kind).into(),
                p.origin.to_string(),
                p.info.handles.join(", "),
            ]
        })
        .collect();
    rows.extend(registry.classifiers().map(|p| {
        [
            p.info.name.clone(),
            p.info.version.clone(),
            "classifier".into(),
            p.origin.to_string(),
            p.info.emits.join(", "),
        ]
    }));
    let header = ["NAME", "VERSION", "KIND", "ORIGIN", "HANDLES"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
    for r in registry.rejected() {
        println!("rejected {}: {}", r.file.display(), r.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn kind(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Source => "source",
        PluginKind::Format => "format",
    }
}
