//! Bounded sampling: the first bytes of a file, read through the host in
//! range reads, inflated on the fly when the file is gzip.
//!
//! A schema is inferred from a sample, never from the whole file: a 5 GB file
//! costs at most `sample_bytes` of reads (plain) or `4 × sample_bytes` of
//! compressed reads (gzip), and the sample in memory never exceeds
//! `sample_bytes`. Reading also stops as soon as the caller has seen enough
//! records.

use flate2::bufread::MultiGzDecoder;
use std::io::{self, BufRead, Read};
use surveyor_sdk::{Error, FileInput, FileReader, Result};

/// First range read. Small files are usually served from the host's tail.
const FIRST_CHUNK: u64 = 64 * 1024;
/// Range reads double up to this size: few round trips to remote storage
/// for a full sample, little over-read when the first records suffice.
const MAX_CHUNK: u64 = 1 << 20;
/// Bound on compressed bytes read, as a multiple of the decompressed budget:
/// text compresses well, so hitting it means the stream is odd, not short.
const COMPRESSED_FACTOR: u64 = 4;
/// Size of one inflate step.
const INFLATE_STEP: usize = 64 * 1024;

/// How the file's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }
}

/// The first (decompressed) bytes of a file.
#[derive(Debug)]
pub struct Sample {
    pub bytes: Vec<u8>,
    /// The sample holds the whole (decompressed) file.
    pub complete: bool,
    pub compression: Compression,
    /// Bytes of the file itself read (compressed bytes for gzip).
    pub file_bytes_read: u64,
}

/// Reads at most `sample_bytes` (decompressed) from the start of the file.
/// `enough` sees each new chunk of decompressed bytes and returns `true` to
/// stop early (e.g. once enough records were seen).
pub fn read_sample(
    input: &FileInput,
    file: &dyn FileReader,
    sample_bytes: u64,
    mut enough: impl FnMut(&[u8]) -> bool,
) -> Result<Sample> {
    if input.size == 0 {
        return Err(malformed(input, "empty file (0 bytes)".into()));
    }
    let mut source = RangeSource::new(input, file, input.size);
    let first = source.next_chunk(FIRST_CHUNK.min(sample_bytes.max(2)))?;
    check_magic(input, &first)?;
    if first.starts_with(&[0x1f, 0x8b]) {
        source.limit = input.size.min(sample_bytes.saturating_mul(COMPRESSED_FACTOR)).max(source.offset);
        source.buf = first;
        return inflate(input, source, sample_bytes, enough);
    }
    let mut bytes = Vec::with_capacity(input.size.min(sample_bytes) as usize);
    let mut chunk = first;
    chunk.truncate(sample_bytes as usize);
    loop {
        bytes.extend_from_slice(&chunk);
        if chunk.is_empty() || enough(&chunk) {
            break;
        }
        let want = sample_bytes.saturating_sub(bytes.len() as u64);
        if want == 0 {
            break;
        }
        chunk = source.next_chunk(want)?;
    }
    let complete = bytes.len() as u64 == input.size;
    Ok(Sample { bytes, complete, compression: Compression::None, file_bytes_read: source.offset })
}

/// Inflates gzip (one or more members) until the decompressed budget, the
/// compressed budget or the end of the stream.
fn inflate(
    input: &FileInput,
    source: RangeSource<'_>,
    sample_bytes: u64,
    mut enough: impl FnMut(&[u8]) -> bool,
) -> Result<Sample> {
    let mut decoder = MultiGzDecoder::new(source);
    let mut bytes = Vec::new();
    let mut step = vec![0u8; INFLATE_STEP];
    let mut complete = false;
    loop {
        let want = (sample_bytes.saturating_sub(bytes.len() as u64) as usize).min(step.len());
        if want == 0 {
            break;
        }
        match decoder.read(&mut step[..want]) {
            Ok(0) => {
                complete = !decoder.get_ref().budget_hit();
                break;
            }
            Ok(n) => {
                bytes.extend_from_slice(&step[..n]);
                if enough(&step[..n]) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let source = decoder.get_mut();
                if let Some(host_error) = source.error.take() {
                    return Err(host_error);
                }
                if source.budget_hit() {
                    break;
                }
                let what = if e.kind() == io::ErrorKind::UnexpectedEof {
                    "truncated gzip stream".to_string()
                } else {
                    format!("corrupt gzip data: {e}")
                };
                return Err(malformed(input, format!("{what} (after {} decompressed bytes)", bytes.len())));
            }
        }
    }
    Ok(Sample { bytes, complete, compression: Compression::Gzip, file_bytes_read: decoder.get_ref().offset })
}

/// Other compressions are recognised so their error is clear rather than
/// "binary data".
fn check_magic(input: &FileInput, head: &[u8]) -> Result<()> {
    const OTHERS: [(&[u8], &str); 5] = [
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
        (b"BZh", "bzip2"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz"),
        (b"PK\x03\x04", "zip"),
        (&[0x04, 0x22, 0x4d, 0x18], "lz4"),
    ];
    for (magic, name) in OTHERS {
        if head.starts_with(magic) {
            return Err(Error::unsupported(format!("{name}-compressed file: only plain and gzip text is supported"))
                .with_item(input.path.clone()));
        }
    }
    Ok(())
}

fn malformed(input: &FileInput, message: String) -> Error {
    Error::malformed(message).with_item(input.path.clone())
}

/// The file's bytes `[0, limit)` as a byte stream of growing range reads.
struct RangeSource<'a> {
    input: &'a FileInput,
    file: &'a dyn FileReader,
    /// Next offset to read.
    offset: u64,
    /// Reading stops here: the file's end or the compressed budget.
    limit: u64,
    next_len: u64,
    buf: Vec<u8>,
    pos: usize,
    /// A host read error, kept to be returned as is rather than as an
    /// inflate error.
    error: Option<Error>,
}

impl<'a> RangeSource<'a> {
    fn new(input: &'a FileInput, file: &'a dyn FileReader, limit: u64) -> Self {
        RangeSource { input, file, offset: 0, limit, next_len: FIRST_CHUNK, buf: Vec::new(), pos: 0, error: None }
    }

    /// The next range, at most `max` bytes; empty at the limit.
    fn next_chunk(&mut self, max: u64) -> Result<Vec<u8>> {
        let len = self.next_len.min(max).min(self.limit.saturating_sub(self.offset));
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = self.input.bytes(self.file, self.offset, len)?.into_owned();
        self.offset += len;
        self.next_len = (self.next_len * 2).min(MAX_CHUNK);
        Ok(bytes)
    }

    /// Reading stopped at the compressed budget, before the file's end.
    fn budget_hit(&self) -> bool {
        self.offset >= self.limit && self.limit < self.input.size && self.pos >= self.buf.len()
    }
}

impl Read for RangeSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for RangeSource<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            match self.next_chunk(MAX_CHUNK) {
                Ok(bytes) => {
                    self.buf = bytes;
                    self.pos = 0;
                }
                Err(e) => {
                    self.error = Some(e);
                    return Err(io::Error::other("host read failed"));
                }
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}
