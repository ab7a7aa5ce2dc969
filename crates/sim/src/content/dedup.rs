//! Canvas's `ImportRefactored#dedup_csv`: before a CSV is looked at, its records are read (no
//! converters, blank lines included) and, when at least [`DEDUP_THRESHOLD`] of them repeat an
//! earlier record exactly, the file is rewritten with only the last copy of each, under the name
//! `<name>_deduplicated.csv`. That name is the one Canvas's messages then carry, and row numbers
//! count the rewritten file. A file that does not parse is left alone (the parse that follows
//! reports it).

use std::borrow::Cow;
use std::collections::HashSet;

use super::ruby_csv::{self, Record};

/// Canvas rewrites a file once this many of its records are duplicates.
pub const DEDUP_THRESHOLD: usize = 100;

/// The file as Canvas goes on to read it: its name and bytes, rewritten when it had enough
/// duplicate records.
pub fn dedup<'a>(name: &str, bytes: &'a [u8]) -> (String, Cow<'a, [u8]>) {
    let unchanged = || (name.to_owned(), Cow::Borrowed(bytes));
    let Some(stem) = csv_stem(name) else {
        return unchanged();
    };
    // Ruby raises on bytes that are not UTF-8, and dedup_csv then leaves the file as it is.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return unchanged();
    };
    let Ok(records) = ruby_csv::records(text).collect::<Result<Vec<Record>, _>>() else {
        return unchanged();
    };
    let unique = last_of_each(&records);
    if records.len() - unique.len() < DEDUP_THRESHOLD {
        return unchanged();
    }
    let mut out = String::new();
    for record in unique {
        write_record(&mut out, record);
    }
    (
        format!("{stem}_deduplicated.csv"),
        Cow::Owned(out.into_bytes()),
    )
}

/// The name without a final `.csv` (any case), or `None` when it has none.
fn csv_stem(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(4)?;
    let ext = name.get(cut..)?;
    ext.eq_ignore_ascii_case(".csv").then(|| &name[..cut])
}

/// Ruby's `lines.reverse.uniq.reverse`: the last copy of each record, in file order.
fn last_of_each(records: &[Record]) -> Vec<&Record> {
    let mut seen: HashSet<&[Option<String>]> = HashSet::new();
    let mut kept: Vec<&Record> = records
        .iter()
        .rev()
        .filter(|r| seen.insert(r.fields.as_slice()))
        .collect();
    kept.reverse();
    kept
}

/// One record as Ruby's CSV writer puts it: `nil` as nothing, an empty string as `""`, a value
/// with a comma, quote or line break quoted with its quotes doubled; lines end with LF.
fn write_record(out: &mut String, record: &Record) {
    for (i, field) in record.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match field.as_deref() {
            None => {}
            Some(v) if v.is_empty() || v.contains([',', '"', '\r', '\n']) => {
                out.push('"');
                out.push_str(&v.replace('"', "\"\""));
                out.push('"');
            }
            Some(v) => out.push_str(v),
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_duplicates_are_collapsed_keeping_the_last_copy() {
        let mut text = String::from("user_id,login_id\nU1,\"a,b\"\n");
        text.push_str("U2,u2\n");
        for _ in 0..100 {
            text.push_str("U1,\"a,b\"\n");
        }
        let (name, bytes) = dedup("sub/Users.CSV", text.as_bytes());
        assert_eq!(name, "sub/Users_deduplicated.csv");
        assert_eq!(
            String::from_utf8(bytes.into_owned()).expect("utf8"),
            "user_id,login_id\nU2,u2\nU1,\"a,b\"\n"
        );
    }

    #[test]
    fn fewer_duplicates_or_a_malformed_file_are_left_alone() {
        let mut text = String::from("user_id,login_id\n");
        for _ in 0..100 {
            text.push_str("U1,u1\n");
        }
        let (name, bytes) = dedup("users.csv", text.as_bytes());
        assert_eq!(
            (name.as_str(), bytes.as_ref()),
            ("users.csv", text.as_bytes())
        );
        text.push_str("U1,u1\n\"open\n");
        let (name, _) = dedup("users.csv", text.as_bytes());
        assert_eq!(name, "users.csv");
    }

    #[test]
    fn blank_lines_count_as_duplicates_and_empty_strings_stay_quoted() {
        let mut text = String::from("a,b\nx,\"\"\n");
        text.push_str(&"\n".repeat(101));
        let (_, bytes) = dedup("f.csv", text.as_bytes());
        assert_eq!(bytes.as_ref(), b"a,b\nx,\"\"\n\n");
    }
}
