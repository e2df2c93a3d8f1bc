//! Dialect and header detection from the sample.

use crate::infer::{Kind, classify};
use crate::parse::{Dialect, Record, parse};
use std::collections::{HashMap, HashSet};

/// Delimiters tried when none is configured, in tie-break order.
pub const CANDIDATES: [u8; 4] = [b',', b'\t', b';', b'|'];
/// Records looked at to choose the delimiter: enough to see consistency,
/// few enough that trying four candidates stays cheap.
const DETECT_RECORDS: usize = 200;

/// Chooses the delimiter giving the most consistent field count (more than
/// one field) over the first records: the share of records having the most
/// common field count ranks first, then that field count, then `preferred`'s
/// order. With no candidate splitting the records, `preferred[0]` (the
/// extension's default: tab for `.tsv`, comma otherwise).
pub fn delimiter(text: &str, quote: u8, complete: bool, preferred: &[u8]) -> u8 {
    let mut best: Option<(f64, usize, u8)> = None;
    for &candidate in preferred {
        let dialect = Dialect { delimiter: candidate, quote };
        let records = parse(text, dialect, complete, DETECT_RECORDS).records;
        let Some((mode, share)) = mode(records.iter().map(Record::len)) else {
            continue;
        };
        if mode < 2 {
            continue;
        }
        let better = match best {
            None => true,
            Some((best_share, best_mode, _)) => {
                share > best_share + 1e-9 || (share > best_share - 1e-9 && mode > best_mode)
            }
        };
        if better {
            best = Some((share, mode, candidate));
        }
    }
    best.map(|(_, _, d)| d).unwrap_or(preferred[0])
}

/// The most common value (smallest on ties) and the share of items having it.
pub fn mode(counts: impl Iterator<Item = usize>) -> Option<(usize, f64)> {
    let mut freq: HashMap<usize, usize> = HashMap::new();
    let mut total = 0usize;
    for c in counts {
        *freq.entry(c).or_default() += 1;
        total += 1;
    }
    let (value, n) = freq.into_iter().max_by(|(va, na), (vb, nb)| na.cmp(nb).then(vb.cmp(va)))?;
    Some((value, n as f64 / total as f64))
}

/// Whether the first record is a header.
///
/// It is not when any of its fields is empty, repeats another (ignoring
/// case), or reads as a typed value (number, boolean, date, time): column
/// names are distinct words. Otherwise it is, unless every column below it
/// holds only strings and the first row's values reappear below in more than
/// half of the columns — then it looks like one more data row. A first row of
/// names above typed columns is the clearest header of all and always wins.
pub fn has_header(records: &[Record]) -> bool {
    let Some((first, data)) = records.split_first() else {
        return false;
    };
    let mut seen = HashSet::new();
    for field in first.iter() {
        let name = field.trim().to_lowercase();
        if name.is_empty() || !seen.insert(name) || classify(field) != Kind::String {
            return false;
        }
    }
    if data.is_empty() {
        return true;
    }
    let typed_below = (0..first.len()).any(|col| {
        data.iter().filter_map(|row| row.get(col)).any(|v| !matches!(classify(v), Kind::String | Kind::Null))
    });
    if typed_below {
        return true;
    }
    let repeated = first
        .iter()
        .enumerate()
        .filter(|(col, name)| data.iter().any(|row| row.get(*col).is_some_and(|v| v.trim() == name.trim())))
        .count();
    repeated * 2 <= first.len()
}
