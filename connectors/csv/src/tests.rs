use super::*;
use flate2::Compression as Level;
use flate2::write::GzEncoder;
use std::cell::Cell;
use std::io::Write;
use surveyor_sdk::testing::{MemoryFile, read_schema};
use surveyor_sdk::{ErrorKind, LogLevel};

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
        surveyor_sdk::parse_config::<Config>(config).and_then(|config| Csv::read_schema(&input, &file, &config));
    Run { result, reads: file.inner.reads.get(), bytes_read: file.bytes_read.get() }
}

fn read_ok(path: &str, bytes: &[u8]) -> FileSchema {
    let (result, _) = read_schema::<Csv>(path, bytes, 64 * 1024);
    result.unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn schema_with(path: &str, bytes: &[u8], config: &str) -> FileSchema {
    run_with(path, bytes, config).result.unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn error(path: &str, bytes: &[u8]) -> Error {
    let (result, _) = read_schema::<Csv>(path, bytes, 64 * 1024);
    result.expect_err("must fail")
}

/// `name:data_type` of every column, in order.
fn types(schema: &FileSchema) -> Vec<String> {
    schema.columns.iter().map(|c| format!("{}:{}", c.name(), c.data_type)).collect()
}

fn column<'a>(schema: &'a FileSchema, name: &str) -> &'a Column {
    schema
        .columns
        .iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", types(schema)))
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

/// A CSV of `rows` rows, about 60 bytes each.
fn big_csv(rows: usize) -> Vec<u8> {
    let mut out = String::from("id,name,price,day,seen_at\n");
    for i in 0..rows {
        out.push_str(&format!(
            "{i},customer number {i},{}.{:02},2024-{:02}-{:02},2024-01-02T03:04:05Z\n",
            i % 1000,
            i % 100,
            i % 12 + 1,
            i % 28 + 1
        ));
    }
    out.into_bytes()
}

#[test]
fn plugin_info_names_the_handled_extensions_and_a_valid_config_schema() {
    let info = Csv::info();
    assert_eq!(info.name, "csv");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.handles, ["csv", "tsv", "csv.gz", "tsv.gz"]);
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for key in ["sample_bytes", "max_records", "delimiter", "quote", "has_header", "max_columns"] {
        assert!(properties.contains_key(key), "{key} missing from the schema");
    }
}

#[test]
fn header_row_is_detected_and_types_are_inferred() {
    let csv = b"id,name,price,active,born,updated_at,alarm\n\
        1,Ada,9.99,true,1815-12-10,2024-01-02T03:04:05,07:30:00\n\
        2,Grace,12,FALSE,1906-12-09,2024-01-02 03:04:05.123456,23:59:59.5\n";
    let schema = read_ok("people.csv", csv);
    assert_eq!(
        types(&schema),
        [
            "id:int64",
            "name:string",
            "price:float64",
            "active:boolean",
            "born:date",
            "updated_at:timestamp[us]",
            "alarm:time[us]"
        ]
    );
    assert_eq!(attr(&schema, "hasHeader"), &Value::Boolean(true));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "format"), &text("csv"));
    assert_eq!(attr(&schema, "compression"), &text("none"));
    assert_eq!(attr(&schema, "delimiter"), &text(","));
    assert_eq!(attr(&schema, "quote"), &text("\""));
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(true));
    assert_eq!(attr(&schema, "sampledBytes"), &Value::Integer(csv.len() as i64));
    let id = column(&schema, "id");
    assert_eq!((id.physical_type.as_str(), id.ordinal, id.nullable), ("text", 0, false));
    assert_eq!(id.repetition, Repetition::Required);
    assert_eq!(id.path, ["id"]);
    assert_eq!(column(&schema, "alarm").ordinal, 6);
}

#[test]
fn timestamps_with_an_offset_or_z_are_utc() {
    let csv = b"at,local,mixed\n\
        2024-01-02T03:04:05Z,2024-01-02T03:04,2024-01-02T03:04:05Z\n\
        2024-01-02T03:04:05.5+02:00,2024-01-02,2024-01-02T03:04:05\n\
        2024-01-02 03:04:05-0530,,\n";
    let schema = read_ok("t.csv", csv);
    assert_eq!(types(&schema), ["at:timestamp[us, UTC]", "local:timestamp[us]", "mixed:string"]);
}

#[test]
fn types_widen_on_conflict() {
    let csv = b"a,b,c,d,e,f\n\
        1,2024-01-01,1,true,x,\n\
        2.5,2024-01-01T10:00:00,2,1,1,\n\
        3,2024-01-03,abc,false,2,\n";
    let schema = read_ok("w.csv", csv);
    assert_eq!(types(&schema), ["a:float64", "b:timestamp[us]", "c:string", "d:string", "e:string", "f:null"]);
    assert!(column(&schema, "f").nullable);
}

#[test]
fn numbers_follow_strict_rules() {
    let csv = b"zip,big,sci,special,signed,thousands\n\
        00501,123456789012345678901234,1e10,NaN,+5,\"1,000\"\n\
        02134,1,-2.5E-3,-inf,-7,2\n";
    let schema = read_ok("n.csv", csv);
    assert_eq!(
        types(&schema),
        ["zip:string", "big:string", "sci:float64", "special:float64", "signed:int64", "thousands:string"]
    );
}

#[test]
fn empty_values_and_short_rows_make_columns_nullable() {
    let csv = b"a,b,c\n1,,x\n2,3,y\n4,5\n";
    let schema = read_ok("e.csv", csv);
    assert!(!column(&schema, "a").nullable);
    assert_eq!(column(&schema, "a").repetition, Repetition::Required);
    let b = column(&schema, "b");
    assert_eq!((b.data_type.as_str(), b.nullable), ("int64", true));
    assert_eq!(b.repetition, Repetition::Optional);
    assert!(column(&schema, "c").nullable, "missing in the short row");
    assert_eq!(attr(&schema, "raggedRecords"), &Value::Integer(1));
}

#[test]
fn null_tokens_count_as_empty() {
    let schema = read_ok("n.csv", b"a,b\n1,NULL\n\\N,2\nnull,3\n");
    assert_eq!(types(&schema), ["a:int64", "b:int64"]);
    assert!(column(&schema, "a").nullable && column(&schema, "b").nullable);
}

#[test]
fn ragged_rows_are_counted_not_fatal() {
    let csv = b"a,b\n1,2\n3,4,5,6\n7\n8,9\n";
    let schema = read_ok("r.csv", csv);
    assert_eq!(types(&schema), ["a:int64", "b:int64"]);
    assert_eq!(attr(&schema, "raggedRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(4));
}

#[test]
fn delimiter_is_detected_from_consistent_field_counts() {
    // Commas appear in the text but only semicolons split every row alike.
    let csv = "name;comment;amount\nAda;hello, world;1\nGrace;fine;2\nAlan;a, b, c;3\n";
    let schema = read_ok("semi.csv", csv.as_bytes());
    assert_eq!(attr(&schema, "delimiter"), &text(";"));
    assert_eq!(types(&schema), ["name:string", "comment:string", "amount:int64"]);

    let piped = schema_with("p.csv", b"a|b|c\n1|2|3\n4|5|6\n", "");
    assert_eq!(attr(&piped, "delimiter"), &text("|"));
    assert_eq!(piped.columns.len(), 3);

    let tabbed = schema_with("t.csv", b"a\tb\n1\t2\n", "");
    assert_eq!(attr(&tabbed, "delimiter"), &text("\t"));
}

#[test]
fn tsv_files_default_to_tab() {
    // Every row has one comma and one tab: the extension breaks the tie.
    let tsv = b"last, first\tage\nLovelace, Ada\t36\nHopper, Grace\t85\n";
    let schema = read_ok("people.tsv", tsv);
    assert_eq!(attr(&schema, "delimiter"), &text("\t"));
    assert_eq!(types(&schema), ["last, first:string", "age:int64"]);
    // A single-column TSV keeps its default delimiter.
    let single = read_ok("one.tsv", b"name\nAda\nGrace\n");
    assert_eq!(attr(&single, "delimiter"), &text("\t"));
    assert_eq!(types(&single), ["name:string"]);
}

#[test]
fn configured_delimiter_quote_and_header_override_detection() {
    let csv = b"a;b\n'x;y';2\n";
    let schema = schema_with("c.csv", csv, r#"{"delimiter": ";", "quote": "'", "has_header": false}"#);
    assert_eq!(attr(&schema, "hasHeader"), &Value::Boolean(false));
    assert_eq!(attr(&schema, "quote"), &text("'"));
    assert_eq!(types(&schema), ["column_1:string", "column_2:string"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));

    let tab = schema_with("c.csv", b"1\t2\n3\t4\n", r#"{"delimiter": "tab", "has_header": true}"#);
    assert_eq!(types(&tab), ["1:int64", "2:int64"]);
}

#[test]
fn invalid_configuration_is_a_config_error() {
    for config in [
        r#"{"delimiter": ",,"}"#,
        r#"{"delimiter": "\n"}"#,
        r#"{"quote": "é"}"#,
        r#"{"delimiter": "'", "quote": "'"}"#,
        r#"{"sample_bytes": 0}"#,
        r#"{"sample_bytes": 1000000000}"#,
        r#"{"max_records": 0}"#,
        r#"{"unknown_option": 1}"#,
    ] {
        let err = run_with("c.csv", b"a,b\n1,2\n", config).result.expect_err(config);
        assert_eq!(err.kind, ErrorKind::Config, "{config}: {err}");
    }
}

#[test]
fn quoted_fields_may_contain_delimiters_quotes_and_newlines() {
    let csv = b"id,quote,note\r\n\
        1,\"Hello, \"\"world\"\"\",\"line one\r\nline two\"\r\n\
        2,\"\",plain\r\n";
    let schema = read_ok("q.csv", csv);
    assert_eq!(types(&schema), ["id:int64", "quote:string", "note:string"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "raggedRecords"), &Value::Integer(0));

    let parsed = parse::parse(std::str::from_utf8(csv).unwrap(), Dialect { delimiter: b',', quote: b'"' }, true, 10);
    assert_eq!(parsed.records[1].get(1), Some("Hello, \"world\""));
    assert_eq!(parsed.records[1].get(2), Some("line one\r\nline two"));
    assert_eq!(parsed.records[2].get(1), Some(""));
    assert_eq!(parsed.records[2].iter().collect::<Vec<_>>(), ["2", "", "plain"]);
}

#[test]
fn crlf_lf_and_cr_line_endings_are_all_accepted() {
    for csv in [&b"a,b\n1,x\n2,y\n"[..], b"a,b\r\n1,x\r\n2,y\r\n", b"a,b\r1,x\r2,y", b"a,b\n\n1,x\n\n2,y"] {
        let schema = read_ok("l.csv", csv);
        assert_eq!(types(&schema), ["a:int64", "b:string"], "{csv:?}");
        assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    }
}

#[test]
fn a_file_without_a_header_gets_numbered_column_names() {
    let schema = read_ok("nh.csv", b"1,Ada,2024-01-01\n2,Grace,2024-02-01\n");
    assert_eq!(attr(&schema, "hasHeader"), &Value::Boolean(false));
    assert_eq!(types(&schema), ["column_1:int64", "column_2:string", "column_3:date"]);
}

#[test]
fn a_first_row_whose_values_reappear_below_is_data_not_a_header() {
    let csv = b"open,high\nclosed,low\nopen,high\nopen,low\n";
    let schema = read_ok("status.csv", csv);
    assert_eq!(attr(&schema, "hasHeader"), &Value::Boolean(false));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(4));
    // All strings, first row unique and never repeated: a header.
    let names = read_ok("names.csv", b"first,last\nAda,Lovelace\nGrace,Hopper\n");
    assert_eq!(attr(&names, "hasHeader"), &Value::Boolean(true));
    // Empty or duplicate names: not a header.
    let dup = read_ok("dup.csv", b"a,a\n1,2\n");
    assert_eq!(attr(&dup, "hasHeader"), &Value::Boolean(false));
    let gap = read_ok("gap.csv", b"a,,c\n1,2,3\n");
    assert_eq!(attr(&gap, "hasHeader"), &Value::Boolean(false));
}

#[test]
fn a_header_only_file_has_null_typed_nullable_columns() {
    let schema = read_ok("h.csv", b"id,name\n");
    assert_eq!(attr(&schema, "hasHeader"), &Value::Boolean(true));
    assert_eq!(types(&schema), ["id:null", "name:null"]);
    assert!(schema.columns.iter().all(|c| c.nullable));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(0));
}

#[test]
fn header_names_are_trimmed_and_made_unique() {
    let schema = schema_with("h.csv", b" id ,name,name,,id\n1,a,b,c,2\n", r#"{"has_header": true}"#);
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["id", "name", "name_2", "column_4", "id_2"]);
}

#[test]
fn columns_beyond_max_columns_are_truncated() {
    let header: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    let csv = format!("{}\n{}\n", header.join(","), vec!["1"; 50].join(","));
    let schema = schema_with("wide.csv", csv.as_bytes(), r#"{"max_columns": 10}"#);
    assert_eq!(schema.columns.len(), 10);
    assert_eq!(attr(&schema, "truncatedColumns"), &Value::Boolean(true));
}

#[test]
fn small_files_are_read_from_the_tail_without_extra_reads() {
    let (result, reads) = read_schema::<Csv>("s.csv", b"a,b\n1,2\n", 64 * 1024);
    assert!(result.is_ok());
    assert_eq!(reads, 0);
}

#[test]
fn only_the_sample_is_read_from_a_large_file() {
    let bytes = big_csv(100_000); // ~6 MB
    assert!(bytes.len() > 5 << 20);
    let sample = 256 * 1024;
    let run = run_with("big.csv", &bytes, &format!(r#"{{"sample_bytes": {sample}, "max_records": 1000000}}"#));
    let schema = run.result.unwrap();
    assert!(run.bytes_read <= sample, "read {} bytes", run.bytes_read);
    assert!(run.reads <= 4, "{} reads: chunks grow", run.reads);
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(false));
    assert_eq!(attr(&schema, "sampledBytes"), &Value::Integer(sample as i64));
    assert_eq!(types(&schema), ["id:int64", "name:string", "price:float64", "day:date", "seen_at:timestamp[us, UTC]"]);
    // With default limits, 1000 records are enough: far less than 1 MiB.
    let run = run_with("big.csv", &bytes, "");
    let schema = run.result.unwrap();
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(1000));
    assert!(run.bytes_read <= 3 * 64 * 1024, "read {} bytes", run.bytes_read);
}

#[test]
fn an_incomplete_last_record_of_the_sample_is_ignored() {
    // The sample ends inside "2024-0", which alone would read as a string.
    let csv = b"id,day\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n";
    let cut = csv.len() - 5;
    let schema = schema_with("cut.csv", csv, &format!(r#"{{"sample_bytes": {cut}}}"#));
    assert_eq!(types(&schema), ["id:int64", "day:date"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(false));
    // At the end of the file, a last record without a line break counts.
    let schema = read_ok("end.csv", b"id,day\n1,2024-01-01\n2,x");
    assert_eq!(types(&schema), ["id:int64", "day:string"]);
}

#[test]
fn a_quoted_newline_cut_by_the_sample_does_not_make_a_record() {
    let csv = b"id,note\n1,\"a\nb\"\n2,\"c\nd, e, f, g\"\n";
    let cut = csv.len() - 8; // inside the second quoted note
    let schema = schema_with("q.csv", csv, &format!(r#"{{"sample_bytes": {cut}}}"#));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(1));
    assert_eq!(attr(&schema, "raggedRecords"), &Value::Integer(0));
}

#[test]
fn gzip_files_are_inflated_incrementally() {
    let plain = big_csv(200_000); // ~12 MB decompressed
    let gz = gzip(&plain);
    let sample = 512 * 1024;
    let run = run_with("big.csv.gz", &gz, &format!(r#"{{"sample_bytes": {sample}, "max_records": 1000000}}"#));
    let schema = run.result.unwrap();
    assert_eq!(attr(&schema, "compression"), &text("gzip"));
    assert_eq!(attr(&schema, "sampledBytes"), &Value::Integer(sample as i64));
    assert_eq!(attr(&schema, "sampleComplete"), &Value::Boolean(false));
    assert!(run.bytes_read < gz.len() as u64 / 2, "read {} of {} compressed bytes", run.bytes_read, gz.len());
    assert!(run.bytes_read <= 4 * sample);
    assert_eq!(attr(&schema, "compressedBytesRead"), &Value::Integer(run.bytes_read as i64));
    assert_eq!(types(&schema)[4], "seen_at:timestamp[us, UTC]");

    let small = read_ok("s.tsv.gz", &gzip(b"a\tb\n1\tx\n"));
    assert_eq!(attr(&small, "delimiter"), &text("\t"));
    assert_eq!(attr(&small, "sampleComplete"), &Value::Boolean(true));
    assert_eq!(types(&small), ["a:int64", "b:string"]);
}

#[test]
fn incompressible_gzip_stops_at_the_compressed_budget() {
    // Random hex compresses badly: the compressed budget (4 x sample) still
    // bounds what is read.
    let mut rng = Rng(7);
    let mut csv = String::from("a,b\n");
    while csv.len() < 1 << 20 {
        csv.push_str(&format!("{:016x},{:016x}\n", rng.next(), rng.next()));
    }
    let gz = gzip(csv.as_bytes());
    let run = run_with("r.csv.gz", &gz, r#"{"sample_bytes": 4096}"#);
    assert!(run.result.is_ok());
    assert!(run.bytes_read <= 4 * 4096 + 64 * 1024, "{}", run.bytes_read);
}

#[test]
fn gzip_is_detected_by_magic_bytes_even_with_a_plain_extension() {
    let schema = read_ok("mislabelled.csv", &gzip(b"a,b\n1,2\n"));
    assert_eq!(attr(&schema, "compression"), &text("gzip"));
    assert_eq!(types(&schema), ["a:int64", "b:int64"]);
    // And a .gz name over plain text is read as plain text.
    let plain = read_ok("plain.csv.gz", b"a,b\n1,2\n");
    assert_eq!(attr(&plain, "compression"), &text("none"));
}

#[test]
fn multi_member_gzip_is_read_across_members() {
    let mut gz = gzip(b"a,b\n1,2\n");
    gz.extend(gzip(b"3,4.5\n"));
    let schema = read_ok("m.csv.gz", &gz);
    assert_eq!(types(&schema), ["a:int64", "b:float64"]);
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
}

#[test]
fn corrupt_or_truncated_gzip_is_malformed_input_naming_the_file() {
    let gz = gzip(&big_csv(1000));
    let mut corrupt = gz.clone();
    for b in &mut corrupt[20..60] {
        *b ^= 0x5a;
    }
    let err = error("bad.csv.gz", &corrupt);
    assert_eq!(err.kind, ErrorKind::MalformedInput, "{err}");
    assert_eq!(err.item.as_deref(), Some("bad.csv.gz"));
    assert!(err.message.contains("gzip"), "{}", err.message);

    let truncated = &gz[..gz.len() / 2];
    let err = error("cut.csv.gz", truncated);
    assert_eq!(err.kind, ErrorKind::MalformedInput, "{err}");
    assert!(err.message.contains("truncated gzip"), "{}", err.message);

    let err = error("header.csv.gz", &[0x1f, 0x8b, 8, 0]);
    assert_eq!(err.kind, ErrorKind::MalformedInput, "{err}");
}

#[test]
fn empty_and_binary_files_are_clear_errors() {
    let cases: [(&[u8], ErrorKind, &str); 8] = [
        (b"", ErrorKind::MalformedInput, "empty file"),
        (b"\n\r\n\n", ErrorKind::MalformedInput, "blank lines"),
        (b"\xef\xbb\xbf", ErrorKind::MalformedInput, "empty"),
        (b"a,b\n1,\x002\n", ErrorKind::MalformedInput, "NUL byte"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08abc", ErrorKind::MalformedInput, "control characters"),
        (b"\xff\xfea\x00,\x00b\x00", ErrorKind::Unsupported, "UTF-16"),
        (b"\x28\xb5\x2f\xfdzstd frame", ErrorKind::Unsupported, "zstd"),
        (b"a,b\n\xc3\x28\xa0\xa1\xe2\x28\xa1,\xf0\x28\x8c\xbc\n", ErrorKind::MalformedInput, "not UTF-8"),
    ];
    for (bytes, kind, needle) in cases {
        let err = error("x.csv", bytes);
        assert_eq!(err.kind, kind, "{bytes:?}: {err}");
        assert!(err.message.contains(needle), "{bytes:?}: {}", err.message);
        assert_eq!(err.item.as_deref(), Some("x.csv"));
    }
    assert!(error("e.csv.gz", &gzip(b"")).message.contains("empty"));
}

#[test]
fn a_utf8_bom_is_skipped() {
    let schema = read_ok("bom.csv", b"\xef\xbb\xbfid,name\n1,x\n");
    assert_eq!(types(&schema), ["id:int64", "name:string"]);
}

#[test]
fn a_few_invalid_utf8_bytes_are_tolerated() {
    // One stray Latin-1 byte in an otherwise UTF-8 file is replaced.
    let mut csv = "id,name\n1,日本\n".as_bytes().to_vec();
    for i in 2..20 {
        csv.extend_from_slice(format!("{i},text number {i}\n").as_bytes());
    }
    csv.extend_from_slice(b"99,caf\xe9\n");
    let schema = read_ok("stray.csv", &csv);
    assert_eq!(types(&schema), ["id:int64", "name:string"]);
    assert_eq!(attr(&schema, "invalidUtf8Bytes"), &Value::Integer(1));
    assert_eq!(attr(&schema, "encoding"), &text("utf-8"));
}

#[test]
fn legacy_single_byte_text_is_decoded_as_windows_1252() {
    let mut csv = b"id,pr\xe9nom,\x80uros\n".to_vec();
    for i in 0..20 {
        csv.extend_from_slice(format!("{i},Ren").as_bytes());
        csv.extend_from_slice(b"\xe9,1.5\n");
    }
    let schema = read_ok("latin.csv", &csv);
    assert_eq!(types(&schema), ["id:int64", "prénom:string", "€uros:float64"]);
    assert_eq!(attr(&schema, "encoding"), &text("windows-1252"));
}

#[test]
fn a_multibyte_character_cut_by_the_sample_is_not_invalid() {
    let csv = "id,name\n1,é\n2,日本\n3,日本語\n".as_bytes();
    // Cut between the bytes of the last "語".
    let cut = csv.len() - 3;
    let schema = schema_with("u.csv", csv, &format!(r#"{{"sample_bytes": {cut}}}"#));
    assert!(schema.attributes.iter().all(|a| a.key != "invalidUtf8Bytes"));
    assert_eq!(attr(&schema, "sampledRecords"), &Value::Integer(2));
}

#[test]
fn an_unterminated_quote_at_the_end_of_the_file_is_flagged() {
    let schema = read_ok("u.csv", b"a,b\n1,\"open\n2,3\n");
    assert_eq!(attr(&schema, "unterminatedQuote"), &Value::Boolean(true));
    // The same cut by the sample: no complete record at all.
    let err = run_with("u.csv", b"\"a,b\n1,2\n3,4\n", r#"{"sample_bytes": 8}"#).result.unwrap_err();
    assert!(err.message.contains("no complete record"), "{}", err.message);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed);
    let alphabet = b"a1,;\t|\"\r\n .-:TZ+e\xc3\xa9\xff";
    for round in 0..600 {
        let len = rng.below(300) as usize;
        let bytes: Vec<u8> = if round % 3 == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect()
        };
        let sample = 1 + rng.below(64);
        for (path, data) in [("f.csv", bytes.clone()), ("f.csv.gz", gzip(&bytes))] {
            let _ = run_with(path, &data, "");
            let _ = run_with(path, &data, &format!(r#"{{"sample_bytes": {sample}}}"#));
        }
        // Corrupted gzip streams too.
        let mut gz = gzip(&bytes);
        let at = rng.below(gz.len() as u64) as usize;
        gz[at] ^= 1 + rng.next() as u8 % 255;
        let _ = run_with("g.csv.gz", &gz, "");
        let _ = run_with("g.csv.gz", &gz[..at], "");
    }
}

#[test]
fn samples_are_the_sampled_records_fields() {
    use surveyor_sdk::SampleLimits;
    use surveyor_sdk::testing::read_sample;
    let mut text = String::from("email,n,blank\n");
    for i in 0..300 {
        text += &format!("u{i}@example.com,{i},\n");
    }
    let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
    let sampled = read_sample::<Csv>("t.csv", text.as_bytes(), 64 * 1024, limits).unwrap();
    assert_eq!(sampled.schema.columns.len(), 3);
    let email = &sampled.samples[0];
    assert_eq!((email.path.as_slice(), email.values().len()), (&["email".to_string()][..], 128));
    assert_eq!(email.values()[2], "u2@example.com");
    assert_eq!((sampled.samples[2].values().len(), sampled.samples[2].nulls), (0, 128), "blank fields are nulls");
}
