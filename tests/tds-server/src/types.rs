//! Data types: [MS-TDS] 2.2.5.4 "Data Type Definitions" (fixed-length,
//! variable-length and partially length-prefixed types), 2.2.5.5 "Data
//! Type Dependent Data Streams" (`TYPE_INFO`, `TYPE_VARBYTE`, PLP in
//! 2.2.5.2.3), collations (2.2.5.1.2), and the result-set tokens built on
//! them: COLMETADATA (2.2.7.4), ROW (2.2.7.19) and NBCROW (2.2.7.17).
//!
//! Columns declared nullable use the nullable wire types SQL Server uses
//! for them (INTN, BITN, FLTN, DATETIMN); NOT NULL columns use the fixed
//! types (INT4, BIT, FLT8, ...), as SQL Server does.

use std::fmt;

use crate::tokens::token;
use crate::wire::{PResult, ProtocolError, Reader, put_b_varchar, utf16le_to_string};

/// Collation sent with character columns and in the login ENVCHANGE:
/// `SQL_Latin1_General_CP1_CI_AS` (LCID 0x0409, IgnoreCase|IgnoreKana|
/// IgnoreWidth, sort id 52 — code page 1252), MS-TDS 2.2.5.1.2.
pub const DEFAULT_COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Largest value accepted in a PLP or `varchar(max)` parameter, in bytes.
const MAX_LOB_BYTES: usize = 64 * 1024 * 1024;

/// A SQL Server column type a fixture can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// `bit`.
    Bit,
    /// `tinyint` (unsigned 8-bit).
    TinyInt,
    /// `smallint`.
    SmallInt,
    /// `int`.
    Int,
    /// `bigint`.
    BigInt,
    /// `real` (`float(24)`).
    Real,
    /// `float` (`float(53)`).
    Float,
    /// `decimal(precision, scale)`, precision 1–38.
    Decimal(u8, u8),
    /// `nvarchar(n)` (n in characters, 1–4000); `None` is `nvarchar(max)`.
    NVarChar(Option<u16>),
    /// `varchar(n)` (n in bytes, 1–8000); `None` is `varchar(max)`. Code page 1252.
    VarChar(Option<u16>),
    /// `nchar(n)`, values padded with spaces to n characters.
    NChar(u16),
    /// `char(n)`, values padded with spaces to n bytes.
    Char(u16),
    /// `uniqueidentifier`.
    UniqueIdentifier,
    /// `date`.
    Date,
    /// `time(scale)`, scale 0–7.
    Time(u8),
    /// `datetime` (1/300 s resolution).
    DateTime,
    /// `datetime2(scale)`, scale 0–7.
    DateTime2(u8),
    /// `datetimeoffset(scale)`, scale 0–7.
    DateTimeOffset(u8),
    /// `varbinary(n)` (1–8000); `None` is `varbinary(max)`.
    VarBinary(Option<u16>),
    /// `binary(n)`, values padded with zero bytes.
    Binary(u16),
    /// `sysname`, i.e. `nvarchar(128)`, the type of catalog names.
    SysName,
}

impl fmt::Display for SqlType {
    /// The T-SQL spelling, e.g. `nvarchar(max)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |n: Option<u16>| n.map_or("max".to_string(), |n| n.to_string());
        match self {
            SqlType::Bit => write!(f, "bit"),
            SqlType::TinyInt => write!(f, "tinyint"),
            SqlType::SmallInt => write!(f, "smallint"),
            SqlType::Int => write!(f, "int"),
            SqlType::BigInt => write!(f, "bigint"),
            SqlType::Real => write!(f, "real"),
            SqlType::Float => write!(f, "float"),
            SqlType::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            SqlType::NVarChar(n) => write!(f, "nvarchar({})", opt(*n)),
            SqlType::VarChar(n) => write!(f, "varchar({})", opt(*n)),
            SqlType::NChar(n) => write!(f, "nchar({n})"),
            SqlType::Char(n) => write!(f, "char({n})"),
            SqlType::UniqueIdentifier => write!(f, "uniqueidentifier"),
            SqlType::Date => write!(f, "date"),
            SqlType::Time(s) => write!(f, "time({s})"),
            SqlType::DateTime => write!(f, "datetime"),
            SqlType::DateTime2(s) => write!(f, "datetime2({s})"),
            SqlType::DateTimeOffset(s) => write!(f, "datetimeoffset({s})"),
            SqlType::VarBinary(n) => write!(f, "varbinary({})", opt(*n)),
            SqlType::Binary(n) => write!(f, "binary({n})"),
            SqlType::SysName => write!(f, "sysname"),
        }
    }
}

/// A point in time without time zone: days since 0001-01-01 (the epoch of
/// `date` / `datetime2` on the wire) and nanoseconds since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SqlDateTime {
    /// Days since 0001-01-01.
    pub days: u32,
    /// Nanoseconds since midnight, below 86 400 × 10⁹.
    pub nanos: u64,
}

const NANOS_PER_DAY: u64 = 86_400_000_000_000;

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const DAYS_0001_TO_1970: i64 = 719_162;
/// Days from 0001-01-01 to 1900-01-01, the epoch of `datetime`.
const DAYS_0001_TO_1900: i64 = 693_595;

impl SqlDateTime {
    /// From a calendar date and time of day; `None` if out of range.
    pub fn from_ymd_hms_nano(
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nano: u32,
    ) -> Option<Self> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 || day > 31 {
            return None;
        }
        if hour > 23 || min > 59 || sec > 59 || nano > 999_999_999 {
            return None;
        }
        let days = days_from_civil(year as i64, month, day) + DAYS_0001_TO_1970;
        if civil_from_days(days - DAYS_0001_TO_1970) != (year as i64, month, day) {
            return None; // e.g. February 30th
        }
        let nanos = ((hour as u64 * 60 + min as u64) * 60 + sec as u64) * 1_000_000_000 + nano as u64;
        Some(Self { days: days as u32, nanos })
    }

    /// From a calendar date at midnight.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        Self::from_ymd_hms_nano(year, month, day, 0, 0, 0, 0)
    }

    /// `(year, month, day, hour, minute, second, nanosecond)`.
    pub fn to_parts(&self) -> (i32, u32, u32, u32, u32, u32, u32) {
        let (y, m, d) = civil_from_days(self.days as i64 - DAYS_0001_TO_1970);
        let secs = self.nanos / 1_000_000_000;
        (
            y as i32,
            m,
            d,
            (secs / 3600) as u32,
            (secs / 60 % 60) as u32,
            (secs % 60) as u32,
            (self.nanos % 1_000_000_000) as u32,
        )
    }
}

impl fmt::Display for SqlDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, n) = self.to_parts();
        write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{n:09}")
    }
}

/// A value in a result row or a request parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// `bit`.
    Bit(bool),
    /// `tinyint`.
    TinyInt(u8),
    /// `smallint`.
    SmallInt(i16),
    /// `int`.
    Int(i32),
    /// `bigint`.
    BigInt(i64),
    /// `real`.
    Real(f32),
    /// `float`.
    Float(f64),
    /// `decimal` / `numeric` / `money`: unscaled value and scale
    /// (`Decimal(12345, 2)` is 123.45).
    Decimal(i128, u8),
    /// Any character type.
    String(String),
    /// `uniqueidentifier`, bytes in RFC 4122 (textual) order, as
    /// `uuid::Uuid::as_bytes` gives them; the server swaps the first three
    /// groups to the little-endian order of the wire.
    Guid([u8; 16]),
    /// `date`: days since 0001-01-01.
    Date(u32),
    /// `time`: nanoseconds since midnight.
    Time(u64),
    /// `datetime` / `datetime2` / `smalldatetime`.
    DateTime(SqlDateTime),
    /// `datetimeoffset`: the UTC instant and the offset in minutes.
    DateTimeOffset(SqlDateTime, i16),
    /// Any binary type.
    Binary(Vec<u8>),
}

impl SqlValue {
    /// Shorthand for `SqlValue::String(s.into())`.
    pub fn str(s: impl Into<String>) -> Self {
        SqlValue::String(s.into())
    }

    /// The value as an integer, if it is one.
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            SqlValue::Bit(b) => Some(b as i128),
            SqlValue::TinyInt(v) => Some(v as i128),
            SqlValue::SmallInt(v) => Some(v as i128),
            SqlValue::Int(v) => Some(v as i128),
            SqlValue::BigInt(v) => Some(v as i128),
            SqlValue::Decimal(v, 0) => Some(v),
            _ => None,
        }
    }

    /// The text of a character value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A column of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name (may be empty, as for an unnamed expression).
    pub name: String,
    /// Declared type.
    pub ty: SqlType,
    /// Whether the column admits NULL (chooses the nullable wire types).
    pub nullable: bool,
}

impl ColumnDef {
    /// A nullable column.
    pub fn new(name: impl Into<String>, ty: SqlType) -> Self {
        Self { name: name.into(), ty, nullable: true }
    }

    /// A NOT NULL column.
    pub fn not_null(name: impl Into<String>, ty: SqlType) -> Self {
        Self { name: name.into(), ty, nullable: false }
    }
}

/// One result set: column metadata and rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    /// The columns, in order.
    pub columns: Vec<ColumnDef>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<SqlValue>>,
}

impl ResultSet {
    /// A result set with these columns and no rows yet.
    pub fn new(columns: Vec<ColumnDef>) -> Self {
        Self { columns, rows: Vec::new() }
    }

    /// Appends a row (builder style).
    pub fn row(mut self, values: Vec<SqlValue>) -> Self {
        self.rows.push(values);
        self
    }
}

/// Bytes of the time part of `time` / `datetime2` / `datetimeoffset` for a
/// scale, MS-TDS 2.2.5.4.2.
fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// Bytes of a `decimal` value (sign excluded + 1) for a precision.
fn decimal_len(precision: u8) -> u8 {
    match precision {
        1..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

/// Checks a column type's parameters.
fn validate_type(ty: SqlType) -> Result<(), String> {
    let bad = |what: &str| Err(format!("invalid column type {ty}: {what}"));
    match ty {
        SqlType::Decimal(p, s) if !(1..=38).contains(&p) || s > p => bad("precision 1-38, scale <= precision"),
        SqlType::NVarChar(Some(n)) | SqlType::NChar(n) if n == 0 || n > 4000 => bad("length 1-4000"),
        SqlType::VarChar(Some(n)) | SqlType::Char(n) | SqlType::VarBinary(Some(n)) | SqlType::Binary(n)
            if n == 0 || n > 8000 =>
        {
            bad("length 1-8000")
        }
        SqlType::Time(s) | SqlType::DateTime2(s) | SqlType::DateTimeOffset(s) if s > 7 => bad("scale 0-7"),
        _ => Ok(()),
    }
}

/// Writes `TYPE_INFO` for a column, MS-TDS 2.2.5.6.
fn put_type_info(dst: &mut Vec<u8>, ty: SqlType, nullable: bool) {
    let ushort = |dst: &mut Vec<u8>, code: u8, len: u16, collation: bool| {
        dst.push(code);
        dst.extend_from_slice(&len.to_le_bytes());
        if collation {
            dst.extend_from_slice(&DEFAULT_COLLATION);
        }
    };
    match (ty, nullable) {
        (SqlType::Bit, true) => dst.extend_from_slice(&[0x68, 1]),
        (SqlType::Bit, false) => dst.push(0x32),
        (SqlType::TinyInt, true) => dst.extend_from_slice(&[0x26, 1]),
        (SqlType::TinyInt, false) => dst.push(0x30),
        (SqlType::SmallInt, true) => dst.extend_from_slice(&[0x26, 2]),
        (SqlType::SmallInt, false) => dst.push(0x34),
        (SqlType::Int, true) => dst.extend_from_slice(&[0x26, 4]),
        (SqlType::Int, false) => dst.push(0x38),
        (SqlType::BigInt, true) => dst.extend_from_slice(&[0x26, 8]),
        (SqlType::BigInt, false) => dst.push(0x7F),
        (SqlType::Real, true) => dst.extend_from_slice(&[0x6D, 4]),
        (SqlType::Real, false) => dst.push(0x3B),
        (SqlType::Float, true) => dst.extend_from_slice(&[0x6D, 8]),
        (SqlType::Float, false) => dst.push(0x3E),
        (SqlType::DateTime, true) => dst.extend_from_slice(&[0x6F, 8]),
        (SqlType::DateTime, false) => dst.push(0x3D),
        (SqlType::Decimal(p, s), _) => dst.extend_from_slice(&[0x6A, decimal_len(p), p, s]),
        (SqlType::UniqueIdentifier, _) => dst.extend_from_slice(&[0x24, 16]),
        (SqlType::Date, _) => dst.push(0x28),
        (SqlType::Time(s), _) => dst.extend_from_slice(&[0x29, s]),
        (SqlType::DateTime2(s), _) => dst.extend_from_slice(&[0x2A, s]),
        (SqlType::DateTimeOffset(s), _) => dst.extend_from_slice(&[0x2B, s]),
        (SqlType::NVarChar(n), _) => ushort(dst, 0xE7, n.map_or(0xFFFF, |n| n * 2), true),
        (SqlType::SysName, _) => ushort(dst, 0xE7, 256, true),
        (SqlType::NChar(n), _) => ushort(dst, 0xEF, n * 2, true),
        (SqlType::VarChar(n), _) => ushort(dst, 0xA7, n.unwrap_or(0xFFFF), true),
        (SqlType::Char(n), _) => ushort(dst, 0xAF, n, true),
        (SqlType::VarBinary(n), _) => ushort(dst, 0xA5, n.unwrap_or(0xFFFF), false),
        (SqlType::Binary(n), _) => ushort(dst, 0xAD, n, false),
    }
}

/// COLMETADATA, MS-TDS 2.2.7.4: `UserType` (ULONG; 256 for `sysname`, else
/// 0), `Flags` (fNullable, and usUpdateable = "unknown"), `TYPE_INFO`,
/// `ColName`. An empty column list is sent as `NoMetaData` (0xFFFF).
pub fn put_col_metadata(dst: &mut Vec<u8>, columns: &[ColumnDef]) -> Result<(), String> {
    if columns.len() > 4096 {
        return Err(format!("{} columns: SQL Server allows at most 4096", columns.len()));
    }
    dst.push(token::COLMETADATA);
    if columns.is_empty() {
        dst.extend_from_slice(&0xFFFFu16.to_le_bytes());
        return Ok(());
    }
    dst.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    for c in columns {
        validate_type(c.ty)?;
        let user_type: u32 = if c.ty == SqlType::SysName { 256 } else { 0 };
        dst.extend_from_slice(&user_type.to_le_bytes());
        let flags: u16 = 0x0008 | u16::from(c.nullable);
        dst.extend_from_slice(&flags.to_le_bytes());
        put_type_info(dst, c.ty, c.nullable);
        put_b_varchar(dst, &c.name);
    }
    Ok(())
}

/// A ROW (or, with `nbc`, an NBCROW whose null bitmap replaces the NULL
/// values), MS-TDS 2.2.7.17 / 2.2.7.19.
pub fn put_row(dst: &mut Vec<u8>, columns: &[ColumnDef], row: &[SqlValue], nbc: bool) -> Result<(), String> {
    if row.len() != columns.len() {
        return Err(format!("row has {} values for {} columns", row.len(), columns.len()));
    }
    if nbc {
        dst.push(token::NBCROW);
        let mut bitmap = vec![0u8; columns.len().div_ceil(8)];
        for (i, v) in row.iter().enumerate() {
            if *v == SqlValue::Null {
                if !columns[i].nullable {
                    return Err(format!("NULL in NOT NULL column '{}'", columns[i].name));
                }
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        dst.extend_from_slice(&bitmap);
        for (c, v) in columns.iter().zip(row) {
            if *v != SqlValue::Null {
                put_value(dst, c, v)?;
            }
        }
    } else {
        dst.push(token::ROW);
        for (c, v) in columns.iter().zip(row) {
            put_value(dst, c, v)?;
        }
    }
    Ok(())
}

fn mismatch(c: &ColumnDef, v: &SqlValue) -> String {
    format!("value {v:?} does not fit column '{}' of type {}", c.name, c.ty)
}

fn int_in(c: &ColumnDef, v: &SqlValue, min: i128, max: i128) -> Result<i128, String> {
    match v.as_i128() {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        _ => Err(mismatch(c, v)),
    }
}

/// Rescales `value` (at `from` scale) to `to` scale, rounding half away
/// from zero.
fn rescale(value: i128, from: u8, to: u8) -> Option<i128> {
    if to >= from {
        value.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        let div = 10i128.checked_pow((from - to) as u32)?;
        let q = value / div;
        let r = value % div;
        Some(if r.abs() * 2 >= div { q + value.signum() } else { q })
    }
}

fn put_plp(dst: &mut Vec<u8>, data: &[u8]) {
    dst.extend_from_slice(&(data.len() as u64).to_le_bytes());
    for chunk in data.chunks(8000) {
        dst.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        dst.extend_from_slice(chunk);
    }
    dst.extend_from_slice(&0u32.to_le_bytes()); // PLP_TERMINATOR
}

fn put_ushort_or_plp(dst: &mut Vec<u8>, max: Option<u16>, data: &[u8]) {
    match max {
        Some(_) => {
            dst.extend_from_slice(&(data.len() as u16).to_le_bytes());
            dst.extend_from_slice(data);
        }
        None => put_plp(dst, data),
    }
}

fn encode_cp1252(c: &ColumnDef, s: &str) -> Result<Vec<u8>, String> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
    if unmappable {
        return Err(format!("'{s}' has characters code page 1252 (column '{}') cannot hold", c.name));
    }
    Ok(bytes.into_owned())
}

fn put_time(dst: &mut Vec<u8>, nanos: u64, scale: u8) {
    let increments = nanos / 10u64.pow(9 - scale as u32);
    dst.extend_from_slice(&increments.to_le_bytes()[..time_len(scale)]);
}

fn put_date(dst: &mut Vec<u8>, days: u32) {
    dst.extend_from_slice(&days.to_le_bytes()[..3]);
}

/// The declared maximum length of a variable-length type (`None`: MAX).
fn declared_max(ty: SqlType) -> Option<u16> {
    match ty {
        SqlType::NVarChar(n) | SqlType::VarChar(n) | SqlType::VarBinary(n) => n,
        SqlType::NChar(n) | SqlType::Char(n) | SqlType::Binary(n) => Some(n),
        SqlType::SysName => Some(128),
        _ => None,
    }
}

/// Writes one column value (`TYPE_VARBYTE`) for the column's wire type.
fn put_value(dst: &mut Vec<u8>, c: &ColumnDef, v: &SqlValue) -> Result<(), String> {
    let n = c.nullable;
    if *v == SqlValue::Null {
        if !n {
            return Err(format!("NULL in NOT NULL column '{}'", c.name));
        }
        match c.ty {
            // Partially length-prefixed (MAX) types: PLP_NULL.
            SqlType::NVarChar(None) | SqlType::VarChar(None) | SqlType::VarBinary(None) => {
                dst.extend_from_slice(&u64::MAX.to_le_bytes())
            }
            // USHORTLEN types: CHARBIN_NULL.
            SqlType::NVarChar(Some(_))
            | SqlType::SysName
            | SqlType::VarChar(Some(_))
            | SqlType::NChar(_)
            | SqlType::Char(_)
            | SqlType::VarBinary(Some(_))
            | SqlType::Binary(_) => dst.extend_from_slice(&0xFFFFu16.to_le_bytes()),
            // BYTELEN types: a zero length.
            _ => dst.push(0),
        }
        return Ok(());
    }
    match c.ty {
        SqlType::Bit => {
            let i = int_in(c, v, 0, 1)?;
            if n {
                dst.push(1);
            }
            dst.push(i as u8);
        }
        SqlType::TinyInt => {
            let i = int_in(c, v, 0, 255)?;
            if n {
                dst.push(1);
            }
            dst.push(i as u8);
        }
        SqlType::SmallInt => {
            let i = int_in(c, v, i16::MIN as i128, i16::MAX as i128)?;
            if n {
                dst.push(2);
            }
            dst.extend_from_slice(&(i as i16).to_le_bytes());
        }
        SqlType::Int => {
            let i = int_in(c, v, i32::MIN as i128, i32::MAX as i128)?;
            if n {
                dst.push(4);
            }
            dst.extend_from_slice(&(i as i32).to_le_bytes());
        }
        SqlType::BigInt => {
            let i = int_in(c, v, i64::MIN as i128, i64::MAX as i128)?;
            if n {
                dst.push(8);
            }
            dst.extend_from_slice(&(i as i64).to_le_bytes());
        }
        SqlType::Real => {
            let f = match *v {
                SqlValue::Real(f) => f,
                SqlValue::Float(f) => f as f32,
                _ => v.as_i128().ok_or_else(|| mismatch(c, v))? as f32,
            };
            if n {
                dst.push(4);
            }
            dst.extend_from_slice(&f.to_le_bytes());
        }
        SqlType::Float => {
            let f = match *v {
                SqlValue::Real(f) => f as f64,
                SqlValue::Float(f) => f,
                _ => v.as_i128().ok_or_else(|| mismatch(c, v))? as f64,
            };
            if n {
                dst.push(8);
            }
            dst.extend_from_slice(&f.to_le_bytes());
        }
        SqlType::Decimal(p, s) => {
            let (value, scale) = match *v {
                SqlValue::Decimal(value, scale) => (value, scale),
                _ => (v.as_i128().ok_or_else(|| mismatch(c, v))?, 0),
            };
            let value = rescale(value, scale, s).ok_or_else(|| mismatch(c, v))?;
            if value.unsigned_abs() >= 10u128.pow(p as u32) {
                return Err(format!("{v:?} has more than {p} digits (column '{}')", c.name));
            }
            let len = decimal_len(p);
            dst.push(len);
            dst.push(if value < 0 { 0 } else { 1 });
            dst.extend_from_slice(&value.unsigned_abs().to_le_bytes()[..(len - 1) as usize]);
        }
        SqlType::NVarChar(_) | SqlType::NChar(_) if matches!(v, SqlValue::String(_)) => {
            let s = v.as_str().unwrap_or_default();
            let mut units: Vec<u16> = s.encode_utf16().collect();
            if let SqlType::NChar(len) = c.ty {
                while units.len() < len as usize {
                    units.push(b' ' as u16);
                }
            }
            let limit = match c.ty {
                SqlType::NChar(len) => Some(len),
                _ => declared_max(c.ty),
            };
            if let Some(limit) = limit
                && units.len() > limit as usize
            {
                return Err(format!("'{s}' is longer than {limit} characters (column '{}')", c.name));
            }
            let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
            put_ushort_or_plp(dst, limit, &bytes);
        }
        SqlType::SysName => {
            let sub = ColumnDef { ty: SqlType::NVarChar(Some(128)), ..c.clone() };
            put_value(dst, &sub, v)?;
        }
        SqlType::VarChar(_) | SqlType::Char(_) if matches!(v, SqlValue::String(_)) => {
            let mut bytes = encode_cp1252(c, v.as_str().unwrap_or_default())?;
            let limit = match c.ty {
                SqlType::Char(len) => {
                    bytes.resize(bytes.len().max(len as usize), b' ');
                    Some(len)
                }
                _ => declared_max(c.ty),
            };
            if let Some(limit) = limit
                && bytes.len() > limit as usize
            {
                return Err(format!("{v:?} is longer than {limit} bytes (column '{}')", c.name));
            }
            put_ushort_or_plp(dst, limit, &bytes);
        }
        SqlType::VarBinary(_) | SqlType::Binary(_) if matches!(v, SqlValue::Binary(_)) => {
            let SqlValue::Binary(b) = v else { unreachable!() };
            let mut bytes = b.clone();
            let limit = match c.ty {
                SqlType::Binary(len) => {
                    bytes.resize(bytes.len().max(len as usize), 0);
                    Some(len)
                }
                _ => declared_max(c.ty),
            };
            if let Some(limit) = limit
                && bytes.len() > limit as usize
            {
                return Err(format!("{} bytes exceed binary length {limit} (column '{}')", b.len(), c.name));
            }
            put_ushort_or_plp(dst, limit, &bytes);
        }
        SqlType::UniqueIdentifier => {
            let SqlValue::Guid(g) = v else { return Err(mismatch(c, v)) };
            dst.push(16);
            dst.extend_from_slice(&guid_swap(*g));
        }
        SqlType::Date => {
            let days = match *v {
                SqlValue::Date(d) => d,
                SqlValue::DateTime(dt) if dt.nanos == 0 => dt.days,
                _ => return Err(mismatch(c, v)),
            };
            dst.push(3);
            put_date(dst, days);
        }
        SqlType::Time(scale) => {
            let SqlValue::Time(nanos) = *v else { return Err(mismatch(c, v)) };
            if nanos >= NANOS_PER_DAY {
                return Err(mismatch(c, v));
            }
            dst.push(time_len(scale) as u8);
            put_time(dst, nanos, scale);
        }
        SqlType::DateTime2(scale) => {
            let dt = match *v {
                SqlValue::DateTime(dt) => dt,
                SqlValue::Date(days) => SqlDateTime { days, nanos: 0 },
                _ => return Err(mismatch(c, v)),
            };
            if dt.nanos >= NANOS_PER_DAY {
                return Err(mismatch(c, v));
            }
            dst.push(time_len(scale) as u8 + 3);
            put_time(dst, dt.nanos, scale);
            put_date(dst, dt.days);
        }
        SqlType::DateTimeOffset(scale) => {
            let SqlValue::DateTimeOffset(dt, offset) = *v else { return Err(mismatch(c, v)) };
            if dt.nanos >= NANOS_PER_DAY {
                return Err(mismatch(c, v));
            }
            dst.push(time_len(scale) as u8 + 5);
            put_time(dst, dt.nanos, scale);
            put_date(dst, dt.days);
            dst.extend_from_slice(&offset.to_le_bytes());
        }
        SqlType::DateTime => {
            let dt = match *v {
                SqlValue::DateTime(dt) => dt,
                SqlValue::Date(days) => SqlDateTime { days, nanos: 0 },
                _ => return Err(mismatch(c, v)),
            };
            // 1/300 s ticks, rounded; 24:00:00 rolls over to the next day.
            let mut days = dt.days as i64 - DAYS_0001_TO_1900;
            let mut ticks = (dt.nanos as u128 * 300 + 500_000_000) / 1_000_000_000;
            if ticks >= 300 * 86_400 {
                ticks -= 300 * 86_400;
                days += 1;
            }
            let days = i32::try_from(days).map_err(|_| mismatch(c, v))?;
            if n {
                dst.push(8);
            }
            dst.extend_from_slice(&days.to_le_bytes());
            dst.extend_from_slice(&(ticks as u32).to_le_bytes());
        }
        _ => return Err(mismatch(c, v)),
    }
    Ok(())
}

/// Swaps between RFC 4122 byte order and the GUID order of the wire (the
/// first three groups little-endian). The swap is its own inverse.
pub fn guid_swap(mut g: [u8; 16]) -> [u8; 16] {
    g.swap(0, 3);
    g.swap(1, 2);
    g.swap(4, 5);
    g.swap(6, 7);
    g
}

// ---------------------------------------------------------------------------
// Decoding parameter values (RPC, MS-TDS 2.2.6.6 ParamMetaData/ParamLenData).
// ---------------------------------------------------------------------------

/// A parsed `TYPE_INFO` of an RPC parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireType {
    /// NULLTYPE (0x1F): no value bytes follow.
    Null,
    /// A fixed-length type (INT4, FLT8, ...) of the given size.
    Fixed { code: u8, len: usize },
    /// A BYTELEN type (INTN, BITN, FLTN, GUID, MONEYN, DATETIMN, DATEN,
    /// TIMEN, DATETIME2N, DATETIMEOFFSETN, DECIMALN, NUMERICN).
    ByteLen { code: u8, max: u8, scale: u8 },
    /// A USHORTLEN character or binary type; `max == 0xFFFF` means PLP.
    UShortLen { code: u8, max: u16 },
    /// XML (always PLP).
    Xml,
}

/// Error number SQL Server uses for a malformed RPC parameter (8009, "The
/// incoming tabular data stream (TDS) remote procedure call (RPC) protocol
/// stream is incorrect. ... Data type 0x%02X is unknown.").
pub(crate) const UNKNOWN_TYPE_ERROR: u32 = 8009;

/// Parses `TYPE_INFO`, MS-TDS 2.2.5.6. `Err` carries the unknown type code.
pub(crate) fn parse_type_info(r: &mut Reader<'_>) -> PResult<Result<WireType, u8>> {
    let code = r.u8()?;
    let t = match code {
        0x1F => WireType::Null,
        0x30 | 0x32 => WireType::Fixed { code, len: 1 },
        0x34 => WireType::Fixed { code, len: 2 },
        0x38 | 0x3B | 0x3A | 0x7A => WireType::Fixed { code, len: 4 },
        0x7F | 0x3E | 0x3D | 0x3C => WireType::Fixed { code, len: 8 },
        0x26 | 0x68 | 0x6D | 0x24 | 0x6E | 0x6F => WireType::ByteLen { code, max: r.u8()?, scale: 0 },
        0x28 => WireType::ByteLen { code, max: 3, scale: 0 },
        0x29..=0x2B => {
            let scale = r.u8()?;
            if scale > 7 {
                return Err(ProtocolError::new(format!("time scale {scale} out of range")));
            }
            WireType::ByteLen { code, max: 0, scale }
        }
        0x6A | 0x6C => {
            let max = r.u8()?;
            let _precision = r.u8()?;
            let scale = r.u8()?;
            if scale > 38 {
                return Err(ProtocolError::new(format!("decimal scale {scale} out of range")));
            }
            WireType::ByteLen { code, max, scale }
        }
        0xA5 | 0xAD => WireType::UShortLen { code, max: r.u16_le()? },
        0xA7 | 0xAF | 0xE7 | 0xEF => {
            let max = r.u16_le()?;
            r.skip(5)?; // collation
            WireType::UShortLen { code, max }
        }
        0xF1 => {
            if r.u8()? != 0 {
                // XML schema collection: db name, owning schema, collection.
                r.b_varchar()?;
                r.b_varchar()?;
                r.us_varchar()?;
            }
            WireType::Xml
        }
        other => return Ok(Err(other)),
    };
    Ok(Ok(t))
}

/// Reads a PLP value (MS-TDS 2.2.5.2.3); `None` is PLP_NULL.
fn read_plp(r: &mut Reader<'_>) -> PResult<Option<Vec<u8>>> {
    let total = r.u64_le()?;
    if total == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let chunk = r.u32_le()? as usize;
        if chunk == 0 {
            break;
        }
        if out.len() + chunk > MAX_LOB_BYTES {
            return Err(ProtocolError::new("PLP value too large"));
        }
        out.extend_from_slice(r.bytes(chunk)?);
    }
    if total != u64::MAX - 1 && total != out.len() as u64 {
        return Err(ProtocolError::new(format!("PLP value announced {total} bytes but carried {}", out.len())));
    }
    Ok(Some(out))
}

fn le_uint(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, b| (acc << 8) | *b as u64)
}

fn decode_time(bytes: &[u8], scale: u8) -> PResult<u64> {
    let nanos = le_uint(bytes).saturating_mul(10u64.pow(9 - scale as u32));
    if nanos >= NANOS_PER_DAY {
        return Err(ProtocolError::new("time of day out of range"));
    }
    Ok(nanos)
}

fn legacy_datetime(days_1900: i64, nanos: u64) -> SqlValue {
    let days = (days_1900 + DAYS_0001_TO_1900).clamp(0, u32::MAX as i64) as u32;
    SqlValue::DateTime(SqlDateTime { days, nanos })
}

fn decode_fixed(code: u8, b: &[u8]) -> PResult<SqlValue> {
    let mut r = Reader::new(b);
    Ok(match (code, b.len()) {
        (0x30, 1) | (0x26, 1) => SqlValue::TinyInt(r.u8()?),
        (0x32, 1) | (0x68, 1) => SqlValue::Bit(r.u8()? != 0),
        (0x34, 2) | (0x26, 2) => SqlValue::SmallInt(r.i16_le()?),
        (0x38, 4) | (0x26, 4) => SqlValue::Int(r.i32_le()?),
        (0x7F, 8) | (0x26, 8) => SqlValue::BigInt(r.i64_le()?),
        (0x3B, 4) | (0x6D, 4) => SqlValue::Real(f32::from_le_bytes(b.try_into().unwrap_or_default())),
        (0x3E, 8) | (0x6D, 8) => SqlValue::Float(f64::from_le_bytes(b.try_into().unwrap_or_default())),
        (0x7A, 4) | (0x6E, 4) => SqlValue::Decimal(r.i32_le()? as i128, 4),
        (0x3C, 8) | (0x6E, 8) => {
            let high = r.i32_le()? as i64;
            let low = r.u32_le()? as i64;
            SqlValue::Decimal(((high << 32) | low) as i128, 4)
        }
        (0x3D, 8) | (0x6F, 8) => {
            let days = r.i32_le()? as i64;
            let ticks = r.u32_le()? as u64;
            legacy_datetime(days, ((ticks * 1_000_000_000 + 150) / 300).min(NANOS_PER_DAY - 1))
        }
        (0x3A, 4) | (0x6F, 4) => {
            let days = r.u16_le()? as i64;
            let minutes = r.u16_le()? as u64;
            legacy_datetime(days, (minutes * 60_000_000_000).min(NANOS_PER_DAY - 1))
        }
        (0x24, 16) => {
            let mut g = [0u8; 16];
            g.copy_from_slice(b);
            SqlValue::Guid(guid_swap(g))
        }
        _ => {
            return Err(ProtocolError::new(format!("length {} is invalid for type {code:#04x}", b.len())));
        }
    })
}

fn decode_char(code: u8, bytes: &[u8]) -> PResult<SqlValue> {
    Ok(match code {
        0xE7 | 0xEF | 0xF1 => SqlValue::String(utf16le_to_string(bytes)?),
        0xA7 | 0xAF => SqlValue::String(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned()),
        _ => SqlValue::Binary(bytes.to_vec()),
    })
}

/// Reads a parameter value of type `t`.
pub(crate) fn read_value(r: &mut Reader<'_>, t: &WireType) -> PResult<SqlValue> {
    match *t {
        WireType::Null => Ok(SqlValue::Null),
        WireType::Fixed { code, len } => decode_fixed(code, r.bytes(len)?),
        WireType::ByteLen { code, scale, .. } => {
            let len = r.u8()? as usize;
            if len == 0 {
                return Ok(SqlValue::Null);
            }
            let b = r.bytes(len)?;
            match code {
                0x6A | 0x6C => {
                    let sign = b[0];
                    if b.len() > 17 || sign > 1 {
                        return Err(ProtocolError::new("invalid decimal value"));
                    }
                    let mut mag = [0u8; 16];
                    mag[..b.len() - 1].copy_from_slice(&b[1..]);
                    let mag = u128::from_le_bytes(mag);
                    let v = i128::try_from(mag).map_err(|_| ProtocolError::new("decimal out of range"))?;
                    Ok(SqlValue::Decimal(if sign == 0 { -v } else { v }, scale))
                }
                0x28 if len == 3 => Ok(SqlValue::Date(le_uint(b) as u32)),
                0x29 if len == time_len(scale) => Ok(SqlValue::Time(decode_time(b, scale)?)),
                0x2A if len == time_len(scale) + 3 => {
                    let tl = time_len(scale);
                    Ok(SqlValue::DateTime(SqlDateTime {
                        nanos: decode_time(&b[..tl], scale)?,
                        days: le_uint(&b[tl..]) as u32,
                    }))
                }
                0x2B if len == time_len(scale) + 5 => {
                    let tl = time_len(scale);
                    let dt = SqlDateTime { nanos: decode_time(&b[..tl], scale)?, days: le_uint(&b[tl..tl + 3]) as u32 };
                    Ok(SqlValue::DateTimeOffset(dt, i16::from_le_bytes([b[tl + 3], b[tl + 4]])))
                }
                0x28..=0x2B => Err(ProtocolError::new(format!("length {len} is invalid for type {code:#04x}"))),
                _ => decode_fixed(code, b),
            }
        }
        WireType::UShortLen { code, max } => {
            let bytes = if max == 0xFFFF {
                match read_plp(r)? {
                    Some(b) => b,
                    None => return Ok(SqlValue::Null),
                }
            } else {
                let len = r.u16_le()?;
                if len == 0xFFFF {
                    return Ok(SqlValue::Null);
                }
                if len > max && max != 0 {
                    return Err(ProtocolError::new(format!("value of {len} bytes exceeds its declared {max}")));
                }
                r.bytes(len as usize)?.to_vec()
            };
            decode_char(code, &bytes)
        }
        WireType::Xml => match read_plp(r)? {
            Some(b) => {
                let s = decode_char(0xF1, &b)?;
                Ok(match s {
                    SqlValue::String(s) => SqlValue::String(s.trim_start_matches('\u{feff}').to_string()),
                    other => other,
                })
            }
            None => Ok(SqlValue::Null),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_conversions() {
        let d = SqlDateTime::from_ymd_hms_nano(2024, 2, 29, 13, 45, 30, 123_456_700).unwrap();
        assert_eq!(d.to_parts(), (2024, 2, 29, 13, 45, 30, 123_456_700));
        assert_eq!(SqlDateTime::from_ymd(1, 1, 1).unwrap().days, 0);
        assert_eq!(SqlDateTime::from_ymd(1900, 1, 1).unwrap().days as i64, DAYS_0001_TO_1900);
        assert_eq!(SqlDateTime::from_ymd(1970, 1, 1).unwrap().days as i64, DAYS_0001_TO_1970);
        assert!(SqlDateTime::from_ymd(2023, 2, 29).is_none());
        assert_eq!(SqlDateTime::from_ymd(9999, 12, 31).unwrap().to_parts().0, 9999);
    }

    #[test]
    fn decimal_rescaling_and_layout() {
        assert_eq!(rescale(12345, 2, 4), Some(1_234_500));
        assert_eq!(rescale(12345, 2, 1), Some(1235));
        assert_eq!(rescale(-12345, 2, 1), Some(-1235));
        let col = ColumnDef::new("d", SqlType::Decimal(10, 2));
        let mut b = Vec::new();
        put_value(&mut b, &col, &SqlValue::Decimal(-12345, 2)).unwrap();
        assert_eq!(b, vec![9, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0]);
        assert!(
            put_value(&mut Vec::new(), &ColumnDef::new("d", SqlType::Decimal(3, 0)), &SqlValue::Int(1000)).is_err()
        );
    }

    #[test]
    fn nulls_use_the_type_specific_encoding() {
        let cases = [
            (SqlType::Int, vec![0u8]),
            (SqlType::Bit, vec![0]),
            (SqlType::Decimal(18, 2), vec![0]),
            (SqlType::UniqueIdentifier, vec![0]),
            (SqlType::DateTime2(7), vec![0]),
            (SqlType::NVarChar(Some(50)), vec![0xFF, 0xFF]),
            (SqlType::NVarChar(None), vec![0xFF; 8]),
            (SqlType::VarBinary(None), vec![0xFF; 8]),
        ];
        for (ty, want) in cases {
            let mut b = Vec::new();
            put_value(&mut b, &ColumnDef::new("c", ty), &SqlValue::Null).unwrap();
            assert_eq!(b, want, "{ty}");
        }
        assert!(put_value(&mut Vec::new(), &ColumnDef::not_null("c", SqlType::Int), &SqlValue::Null).is_err());
    }

    #[test]
    fn too_long_strings_are_fixture_errors() {
        let col = ColumnDef::new("s", SqlType::NVarChar(Some(3)));
        assert!(put_value(&mut Vec::new(), &col, &SqlValue::str("abcd")).is_err());
        let col = ColumnDef::new("s", SqlType::VarChar(Some(10)));
        assert!(put_value(&mut Vec::new(), &col, &SqlValue::str("日本")).is_err());
    }

    #[test]
    fn parameter_values_decode() {
        // INTN(8) 42, NVARCHAR(8000) "hi", GUID, DECIMALN(5,2) 1.23, PLP nvarchar(max) "x".
        let mut b = vec![0x26, 8, 8];
        b.extend_from_slice(&42i64.to_le_bytes());
        b.extend_from_slice(&[0xE7, 0x40, 0x1F, 0, 0, 0, 0, 0, 4, 0, b'h', 0, b'i', 0]);
        let g: [u8; 16] = core::array::from_fn(|i| i as u8);
        b.extend_from_slice(&[0x24, 16, 16]);
        b.extend_from_slice(&guid_swap(g));
        b.extend_from_slice(&[0x6C, 5, 5, 2, 5, 1, 123, 0, 0, 0]);
        b.extend_from_slice(&[0xE7, 0xFF, 0xFF, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        b.extend_from_slice(&[2, 0, 0, 0, b'x', 0, 0, 0, 0, 0]);
        let mut r = Reader::new(&b);
        let mut got = Vec::new();
        while !r.is_empty() {
            let t = parse_type_info(&mut r).unwrap().unwrap();
            got.push(read_value(&mut r, &t).unwrap());
        }
        assert_eq!(
            got,
            vec![
                SqlValue::BigInt(42),
                SqlValue::str("hi"),
                SqlValue::Guid(g),
                SqlValue::Decimal(123, 2),
                SqlValue::str("x"),
            ]
        );
    }

    #[test]
    fn malformed_parameters_are_errors_not_panics() {
        for bytes in [
            &[0x26u8, 8, 8, 1, 2][..],
            &[0x6A, 17, 38, 2, 18, 1],
            &[0xE7, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x10],
            &[0x2A, 9],
            &[0x2A, 7, 4, 0, 0, 0, 0],
            &[0x24, 16, 3, 1, 2, 3],
        ] {
            let mut r = Reader::new(bytes);
            let res = parse_type_info(&mut r).and_then(|t| match t {
                Ok(t) => read_value(&mut r, &t),
                Err(code) => Err(ProtocolError::new(format!("{code}"))),
            });
            assert!(res.is_err(), "{bytes:?}");
        }
    }
}
