//! Text forms of sampled values, written into one reused buffer.
//!
//! The forms are those of the `parquet` crate's `Field` (dates
//! `2024-01-31`, timestamps `2024-01-31 12:00:00.000000 +00:00`), but
//! written directly: building a `Field` per value, chrono's format-string
//! interpreter and a `BigInt` per decimal were 19% of a classified lake
//! scan's CPU time (perf on the generated lake). Where they differ from
//! the crate, it is on purpose: decimals of scale 0 have no trailing `.`,
//! negative and zero floats are not in E notation, a double's last digit
//! may differ where two shortest forms give its value back, and dates
//! outside years 0–9999 (where the crate's `Display` can panic) count as
//! null.

use parquet::basic::{ConvertedType, LogicalType, TimeUnit};
use parquet::record::Field;
use parquet::schema::types::{ColumnDescPtr, ColumnDescriptor};
use std::fmt::{Display, UpperExp, Write};

/// An INT32 value with its converted type; `false` when it has no text form.
pub fn int32(column: &ColumnDescriptor, v: i32, out: &mut String) -> bool {
    use ConvertedType::*;
    match column.converted_type() {
        INT_8 => number(out, v as i8),
        INT_16 => number(out, v as i16),
        UINT_8 => number(out, v as u8),
        UINT_16 => number(out, v as u16),
        UINT_32 => number(out, v as u32),
        DATE => return date(out, v.into()),
        TIME_MILLIS => clock(out, v as u64 / 1_000, v as u64 % 1_000, 3),
        DECIMAL => return decimal(out, v.into(), column.type_scale()),
        _ => number(out, v),
    }
    true
}

/// An INT64 value with its converted or logical type.
pub fn int64(column: &ColumnDescriptor, v: i64, out: &mut String) -> bool {
    use ConvertedType::*;
    match column.converted_type() {
        UINT_64 => number(out, v as u64),
        TIME_MICROS => clock(out, v as u64 / 1_000_000, v as u64 % 1_000_000, 6),
        TIMESTAMP_MILLIS => return timestamp(out, v, 1_000, 3),
        TIMESTAMP_MICROS => return timestamp(out, v, 1_000_000, 6),
        DECIMAL => return decimal(out, v.into(), column.type_scale()),
        _ => match column.logical_type_ref() {
            // Nanoseconds have a logical type only.
            Some(LogicalType::Timestamp(t)) if t.unit == TimeUnit::NANOS => return timestamp(out, v, 1_000_000_000, 9),
            _ => number(out, v),
        },
    }
    true
}

/// A float as Rust shows it, integral ones with `.0`, magnitudes outside
/// 1e-15..=1e19 in E notation.
pub fn float<F: Copy + Into<f64> + Display + UpperExp>(out: &mut String, v: F) -> bool {
    let magnitude = v.into().abs();
    let _ = if magnitude.is_finite() && magnitude != 0.0 && !(1e-15..=1e19).contains(&magnitude) {
        write!(out, "{v:E}")
    } else if magnitude.is_finite() && v.into().trunc() == v.into() {
        write!(out, "{v}.0")
    } else {
        write!(out, "{v}")
    };
    true
}

/// [`float`] of a DOUBLE: the shortest digits come from `ryu` where it
/// writes them without an exponent: as short as `Display`'s and the same
/// value, but faster (`Display`'s Grisu was 1.3% of a classified lake scan);
/// the last digit may differ where two shortest forms give the value back.
pub fn double(out: &mut String, v: f64) -> bool {
    if (1e-15..=1e19).contains(&v.abs()) {
        let mut buffer = ryu::Buffer::new();
        let shortest = buffer.format_finite(v);
        if !shortest.contains(['e', 'E']) {
            out.push_str(shortest);
            return true;
        }
    }
    float(out, v)
}

/// An INT96 timestamp (legacy Impala and Spark files), in milliseconds.
pub fn int96(millis: i64, out: &mut String) -> bool {
    timestamp(out, millis, 1_000, 3)
}

/// A FLOAT16 (rare enough to go through the crate's `Field`).
pub fn float16(column: &ColumnDescPtr, bytes: &[u8], out: &mut String) -> bool {
    Field::convert_byte_array(column, bytes.to_vec().into()).is_ok_and(|field| write!(out, "{field}").is_ok())
}

/// A DECIMAL stored as big-endian two's-complement bytes (BYTE_ARRAY or
/// FIXED_LEN_BYTE_ARRAY); wider than 16 bytes goes through the crate.
pub fn decimal_bytes(column: &ColumnDescPtr, bytes: &[u8], out: &mut String) -> bool {
    match bytes.len() {
        1..=16 => {
            let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
            let mut wide = [fill; 16];
            wide[16 - bytes.len()..].copy_from_slice(bytes);
            decimal(out, i128::from_be_bytes(wide), column.type_scale())
        }
        _ if column.type_scale() >= 0 && column.type_precision() >= column.type_scale() => {
            Field::convert_byte_array(column, bytes.to_vec().into()).is_ok_and(|field| write!(out, "{field}").is_ok())
        }
        _ => false,
    }
}

/// The usual 8-4-4-4-12 form of a UUID's 16 bytes.
pub fn uuid(bytes: &[u8; 16], out: &mut String) {
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{b:02x}");
    }
}

fn number(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// `v` zero-padded to `width` digits: the fields of dates and times
/// (`format!`'s padding was a third of their cost in the sandbox).
fn padded(out: &mut String, v: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v);
    (digits.len()..width).for_each(|_| out.push('0'));
    out.push_str(digits);
}

/// `HH:MM:SS.fff`: `secs` past midnight and a `digits`-wide fraction.
fn clock(out: &mut String, secs: u64, fraction: u64, digits: usize) {
    padded(out, secs / 3600, 2);
    out.push(':');
    padded(out, secs / 60 % 60, 2);
    out.push(':');
    padded(out, secs % 60, 2);
    out.push('.');
    padded(out, fraction, digits);
}

/// `unscaled` × 10^-`scale` in plain notation.
fn decimal(out: &mut String, unscaled: i128, scale: i32) -> bool {
    let Ok(scale) = usize::try_from(scale) else { return false };
    if unscaled < 0 {
        out.push('-');
    }
    let digits_at = out.len();
    number(out, unscaled.unsigned_abs());
    let digits = out.len() - digits_at;
    if scale >= digits {
        out.insert_str(digits_at, "0.");
        (0..scale - digits).for_each(|_| out.insert(digits_at + 2, '0'));
    } else if scale > 0 {
        out.insert(out.len() - scale, '.');
    }
    true
}

/// `YYYY-MM-DD HH:MM:SS.fff +00:00` of `v` 1/`per_second` seconds after
/// the epoch (UTC, as the crate shows every timestamp).
fn timestamp(out: &mut String, v: i64, per_second: i64, digits: usize) -> bool {
    let (secs, fraction) = (v.div_euclid(per_second), v.rem_euclid(per_second));
    let (days, secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    if !date(out, days) {
        return false;
    }
    out.push(' ');
    clock(out, secs as u64, fraction as u64, digits);
    out.push_str(" +00:00");
    true
}

/// `YYYY-MM-DD` of `days` after 1970-01-01, for years 0 to 9999
/// (H. Hinnant's `civil_from_days`).
fn date(out: &mut String, days: i64) -> bool {
    let Some(z) = days.checked_add(719_468) else { return false };
    let (era, day_of_era) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return false;
    }
    padded(out, year as u64, 4);
    out.push('-');
    padded(out, month as u64, 2);
    out.push('-');
    padded(out, day as u64, 2);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut String) -> bool) -> Option<String> {
        let mut out = String::new();
        f(&mut out).then_some(out)
    }

    /// Same text as the crate's `Field` wherever the crate can show the value.
    #[test]
    fn dates_and_timestamps_read_as_the_crate_shows_them() {
        let first = -719_528; // 0000-01-01
        let last = 2_932_896; // 9999-12-31
        for days in (first..=last).step_by(997).chain([first, -1, 0, 1, 11_016, 19_000, last]) {
            assert_eq!(text(|o| date(o, days)).unwrap(), Field::Date(days as i32).to_string(), "day {days}");
            let ms = days * 86_400_000 + 45_296_789 * (days & 1);
            assert_eq!(text(|o| timestamp(o, ms, 1_000, 3)).unwrap(), Field::TimestampMillis(ms).to_string());
            let us = ms * 1_000 + 123 * (days & 1);
            assert_eq!(text(|o| timestamp(o, us, 1_000_000, 6)).unwrap(), Field::TimestampMicros(us).to_string());
        }
        assert_eq!(text(|o| date(o, first - 1)), None);
        assert_eq!(text(|o| date(o, last + 1)), None);
        assert_eq!(text(|o| date(o, i64::MAX)), None);
        assert_eq!(text(|o| timestamp(o, i64::MIN, 1_000, 3)), None);
        assert_eq!(
            text(|o| timestamp(o, 1_700_000_000_123_456_789, 1_000_000_000, 9)).unwrap(),
            "2023-11-14 22:13:20.123456789 +00:00"
        );
        let time = |ms: u64| {
            let mut out = String::new();
            clock(&mut out, ms / 1_000, ms % 1_000, 3);
            out
        };
        assert_eq!(time(45_296_789), "12:34:56.789");
        assert_eq!(time(45_296_789), Field::TimeMillis(45_296_789).to_string());
    }

    #[test]
    fn decimals_floats_and_uuids() {
        let dec = |v: i128, s| text(|o| decimal(o, v, s)).unwrap();
        assert_eq!(dec(12_345, 2), "123.45");
        assert_eq!(dec(-12_345, 2), "-123.45");
        assert_eq!(dec(5, 3), "0.005");
        assert_eq!(dec(-5, 3), "-0.005");
        assert_eq!(dec(0, 2), "0.00");
        assert_eq!(dec(123, 0), "123");
        assert_eq!(dec(i128::MIN, 38), "-1.70141183460469231731687303715884105728");
        assert_eq!(text(|o| decimal(o, 1, -1)), None);
        let flt = |v: f64| text(|o| double(o, v)).unwrap();
        assert_eq!([flt(1.0), flt(-2.5), flt(0.0), flt(1e20), flt(f64::NAN)], ["1.0", "-2.5", "0.0", "1E20", "NaN"]);
        assert_eq!(text(|o| float(o, 0.1f32)).unwrap(), "0.1");
        // As short as `Display` (with `.0` on integral values), and the same
        // value, across magnitudes (the last digit may differ where two
        // shortest forms give the value back).
        let display = |v: f64| if v.trunc() == v { format!("{v}.0") } else { format!("{v}") };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let scaled = (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 34) as i32 - 15);
            for v in [f64::from_bits(x), scaled] {
                if v.is_finite() && (1e-15..=1e19).contains(&v.abs()) {
                    let (got, want) = (flt(v), display(v));
                    assert!(got.parse::<f64>() == Ok(v) && got.len() == want.len(), "{got} against {want}");
                }
            }
        }
        assert_eq!(
            [flt(123456789.0), flt(0.000001), flt(1e19), flt(5551234567.0)],
            ["123456789.0", "0.000001", "10000000000000000000.0", "5551234567.0"]
        );
        let mut out = String::new();
        uuid(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7], &mut out);
        assert_eq!(out, "12345678-9abc-def0-0001-020304050607");
    }
}
