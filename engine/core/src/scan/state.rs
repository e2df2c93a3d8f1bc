//! What a source remembers between runs: when its last successful run
//! started, and the assets it found then. Incremental runs read schemas only
//! of files modified since; every run that lists the whole source reports
//! the assets that were there last time and are gone now.
//!
//! Layout, one folder per source (its name plus a hash of its type and root,
//! so two sources of the same name never share state):
//!
//! ```text
//! <state dir>/<name>-<hash>/
//! ├── last-run.json     {"runId", "startedAtMs", "status"}
//! └── inventory.tsv     sorted "<type name>\t<qualified name>" lines
//! ```
//!
//! Both are replaced atomically (written aside, then renamed), and only
//! after the run's output is committed: a failed or interrupted run leaves
//! the previous state as it was.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The last successful run of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub run_id: String,
    /// When the run started, in ms since the epoch (files modified after this
    /// may not have been seen by it).
    pub started_at_ms: i64,
    pub status: String,
}

/// An asset as it is identified in a catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetId {
    pub type_name: String,
    pub qualified_name: String,
}

impl AssetId {
    fn line(&self) -> String {
        format!("{}\t{}", self.type_name, escape(&self.qualified_name))
    }

    fn parse(line: &str) -> Option<AssetId> {
        let (type_name, qn) = line.split_once('\t')?;
        Some(AssetId { type_name: type_name.to_string(), qualified_name: unescape(qn) })
    }
}

/// Qualified names may hold any character; tabs, newlines and backslashes are escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
#[error("source state in {path}: {source}")]
pub struct StateError {
    path: String,
    source: std::io::Error,
}

/// The state of one source, on disk.
#[derive(Debug, Clone)]
pub struct SourceState {
    dir: PathBuf,
}

impl SourceState {
    /// The state of the source `name` of `source_type` rooted at `root_uri`, under `state_dir`.
    pub fn new(state_dir: &Path, name: &str, source_type: &str, root_uri: &str) -> Self {
        let digest = Sha256::digest(format!("{source_type}\n{root_uri}").as_bytes());
        let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
            .take(64)
            .collect();
        SourceState { dir: state_dir.join(format!("{safe}-{hash}")) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, file: &str, source: std::io::Error) -> StateError {
        StateError { path: self.dir.join(file).display().to_string(), source }
    }

    /// The last successful run, if there was one.
    pub fn last_run(&self) -> Result<Option<LastRun>, StateError> {
        let path = self.dir.join("last-run.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.err("last-run.json", std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("last-run.json", e)),
        }
    }

    /// For an incremental run: files modified at or after this (ms since the
    /// epoch) get their schema read. Storage timestamps have a resolution of
    /// one second (Azure's `Last-Modified`), so the start is rounded down to
    /// its second: a file changed in the same second as the last run's start
    /// is read again rather than missed.
    pub fn modified_since(&self) -> Result<Option<i64>, StateError> {
        Ok(self.last_run()?.map(|run| run.started_at_ms.div_euclid(1000) * 1000 - 1))
    }

    /// The assets of the last successful run, sorted; `None` before the first one.
    pub fn inventory(&self) -> Result<Option<Vec<AssetId>>, StateError> {
        let path = self.dir.join("inventory.tsv");
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("inventory.tsv", e)),
        };
        let mut ids = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| self.err("inventory.tsv", e))?;
            if let Some(id) = AssetId::parse(&line) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(Some(ids))
    }

    /// Records a successful run and its assets (sorted by the caller or not).
    pub fn record(&self, run: &LastRun, inventory: &mut Vec<AssetId>) -> Result<(), StateError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err("", e))?;
        inventory.sort();
        inventory.dedup();
        let mut tsv = Vec::with_capacity(inventory.len() * 96);
        for id in inventory.iter() {
            tsv.extend_from_slice(id.line().as_bytes());
            tsv.push(b'\n');
        }
        self.replace("inventory.tsv", &tsv)?;
        self.replace("last-run.json", &serde_json::to_vec_pretty(run).expect("serializes"))
    }

    fn replace(&self, file: &str, bytes: &[u8]) -> Result<(), StateError> {
        let tmp = self.dir.join(format!(".{file}.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.dir.join(file))
        };
        write().map_err(|e| self.err(file, e))
    }
}

/// The assets in `before` that are not in `now` (both sorted).
pub fn deletions(before: &[AssetId], now: &[AssetId]) -> Vec<AssetId> {
    let mut gone = Vec::new();
    let mut now = now.iter().peekable();
    for id in before {
        while now.next_if(|n| *n < id).is_some() {}
        if now.peek() != Some(&id) {
            gone.push(id.clone());
        }
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(t: &str, qn: &str) -> AssetId {
        AssetId { type_name: t.into(), qualified_name: qn.into() }
    }

    #[test]
    fn deletions_are_what_was_there_and_is_gone() {
        let mut before = vec![id("f", "a"), id("f", "b"), id("f", "c"), id("s", "b")];
        let mut now = vec![id("f", "b"), id("f", "d"), id("s", "b"), id("f", "a")];
        before.sort();
        now.sort();
        assert_eq!(deletions(&before, &now), [id("f", "c")]);
        assert_eq!(deletions(&before, &[]), before);
        assert!(deletions(&[], &now).is_empty());
    }

    #[test]
    fn state_round_trips_and_names_survive_escaping() {
        let dir = tempfile::tempdir().unwrap();
        let state = SourceState::new(dir.path(), "sales lake/é", "azure-blob", "https://a.blob.core.windows.net");
        assert_eq!(state.last_run().unwrap(), None);
        assert_eq!(state.inventory().unwrap(), None);
        let run = LastRun { run_id: "r1".into(), started_at_ms: 1_700_000_000_123, status: "succeeded".into() };
        let mut ids = vec![id("f", "x\ty\\z\nw"), id("f", "a")];
        state.record(&run, &mut ids).unwrap();
        assert_eq!(state.last_run().unwrap(), Some(run));
        assert_eq!(state.inventory().unwrap().unwrap(), [id("f", "a"), id("f", "x\ty\\z\nw")]);
        assert_eq!(state.modified_since().unwrap(), Some(1_699_999_999_999), "rounded down to its second");
        let other = SourceState::new(dir.path(), "sales lake/é", "azure-blob", "https://b.blob.core.windows.net");
        assert_ne!(state.dir(), other.dir(), "another account, another state");
    }
}
