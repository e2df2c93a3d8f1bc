//! Builds the default connectors for `wasm32-wasip2` so that they ship inside
//! the `surveyor` binary: a fresh install scans with no plugins folder.
//!
//! Each connector is built by its own nested `cargo build` (a connector
//! component must carry exactly one world, and building them together would
//! unify the SDK's `source`/`format` features), into a separate target
//! directory so the outer build's lock is never contended.

use sha2::{Digest, Sha256};
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, artifact stem, folder under the workspace root). The first nine
/// are embedded in the binary; the others are for the engine's tests (they
/// find them in `OUT_DIR`): misbehaving connectors, and the SDK guide's examples.
const CONNECTORS: &[(&str, &str, &str)] = &[
    ("surveyor-connector-local-folder", "surveyor_connector_local_folder", "connectors/local-folder"),
    ("surveyor-connector-parquet", "surveyor_connector_parquet", "connectors/parquet"),
    ("surveyor-connector-csv", "surveyor_connector_csv", "connectors/csv"),
    ("surveyor-connector-json", "surveyor_connector_json", "connectors/json"),
    ("surveyor-connector-azure-blob", "surveyor_connector_azure_blob", "connectors/azure-blob"),
    ("surveyor-connector-adls-gen2", "surveyor_connector_adls_gen2", "connectors/adls-gen2"),
    ("surveyor-connector-sql-server", "surveyor_connector_sql_server", "connectors/sql-server"),
    ("surveyor-connector-power-bi", "surveyor_connector_power_bi", "connectors/power-bi"),
    ("surveyor-connector-postgresql", "surveyor_connector_postgresql", "connectors/postgresql"),
    ("surveyor-test-hostile-source", "surveyor_test_hostile_source", "tests/connectors/hostile-source"),
    ("surveyor-test-hostile-format", "surveyor_test_hostile_format", "tests/connectors/hostile-format"),
    ("surveyor-test-hostile-net", "surveyor_test_hostile_net", "tests/connectors/hostile-net"),
    ("surveyor-test-parquet-next", "surveyor_test_parquet_next", "tests/connectors/parquet-next"),
    ("surveyor-test-incompatible", "surveyor_test_incompatible", "tests/connectors/incompatible"),
    ("surveyor-test-legacy-format", "surveyor_test_legacy_format", "tests/connectors/legacy-format"),
    ("surveyor-test-legacy-sampler", "surveyor_test_legacy_sampler", "tests/connectors/legacy-sampler"),
    ("surveyor-test-hostile-classifier", "surveyor_test_hostile_classifier", "tests/connectors/hostile-classifier"),
    ("psv-connector", "psv_connector", "examples/psv-connector"),
    ("employee-id-classifier", "employee_id_classifier", "examples/employee-id-classifier"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().and_then(Path::parent).unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = env::var_os("SURVEYOR_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("wasm-connectors"));

    for path in [
        "wit",
        "sdk/src",
        "sdk/Cargo.toml",
        "Cargo.lock",
        "Cargo.toml",
        "connectors/azure-common/src",
        "connectors/text-common/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=SURVEYOR_WASM_TARGET_DIR");

    for (package, stem, folder) in CONNECTORS {
        let dir = root.join(folder);
        let name = folder.rsplit('/').next().unwrap();
        for watched in ["src", "wit", "Cargo.toml"].map(|p| dir.join(p)).iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
        build_component(&root, &target_dir, package);
        let built = target_dir.join("wasm32-wasip2").join("wasm").join(format!("{stem}.wasm"));
        let embedded = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(&built, &embedded)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", built.display(), embedded.display()));
        // Its digest, so that the binary need not hash its own connectors at every start.
        let wasm = std::fs::read(&embedded).expect("read the embedded component");
        let digest: String = Sha256::digest(&wasm).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(out_dir.join(format!("{name}.wasm.sha256")), digest).expect("write the digest");
    }
}

fn build_component(root: &Path, target_dir: &Path, package: &str) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--locked", "--profile", "wasm", "--target", "wasm32-wasip2", "-p", package])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags and wrappers (clippy, coverage, native target
    // flags) are for the host target, not for the connectors.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the wasm connectors");
    if !status.success() {
        panic!(
            "building {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
        );
    }
}
