//! End to end through the real binary: scan a local Parquet lake written with
//! the `arrow`/`parquet` crates, and check the output against what was written.

#[path = "support/mod.rs"]
mod support;

use support::{Run, root_uri, scan, stderr, surveyor};
use surveyor_lakegen::{LakeSpec, write_lake};

#[test]
fn a_generated_lake_is_reported_file_by_file_with_its_schema_when_grouping_is_off() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let spec = LakeSpec { files: 400, files_per_table: 60, ..LakeSpec::default() };
    let written = write_lake(lake.path(), &spec).unwrap();
    assert!(written.iter().any(|f| f.path.contains("/year=")), "partitioned layout");

    let (output, report) = scan(lake.path(), out.path(), &["--no-resource-sets"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["counts"]["files"], written.len());
    assert_eq!(report["counts"]["schemas"], written.len());
    assert_eq!(report["counts"]["itemErrors"], 0);
    assert_eq!(report["counts"]["reads"], written.len(), "one read per file: every footer fit the speculative tail");

    let run = Run::latest(out.path());
    assert_eq!(run.manifest["status"], "succeeded");
    assert_eq!(run.report["runId"], report["runId"]);
    run.check_references();
    let root = root_uri(lake.path());
    let names = run.by_name();
    for file in &written {
        let qn = format!("{root}/{}", file.path);
        let entity = names.get(&qn).unwrap_or_else(|| panic!("no entity for {qn}"));
        assert_eq!(entity["typeName"], "fs_path");
        assert_eq!(entity["attributes"]["isFile"], true);
        assert_eq!(entity["customAttributes"]["rowCount"], file.rows.to_string());
        let size = std::fs::metadata(lake.path().join(&file.path)).unwrap().len();
        assert_eq!(entity["attributes"]["fileSize"], size);
        let columns = run.columns_of(&qn).unwrap_or_else(|| panic!("{qn} has no schema"));
        for expected in &file.columns {
            assert!(
                columns.contains(&(expected.path.clone(), expected.data_type.clone())),
                "{qn}: expected column {} of type {}, got {columns:?}",
                expected.path,
                expected.data_type
            );
        }
    }
    // Folders are assets too, each pointing at its parent.
    let folder = names.get(&format!("{root}/warehouse")).expect("folder asset");
    assert_eq!(folder["attributes"]["isFile"], false);
    assert!(
        !out.path().join("runs").read_dir().unwrap().any(|e| e.unwrap().path().to_string_lossy().ends_with(".partial"))
    );
}

#[test]
fn broken_files_are_item_errors_and_the_rest_of_the_scan_completes() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let written = write_lake(lake.path(), &LakeSpec { files: 30, ..LakeSpec::default() }).unwrap();
    let good = std::fs::read(lake.path().join(&written[0].path)).unwrap();
    let bad = lake.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("empty.parquet"), b"").unwrap();
    std::fs::write(bad.join("truncated.parquet"), &good[..good.len() / 2]).unwrap();
    std::fs::write(bad.join("garbage.parquet"), (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>())
        .unwrap();
    let mut outside = good.clone();
    let n = outside.len();
    outside[n - 8..n - 4].copy_from_slice(&(n as u32 * 4).to_le_bytes());
    std::fs::write(bad.join("footer-outside.parquet"), outside).unwrap();

    let (output, report) = scan(lake.path(), out.path(), &[]);
    assert!(output.status.success(), "per-item errors do not fail the run: {}", stderr(&output));
    assert_eq!(report["status"], "completed_with_exceptions");
    assert_eq!(report["counts"]["schemas"], written.len());
    let errors = report["itemErrors"].as_array().unwrap();
    let mut failed: Vec<(&str, &str)> =
        errors.iter().map(|e| (e["item"].as_str().unwrap(), e["kind"].as_str().unwrap())).collect();
    failed.sort();
    assert_eq!(
        failed,
        [
            ("bad/empty.parquet", "malformed-input"),
            ("bad/footer-outside.parquet", "malformed-input"),
            ("bad/garbage.parquet", "malformed-input"),
            ("bad/truncated.parquet", "malformed-input"),
        ]
    );
    let message =
        |item: &str| errors.iter().find(|e| e["item"] == item).unwrap()["message"].as_str().unwrap().to_string();
    assert!(message("bad/empty.parquet").contains("empty file"));
    assert!(message("bad/footer-outside.parquet").contains("points outside the file"));
    // The broken files are still catalogued, without a schema, never with an empty one.
    let run = Run::latest(out.path());
    let root = root_uri(lake.path());
    assert!(run.by_name().contains_key(&format!("{root}/bad/garbage.parquet")));
    assert_eq!(run.columns_of(&format!("{root}/bad/garbage.parquet")), None);
    assert_eq!(run.manifest["status"], "completed_with_exceptions");
}

#[test]
fn every_file_of_the_parquet_testing_corpus_gives_a_schema_or_an_error() {
    let corpus = support::parquet_testing();
    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(&corpus, out.path(), &["--no-resource-sets"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let run = Run::latest(out.path());
    let root = root_uri(&corpus);
    let errors: Vec<&str> =
        report["itemErrors"].as_array().unwrap().iter().map(|e| e["item"].as_str().unwrap()).collect();
    let mut files = Vec::new();
    walk(&corpus, &corpus, &mut files);
    let parquet: Vec<&String> = files.iter().filter(|f| f.ends_with(".parquet")).collect();
    assert!(parquet.len() > 80);
    let mut with_schema = 0;
    for rel in parquet {
        let has_schema = run.columns_of(&format!("{root}/{rel}")).is_some_and(|c| !c.is_empty());
        let has_error = errors.contains(&rel.as_str());
        assert!(has_schema ^ has_error, "{rel}: schema={has_schema} error={has_error}");
        with_schema += has_schema as usize;
    }
    assert!(with_schema >= 80, "{with_schema} schemas");
}

fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().to_string());
        }
    }
}

#[test]
fn a_missing_folder_fails_the_run_with_a_message_naming_it() {
    let out = tempfile::tempdir().unwrap();
    let output = surveyor().args(["scan", "/no/such/lake", "--out"]).arg(out.path()).output().unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("/no/such/lake"), "{}", stderr(&output));
}

#[test]
fn version_and_plugins_are_listed() {
    let version = surveyor().arg("--version").output().unwrap();
    assert_eq!(support::stdout(&version).trim(), format!("surveyor {}", env!("CARGO_PKG_VERSION")));
    let list = surveyor().args(["plugins", "list", "--json"]).output().unwrap();
    assert!(list.status.success(), "{}", stderr(&list));
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let plugins = json["plugins"].as_array().unwrap();
    let parquet = plugins.iter().find(|p| p["name"] == "parquet").expect("parquet listed");
    assert_eq!(parquet["kind"], "format");
    assert_eq!(parquet["origin"], "built-in");
    assert!(parquet["handles"].as_array().unwrap().contains(&"parquet".into()));
    let local = plugins.iter().find(|p| p["name"] == "local-folder").expect("local-folder listed");
    assert_eq!(local["kind"], "source");
    // The folder is the connection's (held by the host); the config only narrows the walk.
    assert_eq!(local["configSchema"]["properties"]["include_hidden"]["type"], "boolean");
    assert_eq!(local["configSchema"]["additionalProperties"], false);
}

#[test]
fn a_connector_dropped_into_the_plugins_folder_is_listed_and_used() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(
        std::path::Path::new(surveyor_engine::BUILD_OUT_DIR).join("psv-connector.wasm"),
        plugins.path().join("psv.wasm"),
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    std::fs::write(lake.path().join("people.psv"), "id|name|city\n1|Ada|London\n").unwrap();
    let out = tempfile::tempdir().unwrap();

    let list = surveyor().env("SURVEYOR_PLUGINS_DIR", plugins.path()).args(["plugins", "list"]).output().unwrap();
    let table = support::stdout(&list);
    let psv = table.lines().find(|l| l.starts_with("psv ")).unwrap_or_else(|| panic!("psv not listed:\n{table}"));
    assert!(psv.contains("format") && psv.contains(plugins.path().join("psv.wasm").to_str().unwrap()), "{psv}");

    let output = surveyor()
        .env("SURVEYOR_PLUGINS_DIR", plugins.path())
        .arg("scan")
        .arg(lake.path())
        .arg("--out")
        .arg(out.path())
        .args(["--json", "--no-progress"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let run = Run::latest(out.path());
    let qn = format!("{}/people.psv", root_uri(lake.path()));
    let columns = run.columns_of(&qn).expect("schema from the folder plugin");
    assert_eq!(columns.len(), 3);
    assert!(columns.contains(&("name".to_string(), "string".to_string())));
    assert!(run.report["plugins"].as_array().unwrap().iter().any(|p| p["name"] == "psv"));
}

#[test]
fn partitioned_tables_become_resource_sets_with_every_footer_read() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let spec = LakeSpec { files: 120, files_per_table: 40, loose_percent: 0, ..LakeSpec::default() };
    let written = write_lake(lake.path(), &spec).unwrap();
    // One partition of table_002 drifts (an extra column), one is corrupt.
    let drifted = written.iter().find(|f| f.path.contains("table_002")).unwrap();
    let table_002: Vec<&surveyor_lakegen::WrittenFile> =
        written.iter().filter(|f| f.path.contains("table_002")).collect();
    let other = written.iter().find(|f| f.path.contains("table_001")).unwrap();
    std::fs::copy(lake.path().join(&other.path), lake.path().join(&drifted.path)).unwrap();
    // The drifted partition is an old one, so the newest member still has the table's own schema.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let file = std::fs::File::options().write(true).open(lake.path().join(&drifted.path)).unwrap();
    file.set_modified(an_hour_ago).unwrap();
    drop(file);
    let corrupt = table_002.last().unwrap();
    std::fs::write(lake.path().join(&corrupt.path), b"PAR1 not really").unwrap();

    let (output, report) = scan(lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["counts"]["files"], written.len());
    assert_eq!(report["counts"]["schemas"], written.len() - 1, "every footer is read, not one per set");
    assert_eq!(report["counts"]["resourceSets"], 3);
    let errors = report["itemErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["item"], corrupt.path.as_str());

    let run = Run::latest(out.path());
    run.check_references();
    let root = root_uri(lake.path());
    let set_qn =
        format!("{root}/warehouse/table_002/year={{Year}}/month={{Month}}/part-{{N}}-{{GUID}}-c000.snappy.parquet");
    let names = run.by_name();
    let set = names.get(&set_qn).unwrap_or_else(|| panic!("no set {set_qn}"));
    assert_eq!(set["typeName"], "fs_resource_set");
    assert_eq!(set["attributes"]["partitionCount"], table_002.len());
    assert_eq!(set["attributes"]["failedPartitions"], 1);
    assert_eq!(set["attributes"]["schemaCount"], 2);
    assert_eq!(run.resolve(&set["relationshipAttributes"]["parent"]), format!("{root}/warehouse/table_002"));
    // The set's schema is its newest member's (docs/resource-sets.md): table_002's own.
    let columns = run.columns_of(&set_qn).expect("the set has a schema");
    for expected in &table_002[0].columns {
        assert!(columns.contains(&(expected.path.clone(), expected.data_type.clone())), "{expected:?} in {columns:?}");
    }
    let summary =
        report["resourceSets"].as_array().unwrap().iter().find(|s| s["qualifiedName"] == set_qn.as_str()).unwrap();
    let variants = summary["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert_eq!(variants[1]["files"], 1);
    assert_eq!(variants[1]["example"], drifted.path.as_str());
    assert!(
        !variants[1]["added"].as_array().unwrap().is_empty() || !variants[1]["removed"].as_array().unwrap().is_empty()
    );
    let years = summary["partitionKeys"]["year"]["values"].as_array().unwrap();
    assert!(!years.is_empty());
    // Partition folders are inside the set; the table folder stays.
    assert!(names.contains_key(&format!("{root}/warehouse/table_002")));
    assert!(!names.keys().any(|k| k.contains("year=20")), "no partition folder or member file on its own");
}

#[test]
fn csv_and_json_files_get_inferred_schemas_from_a_bounded_sample() {
    let lake = tempfile::tempdir().unwrap();
    let mut csv = String::from("id;name;amount;day;active\n");
    for i in 0..50_000 {
        csv.push_str(&format!("{i};name {i};{}.5;2024-01-{:02};true\n", i * 3, 1 + i % 28));
    }
    std::fs::write(lake.path().join("orders.csv"), &csv).unwrap();
    let gz = flate2_like_gzip(b"{\"user\": {\"id\": 1, \"tags\": [\"a\"]}, \"at\": \"2024-01-01T10:00:00Z\"}\n{\"user\": {\"id\": 2, \"tags\": []}, \"at\": \"2024-01-02T10:00:00Z\", \"extra\": null}\n");
    std::fs::write(lake.path().join("events.ndjson.gz"), gz).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["counts"]["schemas"], 2, "{report}");
    assert!(
        report["counts"]["bytesRead"].as_u64().unwrap() < csv.len() as u64 / 2,
        "a large CSV is sampled, not read whole: {} of {} bytes",
        report["counts"]["bytesRead"],
        csv.len()
    );
    let run = Run::latest(out.path());
    let root = root_uri(lake.path());
    let csv_cols = run.columns_of(&format!("{root}/orders.csv")).unwrap();
    let ty = |cols: &[(String, String)], name: &str| cols.iter().find(|c| c.0 == name).map(|c| c.1.clone()).unwrap();
    assert_eq!(ty(&csv_cols, "id"), "int64");
    assert_eq!(ty(&csv_cols, "amount"), "float64");
    assert_eq!(ty(&csv_cols, "day"), "date");
    assert_eq!(ty(&csv_cols, "active"), "boolean");
    assert_eq!(ty(&csv_cols, "name"), "string");
    let json_cols = run.columns_of(&format!("{root}/events.ndjson.gz")).unwrap();
    assert_eq!(ty(&json_cols, "user"), "struct");
    assert_eq!(ty(&json_cols, "user.id"), "int64");
    assert_eq!(ty(&json_cols, "user.tags"), "list<string>");
    assert_eq!(ty(&json_cols, "at"), "timestamp[us, UTC]");
}

/// A gzip member holding `data` as stored (uncompressed) deflate blocks:
/// enough for a test, without a compression dependency.
fn flate2_like_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    for (i, chunk) in data.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= data.len();
        out.push(last as u8);
        out.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        out.extend_from_slice(&(!(chunk.len() as u16)).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let crc = crc32(data);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_rule_set_can_limit_which_formats_get_a_schema() {
    let lake = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lake/landing/batch_000/export_00014.parquet");
    std::fs::copy(example, lake.path().join("c.parquet")).unwrap();
    std::fs::write(lake.path().join("t.csv"), "a,b\n1,2\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(lake.path(), out.path(), &["--schema-formats", "csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!((report["counts"]["files"].as_u64(), report["counts"]["schemas"].as_u64()), (Some(2), Some(1)));
    let run = Run::latest(out.path());
    let root = root_uri(lake.path());
    assert!(run.columns_of(&format!("{root}/t.csv")).is_some());
    assert!(run.columns_of(&format!("{root}/c.parquet")).is_none(), "catalogued without a schema");
    assert!(run.by_name().contains_key(&format!("{root}/c.parquet")));

    let refused = surveyor().arg("scan").arg(lake.path()).args(["--schema-formats", "parket"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("no format connector is named 'parket'"), "{}", stderr(&refused));
}
