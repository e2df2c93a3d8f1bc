//! Parquet schema → contract columns: every node of the schema tree (groups
//! and leaves) with its full path, its physical and logical types, a
//! normalised data type and repetition.

use parquet::basic::{ConvertedType, LogicalType, Repetition as PqRepetition, TimeUnit, Type as Physical};
use parquet::schema::types::Type;
use std::borrow::Cow;
use surveyor_sdk::packed::SchemaPacker;
use surveyor_sdk::{Column, Repetition};

/// One node of the schema, as [`Columns`] receive it.
pub struct Node<'a> {
    /// The full path.
    pub path: &'a [&'a str],
    pub physical: &'a str,
    pub logical: Option<&'a str>,
    pub data_type: &'a str,
    pub repetition: Repetition,
    pub ordinal: u32,
    /// Integer-valued attributes.
    pub attributes: &'a [(&'static str, i32)],
}

/// Where a schema's columns go: a list of [`Column`]s (`read-schema`), or a
/// [`SchemaPacker`] (`read-packed-schema`), which takes only each column's
/// own name, its parents' being those of a column before it.
pub trait Columns {
    fn push(&mut self, node: Node<'_>);
}

impl Columns for Vec<Column> {
    fn push(&mut self, node: Node<'_>) {
        let mut column = Column::new(node.path.iter().copied(), node.physical, node.data_type)
            .repetition(node.repetition)
            .ordinal(node.ordinal);
        column.logical_type = node.logical.map(str::to_string);
        for (key, value) in node.attributes {
            column = column.attr(*key, *value);
        }
        Vec::push(self, column);
    }
}

impl Columns for SchemaPacker {
    fn push(&mut self, node: Node<'_>) {
        // Depth first: the column before this one is its parent or under a
        // sibling of one of its parents, so it has the parents' path.
        let (name, parents) = node.path.split_last().expect("a column has a name");
        let column = self.column(parents.len() as u32, &[name], node.physical, node.logical, node.data_type);
        column.repetition(node.repetition).ordinal(node.ordinal);
        for (key, value) in node.attributes {
            column.attr(*key, *value);
        }
    }
}

/// Every node under `root` (the message group), depth first, into `out`.
pub fn columns(root: &Type, out: &mut impl Columns) {
    let mut path = Vec::new();
    for (ordinal, field) in root.get_fields().iter().enumerate() {
        visit(out, field, &mut path, ordinal as u32);
    }
}

fn visit<'a>(out: &mut impl Columns, node: &'a Type, path: &mut Vec<&'a str>, ordinal: u32) {
    let info = node.get_basic_info();
    path.push(node.name());
    let repetition = if info.has_repetition() { info.repetition() } else { PqRepetition::REQUIRED };
    let repetition = match repetition {
        PqRepetition::REQUIRED => Repetition::Required,
        PqRepetition::OPTIONAL => Repetition::Optional,
        PqRepetition::REPEATED => Repetition::Repeated,
    };
    let mut attributes: [(&'static str, i32); 3] = [("", 0); 3];
    let mut count = 0;
    if info.has_id() {
        attributes[0] = ("fieldId", info.id());
        count = 1;
    }
    if let Type::PrimitiveType { precision, scale, .. } = node
        && is_decimal(node)
    {
        attributes[count] = ("precision", *precision);
        attributes[count + 1] = ("scale", *scale);
        count += 2;
    }
    let logical = logical_name(node);
    out.push(Node {
        path,
        physical: &physical_name(node),
        logical: logical.as_deref(),
        data_type: &data_type(node),
        repetition,
        ordinal,
        attributes: &attributes[..count],
    });
    if node.is_group() {
        for (i, child) in node.get_fields().iter().enumerate() {
            visit(out, child, path, i as u32);
        }
    }
    path.pop();
}

fn physical_name(node: &Type) -> Cow<'static, str> {
    let Type::PrimitiveType { physical_type, type_length, .. } = node else {
        return Cow::Borrowed("group");
    };
    Cow::Borrowed(match physical_type {
        Physical::BOOLEAN => "BOOLEAN",
        Physical::INT32 => "INT32",
        Physical::INT64 => "INT64",
        Physical::INT96 => "INT96",
        Physical::FLOAT => "FLOAT",
        Physical::DOUBLE => "DOUBLE",
        Physical::BYTE_ARRAY => "BYTE_ARRAY",
        Physical::FIXED_LEN_BYTE_ARRAY => return Cow::Owned(format!("FIXED_LEN_BYTE_ARRAY({type_length})")),
    })
}

/// An integer annotation's names: as written in the file, and normalised
/// (none for a width Parquet does not allow, which the tree refuses).
fn integer_names(width: i8, signed: bool) -> Option<(&'static str, &'static str)> {
    Some(match (width, signed) {
        (8, true) => ("INTEGER(8,signed)", "int8"),
        (16, true) => ("INTEGER(16,signed)", "int16"),
        (32, true) => ("INTEGER(32,signed)", "int32"),
        (64, true) => ("INTEGER(64,signed)", "int64"),
        (8, false) => ("INTEGER(8,unsigned)", "uint8"),
        (16, false) => ("INTEGER(16,unsigned)", "uint16"),
        (32, false) => ("INTEGER(32,unsigned)", "uint32"),
        (64, false) => ("INTEGER(64,unsigned)", "uint64"),
        _ => return None,
    })
}

/// A timestamp annotation's names: as written in the file, and normalised.
fn timestamp_names(unit: &TimeUnit, utc: bool) -> (&'static str, &'static str) {
    match (unit, utc) {
        (TimeUnit::MILLIS, true) => ("TIMESTAMP(MILLIS,UTC)", "timestamp[ms, UTC]"),
        (TimeUnit::MICROS, true) => ("TIMESTAMP(MICROS,UTC)", "timestamp[us, UTC]"),
        (TimeUnit::NANOS, true) => ("TIMESTAMP(NANOS,UTC)", "timestamp[ns, UTC]"),
        (TimeUnit::MILLIS, false) => ("TIMESTAMP(MILLIS,local)", "timestamp[ms]"),
        (TimeUnit::MICROS, false) => ("TIMESTAMP(MICROS,local)", "timestamp[us]"),
        (TimeUnit::NANOS, false) => ("TIMESTAMP(NANOS,local)", "timestamp[ns]"),
    }
}

/// The annotation as written in the file: the logical type when present,
/// otherwise the legacy converted type. The common ones are static strings:
/// this runs for every column of every file.
fn logical_name(node: &Type) -> Option<Cow<'static, str>> {
    let info = node.get_basic_info();
    if let Some(logical) = info.logical_type_ref() {
        return Some(match logical {
            LogicalType::Integer(t) => match integer_names(t.bit_width, t.is_signed) {
                Some((logical, _)) => logical.into(),
                None => {
                    let sign = if t.is_signed { "signed" } else { "unsigned" };
                    format!("INTEGER({},{sign})", t.bit_width).into()
                }
            },
            LogicalType::Decimal(d) => format!("DECIMAL({},{})", d.precision, d.scale).into(),
            LogicalType::Timestamp(t) => timestamp_names(&t.unit, t.is_adjusted_to_u_t_c).0.into(),
            LogicalType::Time(t) => Cow::Borrowed(match (&t.unit, t.is_adjusted_to_u_t_c) {
                (TimeUnit::MILLIS, true) => "TIME(MILLIS,UTC)",
                (TimeUnit::MICROS, true) => "TIME(MICROS,UTC)",
                (TimeUnit::NANOS, true) => "TIME(NANOS,UTC)",
                (TimeUnit::MILLIS, false) => "TIME(MILLIS,local)",
                (TimeUnit::MICROS, false) => "TIME(MICROS,local)",
                (TimeUnit::NANOS, false) => "TIME(NANOS,local)",
            }),
            LogicalType::Date => "DATE".into(),
            LogicalType::Bson => "BSON".into(),
            LogicalType::Json => "JSON".into(),
            LogicalType::String => "STRING".into(),
            LogicalType::Uuid => "UUID".into(),
            LogicalType::Enum => "ENUM".into(),
            LogicalType::List => "LIST".into(),
            LogicalType::Map => "MAP".into(),
            LogicalType::Float16 => "FLOAT16".into(),
            LogicalType::Variant(v) => match v.specification_version {
                Some(version) => format!("VARIANT({version})").into(),
                None => "VARIANT".into(),
            },
            LogicalType::Geometry(g) => match &g.crs {
                Some(crs) => format!("GEOMETRY({crs})").into(),
                None => "GEOMETRY".into(),
            },
            LogicalType::Geography(g) => {
                let algorithm = g.algorithm().map(|a| a.to_string()).unwrap_or_default();
                match &g.crs {
                    Some(crs) => format!("GEOGRAPHY({algorithm},{crs})").into(),
                    None => format!("GEOGRAPHY({algorithm})").into(),
                }
            }
            LogicalType::File => "FILE".into(),
            LogicalType::Unknown => "UNKNOWN".into(),
            LogicalType::_Unknown { field_id } => format!("UNKNOWN_LOGICAL_TYPE({field_id})").into(),
        });
    }
    match info.converted_type() {
        ConvertedType::NONE => None,
        ConvertedType::DECIMAL => match node {
            Type::PrimitiveType { precision, scale, .. } => Some(format!("DECIMAL({precision},{scale})").into()),
            _ => Some("DECIMAL".into()),
        },
        other => Some(other.to_string().into()),
    }
}

fn is_decimal(node: &Type) -> bool {
    let info = node.get_basic_info();
    matches!(info.logical_type_ref(), Some(LogicalType::Decimal(_))) || info.converted_type() == ConvertedType::DECIMAL
}

fn is_list(node: &Type) -> bool {
    let info = node.get_basic_info();
    matches!(info.logical_type_ref(), Some(LogicalType::List)) || info.converted_type() == ConvertedType::LIST
}

fn is_map(node: &Type) -> bool {
    let info = node.get_basic_info();
    matches!(info.logical_type_ref(), Some(LogicalType::Map))
        || matches!(info.converted_type(), ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE)
}

/// The normalised type: the same names whatever the writer or the format
/// (`int64`, `decimal(10,2)`, `timestamp[us, UTC]`, `list<string>`, `struct`).
pub fn data_type(node: &Type) -> Cow<'static, str> {
    let repeated_leaf =
        node.get_basic_info().has_repetition() && node.get_basic_info().repetition() == PqRepetition::REPEATED;
    let base = value_type(node);
    // A repeated field outside a LIST annotation is a legacy one-level list.
    if repeated_leaf && node.is_primitive() { format!("list<{base}>").into() } else { base }
}

fn value_type(node: &Type) -> Cow<'static, str> {
    match node {
        Type::GroupType { fields, .. } => {
            if is_list(node)
                && let [repeated] = fields.as_slice()
            {
                return format!("list<{}>", list_element_type(node.name(), repeated)).into();
            }
            if is_map(node)
                && let [repeated] = fields.as_slice()
                && let Type::GroupType { fields: kv, .. } = repeated.as_ref()
                && let [key, value] = kv.as_slice()
            {
                return format!("map<{}, {}>", value_type(key), value_type(value)).into();
            }
            "struct".into()
        }
        Type::PrimitiveType { physical_type, type_length, precision, scale, .. } => {
            primitive_type(node, *physical_type, *type_length, *precision, *scale)
        }
    }
}

/// The element type of a LIST, following the Parquet format's
/// backward-compatibility rules for legacy two-level lists.
fn list_element_type(list_name: &str, repeated: &Type) -> Cow<'static, str> {
    match repeated {
        Type::PrimitiveType { .. } => value_type(repeated),
        Type::GroupType { fields, .. } => {
            let legacy_group =
                fields.len() > 1 || repeated.name() == "array" || repeated.name() == format!("{list_name}_tuple");
            match fields.as_slice() {
                [element] if !legacy_group => value_type(element),
                _ => "struct".into(),
            }
        }
    }
}

fn primitive_type(node: &Type, physical: Physical, length: i32, precision: i32, scale: i32) -> Cow<'static, str> {
    let info = node.get_basic_info();
    if let Some(logical) = info.logical_type_ref() {
        match logical {
            LogicalType::Integer(t) => {
                return match integer_names(t.bit_width, t.is_signed) {
                    Some((_, normalised)) => normalised.into(),
                    None => format!("{}int{}", if t.is_signed { "" } else { "u" }, t.bit_width).into(),
                };
            }
            LogicalType::Decimal(d) => return format!("decimal({},{})", d.precision, d.scale).into(),
            LogicalType::Timestamp(t) => return timestamp_names(&t.unit, t.is_adjusted_to_u_t_c).1.into(),
            LogicalType::Time(t) => {
                return Cow::Borrowed(match t.unit {
                    TimeUnit::MILLIS => "time[ms]",
                    TimeUnit::MICROS => "time[us]",
                    TimeUnit::NANOS => "time[ns]",
                });
            }
            LogicalType::Date => return "date".into(),
            LogicalType::String | LogicalType::Enum => return "string".into(),
            LogicalType::Json => return "json".into(),
            LogicalType::Bson => return "bson".into(),
            LogicalType::Uuid => return "uuid".into(),
            LogicalType::Float16 => return "float16".into(),
            LogicalType::Geometry(_) => return "geometry".into(),
            LogicalType::Geography(_) => return "geography".into(),
            LogicalType::Variant(_) => return "variant".into(),
            LogicalType::Unknown => return "null".into(),
            _ => {}
        }
    }
    match info.converted_type() {
        ConvertedType::UTF8 | ConvertedType::ENUM => return "string".into(),
        ConvertedType::JSON => return "json".into(),
        ConvertedType::BSON => return "bson".into(),
        ConvertedType::DECIMAL => return format!("decimal({precision},{scale})").into(),
        ConvertedType::DATE => return "date".into(),
        ConvertedType::TIME_MILLIS => return "time[ms]".into(),
        ConvertedType::TIME_MICROS => return "time[us]".into(),
        ConvertedType::TIMESTAMP_MILLIS => return "timestamp[ms, UTC]".into(),
        ConvertedType::TIMESTAMP_MICROS => return "timestamp[us, UTC]".into(),
        ConvertedType::INT_8 => return "int8".into(),
        ConvertedType::INT_16 => return "int16".into(),
        ConvertedType::INT_32 => return "int32".into(),
        ConvertedType::INT_64 => return "int64".into(),
        ConvertedType::UINT_8 => return "uint8".into(),
        ConvertedType::UINT_16 => return "uint16".into(),
        ConvertedType::UINT_32 => return "uint32".into(),
        ConvertedType::UINT_64 => return "uint64".into(),
        ConvertedType::INTERVAL => return "interval".into(),
        _ => {}
    }
    match physical {
        Physical::BOOLEAN => "boolean".into(),
        Physical::INT32 => "int32".into(),
        Physical::INT64 => "int64".into(),
        // INT96 is the legacy Impala/Hive/Spark timestamp: nanoseconds, no time zone.
        Physical::INT96 => "timestamp[ns]".into(),
        Physical::FLOAT => "float32".into(),
        Physical::DOUBLE => "float64".into(),
        Physical::BYTE_ARRAY => "binary".into(),
        Physical::FIXED_LEN_BYTE_ARRAY => format!("fixed_binary({length})").into(),
    }
}
