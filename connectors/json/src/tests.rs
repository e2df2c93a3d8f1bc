use super::*;
use flate2::Compression as Level;
use flate2::write::GzEncoder;
use std::cell::Cell;
use std::io::Write;
use surveyor_sdk::testing::{MemoryFile, read_schema};
use surveyor_sdk::{Column, ErrorKind, LogLevel, Repetition};

/// A file that counts the bytes read through the host, besides the reads.
struct CountingFile {
    inner: MemoryFile,
    bytes_read: Cell<u64>,
}

impl FileReader for CountingFile {
    fn read_range(&self, offset: u64, length: u64) -> Result<Vec<u8>> {
        let bytes = self.inner.read_range(offset, length)?;
        self.bytes_read.set(self.bytes_read.get() + bytes.len() as u64);
        Ok(bytes)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
}

struct Run {
    result: Result<FileSchema>,
    reads: u64,
    bytes_read: u64,
}

/// Reads `bytes` as `path` with a JSON configuration and a 16-byte tail.
fn run_with(path: &str, bytes: &[u8], config: &str) -> Run {
    let file = CountingFile { inner: MemoryFile::new(bytes), bytes_read: Cell::new(0) };
    let input = file.inner.input(path, 16);
    let result =
        surveyor_sdk::parse_config::<Config>(config).and_then(|config| Json::read_schema(&input, &file, &config));
    Run { result, reads: file.inner.reads.get(), bytes_read: file.bytes_read.get() }
}

fn read_ok(path: &str, bytes: &[u8]) -> FileSchema {
    let (result, _) = read_schema::<Json>(path, bytes, 64 * 1024);
    result.unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read_with(path: &str, bytes: &[u8], config: &str) -> FileSchema {
    run_with(path, bytes, config).result.unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn error(path: &str, bytes: &[u8]) -> Error {
    let (result, _) = read_schema::<Json>(path, bytes, 64 * 1024);
    result.expect_err("must fail")
}

/// `path:data_type` of every column, in order (path joined with `.`).
fn types(schema: &FileSchema) -> Vec<String> {
    schema.columns.iter().map(|c| format!("{}:{}", c.path.join("."), c.data_type)).collect()
}

fn column<'a>(schema: &'a FileSchema, path: &str) -> &'a Column {
    schema
        .columns
        .iter()
        .find(|c| c.path.join(".") == path)
        .unwrap_or_else(|| panic!("no column {path} in {:?}", types(schema)))
}

fn attr<'a>(schema: &'a FileSchema, key: &str) -> &'a Value {
    &schema.attributes.iter().find(|a| a.key == key).unwrap_or_else(|| panic!("no attribute {key}")).value
}

fn text(value: &str) -> Value {
    Value::Text(value.into())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Level::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Deterministic pseudo-random numbers (xorshift64*), no dependency needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn record(i: usize) -> String {
    format!(
        r#"{{"id":{i},"name":"customer {i}","score":{}.5,"tags":["a","b"],"address":{{"city":"Paris","zip":"750{:02}"}},"at":"2024-01-02T03:04:05Z"}}"#,
        i % 100,
        i % 20
    )
}

/// NDJSON of `rows` records, about 140 bytes each.
fn big_ndjson(rows: usize) -> Vec<u8> {
    (0..rows).map(|i| record(i) + "\n").collect::<String>().into_bytes()
}

/// A pretty-printed top-level array of `rows` records.
fn big_array(rows: usize) -> Vec<u8> {
    let items: Vec<String> = (0..rows).map(|i| format!("  {}", record(i))).collect();
    format!("[\n{}\n]\n", items.join(",\n")).into_bytes()
}

const RECORD_TYPES: [&str; 7] = [
    "id:int64",
    "name:string",
    "score:float64",
    "tags:list<string>",
    "address:struct",
    "address.city:string",
    "address.zip:string",
];

#[test]
fn plugin_info_names_the_handled_extensions_and_a_valid_config_schema() {
    let info = Json::info();
    assert_eq!(info.name, "json");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.handles, ["json", "ndjson", "jsonl", "json.gz", "ndjson.gz", "jsonl.gz"]);
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for key in ["sample_bytes", "max_records", "max_columns", "max_depth", "detect_temporal"] {
        assert!(properties.contains_key(key), "{key} missing from the schema");
    }
}

#[test]
fn ndjson_records_are_merged_into_one_schema_in_first_seen_order() {
    let ndjson = b"{\"id\":1,\"name\":\"Ada\",\"ok\":true}\n\
        {\"id\":2,\"extra\":null,\"name\":\"Grace\",\"ok\":false,\"score\":1}\n\
        {\"name\":\"Alan\",\"id\":3,\"ok\":true,\"score\":2.5}\n";
    let schema = read_ok("people.ndjson", ndjson);
    assert_eq!(types(&schema), ["id:int64", "name:string", "ok:boolean", "extra:null", "score:float64"]);
    assert_eq!(attr(&schema, "layout"), &text("ndjson"));
    assert_eq!(attr(&schema, "format"), &text("json"));
    assert_eq!(attr(&schema, "compression"), &text("none"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(3));
    assert_eq!(attr(&schema, "sampledBytes"), &Value::Integer(ndjson.len() as i64));
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(true));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(0));
    let id = column(&schema, "id");
    assert_eq!(
        (id.physical_type.as_str(), id.repetition, id.nullable, id.ordinal),
        ("number", Repetition::Required, false, 0)
    );
    assert_eq!(column(&schema, "ok").physical_type, "boolean");
    let score = column(&schema, "score");
    assert_eq!(
        (score.repetition, score.nullable, score.ordinal),
        (Repetition::Optional, true, 4),
        "missing from the first record"
    );
    let extra = column(&schema, "extra");
    assert_eq!((extra.physical_type.as_str(), extra.nullable), ("null", true));
}

#[test]
fn nested_objects_become_nested_columns() {
    let ndjson = br#"{"id":1,"address":{"city":"Paris","geo":{"lat":48.8,"lon":2}}}
{"id":2,"address":{"city":"Oslo","zip":"0150","geo":{"lat":59.9,"lon":10.7}}}
"#;
    let schema = read_ok("n.jsonl", ndjson);
    assert_eq!(
        types(&schema),
        [
            "id:int64",
            "address:struct",
            "address.city:string",
            "address.geo:struct",
            "address.geo.lat:float64",
            "address.geo.lon:float64",
            "address.zip:string",
        ]
    );
    let city = column(&schema, "address.city");
    assert_eq!(city.path, ["address", "city"]);
    assert_eq!((city.ordinal, city.repetition), (0, Repetition::Required));
    assert_eq!(column(&schema, "address").physical_type, "object");
    assert_eq!(column(&schema, "address.geo").ordinal, 1);
    let zip = column(&schema, "address.zip");
    assert_eq!((zip.ordinal, zip.repetition), (2, Repetition::Optional));
}

#[test]
fn arrays_become_lists_of_the_merged_element_type() {
    let ndjson = br#"{"ints":[1,2],"nums":[1],"strs":["a"],"empty":[],"grid":[[1,2],[3]],"maybe":[1,null]}
{"ints":[3],"nums":[2.5],"strs":[],"empty":[],"grid":[],"maybe":[]}
"#;
    let schema = read_ok("l.ndjson", ndjson);
    assert_eq!(
        types(&schema),
        [
            "ints:list<int64>",
            "nums:list<float64>",
            "strs:list<string>",
            "empty:list<null>",
            "grid:list<list<int64>>",
            "maybe:list<int64>",
        ]
    );
    assert_eq!(column(&schema, "ints").physical_type, "array");
}

#[test]
fn arrays_of_objects_expose_their_element_fields() {
    let ndjson = br#"{"order":1,"items":[{"sku":"a","qty":1},{"sku":"b","qty":2,"note":"gift"}]}
{"order":2,"items":[{"sku":"c","qty":1.5}],"batches":[[{"n":1}]]}
"#;
    let schema = read_ok("orders.ndjson", ndjson);
    assert_eq!(
        types(&schema),
        [
            "order:int64",
            "items:list<struct>",
            "items.element.sku:string",
            "items.element.qty:float64",
            "items.element.note:string",
            "batches:list<list<struct>>",
            "batches.element.element.n:int64",
        ]
    );
    let sku = column(&schema, "items.element.sku");
    assert_eq!(sku.path, ["items", "element", "sku"]);
    assert_eq!(sku.repetition, Repetition::Required);
    assert_eq!(column(&schema, "items.element.note").repetition, Repetition::Optional);
}

#[test]
fn conflicting_kinds_become_json_with_a_mixed_physical_type() {
    let ndjson = br#"{"a":"text","b":1,"c":{"x":1},"d":[1],"e":null}
{"a":{"nested":true},"b":2.5,"c":null,"d":["s",2],"e":true}
"#;
    let schema = read_ok("m.ndjson", ndjson);
    assert_eq!(types(&schema), ["a:json", "b:float64", "c:struct", "c.x:int64", "d:list<json>", "e:boolean"]);
    let a = column(&schema, "a");
    assert_eq!(a.physical_type, "mixed");
    assert!(
        a.attributes
            .iter()
            .any(|x| x.key == "kinds" && x.value == Value::Texts(vec!["string".into(), "object".into()])),
        "{:?}",
        a.attributes
    );
    // Nulls make a field nullable, never mixed.
    let c = column(&schema, "c");
    assert_eq!((c.physical_type.as_str(), c.nullable), ("object", true));
    assert_eq!(column(&schema, "e").repetition, Repetition::Optional);
}

#[test]
fn iso_strings_are_detected_as_dates_and_timestamps() {
    let ndjson = br#"{"day":"2024-01-02","at":"2024-01-02T03:04:05Z","local":"2024-01-02 03:04:05","when":"2024-01-02","t":"10:00:00","s":"2024-01-02"}
{"day":"2024-02-29","at":"2024-01-02T03:04:05.123+01:00","local":"2024-01-02T03:04","when":"2024-01-02T00:00:00","t":"23:59:59.999","s":"soon"}
"#;
    let schema = read_ok("t.ndjson", ndjson);
    assert_eq!(
        types(&schema),
        ["day:date", "at:timestamp[us, UTC]", "local:timestamp[us]", "when:timestamp[us]", "t:time[us]", "s:string"]
    );
    assert_eq!(column(&schema, "day").physical_type, "string");
    let plain = read_with("t.ndjson", ndjson, r#"{"detect_temporal": false}"#);
    assert!(plain.columns.iter().all(|c| c.data_type == "string"));
}

#[test]
fn large_integers_beyond_int64_are_float64() {
    let schema = read_ok("b.ndjson", b"{\"n\":1}\n{\"n\":18446744073709551615}\n");
    assert_eq!(types(&schema), ["n:float64"]);
}

#[test]
fn repeated_keys_in_one_object_merge_into_one_column() {
    let schema = read_ok("d.json", br#"{"a":1,"a":2.5}"#);
    assert_eq!(types(&schema), ["a:float64"]);
}

#[test]
fn a_top_level_array_of_objects_is_detected() {
    let json = b"[\n  {\"id\": 1, \"name\": \"Ada\"},\n  {\"id\": 2, \"name\": null}\n]\n";
    let schema = read_ok("a.json", json);
    assert_eq!(attr(&schema, "layout"), &text("array"));
    assert_eq!(types(&schema), ["id:int64", "name:string"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert!(column(&schema, "name").nullable);
    assert!(!column(&schema, "id").nullable);
}

#[test]
fn a_json_array_cut_at_the_sample_boundary_keeps_complete_records() {
    // The second element's "score" is an integer; the cut one would have
    // made it mixed with a string.
    let json = br#"[{"id":1,"score":1},{"id":2,"score":2},{"id":3,"score":"three"}]"#;
    let cut = json.len() - 10;
    let schema = read_with("cut.json", json, &format!(r#"{{"sample_bytes": {cut}}}"#));
    assert_eq!(attr(&schema, "layout"), &text("array"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(false));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(0));
    assert_eq!(types(&schema), ["id:int64", "score:int64"]);

    // The same pretty-printed, cut inside a nested string.
    let pretty = big_array(50);
    let schema = read_with("big.json", &pretty, r#"{"sample_bytes": 1000}"#);
    assert_eq!(attr(&schema, "layout"), &text("array"));
    let n = attr(&schema, "sampledRecords").as_integer().unwrap();
    assert!((5..=7).contains(&n), "{n} records in 1000 bytes");
    let expected: Vec<&str> = RECORD_TYPES.iter().copied().chain(["at:timestamp[us, UTC]"]).collect();
    assert_eq!(types(&schema), expected);
}

#[test]
fn a_json_array_missing_its_closing_bracket_keeps_its_last_element() {
    let schema = read_ok("open.json", br#"[{"a":1},{"a":2}"#);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(0));
}

#[test]
fn invalid_array_elements_are_skipped_and_counted() {
    // A trailing comma before the closing bracket is tolerated.
    let schema = read_ok("bad.json", br#"[{"a":1}, {"a":}, {"a":2}, nope, ]"#);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(2));
    assert_eq!(types(&schema), ["a:int64"]);
}

#[test]
fn a_single_top_level_object_is_one_record() {
    let json = b"{\n  \"name\": \"config\",\n  \"version\": 3,\n  \"servers\": [\n    {\"host\": \"a\", \"port\": 80}\n  ]\n}\n";
    let schema = read_ok("config.json", json);
    assert_eq!(attr(&schema, "layout"), &text("object"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(1));
    assert_eq!(
        types(&schema),
        [
            "name:string",
            "version:int64",
            "servers:list<struct>",
            "servers.element.host:string",
            "servers.element.port:int64"
        ]
    );
    assert!(schema.attributes.iter().all(|a| a.key != "truncatedRecord"));
}

#[test]
fn a_single_object_larger_than_the_sample_is_closed_at_the_cut() {
    let items: Vec<String> = (0..2000).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    let json = format!(r#"{{"kind":"export","count":2000,"data":[{}],"after":true}}"#, items.join(","));
    let schema = read_with("huge.json", json.as_bytes(), r#"{"sample_bytes": 4096}"#);
    assert_eq!(attr(&schema, "layout"), &text("object"));
    assert_eq!(attr(&schema, "truncatedRecord"), &Value::Boolean(true));
    assert_eq!(types(&schema), ["kind:string", "count:int64", "data:list<struct>", "data.element.n:int64"]);
    // A huge first NDJSON line is closed the same way.
    let schema = read_with("huge.ndjson", json.as_bytes(), r#"{"sample_bytes": 4096}"#);
    assert_eq!(attr(&schema, "layout"), &text("ndjson"));
    assert_eq!(attr(&schema, "truncatedRecord"), &Value::Boolean(true));
    assert_eq!(types(&schema)[2], "data:list<struct>");
}

#[test]
fn ndjson_files_read_one_value_per_line_even_when_lines_are_arrays() {
    let schema = read_ok("rows.jsonl", b"[1,2]\n[3,4.5]\n");
    assert_eq!(attr(&schema, "layout"), &text("ndjson"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(types(&schema), ["value:list<float64>"]);
    // In a .json file, arrays one after another are NDJSON too.
    let schema = read_ok("rows.json", b"[1,2]\n[3]\n");
    assert_eq!(attr(&schema, "layout"), &text("ndjson"));
}

#[test]
fn objects_one_after_another_in_a_json_file_are_ndjson() {
    let json = b"{\"a\": 1,\n \"b\": 2}\n{\"a\": 3,\n \"b\": 4}\n";
    let schema = read_ok("multi.json", json);
    assert_eq!(attr(&schema, "layout"), &text("ndjson"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(types(&schema), ["a:int64", "b:int64"]);
}

#[test]
fn scalar_records_are_one_value_column() {
    let schema = read_ok("s.ndjson", b"1\n2\nnull\n");
    assert_eq!(types(&schema), ["value:int64"]);
    assert!(column(&schema, "value").nullable);
}

#[test]
fn an_empty_array_has_no_columns() {
    let schema = read_ok("e.json", b"[ ]");
    assert!(schema.columns.is_empty());
    assert_eq!(attr(&schema, "layout"), &text("array"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(0));
}

#[test]
fn invalid_lines_are_skipped_and_counted() {
    // The invalid line's first field never reaches the schema.
    let ndjson = b"{\"a\":1}\n{\"zzz\": 1, oops}\nnot json at all\n{\"a\":2}\n";
    let schema = read_ok("i.ndjson", ndjson);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(2));
    assert_eq!(types(&schema), ["a:int64"]);
    // At the end of the file, a cut last line is invalid.
    let schema = read_ok("i.ndjson", b"{\"a\":1}\n{\"a\":2");
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(1));
}

#[test]
fn an_incomplete_last_line_of_the_sample_is_ignored() {
    let ndjson = b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n{\"a\":3.5,\"b\":{\"c\":1}}\n";
    let cut = ndjson.len() - 8;
    let schema = read_with("c.ndjson", ndjson, &format!(r#"{{"sample_bytes": {cut}}}"#));
    assert_eq!(types(&schema), ["a:int64", "b:string"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(0));
    // A number cut by the sample ("12" of "12.5") is not a record either.
    let scalars = b"1\n2\n12.5\n";
    let schema = read_with("n.ndjson", scalars, r#"{"sample_bytes": 6}"#);
    assert_eq!(types(&schema), ["value:int64"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
}

#[test]
fn small_files_are_read_from_the_tail_without_extra_reads() {
    let (result, reads) = read_schema::<Json>("s.json", br#"{"a":1}"#, 64 * 1024);
    assert!(result.is_ok());
    assert_eq!(reads, 0);
}

#[test]
fn only_the_sample_is_read_from_a_large_file() {
    let bytes = big_ndjson(40_000); // ~6 MB
    assert!(bytes.len() > 5 << 20);
    let sample = 256 * 1024;
    let run = run_with("big.ndjson", &bytes, &format!(r#"{{"sample_bytes": {sample}, "max_records": 1000000}}"#));
    let schema = run.result.unwrap();
    assert!(run.bytes_read <= sample, "read {} bytes", run.bytes_read);
    assert!(run.reads <= 4, "{} reads: chunks grow", run.reads);
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(false));
    assert_eq!(attr(&schema, "sampledBytes"), &Value::Integer(sample as i64));
    assert_eq!(attr(&schema, "invalidRecords"), &Value::Integer(0));
    assert_eq!(&types(&schema)[..7], RECORD_TYPES);

    // With default limits, 1000 records are enough: far less than 1 MiB.
    let run = run_with("big.ndjson", &bytes, "");
    let schema = run.result.unwrap();
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(1000));
    assert!(run.bytes_read <= 448 * 1024, "read {} bytes", run.bytes_read);

    // A top-level array stops after max_records elements as well.
    let array = big_array(40_000);
    let run = run_with("big.json", &array, r#"{"max_records": 10}"#);
    let schema = run.result.unwrap();
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(10));
    assert!(run.bytes_read <= 64 * 1024, "read {} bytes", run.bytes_read);
}

#[test]
fn gzip_files_are_inflated_incrementally() {
    let plain = big_ndjson(80_000); // ~12 MB decompressed
    let gz = gzip(&plain);
    let sample = 512 * 1024;
    let run = run_with("big.ndjson.gz", &gz, &format!(r#"{{"sample_bytes": {sample}, "max_records": 1000000}}"#));
    let schema = run.result.unwrap();
    assert_eq!(attr(&schema, "compression"), &text("gzip"));
    assert_eq!(attr(&schema, "sampledBytes"), &Value::Integer(sample as i64));
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(false));
    assert!(run.bytes_read < gz.len() as u64 / 2, "read {} of {} compressed bytes", run.bytes_read, gz.len());
    assert!(run.bytes_read <= 4 * sample);
    assert_eq!(&types(&schema)[..7], RECORD_TYPES);

    let array = read_ok("a.json.gz", &gzip(br#"[{"x":1},{"x":2}]"#));
    assert_eq!(attr(&array, "layout"), &text("array"));
    assert_eq!(attr(&array, "sampleComplete"), &Value::Boolean(true));
    assert_eq!(types(&array), ["x:int64"]);
    // Gzip is recognised by its magic bytes, whatever the name says.
    let named_plain = read_ok("a.json", &gzip(br#"{"x":1}"#));
    assert_eq!(attr(&named_plain, "compression"), &text("gzip"));
}

#[test]
fn corrupt_gzip_is_malformed_input_naming_the_file() {
    let gz = gzip(&big_ndjson(1000));
    let mut corrupt = gz.clone();
    for b in &mut corrupt[20..60] {
        *b ^= 0x5a;
    }
    let err = error("bad.json.gz", &corrupt);
    assert_eq!(err.kind, ErrorKind::MalformedInput, "{err}");
    assert_eq!(err.item.as_deref(), Some("bad.json.gz"));
    assert!(err.message.contains("gzip"), "{}", err.message);
    let err = error("cut.jsonl.gz", &gz[..gz.len() / 2]);
    assert!(err.message.contains("truncated gzip"), "{}", err.message);
}

#[test]
fn empty_and_binary_files_are_clear_errors() {
    let cases: [(&[u8], ErrorKind, &str); 7] = [
        (b"", ErrorKind::MalformedInput, "empty file"),
        (b" \n\t\n", ErrorKind::MalformedInput, "only whitespace"),
        (b"{\"a\":\x00}", ErrorKind::MalformedInput, "NUL byte"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ErrorKind::MalformedInput, "binary"),
        (b"\xfe\xff\x00{", ErrorKind::Unsupported, "UTF-16"),
        (b"hello world\n", ErrorKind::MalformedInput, "not JSON"),
        (b"PK\x03\x04zip", ErrorKind::Unsupported, "zip"),
    ];
    for (bytes, kind, needle) in cases {
        let err = error("x.json", bytes);
        assert_eq!(err.kind, kind, "{bytes:?}: {err}");
        assert!(err.message.contains(needle), "{bytes:?}: {}", err.message);
        assert_eq!(err.item.as_deref(), Some("x.json"));
    }
    assert!(error("e.json.gz", &gzip(b"")).message.contains("empty"));
    let cut = error("c.json", br#"{"a": [1, 2"#);
    assert!(cut.message.contains("not JSON"), "{}", cut.message);
}

#[test]
fn a_utf8_bom_is_skipped() {
    let schema = read_ok("bom.json", b"\xef\xbb\xbf{\"a\":1}");
    assert_eq!(types(&schema), ["a:int64"]);
    assert_eq!(attr(&schema, "layout"), &text("object"));
}

#[test]
fn the_schema_size_is_bounded_by_max_columns() {
    let members: Vec<String> = (0..100).map(|i| format!(r#""f{i}":{{"x":{i}}}"#)).collect();
    let json = format!("{{{}}}", members.join(","));
    let schema = read_with("wide.json", json.as_bytes(), r#"{"max_columns": 10}"#);
    assert!(schema.columns.len() <= 10, "{}", schema.columns.len());
    assert_eq!(attr(&schema, "truncatedColumns"), &Value::Boolean(true));
    assert_eq!(column(&schema, "f0.x").data_type, "int64");
}

#[test]
fn nesting_deeper_than_max_depth_is_typed_json() {
    let json = br#"{"a":{"b":{"c":{"d":1}}},"l":[[[1]]]}"#;
    let schema = read_with("deep.json", json, r#"{"max_depth": 2}"#);
    assert_eq!(types(&schema), ["a:struct", "a.b:json", "l:list<json>"]);
    assert_eq!(column(&schema, "a.b").physical_type, "object");
    assert_eq!(attr(&schema, "truncatedDepth"), &Value::Boolean(true));

    // Nesting far beyond the limit is skipped without recursion.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let schema = read_ok("deep.json", deep.as_bytes());
    let value = column(&schema, "value");
    assert!(value.data_type.starts_with("list<list<"), "{}", value.data_type);
    assert!(value.data_type.contains("<list<json>>"), "{}", value.data_type);
    assert_eq!(attr(&schema, "truncatedDepth"), &Value::Boolean(true));
    let deep = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let schema = read_ok("deep.ndjson", deep.as_bytes());
    assert_eq!(schema.columns.len(), 64, "down to the default max_depth");
}

#[test]
fn invalid_configuration_is_a_config_error() {
    for config in [
        r#"{"sample_bytes": 0}"#,
        r#"{"max_records": 0}"#,
        r#"{"max_depth": 0}"#,
        r#"{"max_depth": 101}"#,
        r#"{"sample_bytes": 1000000000000}"#,
        r#"{"layout": "array"}"#,
    ] {
        let err = run_with("c.json", b"{}", config).result.expect_err(config);
        assert_eq!(err.kind, ErrorKind::Config, "{config}: {err}");
    }
}

#[test]
fn a_cut_value_is_closed_where_it_was_last_well_formed() {
    let cases = [
        (r#"{"a": 1, "b": {"c": [1, 2, 3"#, r#"{"a": 1, "b": {"c": [1, 2]}}"#),
        (r#"{"a": "x,y", "b": "unterminated"#, r#"{"a": "x,y"}"#),
        (r#"{"a": {"#, r#"{"a": {}}"#),
        (r#"[{"a": 1}, {"b"#, r#"[{"a": 1}, {}]"#),
        (r#"[1, tru"#, r#"[1]"#),
        (r#"{"s": "}]\"", "t": 1"#, r#"{"s": "}]\""}"#),
    ];
    for (cut, closed) in cases {
        assert_eq!(scan::close_cut_value(cut).as_deref(), Some(closed), "{cut}");
    }
    assert_eq!(scan::close_cut_value(r#"{"a": 1}"#), None, "complete");
    assert_eq!(scan::close_cut_value(r#"{"a": 1]"#), None, "mismatched");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    let alphabet = b"{}[],:\"\\ \n0123456789.-+eEtrufalsn\xc3\xa9\xff";
    for round in 0..600 {
        let len = rng.below(300) as usize;
        let bytes: Vec<u8> = if round % 3 == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect()
        };
        let sample = 1 + rng.below(64);
        for path in ["f.json", "f.ndjson"] {
            for data in [bytes.clone(), gzip(&bytes)] {
                let _ = run_with(path, &data, "");
                let _ = run_with(path, &data, &format!(r#"{{"sample_bytes": {sample}}}"#));
            }
        }
        let mut gz = gzip(&bytes);
        let at = rng.below(gz.len() as u64) as usize;
        gz[at] ^= 1 + rng.next() as u8 % 255;
        let _ = run_with("g.json.gz", &gz, "");
        let _ = run_with("g.json.gz", &gz[..at], "");
    }
    // Mutations of valid JSON: cuts and flipped bytes at every position.
    let valid = big_array(3);
    for at in 0..valid.len() {
        let _ = run_with("m.json", &valid[..at], "");
        let mut flipped = valid.clone();
        flipped[at] = b"{}[],:\"\\"[at % 8];
        let _ = run_with("m.json", &flipped, "");
        let _ = run_with("m.json", &flipped, r#"{"sample_bytes": 100}"#);
    }
}

#[test]
fn samples_are_the_first_records_scalar_values() {
    use surveyor_sdk::SampleLimits;
    use surveyor_sdk::testing::read_sample;
    let mut text = String::new();
    for i in 0..200 {
        text += &format!(
            "{{\"email\":\"u{i}@example.com\",\"n\":{i},\"a\":{{\"city\":\"c{i}\"}},\"tags\":[1],\"z\":null}}\n"
        );
    }
    let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
    let sampled = read_sample::<Json>("t.ndjson", text.as_bytes(), 64 * 1024, limits).unwrap();
    let by_path = |p: &str| sampled.samples.iter().find(|s| s.path.join(".") == p);
    assert_eq!(by_path("email").unwrap().values().len(), 128);
    assert_eq!(by_path("n").unwrap().values()[3], "3");
    assert_eq!(by_path("a.city").unwrap().values()[0], "c0");
    assert!(by_path("tags").is_none(), "arrays are not sampled");
    assert_eq!(by_path("z").unwrap().nulls, 128);
}
