//! Compiled components on disk, so that only the first run after an install
//! or an upgrade pays for compilation.
//!
//! An artifact's name is a SHA-256 over the component's bytes, the Surveyor
//! version and wasmtime's compatibility hash of the engine configuration: a
//! changed plugin, an upgraded engine or other compiler settings all miss the
//! cache rather than load an incompatible artifact.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// Uses (and creates, private to this user) `dir`.
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(ComponentCache { dir })
    }

    /// The default location: `$XDG_CACHE_HOME/surveyor/components`, else
    /// `~/.cache/surveyor/components`, else a folder under the temp dir.
    pub fn default_dir() -> PathBuf {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("surveyor").join("components")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The compiled component for `wasm`, from the cache or freshly compiled
    /// (and then stored). A damaged artifact is recompiled and replaced.
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
        let path = self.dir.join(format!("{}.cwasm", key(engine, wasm)));
        if path.exists() {
            // SAFETY: artifacts in this folder are written only by `serialize`
            // below, into a folder private to this user, and named after the
            // engine's compatibility hash.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cached component unusable; recompiling")
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = self.store(&path, &component.serialize()?) {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
        }
        Ok(component)
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

fn key(engine: &Engine, wasm: &[u8]) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.update(crate::VERSION.as_bytes());
    hasher.0.update(wasm);
    hex(&hasher.0.finalize())
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
