//! How a call into a connector can fail, from the host's side.

use super::bindings::types::{ConnectorError, ErrorKind};
use super::sandbox::{SandboxContext, Stopped};
use std::time::Duration;

/// A failed call into a plugin. The host is unaffected by any of these: the
/// instance is discarded and the next call gets a fresh one.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The connector returned an error.
    #[error("{plugin}: {}{}", .error.message, .error.item.as_ref().map(|i| format!(" ({i})")).unwrap_or_default())]
    Returned { plugin: String, error: ConnectorError },
    #[error("{plugin} timed out after {limit:?}")]
    Timeout { plugin: String, limit: Duration },
    #[error("{plugin} was stopped after {limit:?} without calling the host (endless loop?)")]
    Idle { plugin: String, limit: Duration },
    #[error("{plugin} exceeded its memory limit of {limit} MiB (asked for {requested} MiB)", limit = .limit >> 20, requested = .requested >> 20)]
    OutOfMemory { plugin: String, limit: usize, requested: usize },
    #[error("{plugin} crashed: {message}")]
    Crashed { plugin: String, message: String },
    #[error("{plugin}: canceled")]
    Canceled { plugin: String },
    #[error("cannot start {plugin}: {message}")]
    Instantiate { plugin: String, message: String },
    /// The connector's answer breaks the contract (a packed schema that does not unpack).
    #[error("{plugin} returned a malformed answer: {message}")]
    Malformed { plugin: String, message: String },
}

impl PluginError {
    /// Classifies a wasmtime error from a call, using what the sandbox saw.
    pub(crate) fn from_trap(plugin: &str, error: wasmtime::Error, sandbox: &SandboxContext) -> Self {
        let plugin = plugin.to_string();
        if let Some(stopped) = error.downcast_ref::<Stopped>() {
            return match stopped {
                Stopped::Timeout(limit) => PluginError::Timeout { plugin, limit: *limit },
                Stopped::Idle(limit) => PluginError::Idle { plugin, limit: *limit },
                Stopped::Canceled => PluginError::Canceled { plugin },
            };
        }
        if let Some(requested) = sandbox.memory_refused {
            return PluginError::OutOfMemory { plugin, limit: sandbox.limits().memory_bytes, requested };
        }
        let output = sandbox.output();
        let trap = match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        let message = match last_lines(&output, 3) {
            Some(printed) => format!("{trap}; it printed: {printed}"),
            None => trap,
        };
        PluginError::Crashed { plugin, message }
    }

    /// The error kind for run reports: the connector's own, or the host's verdict.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Returned { error, .. } => kind_name(error.kind),
            PluginError::Timeout { .. } => "timeout",
            PluginError::Idle { .. } => "timeout",
            PluginError::OutOfMemory { .. } => "out-of-memory",
            PluginError::Crashed { .. } => "crashed",
            PluginError::Canceled { .. } => "canceled",
            PluginError::Instantiate { .. } => "plugin-unusable",
            PluginError::Malformed { .. } => "malformed-answer",
        }
    }

    /// The item the error is about, when the connector named one.
    pub fn item(&self) -> Option<&str> {
        match self {
            PluginError::Returned { error, .. } => error.item.as_deref(),
            _ => None,
        }
    }

    /// Whether the instance is unusable after this error (it trapped).
    pub fn poisons_instance(&self) -> bool {
        !matches!(self, PluginError::Returned { .. })
    }
}

pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "config",
        ErrorKind::Auth => "auth",
        ErrorKind::PermissionDenied => "permission-denied",
        ErrorKind::Unreachable => "unreachable",
        ErrorKind::NotFound => "not-found",
        ErrorKind::MalformedInput => "malformed-input",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Refused => "refused",
        ErrorKind::Canceled => "canceled",
        ErrorKind::Internal => "internal",
    }
}

fn last_lines(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines[lines.len().saturating_sub(n)..].join(" | "))
}
