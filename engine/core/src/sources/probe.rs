//! Test connection and browse: one connector call against the real source,
//! shared by the command line (`surveyor test-connection`, `surveyor browse`)
//! and the service's API, so both give the same verdicts.

use super::SourceDefinition;
use crate::host::source::{SourceCapabilities, SourceInstance};
use crate::host::{Limits, PluginError, Registry, Runtime};
use serde::Serialize;

/// Why a probe failed: the source's answer (`kind` as in run reports:
/// `auth`, `unreachable`, `not-found`, …) or a definition the host refused.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, thiserror::Error)]
#[error("[{kind}] {message}")]
pub struct ProbeError {
    pub kind: String,
    pub message: String,
}

impl From<PluginError> for ProbeError {
    fn from(error: PluginError) -> Self {
        let message = match &error {
            PluginError::Returned { error, .. } => {
                let item = error.item.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
                format!("{}{item}", error.message)
            }
            other => other.to_string(),
        };
        ProbeError { kind: error.kind().to_string(), message }
    }
}

fn config_error(message: impl ToString) -> ProbeError {
    ProbeError { kind: "config".into(), message: message.to_string() }
}

/// One entry of a source, to choose a scan's scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Relative to the source's root; what a scan's `scope` takes.
    pub path: String,
    pub name: String,
    /// A folder, container or schema: something with entries below it.
    pub container: bool,
    pub size: Option<u64>,
}

/// A connector instance for the source, with its capabilities and nothing to emit to.
fn instance(
    runtime: &Runtime,
    registry: &Registry,
    definition: &SourceDefinition,
) -> Result<(SourceInstance, String), ProbeError> {
    let config = definition.connector_config(registry).map_err(config_error)?.to_string();
    let grants = super::grant(definition).map_err(config_error)?;
    let plugin = registry
        .source(&definition.source_type)
        .ok_or_else(|| config_error(format!("no connector handles sources of type '{}'", definition.source_type)))?;
    let mut caps = SourceCapabilities::none();
    if let Some(storage) = grants.storage {
        caps = caps.storage(storage);
    }
    if let Some(sql) = grants.sql {
        caps = caps.sql(sql);
    }
    if let Some(http) = grants.http {
        caps = caps.http(http);
    }
    let instance = plugin.source_instance(runtime, caps, Limits::source(), None)?;
    Ok((instance, config))
}

/// Reaches the source and checks that the credentials work.
pub fn test_connection(
    runtime: &Runtime,
    registry: &Registry,
    definition: &SourceDefinition,
) -> Result<(), ProbeError> {
    let (mut instance, config) = instance(runtime, registry, definition)?;
    Ok(instance.test_connection(&config)?)
}

/// Lists what is at `path` (relative to the source's root; `""` for the top).
pub fn browse(
    runtime: &Runtime,
    registry: &Registry,
    definition: &SourceDefinition,
    path: &str,
) -> Result<Vec<Entry>, ProbeError> {
    let (mut instance, config) = instance(runtime, registry, definition)?;
    let entries = instance.browse(&config, path)?;
    Ok(entries
        .into_iter()
        .map(|e| Entry { path: e.path, name: e.name, container: e.is_container, size: e.size })
        .collect())
}
