//! A checked stream of records: the format of work-unit results and of a
//! source's state.
//!
//! ```text
//! magic (4 bytes) · { u32 length · postcard value }* · u32 0 · u64 frames · SHA-256 of everything before
//! ```
//!
//! A reader fails on a wrong magic, a frame over [`MAX_FRAME`], a stream
//! that ends before its trailer (a truncated upload), a count or checksum
//! that does not match, or bytes after the trailer, so that a damaged result
//! is refused whole rather than half-used.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// Largest frame accepted (one asset with its schema).
pub const MAX_FRAME: u32 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a {expected} stream (magic {found:?})")]
    Magic { expected: &'static str, found: [u8; 4] },
    #[error("frame {frame} is {len} bytes, more than the limit of {MAX_FRAME}")]
    TooLarge { frame: u64, len: u32 },
    #[error("the stream ends after {frames} frames, before its trailer (truncated)")]
    Truncated { frames: u64 },
    #[error("frame {frame} cannot be decoded: {message}")]
    Decode { frame: u64, message: String },
    #[error("the trailer does not match the stream ({0}): damaged or truncated")]
    Trailer(&'static str),
}

/// Writes frames to `W`, hashing everything.
pub struct FrameWriter<W: Write> {
    inner: W,
    hash: Sha256,
    frames: u64,
    buf: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(mut inner: W, magic: &[u8; 4]) -> std::io::Result<Self> {
        inner.write_all(magic)?;
        let mut hash = Sha256::new();
        hash.update(magic);
        Ok(FrameWriter { inner, hash, frames: 0, buf: Vec::new() })
    }

    pub fn put<T: Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        let buf = postcard::to_extend(value, std::mem::take(&mut self.buf))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let len = u32::try_from(buf.len() - 4).unwrap_or(u32::MAX);
        self.buf = buf;
        if len > MAX_FRAME {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a frame of {len} bytes")));
        }
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&self.buf)?;
        self.hash.update(&self.buf);
        self.frames += 1;
        Ok(())
    }

    /// A frame already encoded (without its length), e.g. kept encoded in memory.
    pub fn put_encoded(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        if len > MAX_FRAME {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a frame of {len} bytes")));
        }
        self.inner.write_all(&len.to_le_bytes())?;
        self.inner.write_all(frame)?;
        self.hash.update(len.to_le_bytes());
        self.hash.update(frame);
        self.frames += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        let mut trailer = Vec::with_capacity(44);
        trailer.extend_from_slice(&0u32.to_le_bytes());
        trailer.extend_from_slice(&self.frames.to_le_bytes());
        self.hash.update(&trailer);
        let digest = self.hash.finalize();
        self.inner.write_all(&trailer)?;
        self.inner.write_all(&digest)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Reads frames back, checking the trailer at the end.
pub struct FrameReader<R: Read> {
    inner: R,
    hash: Sha256,
    frames: u64,
    done: bool,
    buf: Vec<u8>,
    /// Bytes of the stream read so far.
    position: u64,
}

/// A frame as read, not yet decoded.
pub struct RawFrame<'a> {
    /// Where its value starts in the stream (after its length).
    pub offset: u64,
    /// Its number in the stream, from 0.
    pub number: u64,
    pub bytes: &'a [u8],
}

impl RawFrame<'_> {
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, FrameError> {
        decode(self.bytes, self.number)
    }
}

/// Decodes one frame's value (`number`: its place in the stream, for the error).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], number: u64) -> Result<T, FrameError> {
    postcard::from_bytes(bytes).map_err(|e| FrameError::Decode { frame: number, message: e.to_string() })
}

impl<R: Read> FrameReader<R> {
    pub fn new(mut inner: R, magic: &[u8; 4], expected: &'static str) -> Result<Self, FrameError> {
        let mut found = [0u8; 4];
        read_exact(&mut inner, &mut found, 0)?;
        if &found != magic {
            return Err(FrameError::Magic { expected, found });
        }
        let mut hash = Sha256::new();
        hash.update(found);
        Ok(FrameReader { inner, hash, frames: 0, done: false, buf: Vec::new(), position: 4 })
    }

    /// The next frame; `None` after the last one (once the trailer checked out).
    pub fn read<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        match self.read_raw()? {
            Some(frame) => frame.decode().map(Some),
            None => Ok(None),
        }
    }

    /// The next frame, checked but not decoded: a reader may leave some
    /// frames in the stream and come back for them ([`decode`]).
    pub fn read_raw(&mut self) -> Result<Option<RawFrame<'_>>, FrameError> {
        if self.done {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        read_exact(&mut self.inner, &mut len, self.frames)?;
        let n = u32::from_le_bytes(len);
        if n == 0 {
            self.trailer(len)?;
            return Ok(None);
        }
        if n > MAX_FRAME {
            return Err(FrameError::TooLarge { frame: self.frames, len: n });
        }
        self.buf.resize(n as usize, 0);
        read_exact(&mut self.inner, &mut self.buf, self.frames)?;
        self.hash.update(len);
        self.hash.update(&self.buf);
        let frame = RawFrame { offset: self.position + 4, number: self.frames, bytes: &self.buf };
        self.position += 4 + u64::from(n);
        self.frames += 1;
        Ok(Some(frame))
    }

    fn trailer(&mut self, zero: [u8; 4]) -> Result<(), FrameError> {
        let mut count = [0u8; 8];
        read_exact(&mut self.inner, &mut count, self.frames)?;
        let mut digest = [0u8; 32];
        read_exact(&mut self.inner, &mut digest, self.frames)?;
        self.hash.update(zero);
        self.hash.update(count);
        if u64::from_le_bytes(count) != self.frames {
            return Err(FrameError::Trailer("frame count"));
        }
        if self.hash.clone().finalize().as_slice() != digest {
            return Err(FrameError::Trailer("checksum"));
        }
        let mut extra = [0u8; 1];
        if self.inner.read(&mut extra)? != 0 {
            return Err(FrameError::Trailer("bytes after the trailer"));
        }
        self.done = true;
        Ok(())
    }
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8], frames: u64) -> Result<(), FrameError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FrameError::Truncated { frames },
        _ => FrameError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(values: &[u32]) -> Vec<u8> {
        let mut w = FrameWriter::new(Vec::new(), b"TEST").unwrap();
        for v in values {
            w.put(&(*v, format!("value {v}"))).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(u32, String)>, FrameError> {
        let mut r = FrameReader::new(bytes, b"TEST", "test")?;
        let mut out = Vec::new();
        while let Some(v) = r.read()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn frames_round_trip() {
        let bytes = stream(&[1, 2, 3]);
        assert_eq!(read_all(&bytes).unwrap().iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(read_all(&stream(&[])).unwrap().is_empty());
    }

    #[test]
    fn truncated_damaged_or_foreign_streams_are_refused() {
        let bytes = stream(&[1, 2, 3]);
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(read_all(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[9] ^= 1;
        assert!(read_all(&flipped).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(read_all(&longer), Err(FrameError::Trailer(_))));
        assert!(matches!(read_all(b"NOPE\0\0\0\0"), Err(FrameError::Magic { .. })));
    }
}
