//! The pages of a column chunk in a codec the `parquet` crate is built
//! without here, decompressed by this connector, for the sampler.
//!
//! The crate decodes Zstandard through the C library, which does not build
//! for `wasm32-wasip2` here, and its Brotli codec brings the whole encoder
//! (it doubled this component's size); `ruzstd` and `brotli-decompressor`
//! are pure-Rust decoders. The crate's column readers take their pages from
//! any [`PageReader`], so this one reads the page headers itself
//! ([`footer::page_header`]) and hands the crate decompressed pages. Only
//! the fetched start of the chunk is read, page by page as the column
//! reader asks, and a page must decompress to exactly the size its header
//! states, within [`MAX_PAGE`], or the column gets no sample.

use crate::footer::{self, PageHeader};
use bytes::Bytes;
use parquet::basic::Encoding;
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};
use std::io::Read;

/// A page larger than this, decompressed, is not sampled (the sandbox's
/// memory is the limit; writers' pages are 1 MiB by default).
const MAX_PAGE: usize = 64 << 20;

/// The codecs decompressed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnCodec {
    Zstd,
    Brotli,
}

pub struct OwnPages {
    codec: OwnCodec,
    /// The fetched start of the chunk.
    chunk: Bytes,
    pos: usize,
    /// Values the chunk holds that no page has given yet.
    values_left: i64,
}

impl OwnPages {
    pub fn new(codec: OwnCodec, chunk: Bytes, num_values: i64) -> Self {
        OwnPages { codec, chunk, pos: 0, values_left: num_values }
    }

    fn decompress(&self, compressed: &[u8], expected: usize) -> Result<Vec<u8>> {
        match self.codec {
            OwnCodec::Zstd => zstd(compressed, expected),
            OwnCodec::Brotli => {
                let decoder = brotli_decompressor::Decompressor::new(compressed, 4096);
                exactly(decoder, expected).map_err(|e| general(format!("brotli: {e}")))
            }
        }
    }

    /// The next page's header and where its body starts, if there is a next page.
    fn header(&self) -> Result<Option<(PageHeader, usize)>> {
        if self.values_left <= 0 || self.pos >= self.chunk.len() {
            return Ok(None);
        }
        let (header, len) =
            footer::page_header(&self.chunk[self.pos..]).map_err(|e| general(format!("page header: {e}")))?;
        Ok(Some((header, self.pos + len)))
    }
}

fn general(message: String) -> ParquetError {
    ParquetError::General(message)
}

fn encoding(v: i32) -> Result<Encoding> {
    #[allow(deprecated)]
    Ok(match v {
        0 => Encoding::PLAIN,
        2 => Encoding::PLAIN_DICTIONARY,
        3 => Encoding::RLE,
        4 => Encoding::BIT_PACKED,
        5 => Encoding::DELTA_BINARY_PACKED,
        6 => Encoding::DELTA_LENGTH_BYTE_ARRAY,
        7 => Encoding::DELTA_BYTE_ARRAY,
        8 => Encoding::RLE_DICTIONARY,
        9 => Encoding::BYTE_STREAM_SPLIT,
        other => return Err(general(format!("unknown encoding {other}"))),
    })
}

fn size(v: i32, what: &str) -> Result<usize> {
    usize::try_from(v).ok().filter(|&n| n <= MAX_PAGE).ok_or_else(|| general(format!("page {what} {v}")))
}

/// The window a Zstandard frame declares, from its header (RFC 8878 §3.1.1.1).
fn window_size(frame: &[u8]) -> Option<u64> {
    let descriptor = *frame.get(4)?;
    if descriptor & 0x20 != 0 {
        // Single segment: the window is the content size, after the dictionary id.
        let dict = [0, 1, 2, 4][usize::from(descriptor & 3)];
        let at = 5 + dict;
        let size = match descriptor >> 6 {
            0 => u64::from(*frame.get(at)?),
            1 => u64::from(u16::from_le_bytes(frame.get(at..at + 2)?.try_into().ok()?)) + 256,
            2 => u64::from(u32::from_le_bytes(frame.get(at..at + 4)?.try_into().ok()?)),
            _ => u64::from_le_bytes(frame.get(at..at + 8)?.try_into().ok()?),
        };
        return Some(size);
    }
    let w = *frame.get(5)?;
    let base = 1u64 << (10 + (w >> 3));
    Some(base + base / 8 * u64::from(w & 7))
}

/// Decompresses one Zstandard frame to exactly `expected` bytes. The
/// decoder sets aside the window the frame declares (up to 100 MiB) before
/// decoding: a window far larger than the page is refused first.
fn zstd(compressed: &[u8], expected: usize) -> Result<Vec<u8>> {
    if expected == 0 {
        return Ok(Vec::new());
    }
    let most = (2 * expected as u64).max(8 << 20);
    match window_size(compressed) {
        Some(window) if window <= most => {}
        window => return Err(general(format!("zstd: a window of {window:?} bytes for a page of {expected}"))),
    }
    let decoder = ruzstd::decoding::StreamingDecoder::new(compressed).map_err(|e| general(format!("zstd: {e}")))?;
    exactly(decoder, expected).map_err(|e| general(format!("zstd: {e}")))
}

/// Reads exactly `expected` bytes from a decoder; one byte more, or fewer,
/// is a page that lies about its size.
fn exactly(decoder: impl Read, expected: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected);
    decoder.take(expected as u64 + 1).read_to_end(&mut out)?;
    if out.len() != expected {
        let message = format!("a page decompressed to {} bytes, not {expected}", out.len());
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    }
    Ok(out)
}

impl PageReader for OwnPages {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        loop {
            let Some((h, body)) = self.header()? else { return Ok(None) };
            let compressed = size(h.compressed, "size")?;
            let end = body.checked_add(compressed).filter(|&e| e <= self.chunk.len());
            let end = end.ok_or_else(|| general("the page runs past the fetched bytes".into()))?;
            self.pos = end;
            let raw = &self.chunk[body..end];
            let uncompressed = size(h.uncompressed, "size")?;
            let page = match h.page_type {
                0 => {
                    self.values_left -= i64::from(h.num_values);
                    Page::DataPage {
                        buf: Bytes::from(self.decompress(raw, uncompressed)?),
                        num_values: h.num_values as u32,
                        encoding: encoding(h.encoding)?,
                        def_level_encoding: encoding(h.def_encoding)?,
                        rep_level_encoding: encoding(h.rep_encoding)?,
                        statistics: None,
                    }
                }
                2 => Page::DictionaryPage {
                    buf: Bytes::from(self.decompress(raw, uncompressed)?),
                    num_values: h.num_values as u32,
                    encoding: encoding(h.encoding)?,
                    is_sorted: h.is_sorted,
                },
                3 => {
                    self.values_left -= i64::from(h.num_values);
                    // The levels come first, never compressed.
                    let levels = size(h.def_bytes, "levels")?
                        .checked_add(size(h.rep_bytes, "levels")?)
                        .filter(|&l| l <= raw.len() && l <= uncompressed)
                        .ok_or_else(|| general("page levels longer than the page".into()))?;
                    let buf = if h.is_compressed {
                        let mut buf = raw[..levels].to_vec();
                        buf.extend(self.decompress(&raw[levels..], uncompressed - levels)?);
                        buf
                    } else {
                        raw.to_vec()
                    };
                    Page::DataPageV2 {
                        buf: Bytes::from(buf),
                        num_values: h.num_values as u32,
                        encoding: encoding(h.encoding)?,
                        num_nulls: h.num_nulls as u32,
                        num_rows: h.num_rows as u32,
                        def_levels_byte_len: h.def_bytes as u32,
                        rep_levels_byte_len: h.rep_bytes as u32,
                        // Handed over decompressed.
                        is_compressed: false,
                        statistics: None,
                    }
                }
                // Index pages and unknown kinds are stepped over.
                _ => continue,
            };
            return Ok(Some(page));
        }
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        Ok(self.header()?.map(|(h, _)| PageMetadata {
            num_rows: (h.page_type == 3).then_some(h.num_rows.max(0) as usize),
            num_levels: (h.page_type != 2).then_some(h.num_values.max(0) as usize),
            is_dict: h.page_type == 2,
        }))
    }

    fn skip_next_page(&mut self) -> Result<()> {
        if let Some((h, body)) = self.header()? {
            if h.page_type == 0 || h.page_type == 3 {
                self.values_left -= i64::from(h.num_values);
            }
            self.pos = body.saturating_add(size(h.compressed, "size")?);
        }
        Ok(())
    }
}

impl Iterator for OwnPages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}
