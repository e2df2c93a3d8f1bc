//! The contract's `packed-file-schema` (since 0.1.5): a schema whose
//! columns' strings travel in one string. The host lifts each string out of
//! the sandbox with an allocation, a bounds check and a UTF-8 check; one
//! string and a list of ends cost it one of each.

use crate::bindings::format::exports::surveyor::connector::packed_schema as wit;
use crate::{Attribute, Column, FileSchema, Repetition};

pub use wit::{PackedColumn, PackedFileSchema};

/// Builds a [`PackedFileSchema`] column by column, in the schema's order.
#[derive(Debug, Default)]
pub struct SchemaPacker {
    text: String,
    ends: Vec<u32>,
    columns: Vec<PackedColumn>,
}

impl SchemaPacker {
    pub fn with_capacity(columns: usize) -> Self {
        // About three strings a column, of a dozen bytes each.
        SchemaPacker {
            text: String::with_capacity(columns * 32),
            ends: Vec::with_capacity(columns * 3),
            columns: Vec::with_capacity(columns),
        }
    }

    fn put(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
    }

    /// Adds a column whose path is the first `shared` segments of the last
    /// column's path (at most all of them), then `own`. It starts nullable,
    /// `optional` and at ordinal 0, as [`Column::new`] does; the returned
    /// record sets the rest.
    pub fn column(
        &mut self,
        shared: u32,
        own: &[&str],
        physical_type: &str,
        logical_type: Option<&str>,
        data_type: &str,
    ) -> &mut PackedColumn {
        for segment in own {
            self.put(segment);
        }
        self.put(physical_type);
        if let Some(logical) = logical_type {
            self.put(logical);
        }
        self.put(data_type);
        self.columns.push(PackedColumn {
            shared,
            added: own.len() as u32,
            has_logical_type: logical_type.is_some(),
            repetition: Repetition::Optional,
            nullable: true,
            ordinal: 0,
            attributes: Vec::new(),
        });
        self.columns.last_mut().expect("just pushed")
    }

    pub fn finish(self, attributes: Vec<Attribute>) -> PackedFileSchema {
        PackedFileSchema { text: self.text, ends: self.ends, columns: self.columns, attributes }
    }
}

impl PackedColumn {
    /// Sets the repetition; `nullable` follows it (only `required` is not nullable).
    pub fn repetition(&mut self, repetition: Repetition) -> &mut Self {
        self.repetition = repetition;
        self.nullable = repetition != Repetition::Required;
        self
    }
    pub fn ordinal(&mut self, ordinal: u32) -> &mut Self {
        self.ordinal = ordinal;
        self
    }
    pub fn attr(&mut self, key: impl Into<String>, value: impl Into<crate::Value>) -> &mut Self {
        self.attributes.push(Attribute { key: key.into(), value: value.into() });
        self
    }
}

/// `schema`, packed: each column shares with the one before it as much of
/// its path as it can, short of its own name.
pub fn pack(schema: FileSchema) -> PackedFileSchema {
    let mut packer = SchemaPacker::with_capacity(schema.columns.len());
    let mut previous: Vec<String> = Vec::new();
    for Column { path, physical_type, logical_type, data_type, repetition, nullable, ordinal, attributes } in
        schema.columns
    {
        let common = previous.iter().zip(&path).take_while(|(a, b)| a == b).count();
        let shared = common.min(path.len().saturating_sub(1));
        let own: Vec<&str> = path[shared..].iter().map(String::as_str).collect();
        let column = packer.column(shared as u32, &own, &physical_type, logical_type.as_deref(), &data_type);
        column.repetition = repetition;
        column.nullable = nullable;
        column.ordinal = ordinal;
        column.attributes = attributes;
        previous = path;
    }
    packer.finish(schema.attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_column_shares_its_parents_path_and_names_only_itself() {
        let columns = vec![
            Column::new(["id"], "INT64", "int64").repetition(Repetition::Required),
            Column::new(["address"], "group", "struct").ordinal(1),
            Column::new(["address", "city"], "BYTE_ARRAY", "string").logical_type("STRING"),
            Column::new(["address", "zip"], "INT32", "int32").ordinal(1).attr("fieldId", 7i64),
            Column::new(["address"], "INT32", "int32").ordinal(2),
        ];
        let packed = pack(FileSchema { columns, attributes: Vec::new() });
        let shape: Vec<(u32, u32, bool)> =
            packed.columns.iter().map(|c| (c.shared, c.added, c.has_logical_type)).collect();
        // A column named like its predecessor's parent still names itself.
        assert_eq!(shape, [(0, 1, false), (0, 1, false), (1, 1, true), (1, 1, false), (0, 1, false)]);
        assert_eq!(
            packed.text,
            "idINT64int64addressgroupstructcityBYTE_ARRAYSTRINGstringzipINT32int32addressINT32int32"
        );
        assert_eq!(packed.ends.len(), 16);
        assert_eq!(packed.ends.last().copied(), Some(packed.text.len() as u32));
        assert!(!packed.columns[0].nullable && packed.columns[3].ordinal == 1);
        assert_eq!(packed.columns[3].attributes.len(), 1);
    }
}
