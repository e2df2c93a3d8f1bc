//! The schema tree, built from the footer's flattened schema elements with
//! the `parquet` crate's own type builders: the same tree and the same
//! validation (decimal precision, annotations that do not fit their
//! physical type, …) as `ParquetMetaDataReader::decode_schema`, without its
//! `SchemaDescriptor` (every leaf's path and levels, unused here).

use crate::footer::Element;
use parquet::basic::{ConvertedType, LogicalType};
use parquet::schema::types::{Type, TypePtr};
use std::sync::Arc;

/// Deeper schemas are refused rather than recursed into (the crate's own
/// reader recurses without a limit; no real schema comes near this).
const MAX_NESTING: u32 = 256;

/// The root group and the number of leaf columns.
pub struct Tree {
    pub root: TypePtr,
    pub leaves: usize,
}

/// Builds the tree, or says what is wrong with the elements.
pub fn build(elements: &[Element<'_>]) -> Result<Tree, String> {
    let mut b = Builder { elements, next: 0, leaves: 0 };
    if elements.is_empty() {
        return Err("Expected exactly one root node, but found 0".into());
    }
    let root = b.node(0)?;
    if b.next != elements.len() {
        return Err("Expected exactly one root node, but found more".into());
    }
    if !root.is_group() {
        return Err("Expected root node to be a group type".into());
    }
    Ok(Tree { root, leaves: b.leaves })
}

struct Builder<'e, 'a> {
    elements: &'e [Element<'a>],
    next: usize,
    leaves: usize,
}

impl Builder<'_, '_> {
    fn node(&mut self, depth: u32) -> Result<TypePtr, String> {
        if depth > MAX_NESTING {
            return Err(format!("schema nests deeper than {MAX_NESTING} levels"));
        }
        let is_root = self.next == 0;
        let Some(e) = self.elements.get(self.next) else {
            return Err(format!("Index out of bound, index = {}, len = {}", self.next, self.elements.len()));
        };
        self.next += 1;
        let err = |e: parquet::errors::ParquetError| e.to_string();
        if is_root && matches!(e.num_children, None | Some(0)) {
            return Ok(Arc::new(Type::group_type_builder(e.name).build().map_err(err)?));
        }
        let converted = e.converted.unwrap_or(ConvertedType::NONE);
        if let Some(LogicalType::Integer(t)) = &e.logical
            && ![8, 16, 32, 64].contains(&t.bit_width)
        {
            return Err("Bit width must be 8, 16, 32, or 64 for Integer logical type".into());
        }
        let logical = e.logical.clone();
        match e.num_children {
            None | Some(0) => {
                let repetition = e.repetition.ok_or("Repetition level must be defined for a primitive type")?;
                if let Some(physical) = e.physical {
                    self.leaves += 1;
                    let t = Type::primitive_type_builder(e.name, physical)
                        .with_repetition(repetition)
                        .with_converted_type(converted)
                        .with_logical_type(logical)
                        .with_length(e.type_length.unwrap_or(-1))
                        .with_precision(e.precision.unwrap_or(-1))
                        .with_scale(e.scale.unwrap_or(-1))
                        .with_id(e.field_id)
                        .build()
                        .map_err(err)?;
                    Ok(Arc::new(t))
                } else {
                    // An empty group (parquet-cpp writes them).
                    let mut g = Type::group_type_builder(e.name)
                        .with_converted_type(converted)
                        .with_logical_type(logical)
                        .with_id(e.field_id);
                    if !is_root {
                        g = g.with_repetition(repetition);
                    }
                    Ok(Arc::new(g.build().map_err(err)?))
                }
            }
            Some(n) => {
                let n = usize::try_from(n).map_err(|_| format!("negative number of children: {n}"))?;
                // Each child is one more element: a larger count is a lie.
                let mut fields = Vec::with_capacity(n.min(self.elements.len() - self.next));
                for _ in 0..n {
                    fields.push(self.node(depth + 1)?);
                }
                let mut g = Type::group_type_builder(e.name)
                    .with_converted_type(converted)
                    .with_logical_type(logical)
                    .with_fields(fields)
                    .with_id(e.field_id);
                if !is_root {
                    let repetition = e.repetition.ok_or("Repetition level must be defined for non-root types")?;
                    g = g.with_repetition(repetition);
                }
                Ok(Arc::new(g.build().map_err(err)?))
            }
        }
    }
}
