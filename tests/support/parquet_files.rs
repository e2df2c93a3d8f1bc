//! Small Parquet files written in the test, for tests that need a file of a
//! given schema rather than realistic contents.
#![allow(dead_code)]

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

/// A two-row Parquet file with these nullable columns (strings, 64-bit
/// integers, and 32-bit integers for any other type).
pub fn parquet(columns: &[(&str, DataType)]) -> Vec<u8> {
    let schema =
        Arc::new(Schema::new(columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|(_, t)| match t {
            DataType::Utf8 => Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            DataType::Int64 => Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            _ => Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
        })
        .collect();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema.clone(), None).unwrap();
    writer.write(&RecordBatch::try_new(schema, arrays).unwrap()).unwrap();
    writer.close().unwrap();
    bytes
}
