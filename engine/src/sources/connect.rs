//! A source's connector, instantiated with the capabilities its connection
//! grants, for `test-connection`, `browse` and `surveyor doctor`.

use super::{SourceDefinition, SourceError};
use crate::host::source::{SourceCapabilities, SourceInstance};
use crate::host::{Limits, PluginError, Registry, Runtime};

/// A connector instance for the source, with its capabilities and nothing to
/// emit to, and the connector's configuration (JSON, checked).
pub fn instance(
    runtime: &Runtime,
    registry: &Registry,
    definition: &SourceDefinition,
) -> Result<(SourceInstance, String), SourceError> {
    let config = definition.connector_config(registry)?.to_string();
    let grants = super::grant(definition)?;
    let plugin = registry.source(&definition.source_type).ok_or_else(|| {
        SourceError::Invalid(format!("no connector handles sources of type '{}'", definition.source_type))
    })?;
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
    let instance =
        plugin.source_instance(runtime, caps, Limits::source(), None).map_err(|e| SourceError::Invalid(explain(&e)))?;
    Ok((instance, config))
}

/// A connector's error as one line: `[kind] message (item)`.
pub fn explain(error: &PluginError) -> String {
    match error {
        PluginError::Returned { error, .. } => {
            let item = error.item.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
            format!("[{}] {}{item}", crate::host::kind_name(error.kind), error.message)
        }
        other => format!("[{}] {other}", other.kind()),
    }
}

/// The connector's test-connection against the real source: `Ok` when it is
/// reachable and the credentials work, else the reason in one line.
pub fn test_connection(runtime: &Runtime, registry: &Registry, definition: &SourceDefinition) -> Result<(), String> {
    let (mut instance, config) = instance(runtime, registry, definition).map_err(|e| e.to_string())?;
    instance.test_connection(&config).map_err(|e| explain(&e))
}
