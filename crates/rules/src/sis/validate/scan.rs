//! A streaming CSV record reader that is as strict as Ruby's `CSV`, which Canvas parses with.
//!
//! The `csv` crate is lenient where Ruby raises `MalformedCSVError` (and Canvas then fails the
//! whole batch with "Malformed CSV"): it accepts a quote inside an unquoted field (`U"1`), text
//! after a closing quote (`"U1"x`, or `"U1" ,` with a space) and line endings that change half way
//! through a file. It also numbers lines from before the blank lines it skips. So records are
//! split here, in one pass over a fixed-size buffer, with Ruby's rules:
//!
//! - a field is quoted only if its first byte is `"`; inside, `""` is a quote;
//! - after a closing quote only a comma, the line ending or the end of the file may follow;
//! - the line ending is set by the first CR or LF in the file (Ruby's `row_sep: :auto`), and a
//!   bare CR or LF outside quotes that is not that line ending is malformed;
//! - a line that is exactly the line ending is blank and skipped (`skip_blanks: true`).
//!
//! Memory is bounded: the buffer holds one chunk plus the record being read, and a record longer
//! than [`MAX_RECORD_BYTES`] (in practice an unclosed quote swallowing the file) is an error.
//! Nothing here knows about UTF-8, headers or Canvas kinds; the caller gets raw field bytes.

use std::io::{self, Read};

/// How much is read from the source at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// The longest record accepted, quotes and all.
pub(crate) const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// A file's line ending, as Ruby's CSV detects it from the first CR or LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    Lf,
    CrLf,
    Cr,
}

impl LineEnd {
    pub(crate) fn label(self) -> &'static str {
        match self {
            LineEnd::Lf => "LF",
            LineEnd::CrLf => "CRLF",
            LineEnd::Cr => "CR",
        }
    }
}

/// Why a file is not CSV as Ruby reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// `U"1`: a quote in a field that did not start with one.
    QuoteInUnquotedField,
    /// `"U1"x`: anything but a comma or the line ending after a closing quote.
    TextAfterClosingQuote,
    /// A quoted field still open at the end of the file; `line` is where it opened.
    UnclosedQuote,
    /// A bare CR or LF outside quotes that is not the file's line ending.
    MixedLineEnding { found: LineEnd, expected: LineEnd },
    /// A record longer than [`MAX_RECORD_BYTES`].
    RecordTooLong,
}

/// What stopped the scan.
#[derive(Debug)]
pub(crate) enum ScanErrorKind {
    Malformed(Malformed),
    Io(io::Error),
}

/// A scan error and where it happened: 1-based line, byte offset in the file, 0-based field.
#[derive(Debug)]
pub(crate) struct ScanError {
    pub kind: ScanErrorKind,
    pub line: u64,
    pub offset: u64,
    pub field: usize,
}

/// Reads records one at a time; the current record's fields are borrowed from the scanner.
pub(crate) struct Scanner<R> {
    src: R,
    buf: Vec<u8>,
    /// Start of unread data in `buf`.
    pos: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// Line number at `buf[pos]`.
    line: u64,
    line_end: Option<LineEnd>,
    /// The current record: unescaped field bytes back to back, and where each field ends.
    data: Vec<u8>,
    ends: Vec<usize>,
    /// The current record's raw bytes in `buf`, without its line ending.
    raw: (usize, usize),
    rec_line: u64,
    rec_offset: u64,
    /// Records returned so far (the first is the header).
    records: u64,
}

impl<R: Read> Scanner<R> {
    pub(crate) fn new(src: R) -> Self {
        Scanner {
            src,
            buf: vec![0; CHUNK_BYTES],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            line: 1,
            line_end: None,
            data: Vec::with_capacity(1024),
            ends: Vec::with_capacity(64),
            raw: (0, 0),
            rec_line: 0,
            rec_offset: 0,
            records: 0,
        }
    }

    /// Reads the next record, skipping blank lines and, after the header, rows whose every value
    /// is blank: Canvas's `CSVBaseImporter#csv_rows` skips a row whose values are all nil once
    /// stripped (`,,,` or `  , ,`), without a message. `Ok(false)` at the end of the file.
    pub(crate) fn next_record(&mut self) -> Result<bool, ScanError> {
        loop {
            let step = parse(
                &self.buf[self.pos..self.end],
                self.eof,
                &mut self.line_end,
                &mut self.data,
                &mut self.ends,
            );
            match step {
                Step::Blank { next } => {
                    self.pos += next;
                    self.line += 1;
                }
                Step::Record {
                    raw_end,
                    next,
                    breaks,
                } => {
                    self.raw = (self.pos, self.pos + raw_end);
                    self.rec_line = self.line;
                    self.rec_offset = self.base + self.pos as u64;
                    self.line += breaks + u64::from(next > raw_end);
                    self.pos += next;
                    if self.records > 0 && self.all_values_blank() {
                        continue;
                    }
                    self.records += 1;
                    return Ok(true);
                }
                Step::Eof => return Ok(false),
                Step::NeedMore => self.fill()?,
                Step::Error {
                    what,
                    at,
                    breaks,
                    field,
                } => {
                    let line = if what == Malformed::UnclosedQuote {
                        self.line + breaks_before(&self.buf[self.pos..self.pos + at])
                    } else {
                        self.line + breaks
                    };
                    return Err(ScanError {
                        kind: ScanErrorKind::Malformed(what),
                        line,
                        offset: self.base + (self.pos + at) as u64,
                        field,
                    });
                }
            }
        }
    }

    /// Whether every field of the current record is nil to Canvas once stripped: empty, or only
    /// whitespace (Ruby's `strip`, then `presence`). Bytes that are not UTF-8 are a value.
    fn all_values_blank(&self) -> bool {
        (0..self.len()).all(|i| {
            std::str::from_utf8(self.field(i))
                .is_ok_and(|v| v.chars().all(|c| c == '\0' || c.is_whitespace()))
        })
    }

    /// Moves the unread tail to the front and reads more; grows the buffer for a long record.
    fn fill(&mut self) -> Result<(), ScanError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_RECORD_BYTES {
                return Err(self.error_here(ScanErrorKind::Malformed(Malformed::RecordTooLong)));
            }
            let grown = (self.buf.len() * 2).min(MAX_RECORD_BYTES);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.error_here(ScanErrorKind::Io(e))),
            }
        }
    }

    fn error_here(&self, kind: ScanErrorKind) -> ScanError {
        ScanError {
            kind,
            line: self.line,
            offset: self.base + self.pos as u64,
            field: 0,
        }
    }

    /// Number of fields in the current record.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `i` of the current record, unescaped and untrimmed; empty past the last field.
    pub(crate) fn field(&self, i: usize) -> &[u8] {
        match self.ends.get(i) {
            Some(&end) => {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                &self.data[start..end]
            }
            None => &[],
        }
    }

    /// The current record's bytes as they are in the file, without the line ending.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.buf[self.raw.0..self.raw.1]
    }

    /// 1-based line on which the current record starts.
    pub(crate) fn record_line(&self) -> u64 {
        self.rec_line
    }

    /// Byte offset in the file at which the current record starts.
    pub(crate) fn record_offset(&self) -> u64 {
        self.rec_offset
    }

    /// Bytes read from the source so far (the file size once `next_record` returned `false`).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.base + self.end as u64
    }
}

/// Line breaks in `bytes`, for locating an unclosed quote's opening line.
fn breaks_before(bytes: &[u8]) -> u64 {
    let lf = bytes.iter().filter(|&&b| b == b'\n').count();
    let cr = bytes.iter().filter(|&&b| b == b'\r').count();
    if lf > 0 { lf as u64 } else { cr as u64 }
}

/// The outcome of parsing from the start of the unread data.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A record: its raw bytes end at `raw_end`, the next one starts at `next`; `breaks` line
    /// breaks were inside quoted fields.
    Record {
        raw_end: usize,
        next: usize,
        breaks: u64,
    },
    /// A blank line of `next` bytes.
    Blank { next: usize },
    /// The data ends inside a record: read more (not at the end of the file).
    NeedMore,
    /// No more data.
    Eof,
    /// Malformed at byte `at`, after `breaks` line breaks, in field `field`.
    Error {
        what: Malformed,
        at: usize,
        breaks: u64,
        field: usize,
    },
}

/// Bytes that end an unquoted run.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// What a CR or LF at some position is.
enum Ending {
    /// The file's line ending, `len` bytes long.
    Matches(usize),
    /// Another line ending.
    Other(LineEnd, LineEnd),
    NeedMore,
}

/// The line ending starting at `input[i]` (a CR or LF); the first one seen sets the file's.
fn ending_at(input: &[u8], i: usize, eof: bool, file: &mut Option<LineEnd>) -> Ending {
    let here = if input[i] == b'\n' {
        LineEnd::Lf
    } else if i + 1 < input.len() {
        if input[i + 1] == b'\n' {
            LineEnd::CrLf
        } else {
            LineEnd::Cr
        }
    } else if eof {
        LineEnd::Cr
    } else {
        return Ending::NeedMore;
    };
    let expected = *file.get_or_insert(here);
    match (expected, here) {
        (a, b) if a == b => Ending::Matches(if a == LineEnd::CrLf { 2 } else { 1 }),
        // A CRLF in a CR file is a CR ending a line, then an LF starting the next: flag the LF.
        (LineEnd::Cr, LineEnd::CrLf) => Ending::Matches(1),
        (expected, found) => Ending::Other(found, expected),
    }
}

/// Parses one record (or blank line) at the start of `input`.
fn parse(
    input: &[u8],
    eof: bool,
    line_end: &mut Option<LineEnd>,
    data: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Step {
    data.clear();
    ends.clear();
    let n = input.len();
    if n == 0 {
        return if eof { Step::Eof } else { Step::NeedMore };
    }
    if input[0] == b'\r' || input[0] == b'\n' {
        return match ending_at(input, 0, eof, line_end) {
            Ending::Matches(len) => Step::Blank { next: len },
            Ending::NeedMore => Step::NeedMore,
            Ending::Other(found, expected) => Step::Error {
                what: Malformed::MixedLineEnding { found, expected },
                at: 0,
                breaks: 0,
                field: 0,
            },
        };
    }
    let mut i = 0;
    let mut breaks = 0u64;
    loop {
        if i < n && input[i] == b'"' {
            let open = i;
            i += 1;
            loop {
                let start = i;
                while i < n && input[i] != b'"' {
                    let b = input[i];
                    if b == b'\n' || b == b'\r' {
                        if line_end.is_none()
                            && let Ending::NeedMore = ending_at(input, i, eof, line_end)
                        {
                            return Step::NeedMore;
                        }
                        let counted = if *line_end == Some(LineEnd::Cr) {
                            b'\r'
                        } else {
                            b'\n'
                        };
                        breaks += u64::from(b == counted);
                    }
                    i += 1;
                }
                data.extend_from_slice(&input[start..i]);
                if i == n {
                    return if eof {
                        Step::Error {
                            what: Malformed::UnclosedQuote,
                            at: open,
                            breaks,
                            field: ends.len(),
                        }
                    } else {
                        Step::NeedMore
                    };
                }
                if i + 1 == n && !eof {
                    return Step::NeedMore;
                }
                if i + 1 < n && input[i + 1] == b'"' {
                    data.push(b'"');
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            if i < n && !matches!(input[i], b',' | b'\r' | b'\n') {
                return Step::Error {
                    what: Malformed::TextAfterClosingQuote,
                    at: i,
                    breaks,
                    field: ends.len(),
                };
            }
        } else {
            let start = i;
            while i < n && !SPECIAL[input[i] as usize] {
                i += 1;
            }
            data.extend_from_slice(&input[start..i]);
            if i < n && input[i] == b'"' {
                return Step::Error {
                    what: Malformed::QuoteInUnquotedField,
                    at: i,
                    breaks,
                    field: ends.len(),
                };
            }
        }
        // The field ends here: at a comma, a line ending or the end of the data.
        ends.push(data.len());
        if i == n {
            return if eof {
                Step::Record {
                    raw_end: n,
                    next: n,
                    breaks,
                }
            } else {
                Step::NeedMore
            };
        }
        if input[i] == b',' {
            i += 1;
            continue;
        }
        return match ending_at(input, i, eof, line_end) {
            Ending::Matches(len) => Step::Record {
                raw_end: i,
                next: i + len,
                breaks,
            },
            Ending::NeedMore => Step::NeedMore,
            Ending::Other(found, expected) => Step::Error {
                what: Malformed::MixedLineEnding { found, expected },
                at: i,
                breaks,
                field: ends.len().saturating_sub(1),
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as (line, fields), or the error as (what, line, offset).
    type Scanned = Result<Vec<(u64, Vec<String>)>, (Malformed, u64, u64)>;

    /// Every record as (line, fields), or the error.
    fn scan(text: &[u8]) -> Scanned {
        scan_chunked(text, usize::MAX)
    }

    /// As [`scan`], with the source handing out at most `chunk` bytes per read.
    fn scan_chunked(text: &[u8], chunk: usize) -> Scanned {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Scanner::new(Trickle(text, chunk));
        let mut out = Vec::new();
        loop {
            match s.next_record() {
                Ok(true) => {
                    let fields = (0..s.len())
                        .map(|i| String::from_utf8_lossy(s.field(i)).into_owned())
                        .collect();
                    out.push((s.record_line(), fields));
                }
                Ok(false) => return Ok(out),
                Err(e) => match e.kind {
                    ScanErrorKind::Malformed(m) => return Err((m, e.line, e.offset)),
                    ScanErrorKind::Io(e) => panic!("io error in a test: {e}"),
                },
            }
        }
    }

    fn rec(line: u64, fields: &[&str]) -> (u64, Vec<String>) {
        (line, fields.iter().map(|f| (*f).to_owned()).collect())
    }

    #[test]
    fn splits_fields_and_unescapes_doubled_quotes() {
        let got = scan(b"a,b,c\n1,\"x,\"\"y\"\"\",\n").expect("valid");
        assert_eq!(
            got,
            vec![rec(1, &["a", "b", "c"]), rec(2, &["1", "x,\"y\"", ""])]
        );
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let got = scan(b"a,b\n\n\n1,2\r\n").err();
        // CRLF after an LF first line is a mixed ending.
        assert!(matches!(
            got,
            Some((Malformed::MixedLineEnding { .. }, 4, _))
        ));
        let got = scan(b"a,b\n\n\n1,2\n\n3,4").expect("valid");
        assert_eq!(
            got,
            vec![
                rec(1, &["a", "b"]),
                rec(4, &["1", "2"]),
                rec(6, &["3", "4"])
            ]
        );
    }

    #[test]
    fn rows_of_blank_values_after_the_header_are_skipped() {
        let got = scan(b",\na,b\n,\n\" \",\t\n1,2\n").expect("valid");
        assert_eq!(
            got,
            vec![rec(1, &["", ""]), rec(2, &["a", "b"]), rec(5, &["1", "2"])]
        );
    }

    #[test]
    fn quoted_line_breaks_advance_the_line_of_the_next_record() {
        let got = scan(b"a,b\r\n\"x\r\ny\",2\r\n3,4\r\n").expect("valid");
        assert_eq!(
            got,
            vec![
                rec(1, &["a", "b"]),
                rec(2, &["x\r\ny", "2"]),
                rec(4, &["3", "4"])
            ]
        );
    }

    #[test]
    fn ruby_strict_quoting_is_malformed() {
        assert_eq!(
            scan(b"a,b\nU\"1,2\n").unwrap_err(),
            (Malformed::QuoteInUnquotedField, 2, 5)
        );
        assert_eq!(
            scan(b"a,b\n\"U1\"x,2\n").unwrap_err(),
            (Malformed::TextAfterClosingQuote, 2, 8)
        );
        assert_eq!(
            scan(b"a,b\n \"U1\",2\n").unwrap_err(),
            (Malformed::QuoteInUnquotedField, 2, 5)
        );
        assert_eq!(
            scan(b"a,b\n1,2\n\"U1,2\n3,4\n").unwrap_err(),
            (Malformed::UnclosedQuote, 3, 8)
        );
    }

    #[test]
    fn cr_only_files_are_read_with_cr_endings() {
        let got = scan(b"a,b\r1,2\r").expect("valid");
        assert_eq!(got, vec![rec(1, &["a", "b"]), rec(2, &["1", "2"])]);
        assert!(matches!(
            scan(b"a,b\r1,2\n").unwrap_err(),
            (
                Malformed::MixedLineEnding {
                    found: LineEnd::Lf,
                    expected: LineEnd::Cr
                },
                2,
                _
            )
        ));
    }

    #[test]
    fn a_last_record_without_line_ending_and_trailing_commas_are_read() {
        let got = scan(b"a,b,\n1,2,").expect("valid");
        assert_eq!(got, vec![rec(1, &["a", "b", ""]), rec(2, &["1", "2", ""])]);
    }

    #[test]
    fn records_split_across_reads_parse_the_same() {
        let text = b"a,b\r\n\"q\"\"q\",\"x\r\ny\"\r\n\r\n1,2\r\n";
        let whole = scan(text).expect("valid");
        for chunk in 1..8 {
            assert_eq!(scan_chunked(text, chunk).expect("valid"), whole, "{chunk}");
        }
    }

    #[test]
    fn raw_bytes_and_offsets_are_exposed() {
        let mut s = Scanner::new(&b"a,b\n\"1\",2\n"[..]);
        assert!(s.next_record().expect("ok"));
        assert!(s.next_record().expect("ok"));
        assert_eq!(s.raw(), b"\"1\",2");
        assert_eq!(s.record_offset(), 4);
        assert!(!s.next_record().expect("ok"));
        assert_eq!(s.bytes_read(), 10);
    }

    #[test]
    fn a_runaway_quote_is_stopped_at_the_record_limit() {
        struct Endless(bool);
        impl Read for Endless {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                out.fill(b'x');
                if let (false, Some(b)) = (self.0, out.first_mut()) {
                    *b = b'"';
                    self.0 = true;
                }
                Ok(out.len())
            }
        }
        let mut s = Scanner::new(Endless(false));
        let err = s.next_record().expect_err("too long");
        assert!(matches!(
            err.kind,
            ScanErrorKind::Malformed(Malformed::RecordTooLong)
        ));
        assert!(s.buf.len() <= MAX_RECORD_BYTES);
    }
}
