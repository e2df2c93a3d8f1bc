//! Schema inference: records are merged, one at a time, into a tree of
//! fields, which then becomes the column list.
//!
//! - Objects are `struct` columns whose fields are nested columns
//!   (`["address", "city"]`), in first-seen order.
//! - Arrays are `list<T>`, T the merged type of all elements; the fields of
//!   object elements are nested columns under `[name, "element", field]`.
//! - Integers are `int64`, other numbers `float64`, and both together
//!   `float64`. Strings are `string`, or `date` / `time[us]` / `timestamp[us]`
//!   / `timestamp[us, UTC]` when every sampled value is ISO 8601 of that kind
//!   (dates widen to date-times).
//! - Values of different JSON kinds in one field (a string here, an object
//!   there) make it `json` with physical type `mixed`: no one type holds
//!   them. Nulls never conflict: they make the field nullable.
//! - A field is `Required` when present and non-null in every record (every
//!   object, for a nested field) and `Optional` otherwise.

use crate::temporal::{self, StrKind};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use surveyor_sdk::{Column, Repetition, Value};

/// Bounds on the schema's size.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fields (at any depth) kept at most; later ones are dropped.
    pub max_columns: usize,
    /// Containers nested deeper than this are `json`, not descended into.
    pub max_depth: usize,
    /// Whether strings are checked for ISO dates and date-times.
    pub detect_temporal: bool,
}

/// JSON kinds, as bits, for conflicts.
const BOOLEAN: u8 = 1;
const NUMBER: u8 = 2;
const STRING: u8 = 4;
const OBJECT: u8 = 8;
const ARRAY: u8 = 16;

fn kind_names(kinds: u8) -> Vec<String> {
    [(BOOLEAN, "boolean"), (NUMBER, "number"), (STRING, "string"), (OBJECT, "object"), (ARRAY, "array")]
        .iter()
        .filter(|(bit, _)| kinds & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

#[derive(Debug, Default)]
enum Ty {
    /// Only nulls so far.
    #[default]
    Unknown,
    Bool,
    Int,
    Float,
    Str(StrKind),
    Struct(Fields),
    List(Box<Node>),
    /// A container below the depth limit: not descended into.
    Opaque(u8),
    /// Several JSON kinds.
    Mixed(u8),
}

impl Ty {
    fn kinds(&self) -> u8 {
        match self {
            Ty::Unknown => 0,
            Ty::Bool => BOOLEAN,
            Ty::Int | Ty::Float => NUMBER,
            Ty::Str(_) => STRING,
            Ty::Struct(_) => OBJECT,
            Ty::List(_) => ARRAY,
            Ty::Opaque(k) | Ty::Mixed(k) => *k,
        }
    }
}

#[derive(Debug, Default)]
struct Fields {
    fields: Vec<(String, Node)>,
    index: HashMap<String, usize>,
    /// Objects merged into this struct.
    objects: u64,
}

/// One field (or list element, or the record itself).
#[derive(Debug, Default)]
struct Node {
    ty: Ty,
    /// Occurrences, nulls included.
    present: u64,
    nulls: u64,
}

/// What merging needs besides the tree: limits and what they cut.
struct State {
    limits: Limits,
    /// Fields in the tree.
    fields: usize,
    truncated_columns: bool,
    depth_limited: bool,
}

/// The schema inferred so far.
pub struct Schema {
    root: Node,
    state: State,
}

impl Schema {
    pub fn new(limits: Limits) -> Self {
        Schema {
            root: Node::default(),
            state: State { limits, fields: 0, truncated_columns: false, depth_limited: false },
        }
    }

    /// Fields were dropped at `max_columns`.
    pub fn truncated_columns(&self) -> bool {
        self.state.truncated_columns
    }

    /// Containers were left unexplored at `max_depth`.
    pub fn depth_limited(&self) -> bool {
        self.state.depth_limited
    }

    /// Merges one record, given as JSON text already known to be valid.
    /// Values are merged as they are parsed: no tree of the record is
    /// built, so memory is the schema's, whatever the record's size.
    pub fn add(&mut self, record: &str) -> Result<(), serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(record);
        Merge { state: &mut self.state, node: &mut self.root, depth: 0 }.deserialize(&mut deserializer)?;
        deserializer.end()
    }

    /// The columns: every field at every depth, parents before children.
    /// Records that are not objects are one column, `value`.
    pub fn columns(&self) -> Vec<Column> {
        let mut out = Vec::new();
        match &self.root.ty {
            Ty::Struct(fields) => emit_fields(fields, &mut Vec::new(), &mut out),
            Ty::Unknown if self.root.present == 0 => {}
            _ => emit(&self.root, &mut vec!["value".into()], 0, self.root.present, &mut out),
        }
        out
    }
}

impl State {
    /// Counts one non-null value of `kind` at `node`; `fresh` is the type a
    /// node that saw only nulls takes. Returns whether the value fits the
    /// node's type (and so is to be merged, or descended into); a value of
    /// another kind turns the node into `json` (mixed), dropping its fields.
    fn accept(&mut self, node: &mut Node, kind: u8, fresh: Ty, depth: usize) -> bool {
        node.present += 1;
        if matches!(node.ty, Ty::Unknown) {
            node.ty = if kind & (OBJECT | ARRAY) != 0 && depth >= self.limits.max_depth {
                self.depth_limited = true;
                Ty::Opaque(kind)
            } else {
                fresh
            };
        }
        match node.ty {
            Ty::Opaque(have) => have == kind || self.mix(node, kind),
            Ty::Mixed(ref mut have) => {
                *have |= kind;
                false
            }
            _ => node.ty.kinds() == kind || self.mix(node, kind),
        }
    }

    /// Makes `node` mixed; always `false` (nothing to descend into).
    fn mix(&mut self, node: &mut Node, kind: u8) -> bool {
        self.fields = self.fields.saturating_sub(count_fields(&node.ty));
        node.ty = Ty::Mixed(node.ty.kinds() | kind);
        false
    }

    fn string_kind(&self, value: &str) -> StrKind {
        if self.limits.detect_temporal { temporal::classify(value) } else { StrKind::Plain }
    }
}

/// Merges the next JSON value into `node` while it is parsed.
struct Merge<'a> {
    state: &'a mut State,
    node: &'a mut Node,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Merge<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Merge<'_> {
    fn null(self) {
        self.node.present += 1;
        self.node.nulls += 1;
    }
    fn number(self, float: bool) {
        let fresh = if float { Ty::Float } else { Ty::Int };
        if self.state.accept(self.node, NUMBER, fresh, self.depth) && float {
            self.node.ty = Ty::Float;
        }
    }
}

impl<'de> Visitor<'de> for Merge<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.null();
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.null();
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.state.accept(self.node, BOOLEAN, Ty::Bool, self.depth);
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.number(false);
        Ok(())
    }
    /// Integers beyond `i64` do not fit `int64`: they are floats.
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.number(i64::try_from(v).is_err());
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.number(true);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        let kind = self.state.string_kind(v);
        if self.state.accept(self.node, STRING, Ty::Str(kind), self.depth)
            && let Ty::Str(have) = &mut self.node.ty
        {
            *have = temporal::widen(*have, kind);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let fresh = Ty::List(Box::default());
        if self.state.accept(self.node, ARRAY, fresh, self.depth)
            && let Ty::List(element) = &mut self.node.ty
        {
            while seq
                .next_element_seed(Merge { state: &mut *self.state, node: element.as_mut(), depth: self.depth + 1 })?
                .is_some()
            {}
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fresh = Ty::Struct(Fields::default());
        let accepted = self.state.accept(self.node, OBJECT, fresh, self.depth);
        let Ty::Struct(fields) = &mut self.node.ty else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        debug_assert!(accepted);
        fields.objects += 1;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            let at = match fields.index.get(name.as_ref()) {
                Some(&at) => at,
                None if self.state.fields < self.state.limits.max_columns => {
                    self.state.fields += 1;
                    fields.index.insert(name.to_string(), fields.fields.len());
                    fields.fields.push((name.into_owned(), Node::default()));
                    fields.fields.len() - 1
                }
                None => {
                    self.state.truncated_columns = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(Merge {
                state: &mut *self.state,
                node: &mut fields.fields[at].1,
                depth: self.depth + 1,
            })?;
        }
        Ok(())
    }
}

fn count_fields(ty: &Ty) -> usize {
    match ty {
        Ty::Struct(f) => f.fields.iter().map(|(_, n)| 1 + count_fields(&n.ty)).sum(),
        Ty::List(e) => count_fields(&e.ty),
        _ => 0,
    }
}

fn emit_fields(fields: &Fields, path: &mut Vec<String>, out: &mut Vec<Column>) {
    for (ordinal, (name, node)) in fields.fields.iter().enumerate() {
        path.push(name.clone());
        emit(node, path, ordinal as u32, fields.objects, out);
        path.pop();
    }
}

/// One column for `node`, then its nested columns.
fn emit(node: &Node, path: &mut Vec<String>, ordinal: u32, parents: u64, out: &mut Vec<Column>) {
    let optional = node.present < parents || node.nulls > 0 || matches!(node.ty, Ty::Unknown);
    let mut column = Column::new(path.iter().cloned(), physical_type(&node.ty), data_type(&node.ty))
        .repetition(if optional { Repetition::Optional } else { Repetition::Required })
        .ordinal(ordinal);
    if let Ty::Mixed(kinds) = node.ty {
        column = column.attr("kinds", Value::Texts(kind_names(kinds)));
    }
    out.push(column);
    match &node.ty {
        Ty::Struct(fields) => emit_fields(fields, path, out),
        Ty::List(element) => emit_element(element, path, out),
        _ => {}
    }
}

/// The fields of a list's object elements, under `element`.
fn emit_element(element: &Node, path: &mut Vec<String>, out: &mut Vec<Column>) {
    path.push("element".into());
    match &element.ty {
        Ty::Struct(fields) => emit_fields(fields, path, out),
        Ty::List(inner) => emit_element(inner, path, out),
        _ => {}
    }
    path.pop();
}

fn physical_type(ty: &Ty) -> &'static str {
    match ty {
        Ty::Unknown => "null",
        Ty::Bool => "boolean",
        Ty::Int | Ty::Float => "number",
        Ty::Str(_) => "string",
        Ty::Struct(_) => "object",
        Ty::List(_) => "array",
        Ty::Opaque(OBJECT) => "object",
        Ty::Opaque(ARRAY) => "array",
        Ty::Opaque(_) | Ty::Mixed(_) => "mixed",
    }
}

fn data_type(ty: &Ty) -> String {
    match ty {
        Ty::Unknown => "null".into(),
        Ty::Bool => "boolean".into(),
        Ty::Int => "int64".into(),
        Ty::Float => "float64".into(),
        Ty::Str(kind) => kind.data_type().into(),
        Ty::Struct(_) => "struct".into(),
        Ty::List(element) => format!("list<{}>", data_type(&element.ty)),
        Ty::Opaque(_) | Ty::Mixed(_) => "json".into(),
    }
}
