//! A generator of Parquet lakes for tests and benchmarks: partitioned tables
//! (Hive-style `key=value` folders and Spark part files) and loose files,
//! with varied and nested schemas, written by the `arrow`/`parquet` crates.
//! It returns what it wrote, so a test can compare a scan with the truth.

use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
use arrow_array::types::Int64Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// What to generate.
#[derive(Debug, Clone)]
pub struct LakeSpec {
    pub files: usize,
    /// Rows in each file.
    pub rows: usize,
    /// Top-level columns per table: between these bounds.
    pub min_columns: usize,
    pub max_columns: usize,
    /// Files per partitioned table (the rest of the layout follows).
    pub files_per_table: usize,
    /// Part files per partition folder (Spark writes one per task).
    pub files_per_partition: usize,
    /// Fraction (0-100) of files that are loose, outside any table.
    pub loose_percent: u64,
    pub seed: u64,
}

impl Default for LakeSpec {
    fn default() -> Self {
        LakeSpec {
            files: 200,
            rows: 20,
            min_columns: 5,
            max_columns: 40,
            files_per_table: 50,
            files_per_partition: 4,
            loose_percent: 10,
            seed: 42,
        }
    }
}

/// One column as written: its path and the normalised type a scan should report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExpectedColumn {
    pub path: String,
    pub data_type: String,
}

/// One file as written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenFile {
    /// Path relative to the lake's root.
    pub path: String,
    pub rows: usize,
    /// Top-level columns, and the children of struct columns.
    pub columns: Vec<ExpectedColumn>,
}

/// A small deterministic generator (xorshift64*): the same seed, the same lake.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Int32,
    Int64,
    Float64,
    Utf8,
    Boolean,
    Date,
    TimestampUtc,
    Decimal,
    Struct,
    List,
    Map,
}

const KINDS: [Kind; 11] = [
    Kind::Int32,
    Kind::Int64,
    Kind::Float64,
    Kind::Utf8,
    Kind::Boolean,
    Kind::Date,
    Kind::TimestampUtc,
    Kind::Decimal,
    Kind::Struct,
    Kind::List,
    Kind::Map,
];

fn struct_fields() -> Fields {
    Fields::from(vec![Field::new("code", DataType::Int32, false), Field::new("label", DataType::Utf8, true)])
}

fn field(name: &str, kind: Kind) -> (Field, Vec<ExpectedColumn>) {
    let col = |t: &str| vec![ExpectedColumn { path: name.to_string(), data_type: t.to_string() }];
    match kind {
        Kind::Int32 => (Field::new(name, DataType::Int32, true), col("int32")),
        Kind::Int64 => (Field::new(name, DataType::Int64, false), col("int64")),
        Kind::Float64 => (Field::new(name, DataType::Float64, true), col("float64")),
        Kind::Utf8 => (Field::new(name, DataType::Utf8, true), col("string")),
        Kind::Boolean => (Field::new(name, DataType::Boolean, true), col("boolean")),
        Kind::Date => (Field::new(name, DataType::Date32, true), col("date")),
        Kind::TimestampUtc => (
            Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            col("timestamp[us, UTC]"),
        ),
        Kind::Decimal => (Field::new(name, DataType::Decimal128(10, 2), true), col("decimal(10,2)")),
        Kind::Struct => {
            let mut cols = col("struct");
            cols.push(ExpectedColumn { path: format!("{name}.code"), data_type: "int32".into() });
            cols.push(ExpectedColumn { path: format!("{name}.label"), data_type: "string".into() });
            (Field::new(name, DataType::Struct(struct_fields()), true), cols)
        }
        Kind::List => (
            Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Int64, true))), true),
            col("list<int64>"),
        ),
        Kind::Map => {
            let entries = Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", DataType::Int32, true),
                ])),
                false,
            );
            (Field::new(name, DataType::Map(Arc::new(entries), false), true), col("map<string, int32>"))
        }
    }
}

fn array(kind: Kind, rows: usize, rng: &mut Rng) -> ArrayRef {
    let n = rows as i64;
    match kind {
        Kind::Int32 => Arc::new(Int32Array::from_iter_values((0..rows).map(|_| rng.below(1000) as i32))),
        Kind::Int64 => Arc::new(Int64Array::from_iter_values(0..n)),
        Kind::Float64 => Arc::new(Float64Array::from_iter_values((0..rows).map(|_| rng.below(10_000) as f64 / 7.0))),
        Kind::Utf8 => {
            Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("value-{i}-{}", rng.below(100)))))
        }
        Kind::Boolean => Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 2 == 0)))),
        Kind::Date => Arc::new(Date32Array::from_iter_values((0..rows).map(|i| 19_000 + i as i32))),
        Kind::TimestampUtc => Arc::new(
            TimestampMicrosecondArray::from_iter_values((0..n).map(|i| 1_700_000_000_000_000 + i)).with_timezone("UTC"),
        ),
        Kind::Decimal => Arc::new(
            Decimal128Array::from_iter_values((0..rows).map(|_| rng.below(1_000_000) as i128))
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Kind::Struct => Arc::new(StructArray::new(
            struct_fields(),
            vec![
                Arc::new(Int32Array::from_iter_values(0..rows as i32)),
                Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("l{i}")))),
            ],
            None,
        )),
        Kind::List => Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..rows).map(|i| Some((0..(i % 3) as i64).map(Some).collect::<Vec<_>>())),
        )),
        Kind::Map => {
            let mut b = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
            for i in 0..rows {
                b.keys().append_value(format!("k{i}"));
                b.values().append_value(i as i32);
                b.append(true).unwrap();
            }
            Arc::new(b.finish())
        }
    }
}

/// A table: its schema and what a scan should report for it.
struct Table {
    name: String,
    schema: Arc<Schema>,
    kinds: Vec<Kind>,
    expected: Vec<ExpectedColumn>,
}

fn table(name: String, spec: &LakeSpec, rng: &mut Rng) -> Table {
    let span = spec.max_columns.saturating_sub(spec.min_columns) as u64 + 1;
    let n = spec.min_columns + rng.below(span) as usize;
    let mut fields = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut expected = Vec::new();
    for i in 0..n {
        // The first column is always a non-null id; the rest are random.
        let kind = if i == 0 { Kind::Int64 } else { KINDS[rng.below(KINDS.len() as u64) as usize] };
        let (f, cols) = field(&format!("c{i:02}_{}", kind_name(kind)), kind);
        fields.push(f);
        kinds.push(kind);
        expected.extend(cols);
    }
    Table { name, schema: Arc::new(Schema::new(fields)), kinds, expected }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int32 => "int",
        Kind::Int64 => "long",
        Kind::Float64 => "double",
        Kind::Utf8 => "text",
        Kind::Boolean => "flag",
        Kind::Date => "day",
        Kind::TimestampUtc => "ts",
        Kind::Decimal => "amount",
        Kind::Struct => "info",
        Kind::List => "tags",
        Kind::Map => "props",
    }
}

fn write_file(path: &Path, table: &Table, rows: usize, rng: &mut Rng, compression: Compression) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap())?;
    let columns: Vec<ArrayRef> = table.kinds.iter().map(|k| array(*k, rows, rng)).collect();
    let batch = RecordBatch::try_new(table.schema.clone(), columns).map_err(std::io::Error::other)?;
    let file = std::fs::File::create(path)?;
    let props = WriterProperties::builder().set_compression(compression).build();
    let mut writer = ArrowWriter::try_new(file, table.schema.clone(), Some(props)).map_err(std::io::Error::other)?;
    writer.write(&batch).map_err(std::io::Error::other)?;
    writer.close().map_err(std::io::Error::other)?;
    Ok(())
}

/// Writes a lake under `root` and returns every file written, in path order.
pub fn write_lake(root: &Path, spec: &LakeSpec) -> std::io::Result<Vec<WrittenFile>> {
    let mut rng = Rng::new(spec.seed);
    let mut written = Vec::with_capacity(spec.files);
    let mut current: Option<Table> = None;
    let mut in_table = 0usize;
    let mut tables = 0usize;
    for i in 0..spec.files {
        let loose = rng.below(100) < spec.loose_percent;
        let (rel, table) = if loose {
            let t = table(format!("loose{i}"), spec, &mut rng);
            (format!("landing/batch_{:03}/export_{i:05}.parquet", i / 100), t)
        } else {
            if current.is_none() || in_table >= spec.files_per_table.max(1) {
                tables += 1;
                current = Some(table(format!("table_{tables:03}"), spec, &mut rng));
                in_table = 0;
            }
            in_table += 1;
            let t = current.as_ref().unwrap();
            let partition = (in_table - 1) / spec.files_per_partition.max(1);
            let year = 2020 + partition / 12;
            let month = 1 + partition % 12;
            let rel = format!(
                "warehouse/{}/year={year}/month={month:02}/part-{in_table:05}-{}-c000.snappy.parquet",
                t.name,
                rng.uuid()
            );
            (
                rel,
                Table {
                    name: t.name.clone(),
                    schema: t.schema.clone(),
                    kinds: t.kinds.clone(),
                    expected: t.expected.clone(),
                },
            )
        };
        let compression = if rel.contains(".snappy.") { Compression::SNAPPY } else { Compression::UNCOMPRESSED };
        write_file(&root.join(&rel), &table, spec.rows, &mut rng, compression)?;
        written.push(WrittenFile { path: rel, rows: spec.rows, columns: table.expected });
    }
    written.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(written)
}
