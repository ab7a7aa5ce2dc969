//! Message classes: Canvas's warnings and errors with the values taken out, so that the same
//! problem is counted across rows and across batches ("Improper status for user" 312 → 290 →
//! 15).
//!
//! Canvas builds its SIS messages from fixed sentences with the row's values put in
//! (`Improper status "activ" for user u1001, skipping`, from the importers in canvas-lms's
//! `lib/sis/csv/`). A class is the message with those values replaced by `…`: quoted values,
//! words with a digit, `_`, `@` or `.` inside (ids, SIS ids, logins, emails, file names), and the
//! word after a noun that names a record (`user`, `course`, `section`, ...). What is left carries
//! no person's data, so classes are shown even when row samples are not.

use std::collections::BTreeMap;

use serde::Serialize;

/// Nouns of Canvas's messages whose next word is a record's id.
const ID_NOUNS: &[&str] = &[
    "user",
    "course",
    "section",
    "term",
    "account",
    "group",
    "enrollment",
    "user_id",
    "course_id",
    "section_id",
    "term_id",
    "account_id",
    "group_id",
    "pseudonym",
];

/// Words that follow such a noun in Canvas's sentences without being its id.
const NOT_IDS: &[&str] = &[
    "a", "an", "and", "already", "as", "be", "by", "cannot", "could", "does", "for", "from",
    "given", "has", "in", "is", "not", "of", "on", "or", "the", "to", "was", "with", "without",
];

/// One message of an import: from Canvas's errors file, or its JSON's lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub file: Option<String>,
    pub row: Option<u64>,
    pub text: String,
}

/// The messages of one class in one import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCount {
    pub class: String,
    pub count: u64,
    /// The first few messages of the class as Canvas wrote them (shown only with row samples).
    pub samples: Vec<Message>,
}

/// How many samples a class keeps.
pub const SAMPLES: usize = 3;

/// The class of `message`: its sentence with the values replaced by `…`.
pub fn class_of(message: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut after_noun = false;
    for word in quoted_values_out(message).split_whitespace() {
        let bare = word.trim_matches(|c: char| ",;:()[]".contains(c));
        let is_value = bare != "…"
            && (bare.chars().any(|c| c.is_ascii_digit() || "_@".contains(c))
                || (bare.contains('.') && !bare.ends_with('.'))
                || (after_noun && is_id_after_noun(word, bare)));
        after_noun = ID_NOUNS.contains(&bare.to_ascii_lowercase().as_str());
        if is_value {
            let tail: String = word
                .chars()
                .rev()
                .take_while(|c| ",;:".contains(*c))
                .collect();
            out.push(format!("…{tail}"));
        } else {
            out.push(word.to_owned());
        }
    }
    out.dedup_by(|a, b| a == "…" && b == "…");
    out.join(" ")
}

/// Whether `word`, right after a noun that names a record, is that record's id: not a label
/// (`ID:`), not an opening parenthesis (`(User`), not one of the sentence's own words.
fn is_id_after_noun(word: &str, bare: &str) -> bool {
    !bare.is_empty()
        && !word.starts_with('(')
        && !word.ends_with(':')
        && !NOT_IDS.contains(&bare.to_ascii_lowercase().as_str())
}

/// `s` with every `"…"` or `'…'` quoted value replaced by `…`.
fn quoted_values_out(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut prev = ' ';
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        // An apostrophe inside a word (`user's`) opens nothing.
        let opens = c == '"' || (c == '\'' && !prev.is_alphanumeric());
        if let Some(close) = after.find(c).filter(|_| opens) {
            out.push('…');
            prev = '…';
            rest = &after[close + c.len_utf8()..];
            continue;
        }
        out.push(c);
        prev = c;
        rest = after;
    }
    out
}

/// The messages of Canvas's errors file (`sis_import_id,file,message,row[,row_info]`); rows
/// without a message are skipped, an unreadable file gives none.
pub fn read_errors_file(bytes: &[u8]) -> Vec<Message> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let Ok(headers) = reader.headers().cloned() else {
        return Vec::new();
    };
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(message), file, row) = (col("message"), col("file"), col("row")) else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            let text = r.get(message)?.trim().to_owned();
            (!text.is_empty()).then(|| Message {
                file: file
                    .and_then(|i| r.get(i))
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
                row: row
                    .and_then(|i| r.get(i))
                    .and_then(|v| v.trim().parse().ok()),
                text,
            })
        })
        .collect()
}

/// A message as the ledger records Canvas's JSON lists: `file: message` (`-` for no file).
pub fn from_recorded(line: &str) -> Message {
    match line.split_once(": ") {
        Some((file, text)) => Message {
            file: (file != "-").then(|| file.to_owned()),
            row: None,
            text: text.to_owned(),
        },
        None => Message {
            file: None,
            row: None,
            text: line.to_owned(),
        },
    }
}

/// `messages` counted by class, the largest class first (then by name).
pub fn count(messages: &[Message]) -> Vec<ClassCount> {
    let mut by_class: BTreeMap<String, ClassCount> = BTreeMap::new();
    for m in messages {
        let class = class_of(&m.text);
        let entry = by_class.entry(class.clone()).or_insert(ClassCount {
            class,
            count: 0,
            samples: Vec::new(),
        });
        entry.count += 1;
        if entry.samples.len() < SAMPLES {
            entry.samples.push(m.clone());
        }
    }
    let mut classes: Vec<ClassCount> = by_class.into_values().collect();
    classes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
    classes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_sentence_with_other_values_is_one_class() {
        let a = class_of(r#"Improper status "activ" for user u1001, skipping"#);
        let b = class_of(r#"Improper status "gone" for user s_77, skipping"#);
        assert_eq!(a, b);
        assert_eq!(a, "Improper status … for user …, skipping");
    }

    #[test]
    fn ids_emails_and_file_names_leave_the_class() {
        let c =
            class_of("User jane.doe@example.edu has no login for section S-2026-01 in users.csv");
        assert!(!c.contains("jane"), "{c}");
        assert!(!c.contains("S-2026"), "{c}");
        assert!(!c.contains("users.csv"), "{c}");
        assert!(c.starts_with("User … has no login for section …"), "{c}");
    }

    #[test]
    fn labels_inside_a_message_stay_and_their_values_go() {
        let a = class_of(
            "User not found for enrollment (User ID: u1, Course ID: c_7, Section ID: , Role: student)",
        );
        let b = class_of(
            "User not found for enrollment (User ID: x9, Course ID: c_8, Section ID: , Role: student)",
        );
        assert_eq!(a, b);
        assert_eq!(
            a,
            "User not found for enrollment (User ID: …, Course ID: …, Section ID: , Role: student)"
        );
    }

    #[test]
    fn an_apostrophe_inside_a_word_opens_no_quote() {
        assert_eq!(
            class_of("the user's login is taken"),
            "the user's login is taken"
        );
    }

    #[test]
    fn an_errors_file_is_read_by_its_header_and_counted_by_class() {
        let csv = "sis_import_id,file,message,row\n\
                   7,users.csv,\"Improper status \"\"x\"\" for user 1, skipping\",2\n\
                   7,users.csv,\"Improper status \"\"y\"\" for user 2, skipping\",3\n\
                   7,courses.csv,No course_id given for a course,\n";
        let messages = read_errors_file(csv.as_bytes());
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].row, Some(2));
        assert_eq!(messages[2].row, None);
        let classes = count(&messages);
        assert_eq!(classes[0].count, 2);
        assert_eq!(classes[0].class, "Improper status … for user …, skipping");
        assert_eq!(classes[1].count, 1);
    }

    #[test]
    fn a_recorded_message_keeps_its_file() {
        let m = from_recorded("users.csv: Improper status");
        assert_eq!(m.file.as_deref(), Some("users.csv"));
        assert_eq!(from_recorded("-: x").file, None);
    }
}
