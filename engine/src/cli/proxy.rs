//! `surveyor proxy show|set|clear`: the runtime's proxy settings, kept in
//! the data folder (see [`surveyor_engine::net::proxy`]). A change applies to new
//! connections of a running service without a restart.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use surveyor_engine::net::proxy::{self, CustomProxy, ProxySettings};
use surveyor_engine::sources::Secret;

#[derive(clap::Args)]
pub struct ProxyArgs {
    /// The runtime's data folder, where the settings are kept.
    #[arg(long, env = "SURVEYOR_DATA_DIR", default_value = "surveyor-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: ProxyCommand,
}

#[derive(clap::Subcommand)]
pub enum ProxyCommand {
    /// Print the settings in force (never the password).
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set the proxy: `none`, `system` (HTTPS_PROXY / HTTP_PROXY / NO_PROXY) or `custom`.
    Set(SetArgs),
    /// Remove the settings (direct connections).
    Clear,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// none, system or custom.
    #[arg(value_parser = ["none", "system", "custom"])]
    pub mode: String,
    /// Custom: the proxy's host name or IP address.
    #[arg(long, required_if_eq("mode", "custom"))]
    pub address: Option<String>,
    /// Custom: the proxy's port.
    #[arg(long, required_if_eq("mode", "custom"))]
    pub port: Option<u16>,
    /// Custom: user for the proxy's basic authentication.
    #[arg(long)]
    pub user: Option<String>,
    /// Custom: read the proxy password from this environment variable (never from the command line).
    #[arg(long, value_name = "VAR", requires = "user")]
    pub password_env: Option<String>,
    /// Custom: read the proxy password from standard input (one line).
    #[arg(long, requires = "user", conflicts_with = "password_env")]
    pub password_stdin: bool,
    /// Custom: destinations that go direct: host names, `*.domain` wildcards, IP addresses, CIDR blocks
    /// (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub bypass: Vec<String>,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir;
    match args.command {
        ProxyCommand::Show { json } => {
            let settings =
                proxy::load(dir).with_context(|| format!("reading the proxy settings in {}", dir.display()))?;
            if json {
                let value = match &settings {
                    ProxySettings::None => serde_json::json!({"mode": "none"}),
                    ProxySettings::System => serde_json::json!({"mode": "system"}),
                    ProxySettings::Custom(c) => serde_json::json!({
                        "mode": "custom",
                        "address": c.address,
                        "port": c.port,
                        "user": c.user,
                        "passwordSet": c.password.is_some(),
                        "bypass": c.bypass,
                    }),
                };
                println!("{value}");
            } else {
                println!("proxy: {}", proxy::describe(&settings));
            }
        }
        ProxyCommand::Set(set) => {
            let settings = match set.mode.as_str() {
                "none" => ProxySettings::None,
                "system" => ProxySettings::System,
                _ => {
                    let password = if let Some(var) = &set.password_env {
                        Some(Secret::new(
                            std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?,
                        ))
                    } else if set.password_stdin {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
                        Some(Secret::new(line.trim_end_matches(['\r', '\n'])))
                    } else {
                        None
                    };
                    ProxySettings::Custom(CustomProxy {
                        address: set.address.clone().unwrap_or_default(),
                        port: set.port.unwrap_or(0),
                        user: set.user.clone(),
                        password,
                        bypass: set.bypass.iter().map(|b| b.trim().to_string()).filter(|b| !b.is_empty()).collect(),
                    })
                }
            };
            proxy::save(dir, &settings)?;
            println!("proxy: {}", proxy::describe(&settings));
        }
        ProxyCommand::Clear => {
            proxy::save(dir, &ProxySettings::None)?;
            println!("proxy: {}", proxy::describe(&ProxySettings::None));
        }
    }
    Ok(ExitCode::SUCCESS)
}
