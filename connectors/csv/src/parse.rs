//! A small RFC 4180 reader: quoted fields may hold delimiters, doubled quotes
//! and line breaks; records end with LF, CRLF or a lone CR. It is lenient the
//! way common readers are (text after a closing quote is kept, blank lines
//! are skipped) so that a sloppy export still yields a schema.
//!
//! Delimiter and quote are ASCII, so scanning bytes of UTF-8 text is exact:
//! no ASCII byte occurs inside a multi-byte character.

/// The characters that shape a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
}

/// One record: its fields' text end to end, one allocation per record
/// rather than per field (a sample of one-character fields stays small).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    text: String,
    ends: Vec<u32>,
}

impl Record {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = match index {
            0 => 0,
            _ => *self.ends.get(index - 1)? as usize,
        };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Builds a record field by field.
#[derive(Default)]
struct Builder {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl Builder {
    fn push(&mut self, byte: u8) {
        self.bytes.push(byte);
    }
    fn end_field(&mut self) {
        self.ends.push(u32::try_from(self.bytes.len()).unwrap_or(u32::MAX));
    }
    fn finish(&mut self) -> Record {
        let bytes = std::mem::take(&mut self.bytes);
        Record {
            // Always valid: a slice of UTF-8 text split at ASCII bytes.
            text: String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ends: std::mem::take(&mut self.ends),
        }
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    /// An incomplete last record (cut by the sample's end) was dropped.
    pub cut_record: bool,
    /// The file ended inside a quoted field (the record is kept).
    pub unterminated_quote: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    Start,
    Unquoted,
    Quoted,
    /// Just after a quote inside a quoted field: a second quote is a literal
    /// quote, anything else closes the quoted part.
    QuoteInQuoted,
}

/// Parses up to `max_records` records. When `complete` is false the text is
/// a prefix of the file, so a last record without its line break is dropped.
pub fn parse(text: &str, dialect: Dialect, complete: bool, max_records: usize) -> Parsed {
    let bytes = text.as_bytes();
    let mut out = Parsed::default();
    let mut record = Builder::default();
    let mut state = State::Start;
    // Whether the current record has any content (blank lines are skipped).
    let mut content = false;
    let mut i = 0;
    while i < bytes.len() {
        if out.records.len() >= max_records {
            return out;
        }
        let c = bytes[i];
        i += 1;
        match state {
            State::Quoted => {
                if c == dialect.quote {
                    state = State::QuoteInQuoted;
                } else {
                    record.push(c);
                }
                continue;
            }
            State::QuoteInQuoted if c == dialect.quote => {
                record.push(c);
                state = State::Quoted;
                continue;
            }
            State::Start if c == dialect.quote => {
                state = State::Quoted;
                content = true;
                continue;
            }
            _ => {}
        }
        if c == dialect.delimiter {
            record.end_field();
            content = true;
            state = State::Start;
        } else if c == b'\n' || c == b'\r' {
            if c == b'\r' && bytes.get(i) == Some(&b'\n') {
                i += 1;
            }
            if content {
                record.end_field();
                out.records.push(record.finish());
            }
            content = false;
            state = State::Start;
        } else {
            record.push(c);
            content = true;
            state = State::Unquoted;
        }
    }
    if content && out.records.len() < max_records {
        if complete {
            out.unterminated_quote = state == State::Quoted;
            record.end_field();
            out.records.push(record.finish());
        } else {
            out.cut_record = true;
        }
    }
    out
}

/// Counts complete records in a byte stream fed chunk by chunk, so sampling
/// can stop once enough records were read. It only needs to be close: the
/// real parse happens afterwards, on the sample.
pub struct RecordCounter {
    delimiters: Vec<u8>,
    quote: u8,
    state: State,
    pub records: usize,
}

impl RecordCounter {
    /// `delimiters`: the configured one, or every candidate (unknown yet).
    pub fn new(delimiters: Vec<u8>, quote: u8) -> Self {
        RecordCounter { delimiters, quote, state: State::Start, records: 0 }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        for &c in chunk {
            self.state = match self.state {
                State::Quoted if c == self.quote => State::QuoteInQuoted,
                State::Quoted => State::Quoted,
                State::QuoteInQuoted if c == self.quote => State::Quoted,
                State::Start if c == self.quote => State::Quoted,
                _ if c == b'\n' => {
                    self.records += 1;
                    State::Start
                }
                _ if self.delimiters.contains(&c) => State::Start,
                _ => State::Unquoted,
            };
        }
    }
}
