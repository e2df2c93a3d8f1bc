//! End to end through the real binary: classification of sampled values
//! (scan level L3) on a lake generated here, with planted columns and
//! decoys in Parquet (Snappy and gzip), CSV and NDJSON; and a leak test:
//! sampled values appear nowhere in the output, the report or the logs.

#[path = "support/planted.rs"]
mod planted;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use planted::{Rng, luhn_digit};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use support::{Run, all_text, classified, root_uri, scan, stderr, surveyor};

const ROWS: usize = 200;

fn iban(country: &str, bban: &str) -> String {
    let numeric: String = format!("{bban}{country}00")
        .chars()
        .map(|c| if c.is_ascii_digit() { c.to_string() } else { (c as u32 - 'A' as u32 + 10).to_string() })
        .collect();
    let rem = numeric.chars().fold(0u32, |r, c| (r * 10 + c.to_digit(10).unwrap()) % 97);
    format!("{country}{:02}{bban}", 98 - rem)
}

/// Columns of the generated table: name, values (None for null), and the
/// classification expected (None for a decoy).
type Table = Vec<(&'static str, Vec<Option<String>>, Option<&'static str>)>;

fn table(seed: u64, sentinel: Option<&str>) -> Table {
    let mut r = Rng(seed);
    let first = ["James", "Mary", "Robert", "Linda", "Ada", "Alan", "Grace", "Wei", "Priya", "Carlos"];
    let last = ["Smith", "Garcia", "Nguyen", "Lovelace", "Turing", "Hopper", "Kim", "Patel", "Silva", "Weber"];
    let cities = ["Springfield", "Lyon", "Osaka", "Toronto", "Porto", "Leeds", "Dresden", "Nagoya", "Austin"];
    let countries = ["Germany", "France", "Japan", "Brazil", "Kenya", "Canada", "India", "Norway", "Chile"];
    let words = ["order", "shipped", "late", "call back", "refund", "ok", "see ticket", "priority", "gift"];
    let mut gen_col = |f: &mut dyn FnMut(&mut Rng, usize) -> Option<String>| -> Vec<Option<String>> {
        (0..ROWS).map(|i| f(&mut r, i)).collect()
    };
    let tag = |i: usize| sentinel.map(|s| format!("{s}{i}")).unwrap_or_else(|| format!("u{i}"));
    vec![
        (
            "email",
            gen_col(&mut |r, i| Some(format!("{}.{}@example{}.com", tag(i), r.below(1000), r.below(9)))),
            Some("MICROSOFT.PERSONAL.EMAIL"),
        ),
        (
            "card_valid",
            gen_col(&mut |r, _| {
                let body = format!("4{}", r.digits(14));
                Some(format!("{body}{}", luhn_digit(&body)))
            }),
            Some("MICROSOFT.FINANCIAL.CREDIT_CARD_NUMBER"),
        ),
        (
            "card_invalid",
            gen_col(&mut |r, _| {
                let body = format!("4{}", r.digits(14));
                Some(format!("{body}{}", (luhn_digit(&body) + 1 + r.below(8) as u32) % 10))
            }),
            None,
        ),
        (
            "ssn",
            gen_col(&mut |r, _| {
                Some(format!("{:03}-{:02}-{:04}", 1 + r.below(665), 1 + r.below(98), 1 + r.below(9998)))
            }),
            Some("MICROSOFT.GOVERNMENT.US.SOCIAL_SECURITY_NUMBER"),
        ),
        (
            "phone_us",
            gen_col(&mut |r, _| {
                Some(format!("({}{}) {}{}-{}", 2 + r.below(8), r.digits(2), 2 + r.below(8), r.digits(2), r.digits(4)))
            }),
            Some("MICROSOFT.PERSONAL.US.PHONE_NUMBER"),
        ),
        (
            "phone_intl",
            gen_col(&mut |r, i| {
                Some(if i.is_multiple_of(2) {
                    format!("+44 20 {} {}", r.digits(4), r.digits(4))
                } else {
                    format!("+49 30 {}", r.digits(7))
                })
            }),
            Some("SURVEYOR.PERSONAL.INTERNATIONAL_PHONE_NUMBER"),
        ),
        (
            "iban",
            gen_col(&mut |r, i| {
                Some(if i.is_multiple_of(2) {
                    iban("DE", &r.digits(18))
                } else {
                    iban("GB", &format!("WEST{}", r.digits(14)))
                })
            }),
            Some("MICROSOFT.FINANCIAL.INTERNATIONAL_BANKING_ACCOUNT_NUMBER"),
        ),
        (
            "client_ip",
            gen_col(&mut |r, i| {
                Some(if i.is_multiple_of(3) {
                    format!("2001:db8:{:x}::{:x}", r.below(65536), r.below(65536))
                } else {
                    format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256))
                })
            }),
            Some("MICROSOFT.PERSONAL.IPADDRESS"),
        ),
        (
            "id",
            gen_col(&mut |r, _| {
                Some(format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    r.next() as u32,
                    r.below(1 << 16),
                    r.below(1 << 12),
                    r.below(1 << 12),
                    r.next() & 0xffff_ffff_ffff
                ))
            }),
            Some("SURVEYOR.MISCELLANEOUS.GUID"),
        ),
        (
            "full_name",
            gen_col(&mut |r, _| Some(format!("{} {}", r.pick(&first), r.pick(&last)))),
            Some("MICROSOFT.PERSONAL.NAME"),
        ),
        (
            "website",
            gen_col(&mut |r, _| Some(format!("https://shop{}.example.com/p/{}", r.below(50), r.below(9999)))),
            Some("SURVEYOR.MISCELLANEOUS.URL"),
        ),
        (
            "country",
            gen_col(&mut |r, _| Some(r.pick(&countries).to_string())),
            Some("MICROSOFT.MISCELLANEOUS.COUNTRY_OR_REGION"),
        ),
        ("city", gen_col(&mut |r, _| Some(r.pick(&cities).to_string())), None),
        (
            "notes",
            gen_col(&mut |r, i| {
                Some(if i.is_multiple_of(10) {
                    format!("{} mail {}.{}@example.com", r.pick(&words), tag(i), r.below(99))
                } else {
                    format!("{} {}", r.pick(&words), r.pick(&words))
                })
            }),
            None,
        ),
        ("random16", gen_col(&mut |r, _| Some(format!("{}{}", 1 + r.below(9), r.digits(15)))), None),
        ("empty", vec![None; ROWS], None),
    ]
}

fn write_parquet(path: &Path, t: &Table, compression: Compression) {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, values, _) in t {
        if *name == "random16" {
            // A number column in Parquet, as such identifiers usually are.
            fields.push(Field::new(*name, DataType::Int64, false));
            arrays.push(Arc::new(Int64Array::from_iter_values(
                values.iter().map(|v| v.as_ref().unwrap().parse::<i64>().unwrap()),
            )));
        } else {
            fields.push(Field::new(*name, DataType::Utf8, true));
            arrays.push(Arc::new(StringArray::from(values.clone())));
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let props = WriterProperties::builder().set_compression(compression).build();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn write_csv(path: &Path, t: &Table) {
    let mut text = t.iter().map(|c| c.0).collect::<Vec<_>>().join(",") + "\n";
    for row in 0..ROWS {
        let fields: Vec<String> = t.iter().map(|c| c.1[row].clone().unwrap_or_default()).collect();
        text += &fields
            .iter()
            .map(|f| if f.contains(',') { format!("\"{f}\"") } else { f.clone() })
            .collect::<Vec<_>>()
            .join(",");
        text += "\n";
    }
    std::fs::write(path, text).unwrap();
}

fn write_ndjson(path: &Path, t: &Table) {
    let mut text = String::new();
    for row in 0..ROWS {
        let mut object = serde_json::Map::new();
        for (name, values, _) in t {
            object.insert(name.to_string(), values[row].clone().map(Value::String).unwrap_or(Value::Null));
        }
        text += &Value::Object(object).to_string();
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn planted_columns_are_classified_in_every_format_and_decoys_are_not() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let t = table(0x5eed_1234_abcd_0001, None);
    let files = [
        "parquet/snappy/customers.parquet",
        "parquet/gzip/customers.parquet",
        "parquet/zstd/customers.parquet",
        "csv/customers.csv",
        "ndjson/customers.ndjson",
    ];
    for f in files {
        std::fs::create_dir_all(lake.path().join(f).parent().unwrap()).unwrap();
    }
    write_parquet(&lake.path().join(files[0]), &t, Compression::SNAPPY);
    write_parquet(&lake.path().join(files[1]), &t, Compression::GZIP(GzipLevel::default()));
    write_parquet(&lake.path().join(files[2]), &t, Compression::ZSTD(ZstdLevel::default()));
    write_csv(&lake.path().join(files[3]), &t);
    write_ndjson(&lake.path().join(files[4]), &t);

    let (output, report) = scan(lake.path(), out.path(), &["--classify"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["status"], "succeeded", "{report}");
    let run = Run::latest(out.path());
    let root = root_uri(lake.path());

    let (mut true_positive, mut assigned, mut planted) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for f in files {
        let got = classified(&run, &format!("{root}/{f}"));
        assert_eq!(got.len(), t.len(), "{f}: every column is in the output: {got:?}");
        for (name, _, expected) in &t {
            let labels = &got[*name];
            assigned += labels.len();
            if let Some(expected) = expected {
                planted += 1;
                if labels.contains(*expected) {
                    true_positive += 1;
                } else {
                    misses.push(format!("{f}: {name} not {expected} ({labels:?})"));
                }
            } else {
                assert!(labels.is_empty(), "{f}: decoy {name} classified as {labels:?}");
            }
        }
    }
    let precision = true_positive as f64 / assigned as f64;
    let recall = true_positive as f64 / planted as f64;
    eprintln!("precision {precision:.3} recall {recall:.3} ({true_positive}/{assigned} assigned, {planted} planted)");
    assert!(precision >= 0.95, "precision {precision}: {assigned} labels assigned, {true_positive} right");
    assert!(recall >= 0.95, "recall {recall}: missed {misses:?}");

    // The share is an attribute of each classification; the file rolls its columns' classifications up.
    let names = run.by_name();
    let file = names[&format!("{root}/{}", files[0])];
    let rolled: BTreeSet<&str> =
        file["classifications"].as_array().unwrap().iter().map(|c| c["typeName"].as_str().unwrap()).collect();
    assert!(rolled.contains("MICROSOFT.PERSONAL.EMAIL") && rolled.contains("MICROSOFT.FINANCIAL.CREDIT_CARD_NUMBER"));
    let email = names[&format!("{root}/{}#__tabular_schema//email", files[0])];
    assert_eq!(email["classifications"][0]["attributes"]["share"], 1.0);
    assert!(email["customAttributes"].get("surveyor:classifications").is_none(), "the carrier attribute stays inside");

    // The report counts classified columns per classification (5 files with one email column each).
    assert_eq!(report["classifications"]["MICROSOFT.PERSONAL.EMAIL"], 5, "{}", report["classifications"]);
    // typedefs.json declares every classification used.
    let typedefs: Value = serde_json::from_slice(&std::fs::read(run.dir.join("typedefs.json")).unwrap()).unwrap();
    let declared: BTreeSet<&str> =
        typedefs["classificationDefs"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    for name in report["classifications"].as_object().unwrap().keys() {
        assert!(declared.contains(name.as_str()), "{name} not declared in typedefs.json");
    }

    // Without --classify nothing is sampled: no classifications at all.
    let plain = tempfile::tempdir().unwrap();
    let (output, report) = scan(lake.path(), plain.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(report.get("classifications").is_none());
    assert!(Run::latest(plain.path()).entities().all(|e| e.get("classifications").is_none()));
}

#[test]
fn a_resource_set_aggregates_its_members_and_custom_rules_apply() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = lake.path().join("events");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..3u64 {
        let t = table(0xabc0 + i, None);
        write_parquet(&dir.join(format!("part-0000{i}.snappy.parquet")), &t, Compression::SNAPPY);
    }
    let rules = lake.path().join("rules.toml");
    std::fs::write(
        &rules,
        "exclude = [\"SURVEYOR.MISCELLANEOUS.URL\"]\n\n[[rules]]\nname = \"CONTOSO.SHOP_LINK\"\nvalue = '^https://shop[0-9]+\\.example\\.com/'\nmin_share = 0.9\n",
    )
    .unwrap();
    let rules_arg = rules.to_str().unwrap();
    let (output, report) = scan(lake.path(), out.path(), &["--classify-rules", rules_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["counts"]["resourceSets"], 1);
    let run = Run::latest(out.path());
    let set = run.entities().find(|e| e["typeName"] == "fs_resource_set").expect("a resource set");
    let set_qn = set["attributes"]["qualifiedName"].as_str().unwrap();
    let got = classified(&run, set_qn);
    assert!(got["email"].contains("MICROSOFT.PERSONAL.EMAIL"), "{got:?}");
    assert_eq!(got["website"], BTreeSet::from(["CONTOSO.SHOP_LINK".to_string()]), "URL excluded, custom rule applied");
    assert!(got["card_invalid"].is_empty() && got["empty"].is_empty());
    assert_eq!(report["classifications"]["MICROSOFT.PERSONAL.EMAIL"], 1, "the set's column, counted once");

    // A bad rules file is refused, naming the rule and the field.
    std::fs::write(&rules, "[[rules]]\nname = \"BAD\"\nvalue = \"(unclosed\"\n").unwrap();
    let output = surveyor()
        .arg("scan")
        .arg(lake.path())
        .arg("--out")
        .arg(out.path())
        .args(["--classify-rules", rules_arg])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("\"BAD\"") && err.contains("value: invalid regular expression"), "{err}");
}

#[test]
fn an_incremental_run_reads_every_file_again_when_classification_changes() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = lake.path().join("people.parquet");
    write_parquet(&file, &table(0x1c2, None), Compression::SNAPPY);
    // Written an hour ago: not "changed in the second the last run started".
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(hour_ago).unwrap();
    let qn = format!("{}/people.parquet", root_uri(lake.path()));
    let email = |report: &Value| {
        assert!(report["status"] == "succeeded", "{report}");
        classified(&Run::latest(out.path()), &qn)["email"].contains("MICROSOFT.PERSONAL.EMAIL")
    };
    let (_, report) = scan(lake.path(), out.path(), &["--incremental"]);
    assert!(!email(&report));
    // Nothing changed in the lake, but classification is now on: the file
    // is read again, else it would keep the last run's (missing) labels.
    let (_, report) = scan(lake.path(), out.path(), &["--incremental", "--classify"]);
    assert_eq!(report["counts"]["schemas"], 1, "{report}");
    assert!(email(&report));
    // The same settings again: unchanged, not read, and still classified.
    let (_, report) = scan(lake.path(), out.path(), &["--incremental", "--classify"]);
    assert_eq!(report["counts"]["schemas"], 0, "{report}");
    assert!(email(&report));
    // Other rules: read again, and the excluded classification is gone.
    let rules = lake.path().join("rules.toml");
    std::fs::write(&rules, "exclude = [\"MICROSOFT.PERSONAL.EMAIL\"]\n").unwrap();
    let (_, report) = scan(lake.path(), out.path(), &["--incremental", "--classify-rules", rules.to_str().unwrap()]);
    assert_eq!(report["counts"]["schemas"], 1, "{report}");
    assert!(!email(&report));
}

#[test]
fn sampled_values_never_leave_the_process() {
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sentinel = "zqxsentinel";
    let t = table(0x1ea7, Some(sentinel));
    write_parquet(&lake.path().join("people.parquet"), &t, Compression::SNAPPY);
    write_csv(&lake.path().join("people.csv"), &t);
    write_ndjson(&lake.path().join("people.ndjson"), &t);
    // Values that are nothing but the sentinel, in a column of their own.
    std::fs::write(lake.path().join("secrets.csv"), format!("token\n{sentinel}-a\n{sentinel}-b\n{sentinel}-c\n"))
        .unwrap();

    let output = surveyor()
        .arg("-vvv")
        .arg("scan")
        .arg(lake.path())
        .arg("--out")
        .arg(out.path())
        .args(["--json", "--no-progress", "--classify"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["classifications"]["MICROSOFT.PERSONAL.EMAIL"].as_u64() >= Some(3), "values were sampled: {report}");
    let logs = stderr(&output);
    assert!(logs.contains("TRACE"), "-vvv logs at trace level: {logs}");
    let mut everything = String::new();
    all_text(out.path(), &mut everything);
    everything.push_str(&String::from_utf8_lossy(&output.stdout));
    everything.push_str(&logs);
    assert_eq!(everything.matches(sentinel).count(), 0, "a sampled value left the process");
}

/// Scans `files` (name, content) with `--classify` and the test connector
/// `wasm` in the plugins folder; the run must succeed. Its report, its run
/// and the lake's root URI.
fn classify_with_plugin(wasm: &str, files: &[(&str, &str)]) -> (Value, Run, String) {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(Path::new(surveyor_engine::BUILD_OUT_DIR).join(wasm), plugins.path().join(wasm)).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(lake.path().join(name), content).unwrap();
    }
    let output = surveyor()
        .env("SURVEYOR_PLUGINS_DIR", plugins.path())
        .arg("scan")
        .arg(lake.path())
        .arg("--out")
        .arg(out.path())
        .args(["--json", "--no-progress", "--classify"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "succeeded", "{report}");
    (report, Run::latest(out.path()), root_uri(lake.path()))
}

#[test]
fn a_connector_built_against_contract_0_1_0_still_loads_and_gives_no_samples() {
    let csv = "email,n\nada@example.com,1\nalan@example.org,2\ngrace@example.net,3\n";
    let (report, run, root) =
        classify_with_plugin("legacy-format.wasm", &[("people.legacy", "email\ncontact\n"), ("people.csv", csv)]);
    assert!(report["plugins"].as_array().unwrap().iter().any(|p| p["name"] == "legacy"), "{report}");
    let legacy = classified(&run, &format!("{root}/people.legacy"));
    assert_eq!(legacy.keys().collect::<Vec<_>>(), ["contact", "email"], "the 0.1.0 connector read the schema");
    assert!(legacy.values().all(BTreeSet::is_empty), "no samples, no classifications: {legacy:?}");
    let csv = classified(&run, &format!("{root}/people.csv"));
    assert!(csv["email"].contains("MICROSOFT.PERSONAL.EMAIL"), "{csv:?}");
}

/// A Parquet file with columns no system classification can match by value
/// (a boolean, a fractional decimal, a date not named for a birth), next to
/// ones it can (an e-mail, a date of birth).
fn write_mixed_types(path: &Path) {
    use arrow_array::{BooleanArray, Date32Array, Decimal128Array};
    let rows = 40;
    // Birth dates from 1950 on, every 200 days or so.
    let births = Date32Array::from_iter_values((0..rows).map(|i| -7305 + 197 * i));
    let amount = Decimal128Array::from_iter_values((0..rows).map(|i| 1999 + i128::from(i)))
        .with_precision_and_scale(10, 2)
        .unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        ("active", Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 3 > 0)))) as ArrayRef),
        ("created", Arc::new(Date32Array::from_iter_values((0..rows).map(|i| 19_000 + i))) as ArrayRef),
        ("birth_date", Arc::new(births) as ArrayRef),
        ("amount", Arc::new(amount) as ArrayRef),
        ("email", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("u{i}@example.com")))) as ArrayRef),
    ])
    .unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// With system classifications alone, the sandboxed Parquet connector
/// (contract 0.1.4) leaves undecoded the columns none of them could match;
/// the labels are those of sampling every column, and a custom rule, which
/// may match anything, gets every column sampled.
#[test]
fn only_the_columns_a_rule_set_can_classify_are_sampled() {
    use surveyor_engine::classify::{ClassificationConfig, Classifier};
    use surveyor_engine::host::bindings::sampling::exports::surveyor::connector::format_sampler::SampleLimits;
    use surveyor_engine::host::{Limits, Registry, Runtime, RuntimeOptions};
    use surveyor_engine::storage::{MemoryStorage, Storage};
    let lake = tempfile::tempdir().unwrap();
    let file = lake.path().join("customers.parquet");
    write_mixed_types(&file);

    // The sandboxed connector, as a scan calls it.
    let bytes = std::fs::read(&file).unwrap();
    let size = bytes.len() as u64;
    let mut memory = MemoryStorage::new();
    memory.insert("customers.parquet", bytes.clone());
    let storage: Arc<dyn Storage> = Arc::new(memory);
    let runtime = Runtime::new(RuntimeOptions { cache_dir: None }).unwrap();
    let registry = Registry::load(&runtime, None);
    let parquet = registry.get("parquet").expect("the built-in parquet connector");
    let mut instance = parquet.format_instance(&runtime, Limits::format(), None).unwrap();
    let classifier = Classifier::new(&ClassificationConfig::default()).unwrap();
    let mut sampled_paths = |selection: &surveyor_sdk::Selection| {
        let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
        let mut tail = bytes.clone();
        let (sampled, _) = instance.read_sample(&storage, "customers.parquet", size, &mut tail, "", limits, selection);
        let sampled = sampled.unwrap();
        assert_eq!(sampled.schema.columns.len(), 5);
        sampled.samples.iter().map(|s| s.path.join(".")).collect::<Vec<_>>()
    };
    assert_eq!(sampled_paths(classifier.selection(false)), ["birth_date", "email"]);
    assert_eq!(sampled_paths(classifier.selection(true)), ["active", "created", "birth_date", "amount", "email"]);

    // End to end: the date of birth is still found.
    let out = tempfile::tempdir().unwrap();
    let (output, _) = scan(lake.path(), out.path(), &["--classify"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let qn = format!("{}/customers.parquet", root_uri(lake.path()));
    let got = classified(&Run::latest(out.path()), &qn);
    assert_eq!(got["birth_date"], BTreeSet::from(["MICROSOFT.PERSONAL.DATE_OF_BIRTH".to_string()]), "{got:?}");
    assert_eq!(got["email"], BTreeSet::from(["MICROSOFT.PERSONAL.EMAIL".to_string()]), "{got:?}");
    assert!(["active", "created", "amount"].iter().all(|c| got[*c].is_empty()), "{got:?}");

    // A custom rule on booleans: every column is sampled, and it applies.
    let rules = lake.path().join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nname = \"CONTOSO.FLAG\"\nvalue = '^(true|false)$'\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let (output, _) = scan(lake.path(), out.path(), &["--classify-rules", rules.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let got = classified(&Run::latest(out.path()), &qn);
    assert_eq!(got["active"], BTreeSet::from(["CONTOSO.FLAG".to_string()]), "{got:?}");
    assert!(got["birth_date"].contains("MICROSOFT.PERSONAL.DATE_OF_BIRTH"), "{got:?}");
}

/// Contract 0.1.3 hands samples over packed (`packed-sampler`); a connector
/// built against 0.1.2 has only `format-sampler`, and its samples count the same.
#[test]
fn a_sampler_built_against_contract_0_1_2_is_still_classified() {
    let file = "email: ada@example.com, alan@example.org, grace@example.net\nnote: tea, coffee, water\n";
    let (_, run, root) = classify_with_plugin("legacy-sampler.wasm", &[("people.sampled", file)]);
    let people = classified(&run, &format!("{root}/people.sampled"));
    assert_eq!(people["email"], BTreeSet::from(["MICROSOFT.PERSONAL.EMAIL".to_string()]), "{people:?}");
    assert!(people["note"].is_empty(), "{people:?}");
}

#[test]
fn the_service_classifies_by_its_rule_set_and_keeps_no_value() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let sentinel = "qvwsentinel";
    write_parquet(&lake.join("people.parquet"), &table(0x5e41, Some(sentinel)), Compression::SNAPPY);
    let staff: String = (0..40).map(|i| format!("E-{:06}\n", 100_000 + 7 * i)).collect();
    std::fs::write(lake.join("staff.csv"), format!("staff\n{staff}")).unwrap();
    // Written an hour ago, so that incremental runs see them unchanged.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for file in ["people.parquet", "staff.csv"] {
        std::fs::File::options().write(true).open(lake.join(file)).unwrap().set_modified(hour_ago).unwrap();
    }
    let data = tmp.path().join("data");
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let mut cmd = surveyor();
    cmd.env("SURVEYOR_PLUGINS_DIR", &plugins)
        .env("RUST_LOG", "info,surveyor=trace,surveyor_engine=trace,surveyor_service=trace")
        .args(["serve", "--listen", "127.0.0.1:0", "--grace-period", "5", "--data-dir"])
        .arg(&data);
    let svc = serve::Service::spawn(cmd, &data);
    let source = json!({"name": "lake", "type": "local-folder", "connection": {"path": lake}, "config": {}});
    let (status, created) = svc.admin("POST", "/v1/sources", Some(source));
    assert_eq!(status, 201, "{created}");

    // A bad rule set is refused, naming the field.
    let bad = json!({"name": "bad", "source": "lake",
        "rule_set": {"classification": {"rules": [{"name": "X.Y", "column": "(["}]}}});
    let (status, e) = svc.admin("POST", "/v1/scans", Some(bad));
    assert_eq!(status, 400);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("rule_set.classification") && message.contains("column: invalid regular expression"),
        "{e}"
    );

    let scan = json!({"name": "pii", "source": "lake",
        "rule_set": {"classification": {"exclude": ["SURVEYOR.MISCELLANEOUS.GUID"]}}});
    let (status, created) = svc.admin("POST", "/v1/scans", Some(scan));
    assert_eq!(status, 201, "{created}");
    let (status, run) = svc.admin("POST", "/v1/scans/pii/runs", None);
    assert_eq!(status, 202, "{run}");
    let run = serve::poll_run(&svc, run["id"].as_str().unwrap());
    assert_eq!(run["state"], "succeeded", "{run}");
    let output = Run::read(Path::new(run["location"].as_str().unwrap()));
    let root = output.entities().find(|e| e["attributes"]["name"] == "people.parquet").unwrap();
    let qn = root["attributes"]["qualifiedName"].as_str().unwrap();
    let got = classified(&output, qn);
    assert!(got["email"].contains("MICROSOFT.PERSONAL.EMAIL"), "{got:?}");
    assert!(got["id"].is_empty(), "GUID excluded by the rule set: {got:?}");
    let staff_qn = qn.replace("people.parquet", "staff.csv");
    assert!(classified(&output, &staff_qn)["staff"].is_empty(), "no classifier plugin yet");

    // A classifier plugin dropped into the running service's plugins
    // folder is used by its next run, with no restart.
    let example = Path::new(surveyor_engine::BUILD_OUT_DIR).join("employee-id-classifier.wasm");
    std::fs::copy(example, plugins.join("employee-id.wasm")).unwrap();
    let (status, next) = svc.admin("POST", "/v1/scans/pii/runs", None);
    assert_eq!(status, 202, "{next}");
    let next = serve::poll_run(&svc, next["id"].as_str().unwrap());
    assert_eq!(next["state"], "succeeded", "{next}");
    let next_output = Run::read(Path::new(next["location"].as_str().unwrap()));
    let got = classified(&next_output, &staff_qn);
    assert_eq!(got["staff"], BTreeSet::from(["CONTOSO.EMPLOYEE_ID".to_string()]), "{got:?}");

    // An incremental scan: turning classification on reads the unchanged
    // files again; the same settings next time do not.
    let run_inc = |svc: &serve::Service| {
        let (status, run) = svc.admin("POST", "/v1/scans/inc/runs", None);
        assert_eq!(status, 202, "{run}");
        let run = serve::poll_run(svc, run["id"].as_str().unwrap());
        assert_eq!(run["state"], "succeeded", "{run}");
        let output = Run::read(Path::new(run["location"].as_str().unwrap()));
        (run["counts"]["schemas"].as_i64().unwrap(), !classified(&output, &staff_qn)["staff"].is_empty())
    };
    let mut inc = json!({"name": "inc", "source": "lake", "incremental": true});
    assert_eq!(svc.admin("POST", "/v1/scans", Some(inc.clone())).0, 201);
    assert_eq!(run_inc(&svc), (2, false));
    inc["rule_set"] = json!({"classification": {}});
    let (status, e) = svc.admin("PUT", "/v1/scans/inc", Some(inc));
    assert_eq!(status, 200, "{e}");
    assert_eq!(run_inc(&svc), (2, true), "classification turned on: every file read again");
    assert_eq!(run_inc(&svc), (0, true), "same settings: unchanged files keep their labels");

    // No sampled value in the API's answers, the output, the state database or the log.
    let mut everything = String::new();
    for path in ["/v1/runs", &format!("/v1/runs/{}", run["id"].as_str().unwrap()), "/v1/scans/pii"] {
        everything.push_str(&svc.admin("GET", path, None).1.to_string());
    }
    everything
        .push_str(&svc.admin("GET", &format!("/v1/runs/{}/assets", run["id"].as_str().unwrap()), None).1.to_string());
    all_text(&data, &mut everything);
    everything.push_str(&svc.log());
    assert!(svc.log().lines().count() > 5, "trace logs: {}", svc.log());
    assert_eq!(everything.matches(sentinel).count(), 0, "a sampled value left the process");
}
