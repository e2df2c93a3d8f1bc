//! End to end through the real binary: classifier plugins (contract 0.1.2)
//! dropped into the plugins folder. The example plugin classifies the right
//! column on the next run and no decoy; a hostile plugin (loops, allocates,
//! traps, floods labels, echoes values) fails one column at a time while the rest
//! is classified; and no sampled value leaks through its errors or logs.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use support::{Run, all_text, classified, root_uri, stderr, surveyor};
use surveyor_engine::host::{PluginCatalog, Runtime, RuntimeOptions};

fn built(name: &str) -> std::path::PathBuf {
    Path::new(surveyor_engine::BUILD_OUT_DIR).join(format!("{name}.wasm"))
}

/// `surveyor -v… scan DIR --out OUT --json --classify` with a plugins folder.
fn scan(plugins: &Path, lake: &Path, out: &Path, extra: &[&str]) -> (Output, Value) {
    let output = surveyor()
        .env("SURVEYOR_PLUGINS_DIR", plugins)
        .arg("-vvv")
        .arg("scan")
        .arg(lake)
        .arg("--out")
        .arg(out)
        .args(["--json", "--no-progress", "--classify"])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {}", stderr(&output)));
    (output, report)
}

/// A CSV of `rows` rows; `columns` gives each column's value for a row.
fn write_csv(path: &Path, columns: &[(&str, &dyn Fn(usize) -> String)], rows: usize) {
    let mut text = columns.iter().map(|c| c.0).collect::<Vec<_>>().join(",") + "\n";
    for i in 0..rows {
        text += &columns.iter().map(|c| (c.1)(i)).collect::<Vec<_>>().join(",");
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_example_plugin_dropped_in_is_used_by_the_next_run_on_the_right_column() {
    let plugins = tempfile::tempdir().unwrap();
    let lake = tempfile::tempdir().unwrap();
    let staff = |i: usize| format!("E-{:06}", 100_000 + i * 7);
    write_csv(
        &lake.path().join("people.csv"),
        &[
            ("staff", &staff),
            // Decoys: one digit short, another prefix, a mix under 60%.
            ("badge", &|i| format!("E-{:05}", i)),
            ("ticket", &|i| format!("T-{:06}", i)),
            ("mixed", &|i| if i % 2 == 0 { staff(i) } else { format!("note {i}") }),
        ],
        50,
    );
    let root = root_uri(lake.path());
    let qn = format!("{root}/people.csv");

    // Nothing in the folder: no plugin classification.
    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(plugins.path(), lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(classified(&Run::latest(out.path()), &qn)["staff"].is_empty(), "{report}");

    // Dropped in: the next run uses it, on the right column only.
    std::fs::copy(built("employee-id-classifier"), plugins.path().join("employee-id.wasm")).unwrap();
    let listed = surveyor().env("SURVEYOR_PLUGINS_DIR", plugins.path()).args(["plugins", "list", "--json"]).output();
    let listed: Value = serde_json::from_slice(&listed.unwrap().stdout).unwrap();
    let entry = listed["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "employee-id").cloned();
    let entry = entry.unwrap_or_else(|| panic!("plugins list shows the classifier: {listed}"));
    assert_eq!(entry["kind"], "classifier");
    assert_eq!(entry["emits"], serde_json::json!(["CONTOSO.EMPLOYEE_ID"]));

    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(plugins.path(), lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["classifications"]["CONTOSO.EMPLOYEE_ID"], 1, "{report}");
    let run = Run::latest(out.path());
    let got = classified(&run, &qn);
    assert_eq!(got["staff"], BTreeSet::from(["CONTOSO.EMPLOYEE_ID".to_string()]), "{got:?}");
    for decoy in ["badge", "ticket", "mixed"] {
        assert!(got[decoy].is_empty(), "decoy {decoy} classified: {got:?}");
    }
    // The share is recorded, and the classification is declared for Atlas.
    let column =
        run.entities().find(|e| e["attributes"]["qualifiedName"] == format!("{qn}#__tabular_schema//staff")).unwrap();
    let label = &column["classifications"][0];
    assert_eq!(label["attributes"]["share"], 1.0, "{label}");
    let typedefs = std::fs::read_to_string(run.dir.join("typedefs.json")).unwrap();
    assert!(typedefs.contains("CONTOSO.EMPLOYEE_ID"), "{typedefs}");

    // The rule set turns plugins off, all of them or by name.
    let rules = tempfile::tempdir().unwrap();
    for (file, text) in [("off.toml", "plugins = false\n"), ("not-this.toml", "exclude_plugins = [\"employee-id\"]\n")]
    {
        std::fs::write(rules.path().join(file), text).unwrap();
        let out = tempfile::tempdir().unwrap();
        let rule_file = rules.path().join(file);
        let (output, _) =
            scan(plugins.path(), lake.path(), out.path(), &["--classify-rules", rule_file.to_str().unwrap()]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(classified(&Run::latest(out.path()), &qn)["staff"].is_empty(), "{file} disables the plugin");
    }
}

#[test]
fn a_long_running_process_sees_a_classifier_dropped_into_its_folder() {
    let plugins = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(support::cache_dir()) }).unwrap();
    let catalog = PluginCatalog::new(Some(plugins.path().to_path_buf()));
    assert_eq!(catalog.current(&runtime).classifiers().count(), 0);
    std::fs::copy(built("employee-id-classifier"), plugins.path().join("employee-id.wasm")).unwrap();
    let registry = catalog.current(&runtime);
    let names: Vec<&str> = registry.classifiers().map(|c| c.info.name.as_str()).collect();
    assert_eq!(names, ["employee-id"], "rejected: {:?}", registry.rejected());
    // A second copy under another file name is a duplicate, refused by name.
    std::fs::copy(built("employee-id-classifier"), plugins.path().join("z-copy.wasm")).unwrap();
    let registry = catalog.current(&runtime);
    assert_eq!(registry.classifiers().count(), 1);
    let rejected = &registry.rejected()[0];
    assert!(rejected.file.ends_with("z-copy.wasm") && rejected.reason.contains("duplicate"), "{rejected:?}");
}

#[test]
fn a_hostile_classifier_fails_one_column_at_a_time_and_leaks_no_value() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(built("hostile-classifier"), plugins.path().join("hostile.wasm")).unwrap();
    std::fs::copy(built("employee-id-classifier"), plugins.path().join("employee-id.wasm")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let sentinel = "zq7sentinel";
    let unique = move |i: usize| format!("{sentinel}{i}");
    // The hostile plugin's behaviour is chosen by the column's name; the
    // crash comes first, so the columns after it need a fresh instance.
    let columns: [(&str, &dyn Fn(usize) -> String); 11] = [
        ("trap", &unique),
        ("many", &unique),
        ("ok", &unique),
        ("loop", &unique),
        ("alloc", &unique),
        ("flood", &unique),
        ("echo", &unique),
        ("made_up", &unique),
        ("log", &unique),
        ("staff", &|i| format!("E-{:06}", 200_000 + i)),
        ("email", &|i| format!("{sentinel}.{i}@example.com")),
    ];
    write_csv(&lake.path().join("people.csv"), &columns, 20);

    let out = tempfile::tempdir().unwrap();
    let (output, report) = scan(plugins.path(), lake.path(), out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["status"], "completed_with_exceptions", "{report}");

    // One error per hostile column, naming the plugin and the column.
    let errors = report["itemErrors"].as_array().unwrap();
    let mut by_column = BTreeMap::new();
    for e in errors {
        assert_eq!(e["plugin"], "hostile-classifier", "{e}");
        let message = e["message"].as_str().unwrap();
        let column = message.split("column '").nth(1).and_then(|r| r.split('\'').next()).unwrap();
        assert!(message.starts_with("classifier plugin 'hostile-classifier' failed on column"), "{message}");
        by_column.insert(column.to_string(), (e["kind"].as_str().unwrap().to_string(), message.to_string()));
    }
    let mut kinds: BTreeMap<&str, &str> = by_column.iter().map(|(c, (k, _))| (c.as_str(), k.as_str())).collect();
    // A million labels: out of memory inside the sandbox, or refused by the host.
    let flood = kinds.remove("flood");
    assert!(matches!(flood, Some("out-of-memory" | "invalid-output")), "{report}");
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("alloc", "out-of-memory"),
            ("echo", "malformed-input"),
            ("loop", "timeout"),
            ("made_up", "invalid-output"),
            ("many", "invalid-output"),
            ("trap", "crashed"),
        ]),
        "{report}"
    );
    assert!(by_column["many"].1.contains("17 classifications; at most 16"), "{by_column:?}");

    // Everything else is classified, by the system, the example and the
    // hostile plugin itself where it behaved (after its crash too).
    let got = classified(&Run::latest(out.path()), &format!("{}/people.csv", root_uri(lake.path())));
    assert_eq!(got["ok"], BTreeSet::from(["HOSTILE.OK".to_string()]), "{got:?}");
    assert_eq!(got["log"], BTreeSet::from(["HOSTILE.OK".to_string()]), "{got:?}");
    assert!(got["staff"].contains("CONTOSO.EMPLOYEE_ID"), "{got:?}");
    assert!(got["email"].contains("MICROSOFT.PERSONAL.EMAIL"), "{got:?}");
    for failed in ["trap", "many", "loop", "alloc", "flood", "echo", "made_up"] {
        assert!(got[failed].is_empty(), "{failed}: {got:?}");
    }

    // The plugin panicked with a value, returned one as an error and as a
    // classification name, and logged one: none of it is anywhere.
    let logs = stderr(&output);
    assert!(logs.contains("TRACE"), "-vvv logs at trace level");
    assert!(logs.contains("text withheld"), "the plugin's log call is counted: {logs}");
    let mut everything = String::new();
    all_text(out.path(), &mut everything);
    everything.push_str(&String::from_utf8_lossy(&output.stdout));
    everything.push_str(&logs);
    assert_eq!(everything.matches(sentinel).count(), 0, "a sampled value left the process");
}
