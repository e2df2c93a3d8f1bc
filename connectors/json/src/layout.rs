//! How the records lie in the file, and reading them from the sample.
//!
//! - `ndjson`: one value per line (more generally, values one after another);
//!   `.ndjson` / `.jsonl` files are always read so.
//! - `array`: one top-level array whose elements are the records.
//! - `object`: one top-level value that is the only record.
//!
//! A `.json` file starting with `[` or `{` is an array or an object when
//! that first value is all there is (or is cut by the sample's end), NDJSON
//! when more values follow it.

use crate::scan::{self, Element};
use serde::de::IgnoredAny;
use serde_json::Deserializer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Ndjson,
    Array,
    Object,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Ndjson => "ndjson",
            Layout::Array => "array",
            Layout::Object => "object",
        }
    }
}

/// What reading the sample found.
#[derive(Debug)]
pub struct Outcome {
    pub layout: Layout,
    pub records: usize,
    /// Records that are not valid JSON (skipped).
    pub invalid: usize,
    /// The first parse error, for the message when nothing was valid.
    pub first_error: Option<String>,
    /// The single record was cut by the sample's end and closed.
    pub partial_record: bool,
}

/// Reads up to `max_records` records from `text` (the sample; `complete`
/// when it is the whole file), handing the text of each valid one to `sink`.
/// Records are only validated here (nothing is built), so an invalid or cut
/// record never reaches the schema half-merged. An incomplete last
/// record of a sample is not a record; at the file's end it is invalid.
pub fn read_records(text: &str, complete: bool, lines: bool, max_records: usize, sink: impl FnMut(&str)) -> Outcome {
    let mut reader = Reader {
        complete,
        max_records,
        sink,
        out: Outcome { layout: Layout::Ndjson, records: 0, invalid: 0, first_error: None, partial_record: false },
    };
    let body = text.trim_start();
    let first = body.as_bytes().first().copied();
    if lines || !matches!(first, Some(b'[' | b'{')) {
        reader.ndjson(body);
        if reader.out.records == 0 && reader.out.invalid == 0 && !complete {
            // The first line alone is longer than the sample.
            reader.partial(body);
        }
        return reader.out;
    }
    let first_end = scan::first_value_end(body);
    let alone = first_end.is_none_or(|end| body[end..].trim().is_empty());
    match (alone, first) {
        (false, _) => reader.ndjson(body),
        (true, Some(b'[')) => reader.array(body),
        _ => reader.object(body, first_end),
    }
    reader.out
}

struct Reader<F> {
    complete: bool,
    max_records: usize,
    sink: F,
    out: Outcome,
}

impl<F: FnMut(&str)> Reader<F> {
    fn record(&mut self, text: &str) {
        self.out.records += 1;
        (self.sink)(text);
    }

    fn invalid(&mut self, error: String) {
        self.out.invalid += 1;
        self.out.first_error.get_or_insert(error);
    }

    fn full(&self) -> bool {
        self.out.records >= self.max_records || self.out.invalid > self.max_records
    }

    /// Values one after another. After an invalid value, reading resumes at
    /// the next line.
    fn ndjson(&mut self, body: &str) {
        self.out.layout = Layout::Ndjson;
        let mut pos = 0;
        while pos < body.len() && !self.full() {
            let rest = &body[pos..];
            let mut stream = Deserializer::from_str(rest).into_iter::<IgnoredAny>();
            loop {
                if self.full() {
                    return;
                }
                let before = stream.byte_offset();
                match stream.next() {
                    None => return,
                    Some(Ok(IgnoredAny)) => {
                        let end = stream.byte_offset();
                        if !self.complete && end == rest.len() && may_continue(rest) {
                            // A scalar at the very end of the sample may be cut
                            // (`12` of `123`): not a record.
                            return;
                        }
                        self.record(&rest[before..end]);
                    }
                    Some(Err(e)) if e.is_eof() => {
                        if self.complete {
                            self.invalid(format!("the file ends inside a value: {e}"));
                        }
                        return;
                    }
                    Some(Err(e)) => {
                        self.invalid(e.to_string());
                        let start = pos + before;
                        let skipped = body[start..].len() - body[start..].trim_start().len();
                        let line = start + skipped;
                        pos = body[line..].find('\n').map_or(body.len(), |n| line + n + 1);
                        break;
                    }
                }
            }
        }
    }

    /// The elements of a top-level array; `body` starts with `[`.
    fn array(&mut self, body: &str) {
        self.out.layout = Layout::Array;
        let mut pos = 1;
        while !self.full() {
            match scan::next_element(body, pos) {
                Element::End => return,
                Element::Item(text, next) => {
                    self.element(text);
                    pos = next;
                }
                Element::Cut(text) => {
                    if self.complete && !text.is_empty() {
                        // At the file's end, a last element without the
                        // closing bracket is still a record if it parses.
                        self.element(text);
                    } else if self.out.records == 0 && self.out.invalid == 0 {
                        // The first element alone is longer than the sample.
                        self.partial(text);
                    }
                    return;
                }
            }
        }
    }

    fn element(&mut self, text: &str) {
        match serde_json::from_str::<IgnoredAny>(text) {
            Ok(IgnoredAny) => self.record(text),
            Err(e) => self.invalid(format!("array element: {e}")),
        }
    }

    /// A single top-level value; when the sample cut it, the part before the
    /// cut is closed and read as the record.
    fn object(&mut self, body: &str, end: Option<usize>) {
        self.out.layout = Layout::Object;
        let text = match end {
            Some(end) => &body[..end],
            None if !self.complete => return self.partial(body),
            None => body,
        };
        match serde_json::from_str::<IgnoredAny>(text) {
            Ok(IgnoredAny) => self.record(text),
            Err(e) => self.invalid(e.to_string()),
        }
    }
}

impl<F: FnMut(&str)> Reader<F> {
    /// A record cut by the sample's end, closed where it was last well
    /// formed: better a schema of its first fields than none.
    fn partial(&mut self, text: &str) {
        if let Some(closed) = scan::close_cut_value(text)
            && serde_json::from_str::<IgnoredAny>(&closed).is_ok()
        {
            self.out.partial_record = true;
            self.record(&closed);
        }
    }
}

/// Whether the text's last byte could be followed by more of the same
/// scalar (a digit, a letter, a sign, a dot).
fn may_continue(text: &str) -> bool {
    text.trim_end().len() == text.len()
        && text.as_bytes().last().is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}
