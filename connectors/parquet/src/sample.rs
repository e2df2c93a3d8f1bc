//! Samples of column values for the host's classification: the first rows
//! of the first row group, decoded by the `parquet` crate inside the sandbox.
//!
//! Only the start of each column chunk is read (its dictionary page and
//! about 1 MiB of data pages), one top-level field at a time, within a
//! per-file budget, so a wide or huge file costs a bounded amount of reads
//! and memory. A field that cannot be sampled (a codec not compiled in,
//! pages past the fetched bytes) gets no sample; the schema is unaffected.
//! Lists and maps are not sampled: their elements are not one value per row.

use bytes::Bytes;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::metadata::page_index::RowGroupPageIndex;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length, RowGroupReader};
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::record::{Field, Row};
use parquet::schema::types::Type;
use std::collections::BTreeMap;
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

/// Samples every primitive column outside lists and maps, field by field.
pub fn sample(
    input: &FileInput,
    file: &dyn FileReader,
    metadata: &ParquetMetaData,
    limits: &SampleLimits,
) -> Vec<ColumnSample> {
    let Some(row_group) = metadata.row_groups().first() else { return Vec::new() };
    let schema = metadata.file_metadata().schema_descr();
    let mut budget = FILE_BUDGET;
    let mut out = Vec::new();
    // Leaf columns by their top-level field.
    let mut leaves_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..schema.num_columns() {
        leaves_of.entry(schema.get_column_root_idx(i)).or_default().push(i);
    }
    for (field_index, field) in schema.root_schema().get_fields().iter().enumerate() {
        if !samplable(field) {
            continue;
        }
        let leaves = leaves_of.get(&field_index).map(Vec::as_slice).unwrap_or(&[]);
        let mut ranges = Vec::with_capacity(leaves.len());
        for &leaf in leaves {
            let chunk = row_group.column(leaf);
            let (start, len) = chunk.byte_range();
            let dictionary = chunk.dictionary_page_offset().map_or(0, |d| (chunk.data_page_offset() - d).max(0) as u64);
            let want = len.min(dictionary + CHUNK_FETCH);
            if want > budget || start.checked_add(want).is_none_or(|end| end > input.size) {
                file.log(LogLevel::Debug, "sampling stopped: the file's read budget is spent");
                return out;
            }
            budget -= want;
            match input.bytes(file, start, want) {
                Ok(bytes) => ranges.push((start, Bytes::from(bytes.into_owned()))),
                Err(_) => return out,
            }
        }
        let fetched = Arc::new(Fetched { size: input.size, ranges });
        let props = Arc::new(ReaderProperties::builder().build());
        let Ok(reader) = SerializedRowGroupReader::new(fetched, row_group, RowGroupPageIndex::new(0, None), props)
        else {
            continue;
        };
        // The projection's root must be named as the file's.
        let projection = Type::group_type_builder(schema.root_schema().name()).with_fields(vec![field.clone()]).build();
        let Ok(projection) = projection else { continue };
        let Ok(rows) = reader.get_row_iter(Some(projection)) else {
            file.log(LogLevel::Debug, &format!("field {} not sampled: cannot read its pages", field.name()));
            continue;
        };
        let mut builders: BTreeMap<Vec<String>, SampleBuilder> = BTreeMap::new();
        for row in rows.take(limits.max_rows as usize) {
            let Ok(row) = row else {
                // A codec not compiled in, or pages past the fetched bytes: keep what was read.
                file.log(
                    LogLevel::Debug,
                    &format!("field {} sampled partly: a page could not be decoded", field.name()),
                );
                break;
            };
            collect(&row, &mut Vec::new(), &mut builders, limits);
        }
        out.extend(builders.into_values().map(SampleBuilder::finish));
    }
    out
}

/// Primitive fields and structs of them; not lists, maps or repeated fields.
fn samplable(node: &Type) -> bool {
    let info = node.get_basic_info();
    if info.has_repetition() && info.repetition() == parquet::basic::Repetition::REPEATED {
        return false;
    }
    match node {
        Type::PrimitiveType { .. } => true,
        Type::GroupType { fields, .. } => {
            let nested = matches!(
                info.logical_type_ref(),
                Some(parquet::basic::LogicalType::List | parquet::basic::LogicalType::Map)
            ) || matches!(
                info.converted_type(),
                parquet::basic::ConvertedType::LIST
                    | parquet::basic::ConvertedType::MAP
                    | parquet::basic::ConvertedType::MAP_KEY_VALUE
            );
            !nested && fields.iter().all(|f| samplable(f))
        }
    }
}

fn collect(
    row: &Row,
    path: &mut Vec<String>,
    builders: &mut BTreeMap<Vec<String>, SampleBuilder>,
    limits: &SampleLimits,
) {
    for (name, field) in row.get_column_iter() {
        path.push(name.clone());
        match field {
            Field::Group(inner) => collect(inner, path, builders, limits),
            Field::ListInternal(_) | Field::MapInternal(_) => {}
            other => {
                let builder = builders.entry(path.clone()).or_insert_with(|| SampleBuilder::new(path.clone(), limits));
                match text(other) {
                    Some(value) => builder.push(Some(&value)),
                    None => builder.push(None),
                }
            }
        }
        path.pop();
    }
}

/// A value's usual text form; `None` for nulls and non-UTF-8 bytes.
fn text(field: &Field) -> Option<String> {
    match field {
        Field::Null => None,
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => std::str::from_utf8(b.data()).ok().map(str::to_string),
        other => Some(other.to_string()),
    }
}
