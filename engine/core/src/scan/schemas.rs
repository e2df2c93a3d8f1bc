//! The distinct schemas of a unit result or a source's state, as a reader
//! of the stream sees them.
//!
//! Both streams write each distinct schema once, as a frame, and refer to
//! it by number. A stream read from a file leaves those frames there and
//! reads one back when a record refers to it: a commit holds a thousand
//! units open at once, and decoding every unit's schemas up front kept them
//! all in memory (at a million files, 100,000 distinct schemas, most of a
//! gigabyte; BENCHMARKS.md §3). A stream read once from elsewhere (an
//! upload being checked) decodes them as they come.

use super::frames::{FrameError, FrameReader, RawFrame, decode};
use crate::host::bindings::types::Column;
use serde::de::DeserializeOwned;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Postcard's tag of the `Columns` variant in both stream formats (their
/// second variant): a frame starting with it holds a schema.
pub(super) const COLUMNS_TAG: u8 = 1;

/// Where a schema is in its stream: offset, length and frame number.
type Place = (u64, u32, u64);

/// The schemas of one stream, in the order they were written.
pub(super) struct Schemas<F> {
    /// The file they are left in, and where each one is.
    file: Option<(std::fs::File, Vec<Place>)>,
    decoded: Vec<Arc<Vec<Column>>>,
    /// The last one read back: a table's files, one after the other, share it.
    last: Option<(u32, Arc<Vec<Column>>)>,
    /// Takes the columns out of a decoded frame.
    columns: fn(F) -> Option<Vec<Column>>,
}

impl<F: DeserializeOwned> Schemas<F> {
    /// Schemas decoded as they are read.
    pub fn decoded(columns: fn(F) -> Option<Vec<Column>>) -> Self {
        Schemas { file: None, decoded: Vec::new(), last: None, columns }
    }

    /// Schemas left in `file` (the stream being read) until needed.
    pub fn in_file(file: std::fs::File, columns: fn(F) -> Option<Vec<Column>>) -> Self {
        Schemas { file: Some((file, Vec::new())), decoded: Vec::new(), last: None, columns }
    }

    /// The next frame of `frames` that is not a schema, decoded; the
    /// schemas before it are taken in on the way.
    pub fn next_frame<R: std::io::Read>(&mut self, frames: &mut FrameReader<R>) -> Result<Option<F>, FrameError> {
        while let Some(frame) = frames.read_raw()? {
            if frame.bytes.first() == Some(&COLUMNS_TAG) {
                self.add(frame)?;
            } else {
                return frame.decode().map(Some);
            }
        }
        Ok(None)
    }

    fn add(&mut self, frame: RawFrame<'_>) -> Result<(), FrameError> {
        match &mut self.file {
            Some((_, at)) => at.push((frame.offset, frame.bytes.len() as u32, frame.number)),
            None => {
                let columns = (self.columns)(frame.decode()?).ok_or_else(|| not_columns(frame.number))?;
                self.decoded.push(Arc::new(columns));
            }
        }
        Ok(())
    }

    /// The `index`th schema; `None` if the stream has no such schema (yet).
    pub fn get(&mut self, index: u32) -> Result<Option<Arc<Vec<Column>>>, FrameError> {
        let Some((file, at)) = &self.file else { return Ok(self.decoded.get(index as usize).cloned()) };
        if let Some((i, columns)) = &self.last
            && *i == index
        {
            return Ok(Some(columns.clone()));
        }
        let Some(&(offset, len, number)) = at.get(index as usize) else { return Ok(None) };
        let mut bytes = vec![0; len as usize];
        file.read_exact_at(&mut bytes, offset)?;
        let columns = Arc::new((self.columns)(decode(&bytes, number)?).ok_or_else(|| not_columns(number))?);
        self.last = Some((index, columns.clone()));
        Ok(Some(columns))
    }
}

fn not_columns(number: u64) -> FrameError {
    FrameError::Decode { frame: number, message: "not a schema".into() }
}
