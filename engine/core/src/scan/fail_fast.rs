//! A run whose storage is gone stops and fails.
//!
//! Connectors report a folder they cannot list as a per-item error and go
//! on, which is right for one unreadable folder but not for an account that
//! stopped answering: the run would "complete" with most of the source
//! missing, and the next run would report it all deleted. [`FailFast`] wraps
//! the source's storage: the first error that says the storage itself is
//! unusable (unreachable, credential refused) is recorded as the run's
//! failure and stops the run.

use crate::host::bindings::storage::ObjectMeta;
use crate::storage::{Listing, Storage, StorageError, StorageErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The first fatal storage error of a run, shared by everything that reads.
#[derive(Default)]
pub(super) struct Fatal(Mutex<Option<String>>);

impl Fatal {
    pub(super) fn take(&self) -> Option<String> {
        self.0.lock().unwrap().take()
    }
}

pub(super) struct FailFast {
    inner: Arc<dyn Storage>,
    fatal: Arc<Fatal>,
    cancel: Arc<AtomicBool>,
}

impl FailFast {
    pub(super) fn wrap(inner: Arc<dyn Storage>, fatal: Arc<Fatal>, cancel: Arc<AtomicBool>) -> Arc<dyn Storage> {
        Arc::new(FailFast { inner, fatal, cancel })
    }
}

fn check<T>(result: Result<T, StorageError>, fatal: &Fatal, cancel: &AtomicBool) -> Result<T, StorageError> {
    if let Err(e) = &result
        && matches!(e.kind, StorageErrorKind::Unreachable | StorageErrorKind::Auth)
    {
        let mut slot = fatal.0.lock().unwrap();
        if slot.is_none() {
            let at = if e.path.is_empty() { String::new() } else { format!(" at '{}'", e.path) };
            *slot = Some(format!("the source's storage failed{at}: {}", e.message));
        }
        cancel.store(true, Ordering::Relaxed);
    }
    result
}

impl Storage for FailFast {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn list(&self, prefix: &str, recursive: bool) -> Result<Listing, StorageError> {
        let listing = check(self.inner.list(prefix, recursive), &self.fatal, &self.cancel)?;
        let (fatal, cancel) = (self.fatal.clone(), self.cancel.clone());
        Ok(Box::new(listing.map(move |item| check(item, &fatal, &cancel))))
    }

    fn stat(&self, path: &str) -> Result<ObjectMeta, StorageError> {
        check(self.inner.stat(path), &self.fatal, &self.cancel)
    }

    fn read_range(&self, path: &str, offset: u64, length: u64) -> Result<Vec<u8>, StorageError> {
        check(self.inner.read_range(path, offset, length), &self.fatal, &self.cancel)
    }

    fn read_range_into(&self, path: &str, offset: u64, length: u64, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        check(self.inner.read_range_into(path, offset, length, buf), &self.fatal, &self.cancel)
    }
}
