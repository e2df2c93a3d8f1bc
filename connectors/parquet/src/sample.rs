//! Samples of column values for the host's classification: the first rows
//! of the first row group, decoded by the `parquet` crate's column readers
//! inside the sandbox.
//!
//! Only the start of each column chunk is read (its dictionary page and
//! about 1 MiB of data pages), within a per-file budget, so a wide or huge
//! file costs a bounded amount of reads and memory. Each leaf column is read
//! on its own with a typed column reader and its values formatted directly
//! ([`text`]): the record API (row assembly, path maps, a `Field` per
//! value) cost 2.4x more per file on the generated lake (`footer-bench
//! --sample`). A column that cannot be sampled (LZO, which no pure-Rust decoder reads,
//! pages past the fetched bytes) gets no sample; the schema is unaffected.
//! Columns inside lists and maps are not sampled: their elements are not
//! one value per row.

use crate::own_pages::{OwnCodec, OwnPages};
use crate::{footer, text};
use bytes::Bytes;
use parquet::basic::{Compression, ConvertedType, LogicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl, get_column_reader};
use parquet::data_type::DataType;
use parquet::file::metadata::page_index::RowGroupPageIndex;
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length, RowGroupReader};
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::schema::types::{ColumnDescPtr, ColumnDescriptor, SchemaDescriptor, TypePtr};
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

/// The first row group, as the crate's column readers want it, with which
/// of its chunks they can read.
pub struct FirstRowGroup {
    metadata: RowGroupMetaData,
    readable: Vec<bool>,
}

/// Builds the first row group's metadata from what [`footer::read`] kept,
/// rather than have the crate decode the whole footer a second time (8% of
/// a classified lake scan's CPU, even with statistics skipped). A chunk
/// that lives in another file, is encrypted, has an unknown codec or
/// negative offsets is not read; `None` when the chunks do not match the
/// schema's leaves.
pub fn row_group(root: &TypePtr, rows: &footer::RowGroup) -> Option<FirstRowGroup> {
    let schema = Arc::new(SchemaDescriptor::new(root.clone()));
    if rows.chunks.len() != schema.num_columns() {
        return None;
    }
    let mut readable = Vec::with_capacity(rows.chunks.len());
    let mut columns = Vec::with_capacity(rows.chunks.len());
    for (i, chunk) in rows.chunks.iter().enumerate() {
        let builder = ColumnChunkMetaData::builder(schema.column(i));
        let start = chunk.dictionary_page_offset.or(chunk.data_page_offset);
        let place = (chunk.data_page_offset, start, compression(chunk.codec));
        let builder = match place {
            (Some(data), Some(start), Some(codec))
                if chunk.has_metadata
                    && !chunk.file_path
                    && data >= 0
                    && start >= 0
                    && chunk.compressed >= 0
                    && chunk.num_values >= 0 =>
            {
                readable.push(true);
                builder
                    .set_compression(codec)
                    .set_num_values(chunk.num_values)
                    .set_total_compressed_size(chunk.compressed)
                    .set_total_uncompressed_size(chunk.uncompressed)
                    .set_data_page_offset(data)
                    .set_dictionary_page_offset(chunk.dictionary_page_offset)
            }
            _ => {
                readable.push(false);
                builder
            }
        };
        columns.push(builder.build().ok()?);
    }
    let metadata =
        RowGroupMetaData::builder(schema).set_num_rows(rows.num_rows).set_column_metadata(columns).build().ok()?;
    Some(FirstRowGroup { metadata, readable })
}

impl FirstRowGroup {
    #[cfg(test)]
    pub fn metadata(&self) -> &RowGroupMetaData {
        &self.metadata
    }

    #[cfg(test)]
    pub fn is_readable(&self, column: usize) -> bool {
        self.readable[column]
    }
}

fn compression(codec: i64) -> Option<Compression> {
    Some(match codec {
        0 => Compression::UNCOMPRESSED,
        1 => Compression::SNAPPY,
        2 => Compression::GZIP(Default::default()),
        3 => Compression::LZO,
        4 => Compression::BROTLI(Default::default()),
        5 => Compression::LZ4,
        6 => Compression::ZSTD(Default::default()),
        7 => Compression::LZ4_RAW,
        _ => return None,
    })
}

/// Samples every primitive column outside lists and maps, but the `unwanted` paths.
pub fn sample(
    input: &FileInput,
    file: &dyn FileReader,
    first: &FirstRowGroup,
    limits: &SampleLimits,
    unwanted: &[&[String]],
) -> Vec<ColumnSample> {
    let row_group = &first.metadata;
    let schema = row_group.schema_descr();
    // One value per row: leaves with no repeated ancestor.
    let leaves: Vec<usize> = (0..schema.num_columns())
        .filter(|&i| {
            let column = schema.column(i);
            first.readable[i] && column.max_rep_level() == 0 && !unwanted.contains(&column.path().parts())
        })
        .collect();
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
        fetched_leaves.push((leaf, start, want));
    }
    if fetched_leaves.is_empty() {
        return Vec::new();
    }
    // Chunks inside the tail the host handed over are served from it.
    ranges.push((tail_start, Bytes::copy_from_slice(&input.tail)));
    let fetched = Arc::new(Fetched { size: input.size, ranges });
    let props = Arc::new(ReaderProperties::builder().build());
    let Ok(reader) = SerializedRowGroupReader::new(fetched.clone(), row_group, RowGroupPageIndex::new(0, None), props)
    else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(fetched_leaves.len());
    let mut scratch = String::new();
    for (leaf, start, fetched_len) in fetched_leaves {
        let descr = schema.column(leaf);
        let path: Vec<String> = descr.path().parts().to_vec();
        let mut builder = SampleBuilder::new(path, limits);
        let rows = limits.max_rows as usize;
        let b = &mut builder;
        let s = &mut scratch;
        let d = &descr;
        let own = match row_group.column(leaf).compression() {
            Compression::ZSTD(_) => Some(OwnCodec::Zstd),
            Compression::BROTLI(_) => Some(OwnCodec::Brotli),
            _ => None,
        };
        let column_reader = match own {
            // Codecs the crate is built without here: pages decompressed by own_pages.
            Some(codec) => fetched.get_bytes(start, fetched_len as usize).map(|chunk| {
                let pages = OwnPages::new(codec, chunk, row_group.column(leaf).num_values());
                get_column_reader(descr.clone(), Box::new(pages))
            }),
            None => reader.get_column_reader(leaf),
        };
        let read = match column_reader {
            Ok(ColumnReader::BoolColumnReader(r)) => read(r, d, rows, b, s, |v, b, _| b.push(Some(bool_text(*v)))),
            Ok(ColumnReader::Int32ColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push(b, s, |s| text::int32(d, *v, s)))
            }
            Ok(ColumnReader::Int64ColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push(b, s, |s| text::int64(d, *v, s)))
            }
            Ok(ColumnReader::Int96ColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push(b, s, |s| text::int96(v.to_millis(), s)))
            }
            Ok(ColumnReader::FloatColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push(b, s, |s| text::float(s, *v)))
            }
            Ok(ColumnReader::DoubleColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push(b, s, |s| text::double(s, *v)))
            }
            Ok(ColumnReader::ByteArrayColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push_bytes(d, v.data(), b, s))
            }
            Ok(ColumnReader::FixedLenByteArrayColumnReader(r)) => {
                read(r, d, rows, b, s, |v, b, s| push_bytes(d, v.data(), b, s))
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
    descr: &ColumnDescriptor,
    rows: usize,
    builder: &mut SampleBuilder,
    scratch: &mut String,
    mut push: impl FnMut(&T::T, &mut SampleBuilder, &mut String),
) -> parquet::errors::Result<()> {
    let (mut values, mut defs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let max_def = descr.max_def_level();
    let defs_wanted = if max_def > 0 { Some(&mut defs) } else { None };
    reader.read_records(rows, defs_wanted, None, &mut values)?;
    if max_def == 0 {
        values.iter().for_each(|v| push(v, builder, scratch));
        return Ok(());
    }
    // Only non-null values are in `values`: one per level at `max_def`.
    let mut values = values.iter();
    for def in defs {
        match (def == max_def).then(|| values.next()).flatten() {
            Some(v) => push(v, builder, scratch),
            None => builder.push(None),
        }
    }
    Ok(())
}

/// Pushes the text `write` puts in `scratch`, or a null when it has none.
fn push(builder: &mut SampleBuilder, scratch: &mut String, write: impl FnOnce(&mut String) -> bool) {
    scratch.clear();
    let written = write(scratch);
    builder.push(written.then_some(scratch.as_str()));
}

fn bool_text(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

fn push_bytes(descr: &ColumnDescPtr, data: &[u8], builder: &mut SampleBuilder, scratch: &mut String) {
    match (descr.converted_type(), descr.logical_type_ref()) {
        (ConvertedType::DECIMAL, _) => push(builder, scratch, |s| text::decimal_bytes(descr, data, s)),
        (ConvertedType::NONE, Some(LogicalType::Float16)) => push(builder, scratch, |s| text::float16(descr, data, s)),
        (_, Some(LogicalType::Uuid)) => match <&[u8; 16]>::try_from(data) {
            Ok(bytes) => push(builder, scratch, |s| {
                text::uuid(bytes, s);
                true
            }),
            Err(_) => builder.push(None),
        },
        // Text, and binary that happens to be UTF-8; other bytes count as null.
        _ => builder.push(std::str::from_utf8(data).ok()),
    }
}
