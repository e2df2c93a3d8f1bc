//! Byte-level scans of JSON structure (strings, escapes, nesting) that find
//! record boundaries without parsing values: to stop sampling once enough
//! records were read, to split a top-level array into its elements, and to
//! close a record cut by the sample's end.
//!
//! Every structural character is ASCII, so scanning the bytes of UTF-8 text
//! is exact.

/// Tracks whether the scan is inside a string literal.
#[derive(Debug, Default, Clone, Copy)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Feeds one byte; `true` when it is part of a string literal (including
    /// the quotes), so the caller must not read it as structure.
    fn skip(&mut self, b: u8) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.inside = false;
            }
            true
        } else if b == b'"' {
            self.inside = true;
            true
        } else {
            false
        }
    }
}

/// Counts complete records in a byte stream fed chunk by chunk. In a
/// top-level array a record is an element; otherwise it is a top-level value
/// (an NDJSON line). It only needs to be close: the sample is parsed after.
#[derive(Debug, Default)]
pub struct RecordCounter {
    strings: Strings,
    depth: usize,
    started: bool,
    /// Counting the elements of a top-level array.
    in_array: bool,
    /// One value per line, even if a line starts with `[`.
    lines: bool,
    /// A top-level scalar has started and not been counted.
    pending: bool,
    pub records: usize,
}

impl RecordCounter {
    pub fn new(lines: bool) -> Self {
        RecordCounter { lines, ..Default::default() }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.strings.skip(b) {
                self.pending |= self.depth == 0;
                continue;
            }
            if !self.started {
                // Whitespace and a byte-order mark before the first value.
                if b.is_ascii_whitespace() || matches!(b, 0xef | 0xbb | 0xbf) {
                    continue;
                }
                self.started = true;
                self.in_array = b == b'[' && !self.lines;
            }
            match b {
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        // The array's last element, or a whole top-level value.
                        self.records += 1;
                        self.in_array = false;
                        self.pending = false;
                    }
                }
                b',' if self.in_array && self.depth == 1 => self.records += 1,
                b'\n' if self.depth == 0 && self.pending => {
                    self.records += 1;
                    self.pending = false;
                }
                _ if self.depth == 0 && !b.is_ascii_whitespace() => self.pending = true,
                _ => {}
            }
        }
    }
}

/// Byte offset just past the first top-level array or object of `text`
/// (which starts with `[` or `{`), or `None` when the text ends first.
pub fn first_value_end(text: &str) -> Option<usize> {
    let mut strings = Strings::default();
    let mut depth = 0usize;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if strings.skip(b) {
            continue;
        }
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// One step through a top-level array's elements.
#[derive(Debug, PartialEq, Eq)]
pub enum Element<'a> {
    /// An element's text and the offset to continue from.
    Item(&'a str, usize),
    /// The array's closing bracket.
    End,
    /// The text ended inside an element (or before the closing bracket);
    /// holds what there is of the element, trimmed.
    Cut(&'a str),
}

/// The element of a top-level array starting at `pos` (just after `[` or a
/// separating comma).
pub fn next_element(text: &str, pos: usize) -> Element<'_> {
    let bytes = text.as_bytes();
    let mut start = pos;
    while bytes.get(start).is_some_and(u8::is_ascii_whitespace) {
        start += 1;
    }
    if bytes.get(start) == Some(&b']') {
        return Element::End;
    }
    let mut strings = Strings::default();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if strings.skip(b) {
            continue;
        }
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b',' | b']' if depth == 0 => {
                let next = if b == b',' { i + 1 } else { i };
                return Element::Item(text[start..i].trim_end(), next);
            }
            _ => {}
        }
    }
    Element::Cut(text.get(start..).unwrap_or("").trim())
}

/// Closes a top-level value cut by the sample's end at the last point where
/// it is well formed: before a separating comma, just after an opening
/// bracket, or just after a closing one; then closes every container still
/// open there. `{"a": 1, "b": {"c": [1, 2, 3` becomes
/// `{"a": 1, "b": {"c": [1, 2]}}`. `None` when no such point exists.
pub fn close_cut_value(text: &str) -> Option<String> {
    let mut strings = Strings::default();
    let mut open: Vec<u8> = Vec::new();
    // Cut position and how many containers are open there.
    let mut cut: Option<(usize, usize)> = None;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if strings.skip(b) {
            continue;
        }
        match b {
            b'{' | b'[' => {
                open.push(if b == b'{' { b'}' } else { b']' });
                cut = Some((i + 1, open.len()));
            }
            b'}' | b']' => {
                if open.pop() != Some(b) {
                    return None;
                }
                if open.is_empty() {
                    return None; // complete: nothing to close
                }
                cut = Some((i + 1, open.len()));
            }
            b',' if !open.is_empty() => cut = Some((i, open.len())),
            _ => {}
        }
    }
    // Containers opened after the cut were closed again before a later cut,
    // so the first `depth` open containers are those open at the cut.
    let (at, depth) = cut?;
    let mut closed = String::with_capacity(at + depth);
    closed.push_str(&text[..at]);
    closed.extend(open.get(..depth)?.iter().rev().map(|&b| char::from(b)));
    Some(closed)
}
