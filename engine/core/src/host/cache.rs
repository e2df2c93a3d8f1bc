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

/// Where [`ComponentCache::get`] found a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Loaded from an artifact in the cache (possibly one another process
    /// compiled while this one waited for it).
    Cache,
    /// Compiled here, and stored.
    Compiled,
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
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        self.get(engine, wasm, sha256).map(|(component, _)| component)
    }

    /// As [`load_or_compile`](Self::load_or_compile), saying where the component came from.
    ///
    /// Compiling takes seconds (minutes with a debug build) and several
    /// processes often start together on one machine: a service and its
    /// nodes, a CLI beside a service, parallel test binaries. The compiler of
    /// an artifact holds a lock file named after it, so the others wait for
    /// the artifact and load it instead of compiling it again. A lock that
    /// cannot be taken (a read-only folder) is no reason not to compile.
    /// `sha256` is the hex digest of `wasm` (the plugin's identity, which
    /// the caller has already computed).
    pub fn get(&self, engine: &Engine, wasm: &[u8], sha256: &str) -> wasmtime::Result<(Component, Provenance)> {
        let key = key(engine, sha256);
        let path = self.dir.join(format!("{key}.cwasm"));
        if let Some(component) = self.load(engine, &path) {
            return Ok((component, Provenance::Cache));
        }
        let _lock = self.lock(&key);
        if let Some(component) = self.load(engine, &path) {
            return Ok((component, Provenance::Cache));
        }
        let started = std::time::Instant::now();
        let component = Component::new(engine, wasm)?;
        tracing::debug!(artifact = %path.display(), seconds = started.elapsed().as_secs_f64(), "compiled component");
        if let Err(e) = self.store(&path, &component.serialize()?) {
            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
        }
        Ok((component, Provenance::Compiled))
    }

    /// The artifact at `path`, when there is a usable one.
    fn load(&self, engine: &Engine, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: artifacts in this folder are written only by `store` below,
        // into a folder private to this user, and named after the engine's
        // compatibility hash.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cached component unusable; recompiling");
                None
            }
        }
    }

    /// An exclusive lock on `<key>.lock`, held until the returned file is dropped.
    fn lock(&self, key: &str) -> Option<std::fs::File> {
        let path = self.dir.join(format!("{key}.lock"));
        let locked = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .and_then(|file| file.lock().map(|()| file));
        match locked {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot lock; compiling without waiting for others");
                None
            }
        }
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

fn key(engine: &Engine, sha256: &str) -> String {
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
    hasher.0.update(sha256.as_bytes());
    hex(&hasher.0.finalize())
}

/// The SHA-256 of `bytes`, in lowercase hex: a plugin's identity, an
/// output file's checksum.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
    /// Its digest (any stable name serves the cache's tests).
    const EMPTY: &str = "empty-component";

    #[test]
    fn a_second_process_waits_for_the_first_ones_artifact_instead_of_compiling_again() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let first = ComponentCache::new(dir.path().to_path_buf()).unwrap();
        // The first compiler holds the artifact's lock (as `get` does while compiling)...
        let lock = first.lock(&key(&engine, EMPTY)).expect("lock taken");
        let waiter = {
            let (engine, dir) = (engine.clone(), dir.path().to_path_buf());
            // A separate open file description: flock(2) locks conflict as between processes.
            std::thread::spawn(move || {
                ComponentCache::new(dir).unwrap().get(&engine, EMPTY_COMPONENT, EMPTY).unwrap().1
            })
        };
        // ...and stores the artifact before letting go.
        let path = dir.path().join(format!("{}.cwasm", key(&engine, EMPTY)));
        let component = Component::new(&engine, EMPTY_COMPONENT).unwrap();
        first.store(&path, &component.serialize().unwrap()).unwrap();
        drop(lock);
        assert_eq!(waiter.join().unwrap(), Provenance::Cache, "the waiter loaded what the first one compiled");
        assert_eq!(first.get(&engine, EMPTY_COMPONENT, EMPTY).unwrap().1, Provenance::Cache);
    }

    #[test]
    fn a_damaged_artifact_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ComponentCache::new(dir.path().to_path_buf()).unwrap();
        assert_eq!(cache.get(&engine, EMPTY_COMPONENT, EMPTY).unwrap().1, Provenance::Compiled);
        let path = dir.path().join(format!("{}.cwasm", key(&engine, EMPTY)));
        std::fs::write(&path, b"not an artifact").unwrap();
        assert_eq!(cache.get(&engine, EMPTY_COMPONENT, EMPTY).unwrap().1, Provenance::Compiled);
        assert_eq!(cache.get(&engine, EMPTY_COMPONENT, EMPTY).unwrap().1, Provenance::Cache);
    }
}
