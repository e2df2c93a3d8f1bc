//! The run manifest: every output file with its size and checksum, written
//! last so that its presence means the run's output is complete.

use super::{RunWriter, SinkError};
use crate::host::cache::sha256_hex;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    /// Path relative to the run's folder.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Atlas entities in the file (batches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: &'static str,
    pub run_id: String,
    /// `succeeded`, `completed_with_exceptions`, `failed` or `canceled`: read
    /// the report before ingesting anything other than `succeeded`.
    pub status: String,
    pub finished_at: String,
    pub files: Vec<ManifestEntry>,
}

/// Whether a manifest's run completed (`succeeded` or
/// `completed_with_exceptions`): only such runs move `LATEST`, so that a
/// consumer following it never lands on a failed or canceled run's partial
/// findings. Failed runs are still committed, for their report.
pub fn completed(manifest: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Status<'a> {
        status: &'a str,
    }
    serde_json::from_slice::<Status<'_>>(manifest)
        .is_ok_and(|m| matches!(m.status, "succeeded" | "completed_with_exceptions"))
}

/// A run's output on its way to a sink: records what was written, then
/// commits with the manifest. Files are hashed and written by a thread of
/// their own while the commit builds the next: on a run of a million Atlas
/// entities, SHA-256 and the writes were a fifth of the commit's thread.
pub struct RunOutput {
    run_id: String,
    queue: Option<crossbeam_channel::Sender<File>>,
    writer: Option<std::thread::JoinHandle<Result<Written, SinkError>>>,
}

/// A file to write: its path, bytes and Atlas entities.
type File = (String, Vec<u8>, Option<u64>);
type Written = (Box<dyn RunWriter>, Vec<ManifestEntry>);

/// Files waiting for the writer (a batch is about a megabyte).
const QUEUED_FILES: usize = 4;

impl RunOutput {
    pub fn new(mut writer: Box<dyn RunWriter>, run_id: &str) -> Self {
        let (queue, files) = crossbeam_channel::bounded::<File>(QUEUED_FILES);
        let writer = std::thread::Builder::new()
            .name("surveyor-output".into())
            .spawn(move || {
                let mut written = Vec::new();
                for (path, bytes, entities) in files {
                    writer.put(&path, &bytes)?;
                    let sha256 = sha256_hex(&bytes);
                    written.push(ManifestEntry { path, bytes: bytes.len() as u64, sha256, entities });
                }
                Ok((writer, written))
            })
            .expect("spawn the output writer");
        RunOutput { run_id: run_id.to_string(), queue: Some(queue), writer: Some(writer) }
    }

    /// Queues a file; an error writing an earlier one is returned here or by [`Self::commit`].
    pub fn put(&mut self, path: &str, bytes: Vec<u8>, entities: Option<u64>) -> Result<(), SinkError> {
        let Some(queue) = &self.queue else { return Err(SinkError::Other("the run's output is closed".into())) };
        if queue.send((path.to_string(), bytes, entities)).is_err() {
            // The writer stopped: it failed.
            self.queue = None;
            self.finish()?;
            return Err(SinkError::Other("the run's output writer stopped".into()));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Written, SinkError> {
        self.queue = None;
        let writer = self.writer.take().ok_or_else(|| SinkError::Other("the run's output is closed".into()))?;
        writer.join().unwrap_or_else(|_| Err(SinkError::Other("the run's output writer panicked".into())))
    }

    /// Writes the manifest and makes the run visible; returns its location.
    pub fn commit(mut self, status: &str, finished_at: String) -> Result<(String, Manifest), SinkError> {
        let (writer, files) = self.finish()?;
        let manifest = Manifest {
            format: "surveyor-run/1",
            run_id: std::mem::take(&mut self.run_id),
            status: status.to_string(),
            finished_at,
            files,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| SinkError::Other(e.to_string()))?;
        let location = writer.commit(&bytes)?;
        Ok((location, manifest))
    }
}
