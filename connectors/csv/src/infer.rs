//! Value classification and type widening.
//!
//! Each sampled value is classified into the narrowest [`Kind`] it fits; a
//! column's type is the widening of its values' kinds. The rules are strict
//! on purpose: a value is only typed when a reader would parse it back to the
//! same value, so identifiers such as `007` stay strings.

/// The inferred type of a value or column, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Empty (or a null token): says nothing about the type.
    Null,
    Boolean,
    Int,
    Float,
    Date,
    Time,
    /// ISO 8601 date-time without an offset.
    Timestamp,
    /// ISO 8601 date-time with `Z` or an offset.
    TimestampUtc,
    String,
}

impl Kind {
    /// The normalised data type (docs/output.md).
    pub fn data_type(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Boolean => "boolean",
            Kind::Int => "int64",
            Kind::Float => "float64",
            Kind::Date => "date",
            Kind::Time => "time[us]",
            Kind::Timestamp => "timestamp[us]",
            Kind::TimestampUtc => "timestamp[us, UTC]",
            Kind::String => "string",
        }
    }
}

/// The narrowest kind of one value. Surrounding ASCII whitespace is ignored;
/// empty values and the null tokens `null` (any case) and `\N` are nulls.
pub fn classify(value: &str) -> Kind {
    let v = value.trim_ascii();
    if v.is_empty() || v.eq_ignore_ascii_case("null") || v == "\\N" {
        Kind::Null
    } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        Kind::Boolean
    } else if is_int(v) {
        Kind::Int
    } else if is_float(v) {
        Kind::Float
    } else if let Some(kind) = temporal(v) {
        kind
    } else {
        Kind::String
    }
}

/// The type that holds values of both kinds: nulls change nothing, integers
/// widen to floats, dates to date-times; anything else becomes a string.
/// Local and UTC date-times together are a string: no one type holds both.
pub fn widen(a: Kind, b: Kind) -> Kind {
    use Kind::*;
    match (a, b) {
        (Null, k) | (k, Null) => k,
        (a, b) if a == b => a,
        (Int, Float) | (Float, Int) => Float,
        (Date, Timestamp) | (Timestamp, Date) => Timestamp,
        (Date, TimestampUtc) | (TimestampUtc, Date) => TimestampUtc,
        _ => String,
    }
}

/// `[+-]digits` fitting i64, without leading zeros (`007` is an identifier).
fn is_int(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'))
        && v.parse::<i64>().is_ok()
}

/// Decimal or exponent notation (`1.5`, `-.5`, `2e10`, `1E-3`), or the
/// special values `NaN` / `inf` / `infinity` (any case, with a sign).
fn is_float(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    if ["nan", "inf", "infinity"].iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return true;
    }
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        all_digits(int) && frac.is_none_or(all_digits) && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let d = e.strip_prefix(['+', '-']).unwrap_or(e);
        !d.is_empty() && all_digits(d)
    });
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

/// `yyyy-MM-dd` → date; `HH:mm:ss[.f]` → time; `yyyy-MM-dd(T| )HH:mm[:ss[.f]]`
/// → timestamp, with `Z` or `±hh[:mm]` → UTC timestamp.
fn temporal(v: &str) -> Option<Kind> {
    let b = v.as_bytes();
    if b.len() >= 8 && b[2] == b':' {
        return time(b).filter(|&n| n == b.len()).map(|_| Kind::Time);
    }
    if b.len() < 10 || !date(&b[..10]) {
        return None;
    }
    if b.len() == 10 {
        return Some(Kind::Date);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let rest = &b[11..];
    let used = time(rest).or_else(|| hour_minute(rest).then_some(5))?;
    match offset(&rest[used..])? {
        true => Some(Kind::TimestampUtc),
        false => Some(Kind::Timestamp),
    }
}

fn digits(b: &[u8], n: usize) -> Option<u32> {
    let part = b.get(..n)?;
    part.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

fn date(b: &[u8]) -> bool {
    let (Some(year), Some(month), Some(day)) = (digits(b, 4), digits(&b[5..], 2), digits(&b[8..], 2)) else {
        return false;
    };
    if b[4] != b'-' || b[7] != b'-' || !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= days
}

fn hour_minute(b: &[u8]) -> bool {
    matches!((digits(b, 2), b.get(2), digits(b.get(3..).unwrap_or(&[]), 2)),
        (Some(h), Some(b':'), Some(m)) if h < 24 && m < 60)
}

/// `HH:mm:ss` with an optional fraction of 1 to 9 digits; bytes used.
fn time(b: &[u8]) -> Option<usize> {
    if !hour_minute(b) || b.get(5) != Some(&b':') {
        return None;
    }
    let second = digits(b.get(6..)?, 2)?;
    if second > 60 {
        return None;
    }
    if b.get(8) != Some(&b'.') && b.get(8) != Some(&b',') {
        return Some(8);
    }
    let fraction = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=9).contains(&fraction).then_some(9 + fraction)
}

/// Empty → no offset (`Some(false)`); `Z` or `±hh[[:]mm]` → `Some(true)`.
fn offset(b: &[u8]) -> Option<bool> {
    match b {
        [] => Some(false),
        [b'Z' | b'z'] => Some(true),
        [b'+' | b'-', rest @ ..] => {
            let ok = match rest.len() {
                2 => digits(rest, 2).is_some_and(|h| h < 24),
                4 => digits(rest, 2).is_some_and(|h| h < 24) && digits(&rest[2..], 2).is_some_and(|m| m < 60),
                5 => {
                    rest[2] == b':'
                        && digits(rest, 2).is_some_and(|h| h < 24)
                        && digits(&rest[3..], 2).is_some_and(|m| m < 60)
                }
                _ => false,
            };
            ok.then_some(true)
        }
        _ => None,
    }
}

/// What the sample says about one column.
#[derive(Debug, Clone, Copy)]
pub struct ColumnStats {
    pub kind: Kind,
    /// Empty or null values seen, including rows too short to have the column.
    pub nulls: u64,
    /// Non-null values seen.
    pub values: u64,
}

impl Default for ColumnStats {
    fn default() -> Self {
        ColumnStats { kind: Kind::Null, nulls: 0, values: 0 }
    }
}

impl ColumnStats {
    pub fn add(&mut self, value: Option<&str>) {
        match value.map(classify).unwrap_or(Kind::Null) {
            Kind::Null => self.nulls += 1,
            kind => {
                self.values += 1;
                self.kind = widen(self.kind, kind);
            }
        }
    }
}
