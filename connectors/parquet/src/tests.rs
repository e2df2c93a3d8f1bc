use super::*;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;
use surveyor_sdk::testing::read_schema;
use surveyor_sdk::{Column, ErrorKind, Repetition, Value};

/// A Parquet file with no rows and the given schema (in Parquet's message syntax).
fn file_with_schema(message: &str) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(message).expect("valid schema"));
    let mut buf = Vec::new();
    let props = Arc::new(WriterProperties::builder().set_created_by("surveyor-test".into()).build());
    let writer = SerializedFileWriter::new(&mut buf, schema, props).unwrap();
    writer.close().unwrap();
    buf
}

fn column<'a>(columns: &'a [Column], path: &str) -> &'a Column {
    columns.iter().find(|c| c.path.join(".") == path).unwrap_or_else(|| {
        panic!("no column {path} in {:?}", columns.iter().map(|c| c.path.join(".")).collect::<Vec<_>>())
    })
}

fn attr<'a>(schema: &'a FileSchema, key: &str) -> &'a Value {
    &schema.attributes.iter().find(|a| a.key == key).unwrap_or_else(|| panic!("no attribute {key}")).value
}

const NESTED: &str = "
message spark_schema {
  required int64 id;
  optional binary name (STRING);
  optional fixed_len_byte_array(16) uid (UUID);
  optional int64 ts_utc (TIMESTAMP(MICROS,true));
  optional int64 ts_local (TIMESTAMP(NANOS,false));
  optional int96 legacy_ts;
  optional int32 day (DATE);
  optional fixed_len_byte_array(9) amount (DECIMAL(20,4));
  optional int32 small_amount (DECIMAL(9,2));
  optional binary doc (JSON);
  optional fixed_len_byte_array(2) half (FLOAT16);
  optional int32 tiny (INTEGER(8,false));
  optional group address {
    required binary city (UTF8);
    optional group geo { required double lat; required double lon; }
  }
  optional group tags (LIST) {
    repeated group list { optional binary element (STRING); }
  }
  optional group attributes (MAP) {
    repeated group key_value { required binary key (STRING); optional int32 value; }
  }
  optional group legacy_list (LIST) {
    repeated group array { required int32 x; required int32 y; }
  }
  repeated int32 bare_repeated;
}";

#[test]
fn nested_columns_carry_full_paths_and_types() {
    let bytes = file_with_schema(NESTED);
    let (schema, reads) = read_schema::<Parquet>("t/nested.parquet", &bytes, 64 * 1024);
    let schema = schema.expect("schema");
    assert_eq!(reads, 0, "footer was in the tail: no extra read");
    let cols = &schema.columns;

    let id = column(cols, "id");
    assert_eq!((id.physical_type.as_str(), id.data_type.as_str(), id.nullable), ("INT64", "int64", false));
    assert_eq!(id.repetition, Repetition::Required);
    assert_eq!(column(cols, "name").data_type, "string");
    let uid = column(cols, "uid");
    assert_eq!(uid.physical_type, "FIXED_LEN_BYTE_ARRAY(16)");
    assert_eq!((uid.logical_type.as_deref(), uid.data_type.as_str()), (Some("UUID"), "uuid"));
    let ts = column(cols, "ts_utc");
    assert_eq!(ts.logical_type.as_deref(), Some("TIMESTAMP(MICROS,UTC)"));
    assert_eq!(ts.data_type, "timestamp[us, UTC]");
    assert_eq!(column(cols, "ts_local").data_type, "timestamp[ns]");
    let legacy = column(cols, "legacy_ts");
    assert_eq!((legacy.physical_type.as_str(), legacy.data_type.as_str()), ("INT96", "timestamp[ns]"));
    assert_eq!(column(cols, "day").data_type, "date");
    let amount = column(cols, "amount");
    assert_eq!(amount.data_type, "decimal(20,4)");
    assert!(amount.attributes.iter().any(|a| a.key == "precision" && a.value == Value::Integer(20)));
    assert_eq!(column(cols, "small_amount").data_type, "decimal(9,2)");
    assert_eq!(column(cols, "doc").data_type, "json");
    assert_eq!(column(cols, "half").data_type, "float16");
    assert_eq!(column(cols, "tiny").data_type, "uint8");

    assert_eq!(column(cols, "address").data_type, "struct");
    assert_eq!(column(cols, "address.city").data_type, "string");
    assert_eq!(column(cols, "address.geo.lat").data_type, "float64");
    assert_eq!(column(cols, "address.geo").ordinal, 1);

    assert_eq!(column(cols, "tags").data_type, "list<string>");
    assert_eq!(column(cols, "tags.list.element").data_type, "string");
    assert_eq!(column(cols, "tags.list").repetition, Repetition::Repeated);
    assert_eq!(column(cols, "attributes").data_type, "map<string, int32>");
    assert_eq!(column(cols, "legacy_list").data_type, "list<struct>");
    assert_eq!(column(cols, "bare_repeated").data_type, "list<int32>");

    assert_eq!(attr(&schema, "createdBy"), &Value::Text("surveyor-test".into()));
    assert_eq!(attr(&schema, "rowCount"), &Value::Integer(0));
}

#[test]
fn arrow_written_file_reports_rows_codecs_and_metadata_keys() {
    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..1000)),
            Arc::new(StringArray::from_iter_values((0..1000).map(|i| format!("row {i}")))),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(300)).build();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let (schema, _) = read_schema::<Parquet>("rows.parquet", &bytes, 64 * 1024);
    let schema = schema.unwrap();
    assert_eq!(attr(&schema, "rowCount"), &Value::Integer(1000));
    assert_eq!(attr(&schema, "rowGroupCount"), &Value::Integer(4));
    assert_eq!(attr(&schema, "codecs"), &Value::Texts(vec!["UNCOMPRESSED".into()]));
    // ArrowWriter stores the Arrow schema under this key.
    assert_eq!(attr(&schema, "keyValueMetadataKeys"), &Value::Texts(vec!["ARROW:schema".into()]));
    let compressed = attr(&schema, "compressedSize").as_integer().unwrap();
    assert!(compressed > 0 && (compressed as usize) < bytes.len());
}

#[test]
fn footer_beyond_the_tail_costs_exactly_one_read() {
    let bytes = file_with_schema(NESTED);
    let (schema, reads) = read_schema::<Parquet>("nested.parquet", &bytes, 16);
    assert!(schema.is_ok());
    assert_eq!(reads, 1);
}

fn expect_error(bytes: &[u8], kind: ErrorKind, needle: &str) {
    let (result, _) = read_schema::<Parquet>("bad.parquet", bytes, 64 * 1024);
    let err = result.expect_err("must fail");
    assert_eq!(err.kind, kind, "{err}");
    assert!(err.message.contains(needle), "{:?} should mention {needle:?}", err.message);
    assert_eq!(err.item.as_deref(), Some("bad.parquet"));
}

#[test]
fn hostile_files_give_errors_that_name_the_problem() {
    let good = file_with_schema(NESTED);
    expect_error(&[], ErrorKind::MalformedInput, "empty file");
    expect_error(b"PAR1PAR1", ErrorKind::MalformedInput, "too small");
    let mut bad_magic = good.clone();
    let n = bad_magic.len();
    bad_magic[n - 4..].copy_from_slice(b"ORC!");
    expect_error(&bad_magic, ErrorKind::MalformedInput, "trailing magic is \"ORC!\"");
    let mut outside = good.clone();
    outside[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_error(&outside, ErrorKind::MalformedInput, "points outside the file");
    let truncated = &good[..good.len() / 2];
    expect_error(truncated, ErrorKind::MalformedInput, "magic");
    let mut garbage = good.clone();
    let footer_len = u32::from_le_bytes(garbage[n - 8..n - 4].try_into().unwrap()) as usize;
    for b in &mut garbage[n - 8 - footer_len..n - 8] {
        *b = 0xff;
    }
    expect_error(&garbage, ErrorKind::MalformedInput, "corrupt footer");
    let mut encrypted = good;
    encrypted[n - 4..].copy_from_slice(b"PARE");
    expect_error(&encrypted, ErrorKind::Unsupported, "encrypted");
}

pub(crate) fn corpus_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("SURVEYOR_PARQUET_TESTING")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/parquet-testing"));
    assert!(
        dir.is_dir(),
        "Apache parquet-testing corpus not found at {} (set SURVEYOR_PARQUET_TESTING)",
        dir.display()
    );
    dir
}

pub(crate) fn corpus_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            corpus_files(&path, out);
        } else if path.to_string_lossy().contains(".parquet") {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_file_gives_a_schema_or_a_clear_error() {
    let mut files = Vec::new();
    corpus_files(&corpus_dir(), &mut files);
    assert!(files.len() > 80, "corpus looks incomplete: {} files", files.len());
    let (mut ok, mut failed) = (0, Vec::new());
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let packed = surveyor_sdk::testing::read_packed_schema::<Parquet>(&name, &bytes, 64 * 1024);
        let listed = read_schema::<Parquet>(&name, &bytes, 64 * 1024).0;
        // What a 0.1.5 host gets is what an older one gets, packed.
        assert_eq!(packed, listed.clone().map(surveyor_sdk::packed::pack), "{name}");
        match listed {
            Ok(schema) => {
                assert!(!schema.columns.is_empty() || name.contains("empty"), "{name}: no columns");
                ok += 1;
            }
            Err(e) => {
                assert_eq!(e.item.as_deref(), Some(name.as_str()));
                assert!(!e.message.is_empty());
                failed.push(format!("{name}: {:?}: {}", e.kind, e.message));
            }
        }
    }
    // Encrypted footers cannot be read without keys; PARQUET-1481 declares a
    // physical type that does not exist (-7). Everything else gives a schema,
    // including the two files whose list element types strict readers reject
    // (ARROW-GH-41317, dict-page-offset-zero).
    for f in &failed {
        assert!(f.contains("encrypted") || f.contains("PARQUET-1481"), "unexpected failure: {f}");
    }
    assert!(ok >= 80, "only {ok} of {} corpus files gave a schema", files.len());
}

#[test]
fn corpus_legacy_and_special_types_are_recognised() {
    let dir = corpus_dir().join("data");
    let schema_of = |name: &str| {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        read_schema::<Parquet>(name, &bytes, 64 * 1024).0.unwrap()
    };
    let spark = schema_of("int96_from_spark.parquet");
    assert!(spark.columns.iter().any(|c| c.physical_type == "INT96" && c.data_type == "timestamp[ns]"));
    let f16 = schema_of("float16_nonzeros_and_nans.parquet");
    assert!(f16.columns.iter().any(|c| c.data_type == "float16"));
    let decimal = schema_of("fixed_length_decimal_legacy.parquet");
    assert!(decimal.columns.iter().any(|c| c.data_type.starts_with("decimal(")));
    let old_list = schema_of("old_list_structure.parquet");
    assert!(old_list.columns.iter().any(|c| c.data_type.starts_with("list<")));
    let maps = schema_of("nested_maps.snappy.parquet");
    assert!(maps.columns.iter().any(|c| c.data_type.starts_with("map<")));
    let snappy = schema_of("alltypes_plain.snappy.parquet");
    assert!(
        matches!(snappy.attributes.iter().find(|a| a.key == "codecs").map(|a| &a.value), Some(Value::Texts(c)) if c == &vec!["SNAPPY".to_string()])
    );
}

/// A file of `rows` rows: a string, a struct member, a list (not sampled),
/// an all-null column and one null in every third row, written with `compression`.
fn file_with_rows(rows: usize, compression: parquet::basic::Compression) -> Vec<u8> {
    file_with_rows_as(rows, compression, parquet::file::properties::WriterVersion::PARQUET_1_0)
}

fn file_with_rows_as(
    rows: usize,
    compression: parquet::basic::Compression,
    version: parquet::file::properties::WriterVersion,
) -> Vec<u8> {
    use arrow_array::{ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray};
    use arrow_schema::{DataType, Field, Fields};
    let city = Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("city-{i}")))) as ArrayRef;
    let address = StructArray::new(Fields::from(vec![Field::new("city", DataType::Utf8, false)]), vec![city], None);
    let tags = ListArray::from_iter_primitive::<arrow_array::types::Int64Type, _, _>(
        (0..rows).map(|i| Some(vec![Some(i as i64)])),
    );
    let batch = RecordBatch::try_from_iter(vec![
        ("email", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("u{i}@example.com")))) as ArrayRef),
        ("n", Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef),
        ("address", Arc::new(address) as ArrayRef),
        ("tags", Arc::new(tags) as ArrayRef),
        ("nothing", Arc::new(StringArray::from(vec![None::<&str>; rows])) as ArrayRef),
        (
            "sparse",
            Arc::new(StringArray::from_iter((0..rows).map(|i| (i % 3 != 0).then(|| format!("s{i}"))))) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut buf = Vec::new();
    let props = WriterProperties::builder().set_compression(compression).set_writer_version(version).build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    buf
}

#[test]
fn samples_are_the_first_rows_within_the_limits() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
    use parquet::file::properties::WriterVersion;
    use surveyor_sdk::SampleLimits;
    use surveyor_sdk::testing::read_sample;
    // Every codec but LZO (no Rust decoder), in v1 and v2 data pages;
    // Zstandard and Brotli through this crate's own page reader (own_pages.rs).
    let codecs = [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::BROTLI(BrotliLevel::default()),
        Compression::LZ4,
        Compression::LZ4_RAW,
        Compression::ZSTD(ZstdLevel::default()),
    ];
    let written = codecs.iter().flat_map(|&c| [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0].map(|v| (c, v)));
    for (compression, version) in written {
        let bytes = file_with_rows_as(500, compression, version);
        let compression = format!("{compression:?} {version:?}");
        let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
        let sampled = read_sample::<Parquet>("t.parquet", &bytes, 64 * 1024, limits).unwrap();
        let by_path = |p: &str| sampled.samples.iter().find(|s| s.path.join(".") == p);
        let email = by_path("email").unwrap_or_else(|| panic!("{compression:?}: {:?}", sampled.samples));
        assert_eq!(email.values().len(), 128, "{compression:?}");
        assert_eq!(email.values()[0], "u0@example.com");
        assert_eq!(by_path("n").unwrap().values()[5], "5");
        assert_eq!(by_path("address.city").unwrap().values()[1], "city-1");
        assert!(by_path("tags").is_none() && by_path("tags.list.item").is_none(), "lists are not sampled");
        let nothing = by_path("nothing").unwrap();
        assert_eq!((nothing.values().len(), nothing.nulls), (0, 128));
        // Every third row null: the values stay in step with their rows.
        let sparse = by_path("sparse").unwrap();
        assert_eq!((sparse.values().len(), sparse.nulls), (85, 43));
        assert_eq!(sparse.values()[..4], ["s1", "s2", "s4", "s5"]);
        assert_eq!(sparse.values()[84], "s127");
        assert!(!sampled.schema.columns.is_empty());
    }
    // The byte limit: 16 bytes hold one value of "u0@example.com".
    let bytes = file_with_rows(10, Compression::SNAPPY);
    let tight = SampleLimits { max_rows: 128, max_bytes_per_column: 16 };
    let sampled = read_sample::<Parquet>("t.parquet", &bytes, 64 * 1024, tight).unwrap();
    let email = sampled.samples.iter().find(|s| s.path == ["email"]).unwrap();
    assert_eq!(email.values(), ["u0@example.com"]);
}

/// A 0.1.4 host asks for no sample of booleans, fractional decimals and
/// dates not named for a birth: those columns are left undecoded, the rest
/// sampled as before.
#[test]
fn a_selection_leaves_unwanted_columns_unsampled() {
    use arrow_array::{ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int64Array, RecordBatch};
    use surveyor_sdk::testing::read_selected_sample;
    use surveyor_sdk::{ColumnKind, SampleLimits, Selection};
    let rows = 20;
    let amount = Decimal128Array::from_iter_values((0..rows).map(i128::from)).with_precision_and_scale(10, 2).unwrap();
    let zip = Decimal128Array::from_iter_values((0..rows).map(|i| 10_000 + i128::from(i)))
        .with_precision_and_scale(5, 0)
        .unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        ("active", Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 2 == 0)))) as ArrayRef),
        ("created", Arc::new(Date32Array::from_iter_values(0..rows)) as ArrayRef),
        ("Date_Of_Birth", Arc::new(Date32Array::from_iter_values(0..rows)) as ArrayRef),
        ("amount", Arc::new(amount) as ArrayRef),
        ("zip", Arc::new(zip) as ArrayRef),
        ("n", Arc::new(Int64Array::from_iter_values(0..i64::from(rows))) as ArrayRef),
    ])
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
    let sampled_paths = |selection: &Selection| {
        let sampled = read_selected_sample::<Parquet>("t.parquet", &bytes, 64 * 1024, limits, selection).unwrap();
        assert_eq!(sampled.schema.columns.len(), 6, "the schema is whole whatever is sampled");
        sampled.samples.iter().map(|s| s.path.join(".")).collect::<Vec<_>>()
    };
    let system_only = Selection {
        skip: vec![ColumnKind::Boolean, ColumnKind::FractionalDecimal],
        named_only: vec![ColumnKind::Temporal],
        keywords: vec!["birth".into()],
    };
    assert_eq!(sampled_paths(&system_only), ["Date_Of_Birth", "zip", "n"]);
    assert_eq!(sampled_paths(&Selection::default()), ["active", "created", "Date_Of_Birth", "amount", "zip", "n"]);
}

/// Sampling decodes data pages, a wider surface than the footer: every
/// corpus file (every codec, legacy layouts, INT96, decimals, float16,
/// corrupt pages) must sample or fail cleanly, never panic (a trap in the
/// sandbox would lose the file's schema too).
#[test]
fn every_corpus_file_samples_without_a_panic() {
    use surveyor_sdk::SampleLimits;
    use surveyor_sdk::testing::read_sample;
    let mut files = Vec::new();
    corpus_files(&corpus_dir(), &mut files);
    let mut sampled_values = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
        let result = std::panic::catch_unwind(|| read_sample::<Parquet>(&name, &bytes, 64 * 1024, limits));
        let result = result.unwrap_or_else(|_| panic!("{name}: sampling panicked"));
        if let Ok(sampled) = result {
            sampled_values += sampled.samples.iter().map(|s| s.values().len()).sum::<usize>();
        }
    }
    assert!(sampled_values > 10_000, "only {sampled_values} values sampled from the corpus");
}

/// The corpus's files in the codecs the crate's C-free build lacks or that
/// came later (Zstandard, both LZ4 framings) are sampled, value for value
/// as the crate's own reader (built here with every codec) decodes them.
#[test]
fn corpus_files_in_every_codec_are_sampled() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use surveyor_sdk::SampleLimits;
    use surveyor_sdk::testing::read_sample;
    let dir = corpus_dir().join("data");
    for name in [
        "byte_stream_split.zstd.parquet",
        "hadoop_lz4_compressed.parquet",
        "non_hadoop_lz4_compressed.parquet",
        "lz4_raw_compressed.parquet",
        "lz4_raw_compressed_larger.parquet",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
        let sampled = read_sample::<Parquet>(name, &bytes, 64 * 1024, limits).unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let leaves = reader.metadata().file_metadata().schema_descr().num_columns();
        assert_eq!(sampled.samples.len(), leaves, "{name}: every column sampled");
        let rows: Vec<_> = reader.get_row_iter(None).unwrap().take(128).map(|r| r.unwrap()).collect();
        for (i, sample) in sampled.samples.iter().enumerate() {
            let expected =
                rows.iter().filter(|r| !matches!(r.get_column_iter().nth(i).unwrap().1, parquet::record::Field::Null));
            assert_eq!(sample.values().len(), expected.count(), "{name}: {:?}", sample.path);
            assert!(!sample.values().is_empty(), "{name}: {:?}", sample.path);
        }
    }
}

/// A Zstandard page that declares a window far larger than itself is not
/// decoded (the decoder would set the window aside first): the column gets
/// no sample, the schema is read.
#[test]
fn a_zstd_page_declaring_a_huge_window_is_not_sampled() {
    use parquet::basic::{Compression, ZstdLevel};
    use surveyor_sdk::SampleLimits;
    use surveyor_sdk::testing::read_sample;
    let mut bytes = file_with_rows(50, Compression::ZSTD(ZstdLevel::default()));
    // Every frame becomes multi-segment with a 64 MiB window (descriptor 0x00, window byte 0x80),
    // which the decoder itself would take (its own limit is 100 MiB).
    let magic = [0x28, 0xB5, 0x2F, 0xFD];
    let mut rewritten = 0;
    let mut i = 0;
    while i + 6 < bytes.len() {
        if bytes[i..i + 4] == magic && bytes[i + 4] & 0x20 != 0 && bytes[i + 4] & 0xC0 == 0 {
            // Single segment, 1-byte content size: room for a window byte instead.
            bytes[i + 4] = 0;
            bytes[i + 5] = 0x80;
            rewritten += 1;
        }
        i += 1;
    }
    assert!(rewritten > 0, "the writer's frames are single-segment with a one-byte size");
    let limits = SampleLimits { max_rows: 128, max_bytes_per_column: 1 << 20 };
    let sampled = read_sample::<Parquet>("t.parquet", &bytes, 64 * 1024, limits).unwrap();
    assert!(!sampled.schema.columns.is_empty());
    assert!(sampled.samples.iter().all(|s| s.path != ["email"]), "{:?}", sampled.samples);
}

/// The type names spelled out as static strings (they are built for every
/// column of every file) are the ones the general rule would write.
#[test]
fn static_type_names_follow_the_general_spelling() {
    let mut fields = String::new();
    for (unit, short) in [("MILLIS", "ms"), ("MICROS", "us"), ("NANOS", "ns")] {
        for utc in [true, false] {
            fields += &format!("optional int64 ts_{short}_{utc} (TIMESTAMP({unit},{utc}));\n");
            let physical = if unit == "MILLIS" { "int32" } else { "int64" };
            fields += &format!("optional {physical} t_{short}_{utc} (TIME({unit},{utc}));\n");
        }
    }
    for width in [8, 16, 32, 64] {
        for signed in [true, false] {
            let physical = if width == 64 { "int64" } else { "int32" };
            fields += &format!("optional {physical} i{width}_{signed} (INTEGER({width},{signed}));\n");
        }
    }
    let bytes = file_with_schema(&format!("message m {{\n{fields}}}"));
    let schema = read_schema::<Parquet>("t/types.parquet", &bytes, 64 * 1024).0.expect("schema");
    for (unit, short) in [("MILLIS", "ms"), ("MICROS", "us"), ("NANOS", "ns")] {
        for utc in [true, false] {
            let zone = if utc { "UTC" } else { "local" };
            let ts = column(&schema.columns, &format!("ts_{short}_{utc}"));
            assert_eq!(ts.logical_type.as_deref(), Some(format!("TIMESTAMP({unit},{zone})").as_str()));
            let normalised = if utc { format!("timestamp[{short}, UTC]") } else { format!("timestamp[{short}]") };
            assert_eq!(ts.data_type, normalised);
            let time = column(&schema.columns, &format!("t_{short}_{utc}"));
            assert_eq!(time.logical_type.as_deref(), Some(format!("TIME({unit},{zone})").as_str()));
            assert_eq!(time.data_type, format!("time[{short}]"));
        }
    }
    for width in [8, 16, 32, 64] {
        for signed in [true, false] {
            let int = column(&schema.columns, &format!("i{width}_{signed}"));
            let sign = if signed { "signed" } else { "unsigned" };
            assert_eq!(int.logical_type.as_deref(), Some(format!("INTEGER({width},{sign})").as_str()));
            assert_eq!(int.data_type, format!("{}int{width}", if signed { "" } else { "u" }));
        }
    }
}

/// A file read right after one with the same schema bytes gets its columns
/// from the last answer, its own facts, and exactly what a fresh decode gives.
#[test]
fn a_schema_equal_to_the_last_files_is_not_decoded_again_and_answers_the_same() {
    let (ten, twenty) = (
        file_with_rows(10, parquet::basic::Compression::UNCOMPRESSED),
        file_with_rows(20, parquet::basic::Compression::SNAPPY),
    );
    let footer = |bytes: &[u8]| {
        let n = bytes.len();
        let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
        bytes[n - 8 - len..n - 8].to_vec()
    };
    let (ten_footer, twenty_footer) = (footer(&ten), footer(&twenty));
    let first = footer::read(&ten_footer, false, None).unwrap();
    assert!(!first.schema_known && !first.schema.is_empty());
    let known = &ten_footer[first.schema_bytes.clone()];
    let second = footer::read(&twenty_footer, false, Some(known)).unwrap();
    assert!(second.schema_known && second.schema.is_empty(), "the same schema bytes are stepped over");
    assert_eq!((second.num_rows, second.codecs.iter().copied().collect::<Vec<_>>()), (20, vec!["SNAPPY"]));
    // Another schema's bytes are not taken for this one.
    let other = file_with_schema("message m { required int64 id; }");
    let other_footer = footer(&other);
    let third = footer::read(&other_footer, false, Some(known)).unwrap();
    assert!(!third.schema_known && third.schema.len() == 2);

    // Through the connector, in every order: the answer is a fresh decode's.
    let mut files = vec![("ten", ten), ("twenty", twenty), ("other", other)];
    let mut corpus = Vec::new();
    corpus_files(&corpus_dir(), &mut corpus);
    corpus.sort();
    for path in corpus.iter().take(40) {
        files.push(("corpus", std::fs::read(path).unwrap()));
    }
    let order: Vec<usize> = (0..files.len()).flat_map(|i| [i, i, (i * 7) % files.len(), i]).collect();
    for i in order {
        let (name, bytes) = &files[i];
        let packed = surveyor_sdk::testing::read_packed_schema::<Parquet>(name, bytes, 64 * 1024);
        let fresh = read_schema::<Parquet>(name, bytes, 64 * 1024).0.map(surveyor_sdk::packed::pack);
        assert_eq!(packed, fresh, "{name} ({i})");
    }
}
