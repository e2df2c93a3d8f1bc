//! A Parquet footer's `FileMetaData`, read in one pass straight from the
//! Thrift compact encoding: the schema elements (borrowed, not copied) and
//! the file facts — row count, row-group sizes, codecs, writer, key-value
//! keys. Everything else (column-chunk statistics, encodings, page-index
//! offsets, key-value values, column orders) is stepped over without being
//! materialised.
//!
//! Decoding the whole `ParquetMetaData` with the `parquet` crate would build
//! every column chunk's metadata only for this code to sum a few sizes, and
//! the crate's `SchemaDescriptor` computes every leaf's path, which the scan
//! does not need. Reading these fields directly is several times faster, and
//! tolerant of writers whose list element types other readers accept (Arrow
//! C++ does not check them). The schema tree is then built from the elements
//! by [`crate::tree`], with the `parquet` crate's own type builders.

use parquet::basic::{
    ConvertedType, DecimalType, EdgeInterpolationAlgorithm, GeographyType, GeometryType, IntType, LogicalType,
    Repetition, TimeUnit, TimestampType, Type as Physical, VariantType,
};
use std::collections::BTreeSet;

/// File-level facts and the schema elements from the footer.
#[derive(Debug, Default)]
pub struct Facts<'a> {
    /// The schema, flattened depth first as in the file (field 2).
    pub schema: Vec<Element<'a>>,
    /// Whether the footer had a schema field at all.
    pub has_schema: bool,
    /// Where the schema's bytes lie in the footer (its list, header included).
    pub schema_bytes: std::ops::Range<usize>,
    /// The schema's bytes were the `known_schema` given: not decoded again,
    /// `schema` is empty.
    pub schema_known: bool,
    pub version: i32,
    pub num_rows: i64,
    pub row_groups: usize,
    /// Bytes of all column chunks, compressed and uncompressed.
    pub compressed: i64,
    pub uncompressed: i64,
    pub codecs: BTreeSet<&'static str>,
    pub key_value_keys: Vec<String>,
    pub created_by: Option<String>,
    /// The first row group's column chunks, when asked for (sampling).
    pub first_row_group: Option<RowGroup>,
}

/// Where a row group's column chunks lie: what the `parquet` crate's
/// column readers need, so that sampling does not decode the footer twice.
#[derive(Debug, Default)]
pub struct RowGroup {
    pub num_rows: i64,
    /// One per column chunk, in leaf order.
    pub chunks: Vec<Chunk>,
}

/// A column chunk's place and codec; `None` fields were absent.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Set when the chunk lives in another file.
    pub file_path: bool,
    /// Whether it had (plaintext) `ColumnMetaData` at all.
    pub has_metadata: bool,
    pub codec: i64,
    pub num_values: i64,
    pub compressed: i64,
    pub uncompressed: i64,
    pub data_page_offset: Option<i64>,
    pub dictionary_page_offset: Option<i64>,
}

/// How deep nested structures may go before the footer is called malformed.
const MAX_DEPTH: u32 = 64;

// Thrift compact protocol type ids.
const STOP: u8 = 0;
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// What is wrong with a footer. Small and `Copy`, so that the hot paths
/// return it in a register; turned into a message once, at the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    Eof,
    LongVarint,
    TooDeep,
    Overflow,
    ListTooLong(usize),
    UnknownType(u8),
    NotAnInteger(u8),
    RowGroupsNotStructs(u8),
    NotUtf8,
    NotABool(u8),
    Unexpected(&'static str, i32),
    Missing(&'static str),
    EmptyUnion,
    UnionOfMany,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Eof => write!(f, "footer ends in the middle of a value"),
            Bad::LongVarint => write!(f, "varint longer than 10 bytes"),
            Bad::TooDeep => write!(f, "footer nests deeper than {MAX_DEPTH} levels"),
            Bad::Overflow => write!(f, "a length overflows"),
            Bad::ListTooLong(n) => write!(f, "list of {n} elements cannot fit in the footer"),
            Bad::UnknownType(t) => write!(f, "unknown Thrift type {t}"),
            Bad::NotAnInteger(t) => write!(f, "expected an integer, found Thrift type {t}"),
            Bad::RowGroupsNotStructs(t) => write!(f, "row groups are Thrift type {t}, not structs"),
            Bad::NotUtf8 => write!(f, "a schema name is not valid UTF-8"),
            Bad::NotABool(b) => write!(f, "invalid boolean {b}"),
            Bad::Unexpected(what, v) => write!(f, "unexpected {what} {v}"),
            Bad::Missing(what) => write!(f, "required field {what} is missing"),
            Bad::EmptyUnion => write!(f, "empty logical type union"),
            Bad::UnionOfMany => write!(f, "logical type union with several fields"),
        }
    }
}

type R<T> = Result<T, Bad>;

impl<'a> Reader<'a> {
    /// A Thrift `string`: UTF-8, borrowed from the footer.
    #[inline(always)]
    fn str(&mut self) -> R<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Bad::NotUtf8)
    }

    #[inline(always)]
    fn i32(&mut self, kind: u8) -> R<i32> {
        Ok(self.int(kind)? as i32)
    }

    /// A boolean struct field: its value is in the field header's type.
    fn bool_field(kind: u8) -> R<bool> {
        match kind {
            TRUE => Ok(true),
            FALSE => Ok(false),
            other => Err(Bad::NotABool(other)),
        }
    }

    #[inline(always)]
    fn byte(&mut self) -> R<u8> {
        let b = *self.buf.get(self.pos).ok_or(Bad::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn varint(&mut self) -> R<u64> {
        let b = self.byte()?;
        if b < 0x80 {
            return Ok(b as u64);
        }
        let mut out = (b & 0x7f) as u64;
        for shift in (7..70).step_by(7) {
            let b = self.byte()?;
            out |= ((b & 0x7f) as u64) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(Bad::LongVarint)
    }

    /// Steps over a varint without decoding it.
    #[inline(always)]
    fn skip_varint(&mut self) -> R<()> {
        // Eight bytes at a time: the first without its high bit ends the
        // varint. Statistics and offsets, which the decoder skips, are mostly
        // varints; stepping over them byte by byte was a fifth of the guest's time.
        if let Some(word) = self.buf.get(self.pos..self.pos + 8) {
            let ends = !u64::from_le_bytes(word.try_into().expect("8 bytes")) & 0x8080_8080_8080_8080;
            if ends != 0 {
                self.pos += ends.trailing_zeros() as usize / 8 + 1;
                return Ok(());
            }
        }
        let start = self.pos;
        loop {
            let b = *self.buf.get(self.pos).ok_or(Bad::Eof)?;
            self.pos += 1;
            if b < 0x80 {
                return Ok(());
            }
            if self.pos - start >= 10 {
                return Err(Bad::LongVarint);
            }
        }
    }

    #[inline(always)]
    fn zigzag(&mut self) -> R<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    #[inline(always)]
    fn bytes(&mut self) -> R<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| Bad::Overflow)?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len()).ok_or(Bad::Eof)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A field header: `(type, id)`, or `None` at the end of a struct.
    #[inline(always)]
    fn field(&mut self, last_id: &mut i16) -> R<Option<(u8, i16)>> {
        let b = self.byte()?;
        let kind = b & 0x0f;
        if kind == STOP {
            return Ok(None);
        }
        let delta = (b >> 4) as i16;
        let id = if delta == 0 { self.zigzag()? as i16 } else { last_id.wrapping_add(delta) };
        *last_id = id;
        Ok(Some((kind, id)))
    }

    /// A list or set header: `(element type, count)`.
    #[inline(always)]
    fn list(&mut self) -> R<(u8, usize)> {
        let b = self.byte()?;
        let count = match b >> 4 {
            15 => usize::try_from(self.varint()?).map_err(|_| Bad::Overflow)?,
            n => n as usize,
        };
        // Every element takes at least one byte: a larger count is a lie.
        if count > self.buf.len() - self.pos.min(self.buf.len()) {
            return Err(Bad::ListTooLong(count));
        }
        Ok((b & 0x0f, count))
    }

    #[inline(always)]
    fn int(&mut self, kind: u8) -> R<i64> {
        match kind {
            BYTE => Ok(self.byte()? as i8 as i64),
            I16 | I32 | I64 => self.zigzag(),
            other => Err(Bad::NotAnInteger(other)),
        }
    }

    fn skip(&mut self, kind: u8, depth: u32) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(Bad::TooDeep);
        }
        match kind {
            TRUE | FALSE => Ok(()),
            BYTE => self.byte().map(drop),
            I16 | I32 | I64 => self.skip_varint(),
            DOUBLE => {
                self.pos = self.pos.checked_add(8).filter(|&e| e <= self.buf.len()).ok_or(Bad::Eof)?;
                Ok(())
            }
            BINARY => self.bytes().map(drop),
            LIST | SET => {
                let (elem, count) = self.list()?;
                match elem {
                    // Fixed-size and varint elements need no recursion.
                    TRUE | FALSE | BYTE => {
                        self.pos += count; // `list` checked that they fit
                        Ok(())
                    }
                    I16 | I32 | I64 => (0..count).try_for_each(|_| self.skip_varint()),
                    _ => (0..count).try_for_each(|_| self.skip(elem, depth + 1)),
                }
            }
            MAP => {
                let count = self.varint()?;
                if count > 0 {
                    let kv = self.byte()?;
                    for _ in 0..count {
                        self.skip_element(kv >> 4, depth + 1)?;
                        self.skip_element(kv & 0x0f, depth + 1)?;
                    }
                }
                Ok(())
            }
            STRUCT => loop {
                // Field ids do not matter when skipping: read past the header.
                let b = self.byte()?;
                let field = b & 0x0f;
                if field == STOP {
                    return Ok(());
                }
                if b >> 4 == 0 {
                    self.skip_varint()?;
                }
                // Scalars (most fields) without the recursive call.
                match field {
                    TRUE | FALSE => {}
                    I16 | I32 | I64 => self.skip_varint()?,
                    BINARY => self.bytes().map(drop)?,
                    _ => self.skip(field, depth + 1)?,
                }
            },
            other => Err(Bad::UnknownType(other)),
        }
    }

    /// Booleans inside lists are one byte each, unlike boolean fields.
    fn skip_element(&mut self, kind: u8, depth: u32) -> R<()> {
        if kind == TRUE || kind == FALSE { self.byte().map(drop) } else { self.skip(kind, depth) }
    }

    fn each_field(&mut self, depth: u32, mut f: impl FnMut(&mut Self, u8, i16) -> R<()>) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(Bad::TooDeep);
        }
        let mut last = 0i16;
        while let Some((kind, id)) = self.field(&mut last)? {
            f(self, kind, id)?;
        }
        Ok(())
    }
}

fn codec_name(codec: i64) -> &'static str {
    match codec {
        0 => "UNCOMPRESSED",
        1 => "SNAPPY",
        2 => "GZIP",
        3 => "LZO",
        4 => "BROTLI",
        5 => "LZ4",
        6 => "ZSTD",
        7 => "LZ4_RAW",
        _ => "UNKNOWN",
    }
}

/// Reads the facts and schema elements from a complete `FileMetaData`
/// buffer, and the first row group's chunks when `first_row_group` is set.
/// A schema whose bytes are `known_schema` (another file's, already turned
/// into columns) is stepped over rather than decoded: Thrift values delimit
/// themselves, so equal bytes from the list's header on are an equal list.
pub fn read<'a>(buf: &'a [u8], first_row_group: bool, known_schema: Option<&[u8]>) -> Result<Facts<'a>, Bad> {
    let mut facts = Facts::default();
    let mut r = Reader { buf, pos: 0 };
    r.each_field(0, |r, kind, id| match (id, kind) {
        (2, LIST) => {
            let start = r.pos;
            facts.has_schema = true;
            if let Some(known) = known_schema.filter(|k| !k.is_empty())
                && r.buf[start..].starts_with(known)
            {
                r.pos += known.len();
                facts.schema = Vec::new();
                facts.schema_bytes = start..r.pos;
                facts.schema_known = true;
                return Ok(());
            }
            let (elem, count) = r.list()?;
            if elem != STRUCT {
                return Err(Bad::Unexpected("schema element type", elem as i32));
            }
            facts.schema = Vec::with_capacity(count);
            for _ in 0..count {
                facts.schema.push(element(r)?);
            }
            facts.schema_bytes = start..r.pos;
            facts.schema_known = false;
            Ok(())
        }
        (1, I32) => {
            facts.version = r.int(kind)? as i32;
            Ok(())
        }
        (3, I64) => {
            facts.num_rows = r.int(kind)?;
            Ok(())
        }
        (4, LIST) => {
            let (elem, count) = r.list()?;
            if elem != STRUCT {
                return Err(Bad::RowGroupsNotStructs(elem));
            }
            facts.row_groups = count;
            for i in 0..count {
                let mut first = (i == 0 && first_row_group).then(RowGroup::default);
                row_group(r, &mut facts, first.as_mut())?;
                if first.is_some() {
                    facts.first_row_group = first;
                }
            }
            Ok(())
        }
        (5, LIST) => {
            let (elem, count) = r.list()?;
            for _ in 0..count {
                if elem != STRUCT {
                    r.skip_element(elem, 1)?;
                    continue;
                }
                r.each_field(1, |r, kind, id| {
                    if (id, kind) == (1, BINARY) {
                        facts.key_value_keys.push(String::from_utf8_lossy(r.bytes()?).into_owned());
                        Ok(())
                    } else {
                        r.skip(kind, 2)
                    }
                })?;
            }
            Ok(())
        }
        (6, BINARY) => {
            facts.created_by = Some(String::from_utf8_lossy(r.bytes()?).into_owned());
            Ok(())
        }
        (_, kind) => r.skip(kind, 1),
    })?;
    Ok(facts)
}

fn row_group(r: &mut Reader, facts: &mut Facts<'_>, mut first: Option<&mut RowGroup>) -> R<()> {
    r.each_field(1, |r, kind, id| {
        if let (3, I64 | I32, Some(first)) = (id, kind, first.as_deref_mut()) {
            first.num_rows = r.int(kind)?;
            return Ok(());
        }
        if (id, kind) != (1, LIST) {
            return r.skip(kind, 2);
        }
        let (elem, count) = r.list()?;
        for _ in 0..count {
            if elem != STRUCT {
                r.skip_element(elem, 2)?;
                continue;
            }
            let mut chunk = Chunk::default();
            // ColumnChunk: field 1 its file path, field 3 its ColumnMetaData.
            r.each_field(2, |r, kind, id| match (id, kind) {
                (1, BINARY) => {
                    chunk.file_path = true;
                    r.skip(kind, 3)
                }
                (3, STRUCT) => {
                    chunk.has_metadata = true;
                    r.each_field(3, |r, kind, id| match (id, kind) {
                        (4, I32) => {
                            chunk.codec = r.int(kind)?;
                            facts.codecs.insert(codec_name(chunk.codec));
                            Ok(())
                        }
                        (5, I64) => {
                            chunk.num_values = r.int(kind)?;
                            Ok(())
                        }
                        (6, I64) => {
                            chunk.uncompressed = r.int(kind)?;
                            facts.uncompressed = facts.uncompressed.saturating_add(chunk.uncompressed);
                            Ok(())
                        }
                        (7, I64) => {
                            chunk.compressed = r.int(kind)?;
                            facts.compressed = facts.compressed.saturating_add(chunk.compressed);
                            Ok(())
                        }
                        (9, I64) => {
                            chunk.data_page_offset = Some(r.int(kind)?);
                            Ok(())
                        }
                        (11, I64) => {
                            chunk.dictionary_page_offset = Some(r.int(kind)?);
                            Ok(())
                        }
                        (_, kind) => r.skip(kind, 4),
                    })
                }
                (_, kind) => r.skip(kind, 3),
            })?;
            if let Some(first) = first.as_deref_mut() {
                first.chunks.push(chunk);
            }
        }
        Ok(())
    })
}

/// One `SchemaElement`, as written; names borrowed from the footer.
#[derive(Debug, Default)]
pub struct Element<'a> {
    pub physical: Option<Physical>,
    pub type_length: Option<i32>,
    pub repetition: Option<Repetition>,
    pub name: &'a str,
    pub num_children: Option<i32>,
    pub converted: Option<ConvertedType>,
    pub scale: Option<i32>,
    pub precision: Option<i32>,
    pub field_id: Option<i32>,
    pub logical: Option<LogicalType>,
}

fn element<'a>(r: &mut Reader<'a>) -> R<Element<'a>> {
    let mut e = Element::default();
    let mut name = None;
    r.each_field(2, |r, kind, id| {
        match (id, kind) {
            (1, I32) => e.physical = Some(physical(r.i32(kind)?)?),
            (2, I32) => e.type_length = Some(r.i32(kind)?),
            (3, I32) => e.repetition = Some(repetition(r.i32(kind)?)?),
            (4, BINARY) => name = Some(r.str()?),
            (5, I32) => e.num_children = Some(r.i32(kind)?),
            (6, I32) => e.converted = Some(converted(r.i32(kind)?)?),
            (7, I32) => e.scale = Some(r.i32(kind)?),
            (8, I32) => e.precision = Some(r.i32(kind)?),
            (9, I32) => e.field_id = Some(r.i32(kind)?),
            (10, STRUCT) => e.logical = Some(logical(r)?),
            (_, kind) => r.skip(kind, 3)?,
        }
        Ok(())
    })?;
    e.name = name.ok_or(Bad::Missing("SchemaElement.name"))?;
    Ok(e)
}

fn physical(v: i32) -> R<Physical> {
    Ok(match v {
        0 => Physical::BOOLEAN,
        1 => Physical::INT32,
        2 => Physical::INT64,
        3 => Physical::INT96,
        4 => Physical::FLOAT,
        5 => Physical::DOUBLE,
        6 => Physical::BYTE_ARRAY,
        7 => Physical::FIXED_LEN_BYTE_ARRAY,
        other => return Err(Bad::Unexpected("physical type", other)),
    })
}

fn repetition(v: i32) -> R<Repetition> {
    Ok(match v {
        0 => Repetition::REQUIRED,
        1 => Repetition::OPTIONAL,
        2 => Repetition::REPEATED,
        other => return Err(Bad::Unexpected("repetition", other)),
    })
}

fn converted(v: i32) -> R<ConvertedType> {
    use ConvertedType::*;
    const ALL: [ConvertedType; 22] = [
        UTF8,
        MAP,
        MAP_KEY_VALUE,
        LIST,
        ENUM,
        DECIMAL,
        DATE,
        TIME_MILLIS,
        TIME_MICROS,
        TIMESTAMP_MILLIS,
        TIMESTAMP_MICROS,
        UINT_8,
        UINT_16,
        UINT_32,
        UINT_64,
        INT_8,
        INT_16,
        INT_32,
        INT_64,
        JSON,
        BSON,
        INTERVAL,
    ];
    if v == -1 {
        return Ok(NONE); // as the `parquet` crate reads it
    }
    usize::try_from(v).ok().and_then(|i| ALL.get(i).copied()).ok_or(Bad::Unexpected("converted type", v))
}

fn time_unit(r: &mut Reader) -> R<TimeUnit> {
    let mut unit = None;
    let mut count = 0;
    r.each_field(5, |r, kind, id| {
        count += 1;
        unit = match id {
            1 => Some(TimeUnit::MILLIS),
            2 => Some(TimeUnit::MICROS),
            3 => Some(TimeUnit::NANOS),
            _ => None,
        };
        r.skip(kind, 6)
    })?;
    match (count, unit) {
        (0, _) => Err(Bad::EmptyUnion),
        (1, Some(unit)) => Ok(unit),
        (1, None) => Err(Bad::Unexpected("time unit", 0)),
        _ => Err(Bad::UnionOfMany),
    }
}

/// The `LogicalType` union, with the same variants (and the same `_Unknown`
/// for ids this version does not know) as the `parquet` crate.
fn logical(r: &mut Reader) -> R<LogicalType> {
    let mut out = None;
    r.each_field(3, |r, kind, id| {
        if out.is_some() {
            return Err(Bad::UnionOfMany);
        }
        let simple = |t: LogicalType, r: &mut Reader| r.skip(kind, 4).map(|()| t);
        out = Some(match id {
            1 => simple(LogicalType::String, r)?,
            2 => simple(LogicalType::Map, r)?,
            3 => simple(LogicalType::List, r)?,
            4 => simple(LogicalType::Enum, r)?,
            5 => {
                let (mut scale, mut precision) = (None, None);
                r.each_field(4, |r, kind, id| {
                    match (id, kind) {
                        (1, I32) => scale = Some(r.i32(kind)?),
                        (2, I32) => precision = Some(r.i32(kind)?),
                        (_, kind) => r.skip(kind, 5)?,
                    }
                    Ok(())
                })?;
                LogicalType::Decimal(DecimalType {
                    scale: scale.ok_or(Bad::Missing("DecimalType.scale"))?,
                    precision: precision.ok_or(Bad::Missing("DecimalType.precision"))?,
                })
            }
            6 => simple(LogicalType::Date, r)?,
            7 | 8 => {
                let (mut utc, mut unit) = (None, None);
                r.each_field(4, |r, kind, id| {
                    match (id, kind) {
                        (1, TRUE | FALSE) => utc = Some(Reader::bool_field(kind)?),
                        (2, STRUCT) => unit = Some(time_unit(r)?),
                        (_, kind) => r.skip(kind, 5)?,
                    }
                    Ok(())
                })?;
                let t = TimestampType {
                    is_adjusted_to_u_t_c: utc.ok_or(Bad::Missing("isAdjustedToUTC"))?,
                    unit: unit.ok_or(Bad::Missing("unit"))?,
                };
                if id == 7 { LogicalType::Time(t) } else { LogicalType::Timestamp(t) }
            }
            10 => {
                let (mut bits, mut signed) = (None, None);
                r.each_field(4, |r, kind, id| {
                    match (id, kind) {
                        (1, BYTE) => bits = Some(r.byte()? as i8),
                        (2, TRUE | FALSE) => signed = Some(Reader::bool_field(kind)?),
                        (_, kind) => r.skip(kind, 5)?,
                    }
                    Ok(())
                })?;
                LogicalType::Integer(IntType {
                    bit_width: bits.ok_or(Bad::Missing("IntType.bitWidth"))?,
                    is_signed: signed.ok_or(Bad::Missing("IntType.isSigned"))?,
                })
            }
            11 => simple(LogicalType::Unknown, r)?,
            12 => simple(LogicalType::Json, r)?,
            13 => simple(LogicalType::Bson, r)?,
            14 => simple(LogicalType::Uuid, r)?,
            15 => simple(LogicalType::Float16, r)?,
            16 => {
                let mut version = None;
                r.each_field(4, |r, kind, id| {
                    match (id, kind) {
                        (1, BYTE) => version = Some(r.byte()? as i8),
                        (_, kind) => r.skip(kind, 5)?,
                    }
                    Ok(())
                })?;
                LogicalType::Variant(VariantType { specification_version: version })
            }
            17 | 18 => {
                let (mut crs, mut algorithm) = (None, None);
                r.each_field(4, |r, kind, id| {
                    match (id, kind) {
                        (1, BINARY) => crs = Some(r.str()?.to_string()),
                        (2, I32) => algorithm = Some(edge_algorithm(r.i32(kind)?)),
                        (_, kind) => r.skip(kind, 5)?,
                    }
                    Ok(())
                })?;
                if id == 17 {
                    LogicalType::Geometry(GeometryType { crs })
                } else {
                    LogicalType::Geography(GeographyType { crs, algorithm })
                }
            }
            19 => simple(LogicalType::File, r)?,
            field_id => simple(LogicalType::_Unknown { field_id }, r)?,
        });
        Ok(())
    })?;
    out.ok_or(Bad::EmptyUnion)
}

fn edge_algorithm(v: i32) -> EdgeInterpolationAlgorithm {
    match v {
        0 => EdgeInterpolationAlgorithm::SPHERICAL,
        1 => EdgeInterpolationAlgorithm::VINCENTY,
        2 => EdgeInterpolationAlgorithm::THOMAS,
        3 => EdgeInterpolationAlgorithm::ANDOYER,
        4 => EdgeInterpolationAlgorithm::KARNEY,
        other => EdgeInterpolationAlgorithm::_Unknown(other),
    }
}

/// A data or dictionary page's header, as the sampler's own page reader
/// needs it (for codecs the `parquet` crate is built without).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageHeader {
    /// 0 data page, 1 index page, 2 dictionary page, 3 data page v2.
    pub page_type: i32,
    pub uncompressed: i32,
    pub compressed: i32,
    pub num_values: i32,
    pub encoding: i32,
    /// v1 data pages: the levels' encodings.
    pub def_encoding: i32,
    pub rep_encoding: i32,
    /// Dictionary pages.
    pub is_sorted: bool,
    /// v2 data pages.
    pub num_nulls: i32,
    pub num_rows: i32,
    pub def_bytes: i32,
    pub rep_bytes: i32,
    pub is_compressed: bool,
}

/// Decodes the `PageHeader` at the start of `buf`: the header and its
/// length in bytes. Statistics are stepped over.
pub fn page_header(buf: &[u8]) -> Result<(PageHeader, usize), Bad> {
    let mut r = Reader { buf, pos: 0 };
    let mut h = PageHeader { is_compressed: true, ..PageHeader::default() };
    let mut seen = 0u8;
    r.each_field(1, |r, kind, id| {
        match (id, kind) {
            (1, I32) => (h.page_type, seen) = (r.i32(kind)?, seen | 1),
            (2, I32) => (h.uncompressed, seen) = (r.i32(kind)?, seen | 2),
            (3, I32) => (h.compressed, seen) = (r.i32(kind)?, seen | 4),
            // DataPageHeader
            (5, STRUCT) => r.each_field(2, |r, kind, id| {
                match (id, kind) {
                    (1, I32) => h.num_values = r.i32(kind)?,
                    (2, I32) => h.encoding = r.i32(kind)?,
                    (3, I32) => h.def_encoding = r.i32(kind)?,
                    (4, I32) => h.rep_encoding = r.i32(kind)?,
                    (_, kind) => r.skip(kind, 3)?,
                }
                Ok(())
            })?,
            // DictionaryPageHeader
            (7, STRUCT) => r.each_field(2, |r, kind, id| {
                match (id, kind) {
                    (1, I32) => h.num_values = r.i32(kind)?,
                    (2, I32) => h.encoding = r.i32(kind)?,
                    (3, TRUE | FALSE) => h.is_sorted = Reader::bool_field(kind)?,
                    (_, kind) => r.skip(kind, 3)?,
                }
                Ok(())
            })?,
            // DataPageHeaderV2
            (8, STRUCT) => r.each_field(2, |r, kind, id| {
                match (id, kind) {
                    (1, I32) => h.num_values = r.i32(kind)?,
                    (2, I32) => h.num_nulls = r.i32(kind)?,
                    (3, I32) => h.num_rows = r.i32(kind)?,
                    (4, I32) => h.encoding = r.i32(kind)?,
                    (5, I32) => h.def_bytes = r.i32(kind)?,
                    (6, I32) => h.rep_bytes = r.i32(kind)?,
                    (7, TRUE | FALSE) => h.is_compressed = Reader::bool_field(kind)?,
                    (_, kind) => r.skip(kind, 3)?,
                }
                Ok(())
            })?,
            (_, kind) => r.skip(kind, 2)?,
        }
        Ok(())
    })?;
    if seen != 7 {
        return Err(Bad::Missing("page type or size"));
    }
    Ok((h, r.pos))
}
