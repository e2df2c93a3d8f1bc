//! The run manifest: every output file with its size and checksum, written
//! last so that its presence means the run's output is complete.

use super::{RunWriter, SinkError};
use crate::host::cache::hex;
use serde::Serialize;
use sha2::{Digest, Sha256};

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
/// commits with the manifest.
pub struct RunOutput {
    writer: Box<dyn RunWriter>,
    run_id: String,
    files: Vec<ManifestEntry>,
}

impl RunOutput {
    pub fn new(writer: Box<dyn RunWriter>, run_id: &str) -> Self {
        RunOutput { writer, run_id: run_id.to_string(), files: Vec::new() }
    }

    pub fn put(&mut self, path: &str, bytes: &[u8], entities: Option<u64>) -> Result<(), SinkError> {
        self.writer.put(path, bytes)?;
        self.files.push(ManifestEntry {
            path: path.to_string(),
            bytes: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
            entities,
        });
        Ok(())
    }

    pub fn files(&self) -> &[ManifestEntry] {
        &self.files
    }

    /// Writes the manifest and makes the run visible; returns its location.
    pub fn commit(self, status: &str, finished_at: String) -> Result<(String, Manifest), SinkError> {
        let manifest = Manifest {
            format: "surveyor-run/1",
            run_id: self.run_id,
            status: status.to_string(),
            finished_at,
            files: self.files,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| SinkError::Other(e.to_string()))?;
        let location = self.writer.commit(&bytes)?;
        Ok((location, manifest))
    }
}
