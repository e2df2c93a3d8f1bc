//! Bounds-checked reading and little helpers for writing the primitive data
//! types of [MS-TDS] 2.2.5.1 (integers, `B_VARCHAR`, `US_VARCHAR`, UCS-2
//! strings).
//!
//! Every parser in this crate reads client bytes through [`Reader`], which
//! never panics: a short or malformed message becomes a [`ProtocolError`],
//! and the connection that sent it is closed.

use std::fmt;

/// A malformed or unsupported client message. The server closes the
/// connection that sent it (MS-TDS 3.3.5: "the server MUST close the
/// underlying transport connection").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TDS protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

pub(crate) type PResult<T> = Result<T, ProtocolError>;

/// A cursor over a client message that checks every read against the end of
/// the buffer.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> PResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(ProtocolError::new(format!(
                "message truncated: wanted {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn skip(&mut self, n: usize) -> PResult<()> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> PResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16_le(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u16_be(&mut self) -> PResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i16_le(&mut self) -> PResult<i16> {
        Ok(i16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32_le(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32_be(&mut self) -> PResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32_le(&mut self) -> PResult<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64_le(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64_le(&mut self) -> PResult<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// `n` UCS-2 code units (2 × `n` bytes), decoded as UTF-16LE.
    pub(crate) fn utf16(&mut self, n_chars: usize) -> PResult<String> {
        let raw = self.bytes(n_chars.checked_mul(2).ok_or_else(|| ProtocolError::new("string length overflows"))?)?;
        utf16le_to_string(raw)
    }

    /// `B_VARCHAR`: a one-byte character count, then UCS-2 characters.
    pub(crate) fn b_varchar(&mut self) -> PResult<String> {
        let n = self.u8()? as usize;
        self.utf16(n)
    }

    /// `US_VARCHAR`: a two-byte character count, then UCS-2 characters.
    pub(crate) fn us_varchar(&mut self) -> PResult<String> {
        let n = self.u16_le()? as usize;
        self.utf16(n)
    }
}

/// Decodes UTF-16LE bytes; an odd length or an unpaired surrogate is a
/// protocol error.
pub(crate) fn utf16le_to_string(raw: &[u8]) -> PResult<String> {
    if !raw.len().is_multiple_of(2) {
        return Err(ProtocolError::new("UCS-2 string with an odd byte length"));
    }
    let units: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|_| ProtocolError::new("invalid UTF-16 string"))
}

/// Appends `s` as UTF-16LE.
pub(crate) fn put_utf16(dst: &mut Vec<u8>, s: &str) {
    for unit in s.encode_utf16() {
        dst.extend_from_slice(&unit.to_le_bytes());
    }
}

/// Number of UTF-16 code units in `s`.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `B_VARCHAR`, truncated to 255 UTF-16 units if longer.
pub(crate) fn put_b_varchar(dst: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(255).collect();
    dst.push(units.len() as u8);
    for u in units {
        dst.extend_from_slice(&u.to_le_bytes());
    }
}

/// `US_VARCHAR`, truncated to 65535 UTF-16 units if longer.
pub(crate) fn put_us_varchar(dst: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().take(u16::MAX as usize).collect();
    dst.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        dst.extend_from_slice(&u.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_le().unwrap(), 0x0201);
        assert!(r.u16_le().is_err());
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.u8().is_err());
        assert!(Reader::new(&[5, b'a', 0]).b_varchar().is_err());
        assert!(Reader::new(&[0xff, 0xff]).utf16(usize::MAX).is_err());
    }

    #[test]
    fn varchar_round_trip() {
        let mut buf = Vec::new();
        put_b_varchar(&mut buf, "héllo");
        put_us_varchar(&mut buf, "wörld 😀");
        let mut r = Reader::new(&buf);
        assert_eq!(r.b_varchar().unwrap(), "héllo");
        assert_eq!(r.us_varchar().unwrap(), "wörld 😀");
        assert!(r.is_empty());
    }
}
