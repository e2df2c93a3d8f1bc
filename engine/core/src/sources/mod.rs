//! Source definitions: what to scan and how to reach it.
//!
//! One format for the command line (TOML files) and the service (JSON over
//! the API):
//!
//! ```toml
//! name = "sales-lake"
//! type = "azure-blob"             # the source connector's type
//!
//! [connection]                    # read by the host only: endpoints and credentials
//! account = "contosolake"
//! credential = { kind = "account-key", key = { env = "CONTOSO_KEY" } }
//!
//! [config]                        # the connector's own settings, checked against its JSON Schema
//! containers = ["raw", "curated"]
//!
//! [resource_sets]                 # grouping rules (docs/resource-sets.md)
//! enabled = true
//! ```
//!
//! The connection never reaches the connector: the host turns it into
//! capabilities (a storage scoped to the account, a SQL backend bound to one
//! server, an HTTP client limited to some hosts) in [`grant`].

pub mod connection;
pub mod probe;
mod secret;

pub use connection::{AzureCredentialDef, Connection, Grants, connection_schema, grant};
pub use secret::{Secret, SecretRef};

use crate::host::Registry;
use crate::scan::resource_sets::GroupingConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A source, as written by a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDefinition {
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    pub connection: toml::Table,
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default)]
    pub resource_sets: Option<GroupingConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl SourceDefinition {
    /// Reads a TOML source definition.
    pub fn from_file(path: &Path) -> Result<Self, SourceError> {
        let read = |message: String| SourceError::Read { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
        toml::from_str(&text).map_err(|e| read(e.to_string()))
    }

    /// The typed connection for this source's type, checked.
    pub fn connection(&self) -> Result<Connection, SourceError> {
        Connection::parse(&self.source_type, &self.connection).map_err(SourceError::Invalid)
    }

    /// The connector's configuration as JSON, checked against the connector's JSON Schema.
    pub fn connector_config(&self, registry: &Registry) -> Result<serde_json::Value, SourceError> {
        let plugin = registry.source(&self.source_type).ok_or_else(|| {
            SourceError::Invalid(format!(
                "no connector handles sources of type '{}' (see `surveyor plugins list`)",
                self.source_type
            ))
        })?;
        let config = serde_json::to_value(&self.config).map_err(|e| SourceError::Invalid(e.to_string()))?;
        validate(&plugin.info.name, &plugin.info.config_schema, &config)?;
        Ok(config)
    }

    /// Everything checkable without reaching the source: the name, the
    /// connection, the connector's configuration, the grouping rules.
    pub fn check(&self, registry: &Registry) -> Result<(), SourceError> {
        if self.name.trim().is_empty() || self.name.len() > 128 {
            return Err(SourceError::Invalid("name must be 1-128 characters".into()));
        }
        self.connection()?;
        self.connector_config(registry)?;
        if let Some(rules) = &self.resource_sets {
            crate::scan::resource_sets::Grouper::new(rules).map_err(|e| SourceError::Invalid(e.to_string()))?;
        }
        Ok(())
    }
}

/// Checks `config` against a plugin's JSON Schema; the error names every
/// offending field by its path (`config.containers[0]`).
pub fn validate(plugin: &str, schema: &str, config: &serde_json::Value) -> Result<(), SourceError> {
    let schema: serde_json::Value = serde_json::from_str(schema)
        .map_err(|e| SourceError::Invalid(format!("connector '{plugin}' has an invalid config schema: {e}")))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| SourceError::Invalid(format!("connector '{plugin}' has an invalid config schema: {e}")))?;
    let problems: Vec<String> = validator
        .iter_errors(config)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let field = pointer_to_field(&pointer);
            format!("{field}: {e}")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SourceError::Invalid(format!("invalid [config] for connector '{plugin}': {}", problems.join("; "))))
    }
}

/// `/containers/0/name` → `config.containers[0].name`.
fn pointer_to_field(pointer: &str) -> String {
    let mut out = String::from("config");
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push('.');
            out.push_str(&part.replace("~1", "/").replace("~0", "~"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_name_the_field() {
        let schema = r#"{"type":"object","additionalProperties":false,"properties":{"containers":{"type":"array","items":{"type":"string"}},"depth":{"type":"integer"}}}"#;
        let bad = serde_json::json!({"containers": ["a", 3], "depth": "deep", "colour": 1});
        let err = validate("azure-blob", schema, &bad).unwrap_err().to_string();
        assert!(err.contains("config.containers[1]"), "{err}");
        assert!(err.contains("config.depth"), "{err}");
        assert!(err.contains("colour"), "{err}");
        assert!(validate("azure-blob", schema, &serde_json::json!({"containers": ["a"]})).is_ok());
    }
}
