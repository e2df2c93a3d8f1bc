//! Hot-loaded plugins: the plugins folder as seen by each new run.
//!
//! [`PluginCatalog::current`] looks at the folder (a `stat` per `.wasm`, no
//! reads) and, when anything was added, replaced or removed since the last
//! look, loads a new [`Registry`]; otherwise it hands out the same one. A run
//! keeps the registry it started with, so a change never affects a run
//! already going. Compiled components are cached on disk, so a reload costs
//! milliseconds for unchanged files.

use super::{Registry, Runtime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What identifies the folder's state: every `.wasm` with its size and modification time.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

pub struct PluginCatalog {
    folder: Option<PathBuf>,
    state: Mutex<Option<(Fingerprint, Arc<Registry>)>>,
}

impl PluginCatalog {
    pub fn new(folder: Option<PathBuf>) -> Self {
        PluginCatalog { folder, state: Mutex::new(None) }
    }

    pub fn folder(&self) -> Option<&Path> {
        self.folder.as_deref()
    }

    /// The registry for a run starting now.
    pub fn current(&self, runtime: &Runtime) -> Arc<Registry> {
        let fingerprint = self.folder.as_deref().map(fingerprint).unwrap_or_default();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, registry)) = state.as_ref()
            && *seen == fingerprint
        {
            return registry.clone();
        }
        let registry = Arc::new(Registry::load(runtime, self.folder.as_deref()));
        for rejected in registry.rejected() {
            tracing::warn!(file = %rejected.file.display(), reason = %rejected.reason, "plugin rejected");
        }
        if state.is_some() {
            let names: Vec<String> =
                registry.plugins().map(|p| format!("{} {}", p.info.name, p.info.version)).collect();
            tracing::info!(plugins = %names.join(", "), "plugins folder changed; new runs use the new set");
        }
        *state = Some((fingerprint, registry.clone()));
        registry
    }
}

fn fingerprint(folder: &Path) -> Fingerprint {
    let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
    let mut files: Fingerprint = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            Some((p, meta.len(), meta.modified().ok()))
        })
        .collect();
    files.sort();
    files
}
