//! The parts of a Parquet footer's `FileMetaData` that are not the schema —
//! row count, row-group sizes, codecs, writer, key-value keys — read straight
//! from the Thrift compact encoding, allocation-free except for the few
//! strings kept.
//!
//! The schema itself is decoded by the `parquet` crate
//! (`ParquetMetaDataReader::decode_schema`). Decoding the whole
//! `ParquetMetaData` as well would build every column chunk's metadata (paths,
//! encodings, statistics) only for this code to sum a few sizes; reading
//! these fields directly is several times faster, and tolerant of writers
//! whose list element types other readers accept (Arc C++ does not check them).

use std::collections::BTreeSet;

/// File-level facts from the footer.
#[derive(Debug, Default)]
pub struct Facts {
    pub version: i32,
    pub num_rows: i64,
    pub row_groups: usize,
    /// Bytes of all column chunks, compressed and uncompressed.
    pub compressed: i64,
    pub uncompressed: i64,
    pub codecs: BTreeSet<&'static str>,
    pub key_value_keys: Vec<String>,
    pub created_by: Option<String>,
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
        }
    }
}

type R<T> = Result<T, Bad>;

impl<'a> Reader<'a> {
    fn byte(&mut self) -> R<u8> {
        let b = *self.buf.get(self.pos).ok_or(Bad::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
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
    #[inline]
    fn skip_varint(&mut self) -> R<()> {
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

    fn zigzag(&mut self) -> R<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn bytes(&mut self) -> R<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| Bad::Overflow)?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len()).ok_or(Bad::Eof)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A field header: `(type, id)`, or `None` at the end of a struct.
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
                self.skip(field, depth + 1)?;
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

/// Reads the facts from a complete `FileMetaData` buffer.
pub fn read(buf: &[u8]) -> Result<Facts, Bad> {
    let mut facts = Facts::default();
    let mut r = Reader { buf, pos: 0 };
    r.each_field(0, |r, kind, id| match (id, kind) {
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
            for _ in 0..count {
                row_group(r, &mut facts)?;
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

fn row_group(r: &mut Reader, facts: &mut Facts) -> R<()> {
    r.each_field(1, |r, kind, id| {
        if (id, kind) != (1, LIST) {
            return r.skip(kind, 2);
        }
        let (elem, count) = r.list()?;
        for _ in 0..count {
            if elem != STRUCT {
                r.skip_element(elem, 2)?;
                continue;
            }
            // ColumnChunk: field 3 is its ColumnMetaData.
            r.each_field(2, |r, kind, id| {
                if (id, kind) != (3, STRUCT) {
                    return r.skip(kind, 3);
                }
                r.each_field(3, |r, kind, id| match (id, kind) {
                    (4, I32) => {
                        facts.codecs.insert(codec_name(r.int(kind)?));
                        Ok(())
                    }
                    (6, I64) => {
                        facts.uncompressed = facts.uncompressed.saturating_add(r.int(kind)?);
                        Ok(())
                    }
                    (7, I64) => {
                        facts.compressed = facts.compressed.saturating_add(r.int(kind)?);
                        Ok(())
                    }
                    (_, kind) => r.skip(kind, 4),
                })
            })?;
        }
        Ok(())
    })
}
