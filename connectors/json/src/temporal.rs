//! Dates and date-times written as JSON strings.
//!
//! JSON has no date type, so writers put ISO 8601 text in strings. A string
//! column whose sampled values are all ISO dates (or times, or date-times) is
//! reported as `date` (`time[us]`, `timestamp[us]`, `timestamp[us, UTC]`);
//! its physical type stays `string`. The rules are the CSV connector's.

/// What a JSON string holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrKind {
    Plain,
    Date,
    Time,
    /// ISO 8601 date-time without an offset.
    Timestamp,
    /// ISO 8601 date-time with `Z` or an offset.
    TimestampUtc,
}

impl StrKind {
    pub fn data_type(self) -> &'static str {
        match self {
            StrKind::Plain => "string",
            StrKind::Date => "date",
            StrKind::Time => "time[us]",
            StrKind::Timestamp => "timestamp[us]",
            StrKind::TimestampUtc => "timestamp[us, UTC]",
        }
    }
}

pub fn classify(s: &str) -> StrKind {
    temporal(s).unwrap_or(StrKind::Plain)
}

/// Dates widen to date-times; any other mix is plain text.
pub fn widen(a: StrKind, b: StrKind) -> StrKind {
    use StrKind::*;
    match (a, b) {
        (a, b) if a == b => a,
        (Date, Timestamp) | (Timestamp, Date) => Timestamp,
        (Date, TimestampUtc) | (TimestampUtc, Date) => TimestampUtc,
        _ => Plain,
    }
}

/// `yyyy-MM-dd` → date; `HH:mm:ss[.f]` → time; `yyyy-MM-dd(T| )HH:mm[:ss[.f]]`
/// → timestamp, with `Z` or `±hh[:mm]` → UTC timestamp.
fn temporal(v: &str) -> Option<StrKind> {
    let b = v.as_bytes();
    if b.len() >= 8 && b[2] == b':' {
        return time(b).filter(|&n| n == b.len()).map(|_| StrKind::Time);
    }
    if b.len() < 10 || !date(&b[..10]) {
        return None;
    }
    if b.len() == 10 {
        return Some(StrKind::Date);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let rest = &b[11..];
    let used = time(rest).or_else(|| hour_minute(rest).then_some(5))?;
    match offset(&rest[used..])? {
        true => Some(StrKind::TimestampUtc),
        false => Some(StrKind::Timestamp),
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
