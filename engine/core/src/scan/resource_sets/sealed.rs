//! Resource sets put aside: the merged stream is past their members, so
//! they wait in a file, not in memory, until the run's sets are written. A
//! million-file lake has tens of thousands of sets, some with dozens of
//! schema variants each; held open to the end they were most of a gigabyte
//! (BENCHMARKS.md §3).

use super::SetBuilder;
use std::collections::HashMap;
use std::io::{Error, ErrorKind, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a set put aside is in the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    offset: u64,
    len: u64,
}

pub(super) struct Sealed {
    /// Removed from its folder as soon as it is open: nothing to clean up.
    file: std::fs::File,
    end: u64,
    /// Each set put aside, by pattern: its qualified name and place.
    sets: HashMap<String, (String, Place)>,
}

impl Sealed {
    pub fn create(dir: &Path) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = dir.join(format!("sets-{}-{}.aside", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Sealed { file, end: 0, sets: HashMap::new() })
    }

    pub fn put(&mut self, pattern: &str, set: &SetBuilder) -> Result<()> {
        let bytes = postcard::to_allocvec(set).map_err(Error::other)?;
        self.file.write_all_at(&bytes, self.end)?;
        let place = Place { offset: self.end, len: bytes.len() as u64 };
        self.end += place.len;
        self.sets.insert(pattern.to_string(), (set.qualified_name.clone(), place));
        Ok(())
    }

    /// The set of `pattern`, taken back out if it was put aside.
    pub fn take(&mut self, pattern: &str) -> Result<Option<SetBuilder>> {
        match self.sets.remove(pattern) {
            Some((_, place)) => read(&self.file, place).map(Some),
            None => Ok(None),
        }
    }

    /// The sets put aside (qualified name and place), and the file to read them from.
    pub fn into_parts(self) -> (Vec<(String, Place)>, std::fs::File) {
        (self.sets.into_values().collect(), self.file)
    }
}

/// A set put aside in `file`.
pub(super) fn read(file: &std::fs::File, place: Place) -> Result<SetBuilder> {
    let mut bytes = vec![0; place.len as usize];
    file.read_exact_at(&mut bytes, place.offset)?;
    postcard::from_bytes(&bytes).map_err(|e| Error::new(ErrorKind::InvalidData, e))
}
