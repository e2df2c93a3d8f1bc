//! A folder on this node.
//!
//! Every open goes through `openat2(RESOLVE_BENEATH)` from a handle on the
//! root, so the kernel refuses any path, `..` or symbolic link that would
//! leave the folder. Listings do not follow symbolic links.

use super::{Listing, Storage, StorageError, StorageErrorKind, checked_relative};
use crate::host::bindings::storage::ObjectMeta;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub struct LocalStorage {
    root: PathBuf,
    root_fd: OwnedFd,
}

impl LocalStorage {
    /// Grants read access to `root` and everything beneath it, nothing else.
    pub fn open(root: &Path) -> Result<Self, StorageError> {
        let shown = root.display().to_string();
        // A root that is not there never was (the hint of `io_error` is for files that vanish mid-scan).
        let root = root.canonicalize().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                StorageError::new(StorageErrorKind::NotFound, &shown, "no such folder".to_string())
            }
            _ => io_error(&shown, &e),
        })?;
        if !root.is_dir() {
            return Err(StorageError::new(StorageErrorKind::NotFound, shown, "not a folder"));
        }
        let root_fd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_error(&shown, &e.into()))?;
        Ok(LocalStorage { root, root_fd })
    }

    /// The canonical absolute path of the root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn open_beneath(&self, rel: &str, flags: OFlags) -> Result<OwnedFd, StorageError> {
        let rel = checked_relative(rel)?;
        let rel = if rel.is_empty() { "." } else { rel };
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        rustix::fs::openat2(&self.root_fd, rel, flags | OFlags::CLOEXEC, Mode::empty(), resolve).map_err(|e| {
            if e == rustix::io::Errno::XDEV {
                StorageError::new(
                    StorageErrorKind::Refused,
                    rel,
                    "path leads outside the source folder (symbolic link)",
                )
            } else {
                io_error(rel, &e.into())
            }
        })
    }
}

fn io_error(path: &str, e: &io::Error) -> StorageError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => StorageErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => StorageErrorKind::PermissionDenied,
        _ => StorageErrorKind::Other,
    };
    let message = match kind {
        StorageErrorKind::NotFound => "no such file or folder (deleted during the scan?)".to_string(),
        StorageErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    StorageError::new(kind, path, message)
}

fn meta(path: String, m: &Metadata) -> ObjectMeta {
    let last_modified = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    ObjectMeta {
        path,
        is_dir: m.is_dir(),
        size: if m.is_dir() { 0 } else { m.len() },
        last_modified,
        etag: None,
        content_type: None,
        attributes: Vec::new(),
    }
}

impl Storage for LocalStorage {
    fn describe(&self) -> String {
        format!("local folder {}", self.root.display())
    }

    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let prefix = checked_relative(prefix)?.to_string();
        // Resolve through openat2 first so that a prefix cannot leave the root.
        let fd = self.open_beneath(&prefix, OFlags::RDONLY | OFlags::DIRECTORY)?;
        drop(fd);
        let first = read_sorted(&self.root, &prefix)?;
        Ok(Box::new(Walk { root: self.root.clone(), stack: vec![first], recursive, skip_before: None }))
    }

    /// Sub-folders that sort wholly before `start` are not read at all.
    fn list_from(&self, prefix: &str, start: &str) -> Result<Listing, StorageError> {
        let prefix = checked_relative(prefix)?.to_string();
        let fd = self.open_beneath(&prefix, OFlags::RDONLY | OFlags::DIRECTORY)?;
        drop(fd);
        let first = read_sorted(&self.root, &prefix)?;
        let skip_before = (!start.is_empty()).then(|| start.to_string());
        Ok(Box::new(Walk { root: self.root.clone(), stack: vec![first], recursive: true, skip_before }))
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        let fd = self.open_beneath(path, OFlags::PATH)?;
        let m = File::from(fd).metadata().map_err(|e| io_error(path, &e))?;
        Ok(meta(checked_relative(path)?.to_string(), &m))
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        let mut buf = Vec::new();
        self.read_range_into(path, offset, length, &mut buf)?;
        Ok(buf)
    }

    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        let fd = self.open_beneath(path, OFlags::RDONLY)?;
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        buf.clear();
        buf.reserve(length);
        // Read into the spare capacity: no zeroing of a buffer about to be overwritten.
        while buf.len() < length {
            let (done, want) = (buf.len(), length - buf.len());
            let spare = &mut buf.spare_capacity_mut()[..want];
            let read = match rustix::io::pread(&fd, spare, offset + done as u64) {
                Ok((filled, _)) => filled.len(),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_error(path, &e.into())),
            };
            if read == 0 {
                break;
            }
            // SAFETY: `pread` initialised the first `read` bytes of the spare capacity.
            unsafe { buf.set_len(done + read) };
        }
        Ok(())
    }
}

/// One folder's entries, sorted so that a depth-first walk yields paths in
/// lexicographic order (a folder sorts as its name followed by `/`).
struct Level {
    entries: std::vec::IntoIter<Entry>,
}

struct Entry {
    path: String,
    /// `None` for a folder; a file's metadata, or why it could not be read.
    file: Option<Result<Metadata, StorageError>>,
}

fn read_sorted(root: &Path, dir: &str) -> Result<Level, StorageError> {
    let shown = if dir.is_empty() { "." } else { dir };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(root.join(dir)).map_err(|e| io_error(shown, &e))? {
        let entry = entry.map_err(|e| io_error(shown, &e))?;
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) => return Err(io_error(shown, &e)),
        };
        if file_type.is_symlink() {
            continue; // not followed: it could lead outside the source
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            let lossy = name.to_string_lossy().to_string();
            let path = if dir.is_empty() { lossy } else { format!("{dir}/{lossy}") };
            let error = StorageError::new(StorageErrorKind::Other, path.clone(), "name is not valid UTF-8; skipped");
            entries.push(Entry { path, file: Some(Err(error)) });
            continue;
        };
        let path = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
        let file = (!file_type.is_dir()).then(|| entry.metadata().map_err(|e| io_error(&path, &e)));
        entries.push(Entry { path, file });
    }
    // A folder sorts as its name followed by '/': "a.txt" < "a/..." < "a0".
    entries.sort_by_cached_key(|e| if e.file.is_none() { format!("{}/", e.path) } else { e.path.clone() });
    Ok(Level { entries: entries.into_iter() })
}

struct Walk {
    root: PathBuf,
    stack: Vec<Level>,
    recursive: bool,
    /// Objects before this path are skipped, folders wholly before it unread.
    skip_before: Option<String>,
}

impl Walk {
    /// Whether `entry` lies wholly before the listing's start.
    fn before_start(&self, entry: &Entry) -> bool {
        let Some(start) = &self.skip_before else { return false };
        if entry.file.is_some() {
            return entry.path.as_str() < start.as_str();
        }
        let folder = format!("{}/", entry.path);
        !start.starts_with(&folder) && folder.as_str() < start.as_str()
    }
}

impl Iterator for Walk {
    type Item = Result<ObjectMeta, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let level = self.stack.last_mut()?;
            let Some(entry) = level.entries.next() else {
                self.stack.pop();
                continue;
            };
            if self.before_start(&entry) {
                continue;
            }
            let Some(file) = entry.file else {
                if self.recursive {
                    match read_sorted(&self.root, &entry.path) {
                        Ok(level) => self.stack.push(level),
                        Err(e) => return Some(Err(e)),
                    }
                    continue;
                }
                return Some(Ok(ObjectMeta {
                    path: entry.path,
                    is_dir: true,
                    size: 0,
                    last_modified: None,
                    etag: None,
                    content_type: None,
                    attributes: Vec::new(),
                }));
            };
            self.skip_before = None;
            return Some(file.map(|m| meta(entry.path, &m)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::write(p.join("a/b/x.parquet"), b"12345").unwrap();
        std::fs::write(p.join("a/b.txt"), b"1").unwrap();
        std::fs::write(p.join("a0"), b"1").unwrap();
        std::fs::write(p.join("top.csv"), b"hello world").unwrap();
        dir
    }

    #[test]
    fn recursive_listing_is_in_lexicographic_path_order() {
        let dir = tree();
        let storage = LocalStorage::open(dir.path()).unwrap();
        let paths: Vec<String> = storage.list("", true).unwrap().map(|o| o.unwrap().path).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert_eq!(paths, ["a/b.txt", "a/b/x.parquet", "a0", "top.csv"]);
    }

    #[test]
    fn a_listing_can_start_anywhere() {
        let dir = tree();
        let storage = LocalStorage::open(dir.path()).unwrap();
        let from =
            |start: &str| -> Vec<String> { storage.list_from("", start).unwrap().map(|o| o.unwrap().path).collect() };
        assert_eq!(from("a/b/x.parquet"), ["a/b/x.parquet", "a0", "top.csv"]);
        assert_eq!(from("a/b/"), ["a/b/x.parquet", "a0", "top.csv"]);
        assert_eq!(from("a00"), ["top.csv"]);
        assert_eq!(from(""), ["a/b.txt", "a/b/x.parquet", "a0", "top.csv"]);
    }

    #[test]
    fn one_level_listing_returns_folders() {
        let dir = tree();
        let storage = LocalStorage::open(dir.path()).unwrap();
        let level: Vec<(String, bool)> =
            storage.list("a", false).unwrap().map(|o| o.unwrap()).map(|o| (o.path, o.is_dir)).collect();
        assert_eq!(level, [("a/b.txt".to_string(), false), ("a/b".to_string(), true)]);
    }

    #[test]
    fn reads_ranges_and_stops_at_the_end() {
        let dir = tree();
        let storage = LocalStorage::open(dir.path()).unwrap();
        assert_eq!(storage.read_range("top.csv", 6, 100).unwrap(), b"world");
        assert_eq!(storage.stat("a/b/x.parquet").unwrap().size, 5);
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::write(outer.path().join("secret"), b"s").unwrap();
        std::fs::create_dir(outer.path().join("root")).unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), outer.path().join("root/link")).unwrap();
        std::os::unix::fs::symlink(outer.path(), outer.path().join("root/dirlink")).unwrap();
        let storage = LocalStorage::open(&outer.path().join("root")).unwrap();
        for path in ["../secret", "/etc/passwd", "link", "dirlink/secret"] {
            let err = storage.read_range(path, 0, 10).unwrap_err();
            assert_eq!(err.kind, StorageErrorKind::Refused, "{path}: {err}");
        }
        assert_eq!(storage.list("", true).unwrap().count(), 0, "symbolic links are not followed");
    }

    #[test]
    fn missing_files_are_not_found() {
        let dir = tree();
        let storage = LocalStorage::open(dir.path()).unwrap();
        assert_eq!(storage.read_range("nope.parquet", 0, 1).unwrap_err().kind, StorageErrorKind::NotFound);
        assert_eq!(storage.list("nope", true).err().unwrap().kind, StorageErrorKind::NotFound);
    }
}
