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
use std::sync::Arc;

/// A lazy listing: objects in lexicographic order of path. An `Err` item is a
/// problem with one entry (an unreadable sub-folder, a name that is not
/// UTF-8); the listing goes on after it.
pub type Listing = Box<dyn Iterator<Item = Result<ObjectMeta, StorageError>> + Send>;

/// A recursive listing whose objects carry marks ([`Storage::list_marked`]).
pub type MarkedListing = Box<dyn Iterator<Item = Result<(ObjectMeta, Option<Arc<str>>), StorageError>> + Send>;

/// Read access to one source's objects. Paths are relative to the source's
/// root, `/`-separated, without a leading `/`.
pub trait Storage: Send + Sync {
    /// What this storage is, for messages (never includes credentials).
    fn describe(&self) -> String;
    /// The objects under `prefix`: every object below it when `recursive`,
    /// otherwise one level, with sub-folders as `is_dir` entries.
    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError>;
    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError>;
    /// As [`list`](Self::list) with `recursive`, starting at the first object
    /// that does not sort before `start` in [`compare_paths`](Self::compare_paths)
    /// order. A scan's work units each list their own slice of a listing
    /// this way; implementations that can seek (a local folder prunes the
    /// sub-folders before `start`) should.
    fn list_from(&self, prefix: &str, start: &str) -> Result<Listing, StorageError> {
        let listing = self.list(prefix, true)?;
        if start.is_empty() {
            return Ok(listing);
        }
        let order = self.path_order();
        let start = start.to_string();
        Ok(Box::new(listing.skip_while(move |item| {
            item.as_ref().is_ok_and(|o| order.compare(&o.path, &start) == std::cmp::Ordering::Less)
        })))
    }
    /// As [`list`](Self::list) with `recursive`, each object with a mark:
    /// where [`list_from_mark`](Self::list_from_mark) can pick the listing
    /// up again to reach it without reading what came before. A planner
    /// keeps the mark of each unit's first object. `None`: no shortcut.
    fn list_marked(&self, prefix: &str) -> Result<MarkedListing, StorageError> {
        Ok(Box::new(self.list(prefix, true)?.map(|item| item.map(|o| (o, None)))))
    }
    /// As [`list_from`](Self::list_from), starting the listing at `mark`
    /// (from [`list_marked`](Self::list_marked)) where the mark applies to
    /// `prefix`. A storage whose listings cannot seek by name (Azure's
    /// pages continue only from a server-given marker) would otherwise read
    /// everything before `start` again for every unit.
    fn list_from_mark(&self, prefix: &str, start: &str, mark: Option<&str>) -> Result<Listing, StorageError> {
        let _ = mark;
        self.list_from(prefix, start)
    }
    /// The order of this storage's recursive listings.
    fn path_order(&self) -> PathOrder {
        PathOrder::Bytes
    }
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

/// How a storage orders the paths of a recursive listing. Work units are
/// slices `[start, end)` of a listing in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOrder {
    /// Byte-wise order of the whole path (a local folder, one container).
    Bytes,
    /// An account's listing: by container (first segment), then byte-wise
    /// within the container.
    ContainerFirst,
}

impl PathOrder {
    pub fn compare(&self, a: &str, b: &str) -> std::cmp::Ordering {
        match self {
            PathOrder::Bytes => a.as_bytes().cmp(b.as_bytes()),
            PathOrder::ContainerFirst => {
                fn split(p: &str) -> (&str, Option<&str>) {
                    match p.split_once('/') {
                        Some((c, rest)) => (c, Some(rest)),
                        None => (p, None),
                    }
                }
                let ((ca, ra), (cb, rb)) = (split(a), split(b));
                ca.as_bytes().cmp(cb.as_bytes()).then_with(|| ra.map(str::as_bytes).cmp(&rb.map(str::as_bytes)))
            }
        }
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
    fn account_listings_order_by_container_first() {
        use std::cmp::Ordering::*;
        assert_eq!(PathOrder::Bytes.compare("a-b/x", "a/x"), Less);
        assert_eq!(PathOrder::ContainerFirst.compare("a-b/x", "a/x"), Greater);
        assert_eq!(PathOrder::ContainerFirst.compare("a", "a/x"), Less, "a container before its blobs");
        assert_eq!(PathOrder::ContainerFirst.compare("a/x", "a/y"), Less);
    }

    #[test]
    fn relative_paths_cannot_escape() {
        assert_eq!(checked_relative("a/b.parquet").unwrap(), "a/b.parquet");
        assert_eq!(checked_relative("").unwrap(), "");
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\0b"] {
            assert_eq!(checked_relative(bad).unwrap_err().kind, StorageErrorKind::Refused, "{bad:?}");
        }
    }
}
