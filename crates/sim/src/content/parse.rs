//! Turning an uploaded SIS file into CSV files, the way Canvas's `SIS::CSV::ImportRefactored`
//! does (docs/canvas-api.md §5.1).
//!
//! The upload's extension decides: `.zip` is extracted (sub-directories included), `.csv` is one
//! file, anything else leaves nothing to do. Each CSV has its repeated lines collapsed
//! (`dedup_csv`), is checked for UTF-8, read with Ruby's strictness ("Malformed CSV",
//! [`super::ruby_csv`]) and recognised by its header row ([`super::detect`]). As Canvas opens
//! CSVs with `encoding: "bom|utf-8"`, a leading byte-order mark is dropped. Nothing is written to
//! disk: this server receives untrusted zips, so extraction is in memory, bounded in total size
//! and in compression ratio, and never trusts entry names for anything but messages.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};

use canvas_sis_rules::sis::SisKind;

use super::ruby_csv::{self, Record};
use super::{SisMessage, StoredCsv, dedup, detect};

/// Canvas refuses a zip whose content is more than this many times its own size
/// (`CanvasUnzip.default_limits`).
pub const MAX_ZIP_RATIO: u64 = 100;
/// The simulator's own cap on what one upload may expand to in memory, whatever its ratio
/// (Canvas's is 50 GB on disk).
pub const MAX_UNCOMPRESSED_BYTES: u64 = 256 * 1024 * 1024;
/// Canvas extracts at most this many entries (`CanvasUnzip.default_limits`).
const MAX_ZIP_ENTRIES: usize = 100_000;
/// Columns never stored with a users file (docs/canvas-api.md §2, `csv_attachments`).
const PASSWORD_COLUMNS: [&str; 2] = ["password", "ssha_password"];

/// One data row of a CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Canvas's row number: the record's place in the file, the header being 1 and blank lines
    /// not counted (a quoted line break does not start a new row).
    pub line: u64,
    /// The raw text of the line(s) the record came from.
    pub raw: String,
    /// Non-blank values by lower-cased header (not stripped: Canvas's importers look them up so),
    /// each stripped as Ruby's `strip` does; blank values are left out (Canvas turns them into nil).
    pub fields: BTreeMap<String, String>,
}

impl Row {
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields.get(column).map(String::as_str)
    }
}

/// A CSV recognised as one SIS kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCsv {
    pub name: String,
    pub kind: SisKind,
    /// The header row lower-cased, not stripped; a blank column is an empty name.
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

/// What an upload yielded.
#[derive(Debug, Clone, Default)]
pub struct ParsedUpload {
    /// Recognised files, in upload order.
    pub files: Vec<ParsedCsv>,
    pub messages: Vec<SisMessage>,
    /// The CSVs as Canvas stores them (password columns filtered out).
    pub stored: Vec<StoredCsv>,
    pub uncompressed_size: u64,
}

/// Parses an upload. `error_report` numbers the "please contact support" failure.
pub fn parse_upload(
    filename: &str,
    upload: &[u8],
    institutional_tags: bool,
    error_report: u64,
) -> ParsedUpload {
    let mut out = ParsedUpload::default();
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("zip") => match extract_zip(upload, error_report) {
            Ok(entries) => {
                out.uncompressed_size = entries.iter().map(|(_, b)| b.len() as u64).sum();
                for (name, bytes) in entries {
                    add_entry(&mut out, &name, &bytes, institutional_tags);
                }
            }
            Err(msg) => out.messages.push(msg),
        },
        Some("csv") => {
            out.uncompressed_size = upload.len() as u64;
            add_entry(&mut out, filename, upload, institutional_tags);
        }
        _ => out.uncompressed_size = upload.len() as u64,
    }
    out
}

/// Handles one extracted file: CSVs are parsed and stored, anything else is skipped with a
/// warning.
fn add_entry(out: &mut ParsedUpload, name: &str, bytes: &[u8], institutional_tags: bool) {
    if !is_csv_name(name) {
        out.messages.push(SisMessage::warning(
            Some(name),
            None,
            "Skipping unknown file type",
        ));
        return;
    }
    match read_csv(name, bytes, institutional_tags) {
        Ok(Some((csv, read))) => {
            out.stored.push(stored_copy(&csv, &read));
            out.files.push(csv);
        }
        Ok(None) => {}
        Err(msg) => out.messages.push(msg),
    }
}

/// Ruby's `File.extname(path).downcase == ".csv"`: the extension of the last path part, where a
/// leading dot starts no extension (a file named `.csv` has none).
fn is_csv_name(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.trim_start_matches('.')
        .rsplit_once('.')
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case("csv"))
}

/// Canvas's `IGNORE_FILES`: macOS resource forks and Windows desktop files. (Its `\A\..*` branch
/// is tested against the full temp path and so practically never fires; it is left out.)
fn is_ignored_path(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("__macosx") || lower.contains("desktop db") || lower.contains("desktop df")
}

/// Extracts the files of a zip into memory, in archive order, as `CanvasUnzip.extract_archive`
/// does: unsafe entries (a symlink, or a `..` in the path) are skipped silently, directories and
/// ignored paths leave nothing. An archive that
/// does not open, has more than [`MAX_ZIP_ENTRIES`] entries or would expand beyond
/// [`MAX_ZIP_RATIO`] times its size raises in Canvas, which fails the import with its generic
/// "contact support" message. Declared sizes are checked first and actual reads are bounded too,
/// since a hostile archive can lie about sizes.
fn extract_zip(upload: &[u8], error_report: u64) -> Result<Vec<(String, Vec<u8>)>, SisMessage> {
    let failed = || {
        SisMessage::failure(
            None,
            None,
            format!(
                "Error while importing CSV. Please contact support. (Error report {error_report})"
            ),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(upload)).map_err(|_| failed())?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(failed());
    }
    let limit = (upload.len() as u64)
        .saturating_mul(MAX_ZIP_RATIO)
        .min(MAX_UNCOMPRESSED_BYTES);
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|_| failed())?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > limit {
        return Err(failed());
    }
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|_| failed())?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let unsafe_entry = entry.is_symlink() || name.split('/').any(|part| part == "..");
        if unsafe_entry || entry.is_dir() || is_ignored_path(&name) {
            continue;
        }
        let mut bytes = Vec::new();
        let room = limit - total;
        entry
            .take(room + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| failed())?;
        total += bytes.len() as u64;
        if total > limit {
            return Err(failed());
        }
        files.push((name, bytes));
    }
    Ok(files)
}

/// Parses one CSV file. `Ok(None)` when Canvas ignores it silently (empty, or no row at all).
pub fn parse_csv(
    name: &str,
    bytes: &[u8],
    institutional_tags: bool,
) -> Result<Option<ParsedCsv>, SisMessage> {
    Ok(read_csv(name, bytes, institutional_tags)?.map(|(csv, _)| csv))
}

/// A parsed CSV with the bytes it was read from.
type ReadCsv<'a> = (ParsedCsv, Cow<'a, [u8]>);

/// [`parse_csv`], with the bytes Canvas goes on to read (and stores): the upload's, or the
/// rewritten file when duplicate lines were collapsed.
fn read_csv<'a>(
    name: &str,
    bytes: &'a [u8],
    institutional_tags: bool,
) -> Result<Option<ReadCsv<'a>>, SisMessage> {
    let (name, bytes) = dedup::dedup(name, bytes);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| SisMessage::failure(Some(&name), None, "Invalid UTF-8"))?;
    // Canvas opens CSVs with `encoding: "bom|utf-8"`: a leading byte-order mark is dropped.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let malformed = || SisMessage::failure(Some(&name), None, "Malformed CSV");
    let mut records = ruby_csv::records(text).filter(|r| !r.as_ref().is_ok_and(Record::is_blank));
    let header = match records.next() {
        None => return Ok(None),
        Some(Err(_)) => return Err(malformed()),
        Some(Ok(header)) => header,
    };
    let kind =
        detect::importer_for(&detection_header(&header), institutional_tags).ok_or_else(|| {
            SisMessage::failure(Some(&name), None, "Couldn't find Canvas CSV import headers")
        })?;
    let keys = column_keys(&header);
    let mut rows = Vec::new();
    for (index, record) in records.enumerate() {
        let record = record.map_err(|_| malformed())?;
        // Canvas numbers rows by record, the header being 1 (blank lines are not counted).
        let line = index as u64 + 2;
        rows.extend(to_row(&keys, record, line));
    }
    let headers = keys.into_iter().map(Option::unwrap_or_default).collect();
    let csv = ParsedCsv {
        name,
        kind,
        headers,
        rows,
    };
    Ok(Some((csv, bytes)))
}

/// The header row as `process_file` tests it: values stripped (blank ones `nil`), lower-cased.
fn detection_header(header: &Record) -> Vec<Option<String>> {
    header
        .fields
        .iter()
        .map(|h| ruby_csv::strip_presence(h.as_deref()).map(|h| h.to_lowercase()))
        .collect()
}

/// The column names the importers look values up by: `header_converters: :downcase` only, so
/// not stripped (a header ` status` is not `status` to them, though detection saw `status`).
fn column_keys(header: &Record) -> Vec<Option<String>> {
    header
        .fields
        .iter()
        .map(|h| h.as_deref().map(str::to_lowercase))
        .collect()
}

/// A record tied to the headers, or `None` for a row Canvas's `csv_rows` skips because every
/// value of its hash is nil. As in Ruby's `CSV::Row`, a repeated column name gives the first
/// column's value, and values beyond the headers fall under one nameless column.
fn to_row(keys: &[Option<String>], record: Record, line: u64) -> Option<Row> {
    let mut seen: HashSet<Option<&str>> = HashSet::new();
    let mut fields = BTreeMap::new();
    let mut blank = true;
    for i in 0..keys.len().max(record.fields.len()) {
        let key = keys.get(i).and_then(Option::as_deref);
        if !seen.insert(key) {
            continue;
        }
        let value = record
            .fields
            .get(i)
            .and_then(|v| ruby_csv::strip_presence(v.as_deref()));
        blank &= value.is_none();
        if let (Some(key), Some(value)) = (key, value) {
            fields.insert(key.to_owned(), value);
        }
    }
    (!blank).then_some(Row {
        line,
        raw: record.raw,
        fields,
    })
}

/// The copy of a CSV Canvas keeps: the bytes as read, except that a users file with password
/// columns is rewritten without them as `<name>_filtered.csv`. Canvas names its
/// attachments by the file's base name (`File.basename`), without the zip's folders.
pub(crate) fn stored_copy(csv: &ParsedCsv, bytes: &[u8]) -> StoredCsv {
    // `process_file` filters only what the users importer takes (`type == :user`).
    let has_password = csv.kind == SisKind::User
        && csv
            .headers
            .iter()
            .any(|h| PASSWORD_COLUMNS.contains(&h.as_str()));
    let base = csv.name.rsplit('/').next().unwrap_or(&csv.name);
    if !has_password {
        return StoredCsv {
            name: base.to_owned(),
            kind: csv.kind,
            bytes: bytes.to_vec(),
        };
    }
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let headers: Vec<String> = csv
        .headers
        .iter()
        .filter(|h| !PASSWORD_COLUMNS.contains(&h.as_str()))
        .cloned()
        .collect();
    StoredCsv {
        name: format!("{stem}_filtered.csv"),
        kind: csv.kind,
        bytes: render_csv(&headers, csv.rows.iter().map(|r| &r.fields)),
    }
}

/// The text of a row for `row_info`, with password values blanked when the file has password
/// columns (a rejected users row must not leak its password into the errors).
pub fn row_info(headers: &[String], row: &Row) -> String {
    if !headers
        .iter()
        .any(|h| PASSWORD_COLUMNS.contains(&h.as_str()))
    {
        return row.raw.clone();
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let values = headers.iter().map(|h| {
        if PASSWORD_COLUMNS.contains(&h.as_str()) {
            ""
        } else {
            row.get(h).unwrap_or_default()
        }
    });
    // Writing to a Vec cannot fail.
    let _ = w.write_record(values);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

/// Writes a CSV with these headers from rows' field maps (missing values blank).
pub fn render_csv<'a>(
    headers: &[String],
    rows: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail; errors would only come from the inner writer.
    let _ = w.write_record(headers);
    for fields in rows {
        let record = headers
            .iter()
            .map(|h| fields.get(h).map_or("", String::as_str));
        let _ = w.write_record(record);
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        for (name, bytes) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, opts).expect("dir");
            } else {
                w.start_file(*name, opts).expect("start");
                w.write_all(bytes).expect("write");
            }
        }
        w.finish().expect("finish").into_inner()
    }

    const USERS: &[u8] = b"user_id,login_id,status\nU1,u1,active\n";

    #[test]
    fn zip_entries_in_subdirectories_are_parsed_and_others_warned() {
        let z = zip_of(&[
            ("dir/", b""),
            ("dir/users.csv", USERS),
            ("readme.txt", b"hi"),
            ("inner.zip", b"PK"),
            ("__MACOSX/._users.csv", b"junk"),
        ]);
        let up = parse_upload("feed.ZIP", &z, false, 1);
        assert_eq!(up.files.len(), 1);
        assert_eq!(up.files[0].kind, SisKind::User);
        assert_eq!(up.files[0].name, "dir/users.csv");
        let skipped: Vec<_> = up.messages.iter().filter_map(|m| m.file.clone()).collect();
        assert_eq!(skipped, vec!["readme.txt", "inner.zip"]);
        assert!(up.messages.iter().all(|m| !m.failure));
        assert_eq!(up.uncompressed_size, (USERS.len() + 2 + 2) as u64);
    }

    #[test]
    fn corrupt_zip_is_a_failure() {
        let up = parse_upload("feed.zip", b"PK\x03\x04 not really", false, 42);
        assert_eq!(up.messages.len(), 1);
        assert!(up.messages[0].failure);
        assert!(up.messages[0].message.contains("(Error report 42)"));
    }

    #[test]
    fn zip_bomb_ratio_is_refused() {
        let big = vec![b'a'; 2 * 1024 * 1024];
        let z = zip_of(&[("users.csv", &big)]);
        assert!((z.len() as u64) * MAX_ZIP_RATIO < big.len() as u64);
        let up = parse_upload("bomb.zip", &z, false, 1);
        assert!(up.files.is_empty());
        assert!(up.messages[0].failure);
        assert!(
            up.messages[0]
                .message
                .contains("Please contact support. (Error report 1)")
        );
    }

    #[test]
    fn unsafe_entries_are_skipped_silently() {
        let z = zip_of(&[
            ("../../etc/users.csv", USERS),
            ("/abs/x.txt", b"x"),
            ("users.csv", USERS),
        ]);
        let up = parse_upload("a.zip", &z, false, 1);
        assert_eq!(up.files.len(), 1);
        assert_eq!(up.files[0].name, "users.csv");
        assert_eq!(
            up.messages.len(),
            1,
            "only /abs/x.txt is an unknown file type"
        );
    }

    #[test]
    fn other_extensions_import_nothing() {
        let up = parse_upload("data.txt", USERS, false, 1);
        assert!(up.files.is_empty() && up.messages.is_empty());
    }

    #[test]
    fn invalid_utf8_is_a_failure_naming_the_file() {
        let err = parse_csv("u.csv", b"user_id,login_id\n\xff\n", false).unwrap_err();
        assert!(err.failure);
        assert_eq!(err.message, "Invalid UTF-8");
        assert_eq!(err.file.as_deref(), Some("u.csv"));
    }

    #[test]
    fn unclosed_or_stray_quotes_are_malformed_but_ragged_rows_are_fine() {
        for bad in [
            "user_id,login_id\n\"U1,u1\n",
            "user_id,login_id\nU\"1,u1\n",
            "user_id,login_id\n\"U1\"x,u1\n",
            "user_id,login_id\r\nU1,u1\nU2,u2\r\n",
        ] {
            let err = parse_csv("u.csv", bad.as_bytes(), false).unwrap_err();
            assert_eq!(err.message, "Malformed CSV", "{bad}");
        }
        let ok = parse_csv("u.csv", b"user_id,login_id\nU1\nU2,u2,extra\n", false)
            .expect("ragged rows parse")
            .expect("a file");
        assert_eq!(ok.rows.len(), 2);
    }

    #[test]
    fn unknown_headers_are_a_failure_and_the_rest_is_not_read() {
        let err = parse_csv("x.csv", b"foo,bar\n1,\"2\n", false).unwrap_err();
        assert!(err.failure);
        assert_eq!(err.message, "Couldn't find Canvas CSV import headers");
    }

    #[test]
    fn empty_or_blank_files_are_ignored_silently() {
        assert_eq!(parse_csv("x.csv", b"", false), Ok(None));
        assert_eq!(parse_csv("x.csv", b"\n\n", false), Ok(None));
    }

    #[test]
    fn headers_lowercased_values_stripped_rows_numbered_by_record_and_bom_removed() {
        let text =
            "\u{feff}\nUser_ID,LOGIN_ID,status\n\n  U1 , u1 ,\n\"U2\nx\",u2,active\nU3,u3,active\n";
        let csv = parse_csv("u.csv", text.as_bytes(), false)
            .expect("parses")
            .expect("file");
        assert_eq!(csv.headers, vec!["user_id", "login_id", "status"]);
        assert_eq!(csv.rows[0].line, 2);
        assert_eq!(csv.rows[0].get("user_id"), Some("U1"));
        assert_eq!(csv.rows[0].get("status"), None);
        assert_eq!(csv.rows[0].raw, "  U1 , u1 ,");
        assert_eq!(csv.rows[1].line, 3);
        assert_eq!(csv.rows[1].get("user_id"), Some("U2\nx"));
        assert_eq!(csv.rows[2].line, 4);
    }

    #[test]
    fn header_spaces_count_for_detection_but_not_for_lookup() {
        // Detection strips the header row; the importers' `:downcase` header converter does not.
        let csv = parse_csv("u.csv", b"user_id, login_id ,status\nU1,u1,active\n", false)
            .expect("parses")
            .expect("file");
        assert_eq!(csv.kind, SisKind::User);
        assert_eq!(csv.rows[0].get("login_id"), None);
        assert_eq!(csv.rows[0].get(" login_id "), Some("u1"));
    }

    #[test]
    fn rows_with_only_blank_values_are_skipped_but_numbered() {
        let text = "user_id,login_id,status,status\n , ,,\nU1,u1,active,deleted\n";
        let csv = parse_csv("u.csv", text.as_bytes(), false)
            .expect("parses")
            .expect("file");
        assert_eq!(csv.rows.len(), 1);
        assert_eq!(csv.rows[0].line, 3);
        assert_eq!(csv.rows[0].get("status"), Some("active"));
        let extra = parse_csv("u.csv", b"user_id,login_id\n,,x\n", false)
            .expect("parses")
            .expect("file");
        assert_eq!(
            extra.rows.len(),
            1,
            "a value beyond the headers keeps the row"
        );
    }

    #[test]
    fn hundred_duplicate_lines_are_deduplicated_keeping_the_last() {
        let mut text = String::from("user_id,login_id,status\n");
        for _ in 0..101 {
            text.push_str("U1,u1,active\n");
        }
        text.push_str("U2,u2,active\n");
        let up = parse_upload("users.csv", text.as_bytes(), false, 1);
        let csv = &up.files[0];
        assert_eq!(csv.name, "users_deduplicated.csv");
        assert_eq!(csv.rows.len(), 2);
        assert_eq!(csv.rows[0].line, 2);
        assert_eq!(up.stored[0].name, "users_deduplicated.csv");
        let few = "user_id,login_id,status\nU1,u1,active\nU1,u1,active\n";
        let csv = parse_csv("u.csv", few.as_bytes(), false)
            .expect("parses")
            .expect("file");
        assert_eq!(csv.rows.len(), 2);
    }

    #[test]
    fn only_a_csv_extension_is_read() {
        assert!(is_csv_name("a/b/USERS.Csv"));
        assert!(!is_csv_name(".csv"));
        assert!(!is_csv_name("dir/.csv"));
        assert!(!is_csv_name("users.csv.txt"));
    }

    #[test]
    fn password_columns_never_stored() {
        let text = b"user_id,login_id,password,ssha_password,status\nU1,u1,secret,{SSHA}x,active\n";
        let up = parse_upload("users.csv", text, false, 1);
        assert_eq!(up.stored.len(), 1);
        assert_eq!(up.stored[0].name, "users_filtered.csv");
        let stored = String::from_utf8(up.stored[0].bytes.clone()).expect("utf8");
        assert!(!stored.contains("secret") && !stored.contains("password"));
        assert!(stored.starts_with("user_id,login_id,status\n"));
    }

    #[test]
    fn stored_copies_carry_the_base_name_and_only_users_files_are_filtered() {
        let logins = b"existing_user_id,user_id,login_id,password\nU1,L1,l1,pw\n";
        let z = zip_of(&[("feed/users.csv", USERS), ("feed/logins.csv", logins)]);
        let up = parse_upload("a.zip", &z, false, 1);
        let names: Vec<&str> = up.stored.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["users.csv", "logins.csv"]);
        assert_eq!(up.stored[1].bytes, logins.to_vec());
    }
}
