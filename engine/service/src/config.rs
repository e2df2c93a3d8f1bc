//! The service's configuration file (`surveyor serve --config FILE`): TOML
//! with the options of `surveyor serve`, one key per option.
//!
//! Each source of settings is a [`ServeFile`] (every field optional): the
//! command line (flags and their environment variables, which clap reads),
//! the file, and the built-in defaults ([`ServeFile::defaults`]). They are
//! merged in that order of precedence by [`ServeFile::or`]. The packaged
//! default file is `packaging/surveyor.toml`; a test keeps it equal to the
//! defaults here.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use surveyor_engine::sources::connection::SqlEncryption;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// A syntax error, an unknown key or a value of the wrong type; the
    /// message names the file, and toml's names the line and the key.
    #[error("configuration file {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{0}")]
    Inconsistent(String),
}

/// Log levels for `log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// The options of `surveyor serve`, each optional: one source of settings
/// (the file, the command line, the defaults).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// The data directory (database, keys, runs' output, lock).
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API.
    pub listen: Option<SocketAddr>,
    /// Runs at the same time (unset: from the machine's cores and memory).
    pub concurrency: Option<usize>,
    /// Seconds running scans get to finish after SIGTERM.
    pub grace_period: Option<u64>,
    /// Default maximum of nodes per integration runtime.
    pub max_nodes: Option<i64>,
    /// Days of run history kept.
    pub retention_days: Option<u64>,
    /// Seconds without a heartbeat after which a node is offline.
    pub node_offline_after: Option<u64>,
    /// Database URL (unset: SQLite in the data directory).
    pub database_url: Option<String>,
    /// TLS to a PostgreSQL database: `required`, `verify-full`,
    /// `trust-server-certificate` or `off` (unset: the URL's `sslmode`).
    pub database_encryption: Option<SqlEncryption>,
    /// A CA certificate file (PEM) for the PostgreSQL database's certificate.
    pub database_ca_certificate: Option<PathBuf>,
    /// The key that seals credentials (32 bytes), shared by the replicas of a
    /// service (unset: `<data-dir>/secret.key`; `SURVEYOR_SECRET_KEY` overrides).
    pub secret_key_file: Option<PathBuf>,
    /// Threads reading schemas per unit (unset: one per CPU, 16 for remote storage).
    pub workers: Option<usize>,
    /// Files per work unit of a storage source's run.
    pub unit_files: Option<u64>,
    /// Largest unit result a node may upload, in MiB.
    pub max_unit_result_mb: Option<u64>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Log lines as JSON objects.
    pub log_json: Option<bool>,
    /// Log level (`RUST_LOG` overrides it).
    pub log_level: Option<LogLevel>,
    /// Folder of plugin `.wasm` files.
    pub plugins: Option<PathBuf>,
    /// Cache of compiled plugins (unset: `~/.cache/surveyor/components`).
    pub cache_dir: Option<PathBuf>,
}

pub const DEFAULT_DATA_DIR: &str = "surveyor-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";
pub const DEFAULT_PLUGINS: &str = "plugins";

impl ServeFile {
    /// The built-in defaults; options without one (computed at start, or off) stay `None`.
    pub fn defaults() -> ServeFile {
        ServeFile {
            data_dir: Some(DEFAULT_DATA_DIR.into()),
            listen: Some(DEFAULT_LISTEN.parse().expect("a socket address")),
            concurrency: None,
            grace_period: Some(30),
            max_nodes: Some(4),
            retention_days: Some(90),
            node_offline_after: Some(120),
            database_url: None,
            database_encryption: None,
            database_ca_certificate: None,
            secret_key_file: None,
            workers: None,
            unit_files: Some(surveyor_engine::scan::DEFAULT_UNIT_FILES),
            max_unit_result_mb: Some(1024),
            tls_cert: None,
            tls_key: None,
            log_json: Some(false),
            log_level: Some(LogLevel::Info),
            plugins: Some(DEFAULT_PLUGINS.into()),
            cache_dir: None,
        }
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<ServeFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, path)
    }

    /// Parses a configuration file's text (`path` for the messages).
    pub fn parse(text: &str, path: &Path) -> Result<ServeFile, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), message: e.to_string() })
    }

    /// Each option from `self`, or else from `lower`.
    pub fn or(self, lower: ServeFile) -> ServeFile {
        ServeFile {
            data_dir: self.data_dir.or(lower.data_dir),
            listen: self.listen.or(lower.listen),
            concurrency: self.concurrency.or(lower.concurrency),
            grace_period: self.grace_period.or(lower.grace_period),
            max_nodes: self.max_nodes.or(lower.max_nodes),
            retention_days: self.retention_days.or(lower.retention_days),
            node_offline_after: self.node_offline_after.or(lower.node_offline_after),
            database_url: self.database_url.or(lower.database_url),
            database_encryption: self.database_encryption.or(lower.database_encryption),
            database_ca_certificate: self.database_ca_certificate.or(lower.database_ca_certificate),
            secret_key_file: self.secret_key_file.or(lower.secret_key_file),
            workers: self.workers.or(lower.workers),
            unit_files: self.unit_files.or(lower.unit_files),
            max_unit_result_mb: self.max_unit_result_mb.or(lower.max_unit_result_mb),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            log_json: self.log_json.or(lower.log_json),
            log_level: self.log_level.or(lower.log_level),
            plugins: self.plugins.or(lower.plugins),
            cache_dir: self.cache_dir.or(lower.cache_dir),
        }
    }

    /// Checks what no single source can: the options that go together.
    pub fn check(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::Inconsistent(
                    "tls_cert is set but tls_key is not: give both (--tls-key, SURVEYOR_TLS_KEY or tls_key in the configuration file)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::Inconsistent(
                    "tls_key is set but tls_cert is not: give both (--tls-cert, SURVEYOR_TLS_CERT or tls_cert in the configuration file)".into(),
                ));
            }
            _ => {}
        }
        if (self.database_encryption.is_some() || self.database_ca_certificate.is_some()) && self.database_url.is_none()
        {
            return Err(ConfigError::Inconsistent(
                "database_encryption and database_ca_certificate need a PostgreSQL database_url".into(),
            ));
        }
        if self.unit_files == Some(0) || self.max_unit_result_mb == Some(0) {
            return Err(ConfigError::Inconsistent("unit_files and max_unit_result_mb must be at least 1".into()));
        }
        if self.max_nodes.is_some_and(|n| !(1..=100).contains(&n)) {
            return Err(ConfigError::Inconsistent("max_nodes must be 1-100".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGED: &str = include_str!("../../../packaging/surveyor.toml");

    /// The packaged file with every commented-out option (`# key = value`) uncommented.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|line| {
                let rest = line.strip_prefix("# ").unwrap_or(line);
                let is_option = rest
                    .split_once(" = ")
                    .is_some_and(|(key, _)| !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                if is_option { rest } else { line }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_packaged_file_parses_and_shows_the_built_in_defaults() {
        let path = Path::new("packaging/surveyor.toml");
        // As shipped: only the packaged choices are set.
        let shipped = ServeFile::parse(PACKAGED, path).unwrap();
        let packaged = ServeFile {
            data_dir: Some("/var/lib/surveyor".into()),
            plugins: Some("/usr/local/lib/surveyor/plugins".into()),
            ..ServeFile::default()
        };
        assert_eq!(shipped, packaged);

        // Every option is in the file; the commented-out ones show the built-in default.
        let all = ServeFile::parse(&uncommented(PACKAGED), path).unwrap();
        let d = ServeFile::defaults();
        // An exhaustive pattern: a new option fails to compile here until it is in the file and this test.
        let ServeFile {
            data_dir,
            listen,
            concurrency,
            grace_period,
            max_nodes,
            retention_days,
            node_offline_after,
            database_url,
            database_encryption,
            database_ca_certificate,
            secret_key_file,
            workers,
            unit_files,
            max_unit_result_mb,
            tls_cert,
            tls_key,
            log_json,
            log_level,
            plugins,
            cache_dir,
        } = all;
        assert_eq!(unit_files, d.unit_files);
        assert_eq!(max_unit_result_mb, d.max_unit_result_mb);
        assert_eq!(data_dir, packaged.data_dir);
        assert_eq!(plugins, packaged.plugins);
        assert_eq!(listen, d.listen);
        assert_eq!(grace_period, d.grace_period);
        assert_eq!(max_nodes, d.max_nodes);
        assert_eq!(retention_days, d.retention_days);
        assert_eq!(node_offline_after, d.node_offline_after);
        assert_eq!(log_json, d.log_json);
        assert_eq!(log_level, d.log_level);
        // No fixed default: the file shows an example value, which must be of the right type.
        assert!(concurrency.is_some() && workers.is_some() && database_url.is_some() && cache_dir.is_some());
        assert!(secret_key_file.is_some() && d.secret_key_file.is_none());
        assert!(tls_cert.is_some() && tls_key.is_some());
        assert!(database_encryption.is_some() && database_ca_certificate.is_some());
        assert!(d.database_encryption.is_none() && d.database_ca_certificate.is_none());
        let none_by_default = [d.concurrency.is_none(), d.workers.is_none(), d.database_url.is_none()];
        assert!(none_by_default.iter().all(|b| *b) && d.cache_dir.is_none() && d.tls_cert.is_none());
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_the_file() {
        let path = Path::new("/etc/surveyor/surveyor.toml");
        let e = ServeFile::parse("listen = \"127.0.0.1:7400\"\ngrace_periode = 10\n", path).unwrap_err().to_string();
        assert!(e.contains("/etc/surveyor/surveyor.toml") && e.contains("grace_periode"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        let e = ServeFile::parse("grace_period = \"thirty\"\n", path).unwrap_err().to_string();
        assert!(e.contains("surveyor.toml") && e.contains("grace_period") && e.contains("invalid type"), "{e}");
        let e = ServeFile::parse("listen = \"localhost\"\n", path).unwrap_err().to_string();
        assert!(e.contains("listen") && e.contains("socket address"), "{e}");
        let e = ServeFile::parse("log_level = \"loud\"\n", path).unwrap_err().to_string();
        assert!(e.contains("log_level") && e.contains("loud"), "{e}");
        let e = ServeFile::load(Path::new("/nonexistent/surveyor.toml")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/surveyor.toml"), "{e}");
    }

    #[test]
    fn the_command_line_wins_over_the_file_which_wins_over_the_defaults() {
        let file = ServeFile::parse("grace_period = 10\nmax_nodes = 8\n", Path::new("f.toml")).unwrap();
        let flags = ServeFile { grace_period: Some(3), ..ServeFile::default() };
        let merged = flags.or(file).or(ServeFile::defaults());
        assert_eq!(merged.grace_period, Some(3));
        assert_eq!(merged.max_nodes, Some(8));
        assert_eq!(merged.retention_days, Some(90));
        assert_eq!(merged.listen, Some(DEFAULT_LISTEN.parse().unwrap()));
    }

    #[test]
    fn certificate_and_key_go_together() {
        let only_cert = ServeFile { tls_cert: Some("c.pem".into()), ..ServeFile::default() };
        let e = only_cert.check().unwrap_err().to_string();
        assert!(e.contains("tls_key"), "{e}");
        let e = ServeFile { max_nodes: Some(0), ..ServeFile::default() }.check().unwrap_err().to_string();
        assert!(e.contains("max_nodes"), "{e}");
        assert!(ServeFile::defaults().check().is_ok());
    }

    #[test]
    fn database_tls_needs_a_database_url() {
        let tls = ServeFile::parse("database_encryption = \"verify-full\"\n", Path::new("f.toml")).unwrap();
        assert_eq!(tls.database_encryption, Some(SqlEncryption::VerifyFull));
        let e = tls.clone().check().unwrap_err().to_string();
        assert!(e.contains("database_url"), "{e}");
        let with_url = ServeFile { database_url: Some("postgres://db/state".into()), ..tls };
        assert!(with_url.check().is_ok());
        let e = ServeFile::parse("database_encryption = \"maybe\"\n", Path::new("f.toml")).unwrap_err().to_string();
        assert!(e.contains("database_encryption") && e.contains("maybe"), "{e}");
    }
}
