//! `footer-bench <LAKE> [ROUNDS] [--sample]`: the cost of reading Parquet
//! schemas in the sandbox against the same code run natively, on the same
//! files, in the same process, one thread each; and the cost of a fresh
//! instance from `InstancePre`. With `--sample`, both paths also sample the
//! columns for classification (128 rows, 1 MiB per column).
//!
//! Both paths get the same input (the file's path, size and 64 KiB tail from
//! memory, the rest of the file from memory when the footer is larger) and
//! produce the same schema: natively the connector's packed answer, the
//! same code the sandbox runs (`read-packed-schema`); the wasm path includes
//! everything the host does per file besides: copying the tail into the
//! sandbox, the call, lifting the answer and unpacking it into host types
//! (columns equal to the last file's are shared, as in a scan).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use surveyor_connector_parquet::{Config, Parquet};
use surveyor_engine::host::{Limits, Registry, Runtime, RuntimeOptions};
use surveyor_engine::storage::{MemoryStorage, Storage};
use surveyor_sdk::{FileInput, FileReader, Format, LogLevel, SampleLimits};

const TAIL: usize = 64 * 1024;

/// The same allocator as the `surveyor` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct File {
    path: String,
    bytes: Arc<Vec<u8>>,
}

struct Reader<'a>(&'a [u8]);

impl FileReader for Reader<'_> {
    fn read_range(&self, offset: u64, length: u64) -> surveyor_sdk::Result<Vec<u8>> {
        let start = (offset as usize).min(self.0.len());
        let end = (start + length as usize).min(self.0.len());
        Ok(self.0[start..end].to_vec())
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

fn tail(bytes: &[u8]) -> Vec<u8> {
    bytes[bytes.len().saturating_sub(TAIL)..].to_vec()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: footer-bench <LAKE> [ROUNDS] [--sample]";
    let lake = PathBuf::from(args.next().expect(usage));
    let (mut rounds, mut sample) = (3, false);
    for arg in args {
        match arg.as_str() {
            "--sample" => sample = true,
            n => rounds = n.parse().expect(usage),
        }
    }
    let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
    let mut paths = Vec::new();
    collect(&lake, &mut paths);
    paths.sort();
    let mut storage = MemoryStorage::new();
    let files: Vec<File> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&lake).unwrap().to_string_lossy().to_string();
            let bytes = std::fs::read(p).unwrap();
            storage.insert(&rel, bytes.clone());
            File { path: rel, bytes: Arc::new(bytes) }
        })
        .collect();
    let storage: Arc<dyn Storage> = Arc::new(storage);
    let n = files.len();

    // Native: the connector's own code, called directly.
    let config = Config::default();
    let mut native = Vec::new();
    let mut native_columns = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        native_columns = 0;
        for f in &files {
            let input = FileInput {
                path: f.path.clone(),
                size: f.bytes.len() as u64,
                tail: tail(&f.bytes),
                config: String::new(),
            };
            native_columns += if sample {
                let sampled = Parquet::read_sample(&input, &Reader(&f.bytes), &config, &limits).expect("sample");
                sampled.schema.columns.len() + sampled.samples.iter().map(|s| s.ends.len()).sum::<usize>()
            } else {
                // The packed answer the sandboxed path gets, before the host unpacks it.
                Parquet::read_packed_schema(&input, &Reader(&f.bytes), &config).expect("schema").columns.len()
            };
        }
        native.push(started.elapsed());
    }

    // Wasm: the built-in component, through the host, one instance reused.
    let cache = surveyor_engine::host::cache::ComponentCache::default_dir();
    let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(cache) }).unwrap();
    let registry = Registry::load(&runtime, None);
    let plugin = registry.get("parquet").expect("built-in parquet").clone();
    let mut instance = plugin.format_instance(&runtime, Limits::format(), None).unwrap();
    let mut wasm = Vec::new();
    let mut wasm_columns = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        wasm_columns = 0;
        for f in &files {
            let mut t = tail(&f.bytes);
            let size = f.bytes.len() as u64;
            wasm_columns += if sample {
                let wit_limits = surveyor_engine::host::bindings::sampling::exports::surveyor::connector::format_sampler::SampleLimits {
                    max_rows: limits.max_rows,
                    max_bytes_per_column: limits.max_bytes_per_column,
                };
                // Every column, as the native run above samples them.
                let all = surveyor_sdk::Selection::default();
                let (sampled, _) = instance.read_sample(&storage, &f.path, size, &mut t, "", wit_limits, &all);
                let sampled = sampled.expect("sample");
                sampled.schema.columns.len()
                    + sampled.samples.iter().map(|s| s.values(usize::MAX).map_or(0, |v| v.len())).sum::<usize>()
            } else {
                // As a scan reads it: columns equal to the last file's are shared.
                let (schema, _) = instance.read_shared_schema(&storage, &f.path, size, &mut t, |_| {});
                schema.expect("schema").columns.len()
            };
        }
        wasm.push(started.elapsed());
    }
    assert_eq!(native_columns, wasm_columns, "both paths read the same schemas");

    // Instantiation from InstancePre: a fresh store and instance each time.
    let mut inst = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let started = Instant::now();
        let instance = plugin.format_instance(&runtime, Limits::format(), None).unwrap();
        inst.push(started.elapsed());
        drop(instance);
    }

    // Best of the rounds: the least disturbed by the machine's other load.
    let (native, wasm) = (*native.iter().min().unwrap(), *wasm.iter().min().unwrap());
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    let mut sorted = inst.clone();
    sorted.sort();
    let p90 = sorted[sorted.len() * 9 / 10];
    let what = if sample { "columns + sampled values" } else { "columns" };
    println!("files: {n}, {what}: {native_columns}, best of {rounds} rounds, one thread");
    println!(
        "native footer parsing : {:>8.0} files/s  ({:.1} µs/file)",
        per_s(native),
        native.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "wasm footer parsing   : {:>8.0} files/s  ({:.1} µs/file)",
        per_s(wasm),
        wasm.as_secs_f64() * 1e6 / n as f64
    );
    println!("wasm / native time    : {:.2}x", wasm.as_secs_f64() / native.as_secs_f64());
    println!(
        "instantiation (InstancePre → instance, fresh store): median {:.1} µs, p90 {:.1} µs over {} runs",
        median(inst.clone()).as_secs_f64() * 1e6,
        p90.as_secs_f64() * 1e6,
        inst.len()
    );
}
