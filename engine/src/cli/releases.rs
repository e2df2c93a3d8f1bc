//! `surveyor releases keygen|publish|list`: signed releases of this binary.
//!
//! The signing key stays with the administrator (a file made by `keygen`);
//! `publish` checks the binary, hashes and signs it here, and uploads it
//! with its hash, signature and the key's public half. The service checks
//! all of it again before it stores anything.

use super::manage::{ApiArgs, print};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use surveyor_service::client::seg;
use surveyor_service::releases::{self, SigningKey};

#[derive(clap::Args)]
pub struct ReleasesArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ReleasesCommand,
}

#[derive(clap::Subcommand)]
enum ReleasesCommand {
    /// Make a release signing key (Ed25519) in a new file (0600); prints its public half.
    /// Keep the file safe: the nodes trust only this key's signatures.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Publish a `surveyor` binary as a release: checked (an executable for this platform),
    /// hashed (SHA-256), signed with the key, uploaded.
    Publish {
        binary: PathBuf,
        /// Its version (semantic, higher than every published release).
        #[arg(long)]
        version: String,
        /// The signing key of `surveyor releases keygen`.
        #[arg(long, value_name = "FILE", env = "SURVEYOR_RELEASE_KEY")]
        signing_key: PathBuf,
    },
    /// The published releases, newest first, and the trusted key.
    List,
}

pub fn run(args: ReleasesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ReleasesCommand::Keygen { out } => {
            let key = SigningKey::generate()?;
            key.save(&out)?;
            eprintln!("release signing key written to {} (keep it safe); its public key:", out.display());
            println!("{}", key.public_key());
            Ok(ExitCode::SUCCESS)
        }
        ReleasesCommand::Publish { binary, version, signing_key } => {
            releases::parse_version(&version)?;
            releases::check_executable_file(&binary)?;
            let key = SigningKey::load(&signing_key)?;
            let sha256 = releases::sha256_file(&binary)?;
            let signature = key.sign(&version, &sha256);
            let c = args.api.admin()?;
            // Checked by the service too; here, to spare a useless upload.
            let list = c.get("/v1/releases")?;
            if let Some(newest) = list["releases"][0]["version"].as_str()
                && !releases::newer(&version, newest)
            {
                anyhow::bail!(
                    "version {version} is not higher than the newest release, {newest}: publish a higher version"
                );
            }
            let path = format!(
                "/v1/releases/{}?sha256={sha256}&signature={}&public_key={}",
                seg(&version),
                seg(&signature),
                seg(&key.public_key())
            );
            let out = c.put_file(&path, &binary).with_context(|| format!("publishing {}", binary.display()))?;
            print(&out)
        }
        ReleasesCommand::List => print(&args.api.admin()?.get("/v1/releases")?),
    }
}
