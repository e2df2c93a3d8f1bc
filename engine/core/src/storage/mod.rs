//! The outside world a storage source reads, behind one small trait.
//!
//! Everything above [`Storage`] (the `storage` and `file` capabilities, the
//! scan pipeline) is written once; a local folder, Azure Blob or ADLS Gen2
//! differ only in how their `Storage` is built from the source's
//! configuration. Every implementation is scoped to one root: a path that
//! would leave it is refused, whatever the caller asks.

pub mod azure;
mod local;
mod memory;

pub use local::LocalStorage;
pub use memory::MemoryStorage;

use crate::host::bindings::storage::ObjectMeta;

/// A lazy listing: objects in lexicographic order of path. An `Err` item is a
/// problem with one entry (an unreadable sub-folder, a name that is not
/// UTF-8); the listing goes on after it.
pub type Listing = Box<dyn Iterator<Item = Result<ObjectMeta, StorageError>> + Send>;

/// Read access to one source's objects. Paths are relative to the source's
/// root, `/`-separated, without a leading `/`.
pub trait Storage: Send + Sync {
    /// What this storage is, for messages (never includes credentials).
    fn describe(&self) -> String;
    /// The objects under `prefix`: every object below it when `recursive`,
    /// otherwise one level, with sub-folders as `is_dir` entries.
    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError>;
    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError>;
    /// Up to `length` bytes from `offset`; fewer at the end of the object.
    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError>;
    /// As [`read_range`](Self::read_range), into `buf` (cleared first), so
    /// that a caller reading many files reuses one buffer.
    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        let bytes = self.read_range(path, offset, length)?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Ok(())
    }
}

/// Why a storage call failed, in the terms of the connector contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    NotFound,
    PermissionDenied,
    /// The path is outside the source's scope, or not a valid path.
    Refused,
    Unreachable,
    Auth,
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StorageError {
    pub kind: StorageErrorKind,
    pub path: String,
    pub message: String,
}

impl StorageError {
    pub fn new(kind: StorageErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        StorageError { kind, path: path.into(), message: message.into() }
    }
}

/// Checks a relative path given by a connector: no absolute paths, no `..`,
/// no NUL, no empty segments. Returns it without surrounding slashes.
pub fn checked_relative(path: &str) -> Result<&str, StorageError> {
    let trimmed = path.trim_matches('/');
    let refuse = |why: &str| Err(StorageError::new(StorageErrorKind::Refused, path, why.to_string()));
    if path.starts_with('/') {
        return refuse("absolute paths are outside the source; paths are relative to its root");
    }
    if trimmed.contains('\0') {
        return refuse("path contains a NUL byte");
    }
    if !trimmed.is_empty() && trimmed.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return refuse("path must not contain empty, '.' or '..' segments");
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_cannot_escape() {
        assert_eq!(checked_relative("a/b.parquet").unwrap(), "a/b.parquet");
        assert_eq!(checked_relative("").unwrap(), "");
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\0b"] {
            assert_eq!(checked_relative(bad).unwrap_err().kind, StorageErrorKind::Refused, "{bad:?}");
        }
    }
}
