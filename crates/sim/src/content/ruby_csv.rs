//! A CSV reader as strict as Ruby's `CSV`, which Canvas reads every SIS file with.
//!
//! Written from the behaviour of Ruby's parser with the options Canvas passes
//! (`SIS::CSV::CSVBaseImporter::PARSE_ARGS`: default quote and separator, `row_sep: :auto`,
//! `skip_blanks: true`): anything Ruby raises `CSV::MalformedCSVError` for is an error here, since
//! Canvas then fails the file with "Malformed CSV". The simulator keeps this reader apart from
//! the validator's (`sis::validate::scan`): two readings of Ruby's rules, compared by the
//! conformance suite, make a disagreement visible.
//!
//! The rules:
//! - the line ending is the file's first CR, LF or CRLF (Ruby samples the start of the file);
//! - a field is quoted only when its first character is `"`; inside, `""` is one quote and
//!   anything else, line breaks included, is text;
//! - after a closing quote only a comma, the line ending or the end of the file may follow;
//! - an unquoted field ends at a comma, the line ending or the end of the file: a quote, or a CR
//!   or LF that is not the line ending, is malformed;
//! - a line that is exactly the line ending is blank (reported as a record with no fields, which
//!   readers that skip blanks drop);
//! - an empty unquoted field is `None` (Ruby's `nil`), an empty quoted one `Some("")`.

/// One record as Ruby's parser returns it, before any converter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The fields; empty for a blank line.
    pub fields: Vec<Option<String>>,
    /// The record's text, quotes included, without its line ending.
    pub raw: String,
}

impl Record {
    /// A blank line: skipped by Canvas (`skip_blanks: true`).
    pub fn is_blank(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Why Ruby's parser would raise `CSV::MalformedCSVError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A quoted field still open at the end of the file ("Unclosed quoted field").
    UnclosedQuote,
    /// A quote inside an unquoted field ("Illegal quoting").
    IllegalQuoting,
    /// Text after a closing quote ("Any value after quoted field isn't allowed").
    AfterQuotedField,
    /// A CR or LF outside quotes that is not the file's line ending.
    StrayLineBreak,
}

/// The line ending Ruby's `row_sep: :auto` settles on: the first LF, or a CR before it (CRLF
/// when the two are adjacent, a lone CR otherwise); LF when the text has neither.
pub fn row_separator(text: &str) -> &'static str {
    let bytes = text.as_bytes();
    match bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) if bytes[i] == b'\n' => "\n",
        Some(i) if bytes.get(i + 1) == Some(&b'\n') => "\r\n",
        Some(_) => "\r",
        None => "\n",
    }
}

/// Reads the records of `text` one at a time; after an error it yields nothing more.
pub fn records(text: &str) -> Records<'_> {
    Records {
        text,
        pos: 0,
        row_sep: row_separator(text),
        failed: false,
    }
}

/// The iterator of [`records`].
pub struct Records<'a> {
    text: &'a str,
    pos: usize,
    row_sep: &'static str,
    failed: bool,
}

/// How a field ended.
enum FieldEnd {
    Comma,
    /// The line ending or the end of the text; `next` is where the next record starts.
    Record {
        next: usize,
    },
}

impl Iterator for Records<'_> {
    type Item = Result<Record, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.text.len() {
            return None;
        }
        let item = self.read_record();
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

impl Records<'_> {
    fn read_record(&mut self) -> Result<Record, Malformed> {
        let start = self.pos;
        let rest = &self.text[start..];
        if rest.starts_with(self.row_sep) {
            self.pos += self.row_sep.len();
            return Ok(Record {
                fields: Vec::new(),
                raw: String::new(),
            });
        }
        let mut fields = Vec::new();
        let mut at = start;
        loop {
            let (value, end, after) = self.read_field(at)?;
            fields.push(value);
            match after {
                FieldEnd::Comma => at = end + 1,
                FieldEnd::Record { next } => {
                    self.pos = next;
                    return Ok(Record {
                        fields,
                        raw: self.text[start..end].to_owned(),
                    });
                }
            }
        }
    }

    /// Reads the field starting at byte `at`: its value, the byte where it ends (before the
    /// separator), and what follows it.
    fn read_field(&self, at: usize) -> Result<(Option<String>, usize, FieldEnd), Malformed> {
        let bytes = self.text.as_bytes();
        if bytes.get(at) == Some(&b'"') {
            let (value, end) = self.read_quoted(at + 1)?;
            let after = self.field_end(end).ok_or(Malformed::AfterQuotedField)?;
            return Ok((Some(value), end, after));
        }
        let len = bytes[at..]
            .iter()
            .position(|&b| matches!(b, b'"' | b',' | b'\r' | b'\n'))
            .unwrap_or(bytes.len() - at);
        let end = at + len;
        let value = (len > 0).then(|| self.text[at..end].to_owned());
        match self.field_end(end) {
            Some(after) => Ok((value, end, after)),
            None if bytes[end] == b'"' => Err(Malformed::IllegalQuoting),
            None => Err(Malformed::StrayLineBreak),
        }
    }

    /// Reads a quoted field's text from just after its opening quote; returns the text and the
    /// byte just after the closing quote.
    fn read_quoted(&self, from: usize) -> Result<(String, usize), Malformed> {
        let bytes = self.text.as_bytes();
        let mut value = String::new();
        let mut at = from;
        loop {
            let quote = bytes[at..]
                .iter()
                .position(|&b| b == b'"')
                .map(|i| at + i)
                .ok_or(Malformed::UnclosedQuote)?;
            value.push_str(&self.text[at..quote]);
            if bytes.get(quote + 1) == Some(&b'"') {
                value.push('"');
                at = quote + 2;
            } else {
                return Ok((value, quote + 1));
            }
        }
    }

    /// What follows a field ending at byte `end`: a comma, the line ending, the end of the text,
    /// or (`None`) anything else.
    fn field_end(&self, end: usize) -> Option<FieldEnd> {
        let rest = &self.text[end..];
        if rest.is_empty() {
            Some(FieldEnd::Record { next: end })
        } else if rest.starts_with(',') {
            Some(FieldEnd::Comma)
        } else if rest.starts_with(self.row_sep) {
            Some(FieldEnd::Record {
                next: end + self.row_sep.len(),
            })
        } else {
            None
        }
    }
}

/// Ruby's `String#strip` then ActiveSupport's `presence`, the converter Canvas applies to every
/// value: ASCII whitespace and NUL are stripped from both ends, and a value left empty or made of
/// (Unicode) whitespace only is `None`. A no-break space inside or around a value stays.
pub fn strip_presence(value: Option<&str>) -> Option<String> {
    let stripped =
        value?.trim_matches(|c| matches!(c, '\0' | '\t' | '\n' | '\x0B' | '\x0C' | '\r' | ' '));
    (!stripped.chars().all(char::is_whitespace)).then(|| stripped.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Vec<Option<String>>>, Malformed> {
        records(text).map(|r| r.map(|r| r.fields)).collect()
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some((*v).to_owned())).collect()
    }

    #[test]
    fn quoted_fields_hold_commas_doubled_quotes_and_line_breaks() {
        let got = read("a,b\n\"x, \"\"y\"\"\",\"1\n2\"\n").expect("reads");
        assert_eq!(got, vec![some(&["a", "b"]), some(&["x, \"y\"", "1\n2"])]);
    }

    #[test]
    fn empty_unquoted_fields_are_none_and_quoted_ones_empty_strings() {
        let got = read("a,,\"\"\n").expect("reads");
        assert_eq!(got, vec![vec![Some("a".into()), None, Some(String::new())]]);
    }

    #[test]
    fn blank_lines_are_empty_records_and_a_last_line_needs_no_ending() {
        let got = read("a\n\nb").expect("reads");
        assert_eq!(got, vec![some(&["a"]), vec![], some(&["b"])]);
    }

    #[test]
    fn ruby_strict_quoting_is_malformed() {
        assert_eq!(read("a,\"b\n"), Err(Malformed::UnclosedQuote));
        assert_eq!(read("a,b\"c\n"), Err(Malformed::IllegalQuoting));
        assert_eq!(read("a, \"b\"\n"), Err(Malformed::IllegalQuoting));
        assert_eq!(read("a,\"b\" ,c\n"), Err(Malformed::AfterQuotedField));
    }

    #[test]
    fn the_first_line_ending_rules_the_file() {
        assert_eq!(row_separator("a\r\nb\n"), "\r\n");
        assert_eq!(row_separator("a\rb\n"), "\r");
        assert_eq!(row_separator("a,b"), "\n");
        let got = read("a\r\nb\r\n").expect("CRLF reads");
        assert_eq!(got, vec![some(&["a"]), some(&["b"])]);
        assert_eq!(read("a\r\nb\nc\r\n"), Err(Malformed::StrayLineBreak));
        assert_eq!(read("a\nb\r\n"), Err(Malformed::StrayLineBreak));
        assert_eq!(read("a\r\n\n"), Err(Malformed::StrayLineBreak));
    }

    #[test]
    fn nothing_is_read_after_an_error() {
        let mut it = records("a\n\"b\nc\n");
        assert!(matches!(it.next(), Some(Ok(_))));
        assert_eq!(it.next(), Some(Err(Malformed::UnclosedQuote)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn raw_text_is_kept_without_the_line_ending() {
        let raw: Vec<String> = records("a,\"b\"\r\nc\r\n")
            .map(|r| r.expect("reads").raw)
            .collect();
        assert_eq!(raw, vec!["a,\"b\"", "c"]);
    }

    #[test]
    fn values_are_stripped_like_ruby_and_blank_ones_dropped() {
        assert_eq!(strip_presence(Some("  U1 \t")), Some("U1".into()));
        assert_eq!(strip_presence(Some("   ")), None);
        assert_eq!(strip_presence(Some("\u{a0}")), None);
        assert_eq!(strip_presence(Some("U1\u{a0}")), Some("U1\u{a0}".into()));
        assert_eq!(strip_presence(None), None);
    }
}
