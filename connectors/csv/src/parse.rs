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

#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Vec<String>>,
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
    let mut record: Vec<String> = Vec::new();
    let mut field: Vec<u8> = Vec::new();
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
                    field.push(c);
                }
                continue;
            }
            State::QuoteInQuoted if c == dialect.quote => {
                field.push(c);
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
            record.push(take(&mut field));
            content = true;
            state = State::Start;
        } else if c == b'\n' || c == b'\r' {
            if c == b'\r' && bytes.get(i) == Some(&b'\n') {
                i += 1;
            }
            if content {
                record.push(take(&mut field));
                out.records.push(std::mem::take(&mut record));
            }
            content = false;
            state = State::Start;
        } else {
            field.push(c);
            content = true;
            state = State::Unquoted;
        }
    }
    if content && out.records.len() < max_records {
        if complete {
            out.unterminated_quote = state == State::Quoted;
            record.push(take(&mut field));
            out.records.push(record);
        } else {
            out.cut_record = true;
        }
    }
    out
}

fn take(field: &mut Vec<u8>) -> String {
    let bytes = std::mem::take(field);
    // Always valid: the bytes are a slice of UTF-8 text split at ASCII bytes.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
