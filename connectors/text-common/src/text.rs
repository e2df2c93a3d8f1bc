//! Sample bytes → text: skips a UTF-8 byte-order mark, refuses binary data
//! and UTF-16, and tolerates what real exports contain: a few invalid UTF-8
//! bytes (replaced), or a legacy single-byte encoding (Windows-1252, decoded).

use std::borrow::Cow;
use surveyor_sdk::{Error, Result};

/// Invalid UTF-8 tolerated in otherwise UTF-8 text, as a fraction of the
/// sample (1 in 20 bytes): a few stray bytes, not a different encoding.
const MAX_INVALID_RATIO: usize = 20;
/// Non-UTF-8 bytes tolerated in single-byte (Windows-1252) text: 1 in 4.
/// Accented text stays well under it; binary data is far over it.
const MAX_LEGACY_RATIO: usize = 4;
/// Control characters (other than tab, CR, LF, form feed) tolerated: 1 in 100.
const MAX_CONTROL_RATIO: usize = 100;

pub struct Text<'a> {
    pub text: Cow<'a, str>,
    /// Invalid UTF-8 bytes replaced by U+FFFD.
    pub invalid_bytes: usize,
    /// `utf-8` or `windows-1252`.
    pub encoding: &'static str,
}

/// Decodes the sample. When the sample is not the whole file, a multi-byte
/// character cut at its end is dropped rather than counted as invalid.
pub fn decode<'a>(bytes: &'a [u8], complete: bool, path: &str) -> Result<Text<'a>> {
    let malformed = |message: String| Error::malformed(message).with_item(path.to_string());
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(Error::unsupported("UTF-16 text (byte-order mark): only UTF-8 text is supported")
            .with_item(path.to_string()));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(malformed(format!(
            "binary data, not text: NUL byte at offset {at} (UTF-16 and binary files are not supported)"
        )));
    }
    let controls =
        bytes.iter().filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f).count();
    if controls > 0 && controls * MAX_CONTROL_RATIO > bytes.len() {
        return Err(malformed(format!(
            "binary data, not text: {controls} control characters in the first {} bytes",
            bytes.len()
        )));
    }
    let bytes = if complete { bytes } else { trim_cut_character(bytes) };
    let first_error = match std::str::from_utf8(bytes) {
        Ok(text) => {
            return Ok(Text { text: Cow::Borrowed(text), invalid_bytes: 0, encoding: "utf-8" });
        }
        Err(e) => e.valid_up_to(),
    };
    let (mut invalid, mut multibyte) = (0usize, false);
    for chunk in bytes.utf8_chunks() {
        invalid += chunk.invalid().len();
        multibyte |= !chunk.valid().is_ascii();
    }
    let not_text = || {
        malformed(format!(
            "not UTF-8 text: {invalid} of the first {} bytes are invalid UTF-8 (first at offset {first_error})",
            bytes.len()
        ))
    };
    if !multibyte {
        // Not one valid multi-byte character: a legacy single-byte encoding.
        if invalid * MAX_LEGACY_RATIO > bytes.len() {
            return Err(not_text());
        }
        return Ok(Text {
            text: Cow::Owned(bytes.iter().map(|&b| windows_1252(b)).collect()),
            invalid_bytes: 0,
            encoding: "windows-1252",
        });
    }
    if invalid * MAX_INVALID_RATIO > bytes.len() {
        return Err(not_text());
    }
    Ok(Text {
        text: Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
        invalid_bytes: invalid,
        encoding: "utf-8",
    })
}

/// Windows-1252 (a superset of ISO-8859-1's printable characters).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Drops an incomplete multi-byte sequence at the very end.
fn trim_cut_character(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => {
            // The error (if any) is earlier; still drop a trailing cut sequence.
            let start = bytes.len().saturating_sub(3);
            for i in (start..bytes.len()).rev() {
                let b = bytes[i];
                if b & 0xc0 == 0xc0 {
                    let need = if b >= 0xf0 {
                        4
                    } else if b >= 0xe0 {
                        3
                    } else {
                        2
                    };
                    if bytes.len() - i < need {
                        return &bytes[..i];
                    }
                    break;
                }
                if b & 0x80 == 0 {
                    break;
                }
            }
            bytes
        }
    }
}
