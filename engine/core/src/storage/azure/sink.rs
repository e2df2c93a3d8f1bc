//! [`BlobSink`]: ingestion output as block blobs in a container.
//!
//! Layout: `{container}/{prefix}/runs/{run_id}/{name}`, the run's
//! `manifest.json` last, then `{prefix}/LATEST` (the run id) when the run
//! completed (a failed or canceled run is kept for its report, not LATEST). Blob storage
//! has no rename, so there is no `.partial` folder as on a local disk: a run
//! is complete when its manifest exists, and a consumer reads `LATEST` or
//! the manifest, never a listing.
//!
//! Uploads: a file of up to [`DEFAULT_SINGLE_PUT_MAX`] goes in one Put Blob;
//! a larger one in blocks of [`DEFAULT_BLOCK_SIZE`] (Put Block, then Put
//! Block List), so that a failure mid-file retries one block, not the file.
//! Each request is retried by the account (backoff with jitter).
//!
//! A run that fails never reaches `commit`: the writer is dropped, and its
//! `Drop` deletes what it uploaded (best effort; it stops at the first
//! delete that cannot reach the service). Without a manifest, whatever
//! remains is not a run.

use super::{AzureAccount, QueueNotifier, error};
use crate::sink::{RunWriter, Sink, SinkError};
use crate::storage::{StorageError, StorageErrorKind, checked_relative};
use base64::Engine as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Files up to this size go in a single Put Blob.
pub const DEFAULT_SINGLE_PUT_MAX: usize = 32 << 20;
/// Larger files go in blocks of this size.
pub const DEFAULT_BLOCK_SIZE: usize = 8 << 20;

pub struct BlobSink {
    account: Arc<AzureAccount>,
    container: String,
    prefix: String,
    notify: Option<Arc<QueueNotifier>>,
    container_ready: AtomicBool,
    single_put_max: usize,
    block_size: usize,
}

impl BlobSink {
    /// `prefix` may be empty (runs at the container's root).
    pub fn new(account: Arc<AzureAccount>, container: String, prefix: String, notify: Option<QueueNotifier>) -> Self {
        BlobSink {
            account,
            container,
            prefix: prefix.trim_matches('/').to_string(),
            notify: notify.map(Arc::new),
            container_ready: AtomicBool::new(false),
            single_put_max: DEFAULT_SINGLE_PUT_MAX,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }

    /// Upload sizes: files above `single_put_max` go in blocks of `block_size`
    /// (at most 4,000 MiB a block, 50,000 blocks a blob).
    pub fn with_upload_sizes(mut self, single_put_max: usize, block_size: usize) -> Self {
        self.single_put_max = single_put_max;
        self.block_size = block_size.clamp(1, 4000 << 20);
        self
    }

    fn under_prefix(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }
}

fn sink_error(e: StorageError) -> SinkError {
    SinkError::Other(e.to_string())
}

impl Sink for BlobSink {
    fn describe(&self) -> String {
        let mut at = format!("{}/{}", error::shown_endpoint(self.account.blob_url()), self.container);
        if !self.prefix.is_empty() {
            at.push('/');
            at.push_str(&self.prefix);
        }
        format!("Azure Blob Storage {at}")
    }

    /// Creates the container (and queue) if needed, writes a test blob and deletes it.
    fn check(&self) -> Result<(), SinkError> {
        self.account.create_container(&self.container).map_err(sink_error)?;
        let probe = self.under_prefix(".surveyor-check");
        self.account.put_blob(&self.container, &probe, b"check", "text/plain").map_err(sink_error)?;
        self.account.delete_blob(&self.container, &probe).map_err(sink_error)?;
        if let Some(queue) = &self.notify {
            queue.check().map_err(sink_error)?;
        }
        Ok(())
    }

    fn begin(&self, run_id: &str) -> Result<Box<dyn RunWriter>, SinkError> {
        let run = checked_relative(run_id).map_err(sink_error)?;
        if run.is_empty() || run.contains('/') {
            return Err(SinkError::Other(format!("'{run_id}' is not a run id")));
        }
        if !self.container_ready.load(Ordering::Relaxed) {
            self.account.create_container(&self.container).map_err(sink_error)?;
            self.container_ready.store(true, Ordering::Relaxed);
        }
        Ok(Box::new(BlobRun {
            account: self.account.clone(),
            container: self.container.clone(),
            folder: self.under_prefix(&format!("runs/{run}")),
            latest: self.under_prefix("LATEST"),
            run_id: run.to_string(),
            uploaded: Vec::new(),
            committed: false,
            notify: self.notify.clone(),
            single_put_max: self.single_put_max,
            block_size: self.block_size,
        }))
    }
}

struct BlobRun {
    account: Arc<AzureAccount>,
    container: String,
    /// `{prefix}/runs/{run_id}`.
    folder: String,
    latest: String,
    run_id: String,
    /// Blob names written so far, deleted if the run is dropped uncommitted.
    uploaded: Vec<String>,
    committed: bool,
    notify: Option<Arc<QueueNotifier>>,
    single_put_max: usize,
    block_size: usize,
}

impl BlobRun {
    fn upload(&mut self, name: &str, bytes: &[u8], content_type: &str) -> Result<(), SinkError> {
        let blob = format!("{}/{name}", self.folder);
        // Recorded first: a Put that failed after the service stored it must go too.
        self.uploaded.push(blob.clone());
        self.send(&blob, bytes, content_type)
            .map_err(|e| SinkError::Other(format!("cannot upload {name} of run {}: {}", self.run_id, e.message)))
    }

    fn send(&self, blob: &str, bytes: &[u8], content_type: &str) -> Result<(), StorageError> {
        if bytes.len() <= self.single_put_max {
            return self.account.put_blob(&self.container, blob, bytes, content_type);
        }
        let path = format!("{}/{blob}", self.container);
        let mut ids = Vec::new();
        for (i, chunk) in bytes.chunks(self.block_size).enumerate() {
            // Block ids: base64 of equal-length strings, as the service requires.
            let id = base64::engine::general_purpose::STANDARD.encode(format!("block-{i:06}"));
            self.account.put_block(&path, &id, chunk)?;
            ids.push(id);
        }
        self.account.put_block_list(&path, &ids, content_type)
    }
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".json") { "application/json" } else { "application/octet-stream" }
}

impl RunWriter for BlobRun {
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), SinkError> {
        let name = checked_relative(name).map_err(sink_error)?.to_string();
        self.upload(&name, bytes, content_type(&name))
    }

    fn commit(mut self: Box<Self>, manifest: &[u8]) -> Result<String, SinkError> {
        self.upload("manifest.json", manifest, "application/json")?;
        // From here on the run is complete: nothing is deleted, whatever follows.
        self.committed = true;
        let location = format!("{}/{}/{}", error::shown_endpoint(self.account.blob_url()), self.container, self.folder);
        if crate::sink::completed(manifest) {
            self.account
                .put_blob(&self.container, &self.latest, format!("{}\n", self.run_id).as_bytes(), "text/plain")
                .map_err(|e| {
                    SinkError::Other(format!(
                        "run {} is complete at {location}, but {} could not be updated: {}",
                        self.run_id, self.latest, e.message
                    ))
                })?;
        }
        if let Some(queue) = &self.notify {
            let status = serde_json::from_slice::<serde_json::Value>(manifest)
                .ok()
                .and_then(|m| m.get("status").and_then(|s| s.as_str()).map(str::to_string));
            let message = serde_json::json!({
                "runId": self.run_id,
                "location": location,
                "status": status,
                "manifest": format!("{location}/manifest.json"),
            });
            // The run is committed and LATEST names it: a notification that
            // cannot be sent is a warning, not a failed run.
            if let Err(e) = queue.notify(&message) {
                tracing::warn!("run {} committed, but its queue notification failed: {e}", self.run_id);
            }
        }
        Ok(location)
    }
}

impl Drop for BlobRun {
    fn drop(&mut self) {
        if self.committed || self.uploaded.is_empty() {
            return;
        }
        let mut left = Vec::new();
        let mut reachable = true;
        for blob in &self.uploaded {
            if reachable {
                match self.account.delete_blob(&self.container, blob) {
                    Ok(_) => continue,
                    Err(e) => {
                        reachable = e.kind != StorageErrorKind::Unreachable;
                        tracing::debug!("cannot delete {blob} of an incomplete run: {e}");
                    }
                }
            }
            left.push(blob.as_str());
        }
        if !left.is_empty() {
            tracing::warn!(
                "run {} did not complete, and {} of its files could not be deleted from container {} (without a \
                 manifest they are not a run): {}",
                self.run_id,
                left.len(),
                self.container,
                left.join(", ")
            );
        }
    }
}
