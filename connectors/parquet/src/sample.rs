//! Samples of column values for the host's classification: the first rows
//! of the first row group, decoded by the `parquet` crate's column readers
//! inside the sandbox.
//!
//! Only the start of each column chunk is read (its dictionary page and
//! about 1 MiB of data pages), within a per-file budget, so a wide or huge
//! file costs a bounded amount of reads and memory. Each leaf column is read
//! on its own with a typed column reader and its values formatted directly:
//! the record API (row assembly, path maps, a `Field` per value) cost 2.4x
//! more per file on the generated lake (`footer-bench --sample`). A column
//! that cannot be sampled (a codec not compiled in, pages past the fetched
//! bytes) gets no sample; the schema is unaffected. Columns inside lists and
//! maps are not sampled: their elements are not one value per row.

use bytes::Bytes;
use parquet::basic::{ConvertedType, LogicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::metadata::page_index::RowGroupPageIndex;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length, RowGroupReader};
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::record::Field;
use parquet::schema::types::ColumnDescPtr;
use std::sync::Arc;
use surveyor_sdk::{ColumnSample, FileInput, FileReader, LogLevel, SampleBuilder, SampleLimits};

/// Data-page bytes fetched per column chunk beyond its dictionary page.
const CHUNK_FETCH: u64 = 1 << 20;
/// Bytes fetched per file at most: the sandbox's memory is the limit.
const FILE_BUDGET: u64 = 48 << 20;

/// Byte ranges of the file fetched ahead, served to the `parquet` crate.
struct Fetched {
    size: u64,
    ranges: Vec<(u64, Bytes)>,
}

impl Fetched {
    fn find(&self, start: u64) -> parquet::errors::Result<(&Bytes, usize)> {
        self.ranges
            .iter()
            .find(|(o, b)| start >= *o && start < o + b.len() as u64)
            .map(|(o, b)| (b, (start - o) as usize))
            .ok_or_else(|| parquet::errors::ParquetError::General(format!("offset {start} was not fetched")))
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let (bytes, from) = self.find(start)?;
        Ok(bytes::Buf::reader(bytes.slice(from..)))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let (bytes, from) = self.find(start)?;
        if from + length > bytes.len() {
            return Err(parquet::errors::ParquetError::General(format!(
                "range {start}+{length} runs past the fetched bytes"
            )));
        }
        Ok(bytes.slice(from..from + length))
    }
}

/// Samples every primitive column outside lists and maps.
pub fn sample(
    input: &FileInput,
    file: &dyn FileReader,
    metadata: &ParquetMetaData,
    limits: &SampleLimits,
) -> Vec<ColumnSample> {
    let Some(row_group) = metadata.row_groups().first() else { return Vec::new() };
    let schema = metadata.file_metadata().schema_descr();
    // One value per row: leaves with no repeated ancestor.
    let leaves: Vec<usize> = (0..schema.num_columns()).filter(|&i| schema.column(i).max_rep_level() == 0).collect();
    let mut budget = FILE_BUDGET;
    let tail_start = input.size.saturating_sub(input.tail.len() as u64);
    let mut ranges = Vec::new();
    let mut fetched_leaves = Vec::with_capacity(leaves.len());
    for &leaf in &leaves {
        let chunk = row_group.column(leaf);
        let (start, len) = chunk.byte_range();
        let dictionary = chunk.dictionary_page_offset().map_or(0, |d| (chunk.data_page_offset() - d).max(0) as u64);
        let want = len.min(dictionary + CHUNK_FETCH);
        if start.checked_add(want).is_none_or(|end| end > input.size) {
            continue;
        }
        if start < tail_start {
            if want > budget {
                file.log(LogLevel::Debug, "sampling stopped: the file's read budget is spent");
                break;
            }
            budget -= want;
            match input.bytes(file, start, want) {
                Ok(bytes) => ranges.push((start, Bytes::from(bytes.into_owned()))),
                Err(_) => break,
            }
        }
        fetched_leaves.push(leaf);
    }
    if fetched_leaves.is_empty() {
        return Vec::new();
    }
    // Chunks inside the tail the host handed over are served from it.
    ranges.push((tail_start, Bytes::copy_from_slice(&input.tail)));
    let fetched = Arc::new(Fetched { size: input.size, ranges });
    let props = Arc::new(ReaderProperties::builder().build());
    let Ok(reader) = SerializedRowGroupReader::new(fetched, row_group, RowGroupPageIndex::new(0, None), props) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(fetched_leaves.len());
    for leaf in fetched_leaves {
        let descr = schema.column(leaf);
        let path: Vec<String> = descr.path().parts().to_vec();
        let mut builder = SampleBuilder::new(path, limits);
        let rows = limits.max_rows as usize;
        let read = match reader.get_column_reader(leaf) {
            Ok(ColumnReader::BoolColumnReader(r)) => {
                read(r, &descr, rows, &mut builder, |_, v: &bool, b| b.push(Some(if *v { "true" } else { "false" })))
            }
            // Plain integers are written as such; converted types as the crate's `Field` shows them.
            Ok(ColumnReader::Int32ColumnReader(r)) => read(r, &descr, rows, &mut builder, |d, v, b| {
                use ConvertedType::*;
                match d.converted_type() {
                    INT_8 | INT_16 | UINT_8 | UINT_16 | UINT_32 | DATE | TIME_MILLIS | DECIMAL => {
                        push_field(b, &Field::convert_int32(d, *v))
                    }
                    _ => b.push(Some(&v.to_string())),
                }
            }),
            Ok(ColumnReader::Int64ColumnReader(r)) => read(r, &descr, rows, &mut builder, |d, v, b| {
                use ConvertedType::*;
                match d.converted_type() {
                    UINT_64 | TIME_MICROS | TIMESTAMP_MILLIS | TIMESTAMP_MICROS | DECIMAL => {
                        push_field(b, &Field::convert_int64(d, *v))
                    }
                    _ => b.push(Some(&v.to_string())),
                }
            }),
            Ok(ColumnReader::Int96ColumnReader(r)) => {
                read(r, &descr, rows, &mut builder, |_, v, b| push_field(b, &Field::TimestampMillis(v.to_millis())))
            }
            Ok(ColumnReader::FloatColumnReader(r)) => {
                read(r, &descr, rows, &mut builder, |_, v, b| push_field(b, &Field::Float(*v)))
            }
            Ok(ColumnReader::DoubleColumnReader(r)) => {
                read(r, &descr, rows, &mut builder, |_, v, b| push_field(b, &Field::Double(*v)))
            }
            Ok(ColumnReader::ByteArrayColumnReader(r)) => read(r, &descr, rows, &mut builder, push_bytes),
            Ok(ColumnReader::FixedLenByteArrayColumnReader(r)) => {
                read(r, &descr, rows, &mut builder, |d, v, b| push_bytes(d, v, b))
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(()) => out.push(builder.finish()),
            // A codec not compiled in, or pages past the fetched bytes.
            Err(_) => file
                .log(LogLevel::Debug, &format!("column {} not sampled: its pages could not be decoded", descr.path())),
        }
    }
    out
}

/// Reads the first `rows` values of one column into `builder`, nulls as `None`.
fn read<T: DataType>(
    mut reader: ColumnReaderImpl<T>,
    descr: &ColumnDescPtr,
    rows: usize,
    builder: &mut SampleBuilder,
    push: impl Fn(&ColumnDescPtr, &T::T, &mut SampleBuilder),
) -> parquet::errors::Result<()> {
    let (mut values, mut defs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let max_def = descr.max_def_level();
    let defs_wanted = if max_def > 0 { Some(&mut defs) } else { None };
    reader.read_records(rows, defs_wanted, None, &mut values)?;
    if max_def == 0 {
        values.iter().for_each(|v| push(descr, v, builder));
        return Ok(());
    }
    // Only non-null values are in `values`: one per level at `max_def`.
    let mut values = values.iter();
    for def in defs {
        match (def == max_def).then(|| values.next()).flatten() {
            Some(v) => push(descr, v, builder),
            None => builder.push(None),
        }
    }
    Ok(())
}

fn push_bytes(descr: &ColumnDescPtr, value: &ByteArray, builder: &mut SampleBuilder) {
    let data = value.data();
    match (descr.converted_type(), descr.logical_type_ref()) {
        (ConvertedType::DECIMAL, _) | (ConvertedType::NONE, Some(LogicalType::Float16)) => {
            match Field::convert_byte_array(descr, value.clone()) {
                Ok(field) => push_field(builder, &field),
                Err(_) => builder.push(None),
            }
        }
        (_, Some(LogicalType::Uuid)) if data.len() == 16 => builder.push(Some(&uuid(data))),
        // Text, and binary that happens to be UTF-8; other bytes count as null.
        _ => builder.push(std::str::from_utf8(data).ok()),
    }
}

/// The usual 8-4-4-4-12 form of a UUID's 16 bytes.
fn uuid(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The usual text form of a converted value. Dates and timestamps past
/// year 9999 are not formatted: the `parquet` crate's `Display` would panic
/// on the most extreme of them, and no classifier looks for them.
fn push_field(builder: &mut SampleBuilder, field: &Field) {
    const MAX_DAYS: i64 = 2_932_896;
    const MAX_MILLIS: i64 = MAX_DAYS * 86_400_000;
    let in_range = match field {
        Field::Date(d) => i64::from(*d).abs() <= MAX_DAYS,
        Field::TimestampMillis(ms) => ms.checked_abs().is_some_and(|ms| ms <= MAX_MILLIS),
        Field::TimestampMicros(us) => us.checked_abs().is_some_and(|us| us / 1000 <= MAX_MILLIS),
        _ => true,
    };
    if in_range {
        builder.push(Some(&field.to_string()));
    }
}
