//! What a run reports: counts, per-item errors, and its outcome.

use serde::{Deserialize, Serialize};

/// A problem with one item (file, folder, table); the run went on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ItemError {
    /// The item: a path relative to the source, or a qualified name.
    pub item: String,
    /// Error kind: `malformed-input`, `not-found`, `permission-denied`, `timeout`, `crashed`...
    pub kind: String,
    pub message: String,
    /// The plugin (or host component, e.g. `storage`) that reported it.
    pub plugin: String,
}

impl ItemError {
    pub fn new(item: &str, kind: &str, message: &str, plugin: &str) -> Self {
        ItemError {
            item: item.to_string(),
            kind: kind.to_string(),
            message: message.to_string(),
            plugin: plugin.to_string(),
        }
    }
}
