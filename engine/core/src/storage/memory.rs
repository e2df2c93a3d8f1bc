//! Objects held in memory: for benchmarks that must exclude I/O, and tests.

use super::{Listing, Storage, StorageError, StorageErrorKind, checked_relative};
use crate::host::bindings::storage::ObjectMeta;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct MemoryStorage {
    objects: BTreeMap<String, Vec<u8>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, path: &str, bytes: Vec<u8>) {
        self.objects.insert(path.trim_matches('/').to_string(), bytes);
    }

    fn meta(path: &str, bytes: &[u8]) -> ObjectMeta {
        ObjectMeta {
            path: path.to_string(),
            is_dir: false,
            size: bytes.len() as u64,
            last_modified: None,
            etag: None,
            content_type: None,
            attributes: Vec::new(),
        }
    }

    fn get(&self, path: &str) -> Result<&Vec<u8>, StorageError> {
        let path = checked_relative(path)?;
        self.objects.get(path).ok_or_else(|| StorageError::new(StorageErrorKind::NotFound, path, "no such object"))
    }
}

impl Storage for MemoryStorage {
    fn describe(&self) -> String {
        format!("memory ({} objects)", self.objects.len())
    }

    /// Recursive listings only (what the benchmarks need); one level lists the same.
    fn list(&self, prefix: &str, _recursive: bool) -> Result<Listing, StorageError> {
        let prefix = checked_relative(prefix)?.to_string();
        let items: Vec<Result<ObjectMeta, StorageError>> = self
            .objects
            .iter()
            .filter(|(p, _)| prefix.is_empty() || p.starts_with(&format!("{prefix}/")))
            .map(|(p, b)| Ok(Self::meta(p, b)))
            .collect();
        Ok(Box::new(items.into_iter()))
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        self.get(path).map(|b| Self::meta(path, b))
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        let bytes = self.get(path)?;
        let start = (offset as usize).min(bytes.len());
        let end = start.saturating_add(length as usize).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }
}
