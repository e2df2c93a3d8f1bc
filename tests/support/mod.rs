//! Shared helpers for the end-to-end tests: run the real `surveyor` binary,
//! and read a run's output the way a consumer would (manifest first, every
//! checksum verified).
#![allow(dead_code)]

pub mod atlas;

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

// Included by each helper file on its own (they are included independently).
#[allow(clippy::duplicate_mod)]
#[path = "waits.rs"]
mod waits;
#[allow(unused_imports)]
pub use waits::*;

/// A shared cache of compiled components, so that each test process does not
/// recompile the connectors. The first call in a test binary compiles the
/// built-in connectors into it (see [`warm_cache`]).
pub fn cache_dir() -> PathBuf {
    warm_cache();
    cache_path()
}

fn cache_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// Compiles the built-in connectors into the shared cache once, before any
/// test starts a clock: with a debug-built compiler and a cold cache this
/// takes minutes on a loaded 2-core machine, which no test's time limit
/// should include. Every test binary of a run shares the cache (it lives in
/// the target directory), and the cache's per-artifact lock makes parallel
/// processes wait for one compiler instead of each compiling everything.
pub fn warm_cache() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_surveyor"))
            .args(["plugins", "list", "--json"])
            .env("SURVEYOR_CACHE_DIR", cache_path())
            .env("SURVEYOR_PLUGINS_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-plugins"))
            .env_remove("RUST_LOG")
            .env_remove("SURVEYOR_CONFIG")
            .output()
            .expect("run surveyor plugins list");
        assert!(out.status.success(), "compiling the built-in connectors failed: {}", stderr(&out));
        if started.elapsed() > Duration::from_secs(1) {
            eprintln!(
                "compiled the built-in connectors into {} in {:.1} s",
                cache_path().display(),
                started.elapsed().as_secs_f64()
            );
        }
    });
}

/// The real binary, with the test cache and an empty plugins folder unless
/// the test sets its own.
pub fn surveyor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_surveyor"));
    cmd.env("SURVEYOR_CACHE_DIR", cache_dir())
        .env("SURVEYOR_PLUGINS_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-plugins"))
        .env_remove("RUST_LOG")
        // A developer's service configuration is not the test's.
        .env_remove("SURVEYOR_CONFIG");
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `surveyor scan <dir> --out <out> --json`: the exit status and the report.
pub fn scan(dir: &Path, out: &Path, extra: &[&str]) -> (Output, Value) {
    let output = surveyor()
        .arg("scan")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(["--json", "--no-progress"])
        .args(extra)
        .output()
        .expect("run surveyor");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("report is not JSON ({e}); stdout: {} stderr: {}", stdout(&output), stderr(&output))
    });
    (output, report)
}

/// A committed run, read through its manifest.
pub struct Run {
    pub dir: PathBuf,
    pub manifest: Value,
    pub report: Value,
    /// Entities of each batch, in batch order.
    pub batches: Vec<Vec<Value>>,
    /// Column (path, type) by the GUID of their schema entity.
    columns: HashMap<String, Vec<(String, String)>>,
}

impl Run {
    /// Reads the run `LATEST` points to, verifying every file against the manifest.
    pub fn latest(out: &Path) -> Run {
        let id = std::fs::read_to_string(out.join("LATEST")).expect("LATEST written");
        let dir = out.join("runs").join(id.trim());
        Run::read(&dir)
    }

    pub fn read(dir: &Path) -> Run {
        use sha2::{Digest, Sha256};
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest")).unwrap();
        let mut listed = vec!["manifest.json".to_string()];
        let mut batches = Vec::new();
        let mut report = Value::Null;
        for file in manifest["files"].as_array().expect("files") {
            let rel = file["path"].as_str().unwrap();
            let bytes = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel} listed but unreadable: {e}"));
            assert_eq!(bytes.len() as u64, file["bytes"].as_u64().unwrap(), "{rel}: size differs from manifest");
            let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(digest, file["sha256"].as_str().unwrap(), "{rel}: checksum differs from manifest");
            listed.push(rel.to_string());
            if rel.starts_with("batches/") {
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(body["referredEntities"], serde_json::json!({}));
                let entities = body["entities"].as_array().unwrap().clone();
                assert_eq!(entities.len() as u64, file["entities"].as_u64().unwrap());
                batches.push(entities);
            } else if rel == "report.json" {
                report = serde_json::from_slice(&bytes).unwrap();
            }
        }
        // Nothing in the run folder that the manifest does not vouch for.
        let mut present = Vec::new();
        walk(dir, dir, &mut present);
        listed.sort();
        present.sort();
        assert_eq!(present, listed, "files in the run folder and in the manifest differ");
        let mut columns: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for e in batches.iter().flatten().filter(|e| e["typeName"] == "column") {
            let schema =
                e["relationshipAttributes"]["composeSchema"]["guid"].as_str().expect("column in its schema's batch");
            let path = e["customAttributes"]["path"].as_str().unwrap().to_string();
            columns
                .entry(schema.to_string())
                .or_default()
                .push((path, e["attributes"]["type"].as_str().unwrap().to_string()));
        }
        Run { dir: dir.to_path_buf(), manifest, report, batches, columns }
    }

    pub fn entities(&self) -> impl Iterator<Item = &Value> {
        self.batches.iter().flatten()
    }

    /// Entities by qualified name.
    pub fn by_name(&self) -> HashMap<String, &Value> {
        self.entities().map(|e| (e["attributes"]["qualifiedName"].as_str().unwrap().to_string(), e)).collect()
    }

    /// The columns (dotted path → type) of a dataset's schema, or `None` when it has none.
    pub fn columns_of(&self, dataset_qn: &str) -> Option<Vec<(String, String)>> {
        let schema_qn = format!("{dataset_qn}#__tabular_schema");
        let schema = self.entities().find(|e| e["attributes"]["qualifiedName"] == schema_qn.as_str())?;
        let mut cols = self.columns.get(schema["guid"].as_str().unwrap()).cloned().unwrap_or_default();
        cols.sort();
        Some(cols)
    }

    /// The qualified name a reference points at (by placeholder GUID or by qualified name).
    pub fn resolve(&self, reference: &Value) -> String {
        if let Some(qn) = reference["uniqueAttributes"]["qualifiedName"].as_str() {
            return qn.to_string();
        }
        let guid = reference["guid"].as_str().expect("a reference");
        let target = self.entities().find(|e| e["guid"] == guid).expect("referenced entity");
        target["attributes"]["qualifiedName"].as_str().unwrap().to_string()
    }

    /// Checks the batch rules: negative placeholder GUIDs unique in the run,
    /// GUID references only within a batch, qualified-name references only to
    /// entities of earlier batches.
    pub fn check_references(&self) {
        let mut seen_names = std::collections::HashSet::new();
        let mut guids = std::collections::HashSet::new();
        for batch in &self.batches {
            let in_batch: std::collections::HashSet<&str> = batch.iter().map(|e| e["guid"].as_str().unwrap()).collect();
            for e in batch {
                let guid = e["guid"].as_str().unwrap();
                assert!(guid.starts_with('-') && guid[1..].parse::<u64>().is_ok(), "placeholder guid {guid}");
                assert!(guids.insert(guid.to_string()), "guid {guid} used twice");
                for reference in refs(&e["relationshipAttributes"]) {
                    if let Some(g) = reference["guid"].as_str() {
                        assert!(in_batch.contains(g), "guid reference {g} leaves its batch");
                    } else {
                        let qn = reference["uniqueAttributes"]["qualifiedName"]
                            .as_str()
                            .expect("reference by guid or qualified name");
                        assert!(seen_names.contains(qn), "reference to {qn}, which no earlier batch holds");
                    }
                }
            }
            for e in batch {
                seen_names.insert(e["attributes"]["qualifiedName"].as_str().unwrap().to_string());
            }
        }
    }
}

fn refs(rel: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    if let Some(map) = rel.as_object() {
        for v in map.values() {
            match v {
                Value::Array(items) => out.extend(items.iter()),
                Value::Object(_) => out.push(v),
                _ => {}
            }
        }
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().to_string());
        }
    }
}

/// Apache's parquet-testing corpus, beside the repository (`../shared`).
pub fn parquet_testing() -> PathBuf {
    let dir = std::env::var_os("SURVEYOR_PARQUET_TESTING")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/parquet-testing"));
    assert!(dir.is_dir(), "parquet-testing corpus not found at {} (set SURVEYOR_PARQUET_TESTING)", dir.display());
    dir
}

/// The qualified-name root the binary gives a local folder.
pub fn root_uri(dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let canonical = dir.canonicalize().unwrap();
    surveyor_sdk::qualified_name::join(&format!("file://{host}"), canonical.to_str().unwrap())
}

/// The classifications of each column of an asset (a file or a table), by
/// column name, from a run's Atlas entities.
pub fn classified(run: &Run, asset_qn: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let prefix = format!("{asset_qn}#__tabular_schema//");
    let mut out = std::collections::BTreeMap::new();
    for e in run.entities().filter(|e| e["typeName"] == "column") {
        let Some(name) = e["attributes"]["qualifiedName"].as_str().and_then(|q| q.strip_prefix(&prefix)) else {
            continue;
        };
        let labels = e["classifications"]
            .as_array()
            .map(|l| l.iter().map(|c| c["typeName"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        out.insert(name.to_string(), labels);
    }
    out
}

/// Every file under `dir`, as text, appended to `into` (leak checks grep it).
pub fn all_text(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_text(&path, into);
        } else {
            into.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
}
