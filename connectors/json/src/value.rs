//! One parsed JSON record, keeping what schema inference needs.
//!
//! `serde_json::Value` sorts object keys (without the `preserve_order`
//! feature, which would change every other crate's JSON in the workspace);
//! columns must come in first-seen order, so records are read into this type,
//! which keeps members in document order. String contents are not kept, only
//! their kind (plain or ISO date/time), so a record costs little more than
//! its keys.

use crate::temporal::{self, StrKind};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum JValue {
    Null,
    Bool,
    Int,
    Float,
    Str(StrKind),
    Array(Vec<JValue>),
    /// Members in document order; a repeated key appears twice.
    Object(Vec<(String, JValue)>),
}

impl JValue {
    /// A distinct bit per scalar kind; `None` for arrays and objects.
    fn scalar_bit(&self) -> Option<u16> {
        let index = match self {
            JValue::Null => 0,
            JValue::Bool => 1,
            JValue::Int => 2,
            JValue::Float => 3,
            JValue::Str(kind) => 4 + *kind as u16,
            JValue::Array(_) | JValue::Object(_) => return None,
        };
        Some(1 << index)
    }
}

impl<'de> Deserialize<'de> for JValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = JValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<JValue, E> {
        Ok(JValue::Bool)
    }
    fn visit_i64<E>(self, _: i64) -> Result<JValue, E> {
        Ok(JValue::Int)
    }
    /// Integers beyond `i64` do not fit `int64`: they are floats.
    fn visit_u64<E>(self, v: u64) -> Result<JValue, E> {
        Ok(if i64::try_from(v).is_ok() {
            JValue::Int
        } else {
            JValue::Float
        })
    }
    fn visit_f64<E>(self, _: f64) -> Result<JValue, E> {
        Ok(JValue::Float)
    }
    fn visit_str<E>(self, v: &str) -> Result<JValue, E> {
        Ok(JValue::Str(temporal::classify(v)))
    }
    fn visit_unit<E>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_none<E>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JValue, D::Error> {
        JValue::deserialize(d)
    }
    /// Scalars are kept once per kind: merging a second `1` into a list's
    /// element type changes nothing, and this bounds the memory of a long
    /// array of numbers to a few values.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JValue, A::Error> {
        let mut items = Vec::new();
        let mut seen_scalars = 0u16;
        while let Some(item) = seq.next_element::<JValue>()? {
            if let Some(bit) = item.scalar_bit() {
                if seen_scalars & bit != 0 {
                    continue;
                }
                seen_scalars |= bit;
            }
            items.push(item);
        }
        Ok(JValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JValue, A::Error> {
        let mut members = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, JValue>()? {
            members.push((key, value));
        }
        Ok(JValue::Object(members))
    }
}
