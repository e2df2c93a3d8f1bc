//! A local folder as the ingestion sink.
//!
//! Layout: `<root>/runs/<run-id>/…`. A run is written into
//! `runs/<run-id>.partial/` and renamed to `runs/<run-id>/` once its manifest
//! is on disk, then `<root>/LATEST` is replaced (atomically) with the run's id
//! if the run completed (a failed or canceled run is kept, but not LATEST).

use super::{RunWriter, Sink, SinkError};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct LocalFolderSink {
    root: PathBuf,
}

impl LocalFolderSink {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalFolderSink { root: root.into() }
    }
}

fn io(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Io { path: path.display().to_string(), source }
}

impl Sink for LocalFolderSink {
    fn describe(&self) -> String {
        format!("local folder {}", self.root.display())
    }

    fn check(&self) -> Result<(), SinkError> {
        let probe = self.root.join(format!(".surveyor-check.{}", std::process::id()));
        write_durably(&probe, b"check")?;
        std::fs::remove_file(&probe).map_err(|e| io(&probe, e))
    }

    fn begin(&self, run_id: &str) -> Result<Box<dyn RunWriter>, SinkError> {
        let runs = self.root.join("runs");
        let partial = runs.join(format!("{run_id}.partial"));
        std::fs::create_dir_all(&partial).map_err(|e| io(&partial, e))?;
        Ok(Box::new(LocalRun {
            root: self.root.clone(),
            partial,
            done: runs.join(run_id),
            run_id: run_id.to_string(),
            written: Vec::new(),
        }))
    }
}

struct LocalRun {
    root: PathBuf,
    partial: PathBuf,
    done: PathBuf,
    run_id: String,
    /// The files put so far, synced before the manifest is written.
    written: Vec<PathBuf>,
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let mut file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    start_writeback(&file);
    Ok(())
}

/// Starts writing `file`'s dirty pages to disk without waiting for them, so
/// that the sync before a manifest finds them written (or under way)
/// instead of writing a whole run's output then. Advice only: a failure
/// here is found by that sync.
pub(crate) fn start_writeback(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on an open descriptor that `file` keeps
    // alive for its duration; it reads and writes no memory of ours.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

impl RunWriter for LocalRun {
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), SinkError> {
        let path = self.partial.join(name);
        write_durably(&path, bytes)?;
        self.written.push(path);
        Ok(())
    }

    fn commit(self: Box<Self>, manifest: &[u8]) -> Result<String, SinkError> {
        // Data files reach the disk before the manifest that vouches for
        // them: the run's files and folders only, not the whole file system
        // (`syncfs` also waited for other programs' writes, and for the
        // run's own work files, deleted right after).
        let mut folders = std::collections::BTreeSet::from([self.partial.clone()]);
        for path in &self.written {
            let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
            file.sync_data().map_err(|e| io(path, e))?;
            folders.extend(path.parent().map(Path::to_path_buf));
        }
        for folder in &folders {
            let dir = std::fs::File::open(folder).map_err(|e| io(folder, e))?;
            dir.sync_all().map_err(|e| io(folder, e))?;
        }
        write_durably(&self.partial.join("manifest.json"), manifest)?;
        std::fs::rename(&self.partial, &self.done).map_err(|e| io(&self.done, e))?;
        if !super::completed(manifest) {
            return Ok(self.done.display().to_string());
        }
        let latest = self.root.join("LATEST");
        let tmp = self.root.join(format!(".LATEST.{}", std::process::id()));
        write_durably(&tmp, format!("{}\n", self.run_id).as_bytes())?;
        std::fs::rename(&tmp, &latest).map_err(|e| io(&latest, e))?;
        Ok(self.done.display().to_string())
    }
}
