//! One file, in one streaming pass: encoding, the header (kind, pitfalls, required columns),
//! then every record (quoting, UTF-8, field count, row rules), feeding the batch's id store.
//!
//! Nothing here holds more than one record: the scanner's buffer, the header, and the batch's
//! id hashes are all that stay in memory.

use std::io::{self, Read};

use super::batch::Batch;
use super::finding::{Finding, FindingList};
use super::header::{self, Header};
use super::row::{Fields, Plan};
use super::scan::{LineEnd, MAX_RECORD_BYTES, Malformed, ScanError, ScanErrorKind, Scanner};
use crate::batch::BatchFile;
use crate::sis::SisKind;

/// What the first bytes of a file say about its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Plain,
    /// A UTF-8 byte-order mark (dropped from the stream); `quoted` if a quote follows it.
    Utf8Bom {
        quoted: bool,
    },
    Utf16,
}

/// Opens `file`, looks at its first bytes, and returns a stream without any UTF-8 BOM.
pub(crate) fn open(file: &dyn BatchFile) -> io::Result<(Box<dyn Read + Send + '_>, Start)> {
    let mut src = file.open()?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match src.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = &head[..n];
    let (start, skip) = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        let quoted = head.get(3) == Some(&b'"');
        (Start::Utf8Bom { quoted }, 3)
    } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        (Start::Utf16, 0)
    } else {
        (Start::Plain, 0)
    };
    let rest = io::Cursor::new(head[skip..].to_vec());
    Ok((Box::new(rest.chain(src)), start))
}

/// Reads only the header of `file` and returns the kind Canvas will read it as.
pub(crate) fn sniff_kind(file: &dyn BatchFile, institutional_tags: bool) -> Option<SisKind> {
    if !is_csv_name(file.name()) || is_ignored_name(file.name()) {
        return None;
    }
    let (stream, start) = open(file).ok()?;
    if start == Start::Utf16 {
        return None;
    }
    let mut scan = Scanner::new(stream);
    if !scan.next_record().ok()? || scan.len() > header::MAX_HEADER_COLUMNS {
        return None;
    }
    let header = Header::new(&header_fields(&scan));
    header::detect(&header, institutional_tags).ok()
}

/// Canvas's `IGNORE_FILES`: macOS resource forks (`__MACOSX/…`) and Windows desktop files, which
/// a zip made on those systems carries beside the CSVs; Canvas skips them silently.
pub(crate) fn is_ignored_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("__macosx") || lower.contains("desktop db") || lower.contains("desktop df")
}

/// Canvas reads only `*.csv` entries (any case); others are skipped with a warning.
pub(crate) fn is_csv_name(name: &str) -> bool {
    name.len() > 4
        && name
            .get(name.len() - 4..)
            .is_some_and(|e| e.eq_ignore_ascii_case(".csv"))
}

fn header_fields<R: Read>(scan: &Scanner<R>) -> Vec<Vec<u8>> {
    (0..scan.len()).map(|i| scan.field(i).to_vec()).collect()
}

impl<R: Read> Fields for Scanner<R> {
    fn get(&self, i: usize) -> &[u8] {
        self.field(i)
    }
    fn raw(&self) -> &[u8] {
        Scanner::raw(self)
    }
}

/// The result of one file, before the batch resolves what it left pending.
pub(crate) struct FileOutcome {
    pub name: String,
    pub kind: Option<SisKind>,
    /// The kind the rows are checked as: `kind`, or the institutional tag kind of a file that
    /// needs a feature the options don't say the account has.
    pub read_as: Option<SisKind>,
    pub rows: u64,
    /// Rows whose status deletes (for the mass-change guard).
    pub deleted: u64,
    pub bytes: u64,
    pub findings: FindingList,
    /// Exact repeats of lines, reported once the batch's deferred checks have added theirs.
    pub dup: DuplicateLines,
}

/// Validates one file; `pos` is its place in processing order.
pub(crate) fn validate_file(file: &dyn BatchFile, pos: u32, batch: &mut Batch) -> FileOutcome {
    let name = file.name().to_owned();
    let mut out = FileOutcome {
        findings: FindingList::new(&name, batch.opts.max_findings_per_file, &batch.opts.strict)
            .per_rule(batch.opts.max_findings_per_rule),
        name,
        kind: None,
        read_as: None,
        rows: 0,
        deleted: 0,
        bytes: file.size().unwrap_or(0),
        dup: DuplicateLines::default(),
    };
    if is_ignored_name(&out.name) {
        // Canvas passes over these without a word; so does the report (the file is listed).
        return out;
    }
    if !is_csv_name(&out.name) {
        out.findings.push(Finding::warning(
            "not_a_csv_file",
            "Canvas reads only .csv files and skips this one (\"Skipping unknown file type\")",
            "Leave the file out of the batch, or give it a .csv name if it is a Canvas SIS CSV.",
        ));
        return out;
    }
    let (stream, start) = match open(file) {
        Ok(opened) => opened,
        Err(e) => {
            out.findings.push(Finding::error(
                "unreadable_file",
                format!("the file can't be opened: {e}"),
                "Check that the file exists and is readable, then validate again.",
            ));
            return out;
        }
    };
    if start == Start::Utf16 {
        out.findings.push(utf16_finding(
            "the file starts with a UTF-16 byte-order mark",
        ));
        return out;
    }
    let mut scan = Scanner::new(stream);
    let bom_bytes = if matches!(start, Start::Utf8Bom { .. }) {
        3
    } else {
        0
    };
    let header = match read_header(&mut scan, &mut out, start, batch) {
        Some(h) => h,
        None => {
            out.bytes = out.bytes.max(scan.bytes_read() + bom_bytes);
            return out;
        }
    };
    let plan = out
        .read_as
        .map(|k| Plan::new(k, &header))
        .filter(|_| !out.findings_have("enrollments_read_as_sections"));
    read_rows(&mut scan, &header, plan.as_ref(), pos, batch, &mut out);
    out.bytes = out.bytes.max(scan.bytes_read() + bom_bytes);
    out
}

impl FileOutcome {
    fn findings_have(&self, rule: &str) -> bool {
        self.findings.has_rule(rule)
    }
}

/// Reads and checks the header row. `None` when the file has nothing more to check.
fn read_header<R: Read>(
    scan: &mut Scanner<R>,
    out: &mut FileOutcome,
    start: Start,
    batch: &Batch,
) -> Option<Header> {
    match scan.next_record() {
        Ok(true) => {}
        Ok(false) => {
            let what = if scan.bytes_read() == 0 && start == Start::Plain {
                "the file is empty"
            } else {
                "the file has only blank lines"
            };
            out.findings.push(Finding::warning(
                "empty_file",
                format!("{what}; Canvas ignores it"),
                "Leave the file out of the batch, or check that the export produced data.",
            ));
            return None;
        }
        Err(e) => {
            out.findings.push(scan_finding(&e, None));
            return None;
        }
    }
    if scan.len() > header::MAX_HEADER_COLUMNS {
        out.findings.push(header::too_wide(scan.len()));
        return None;
    }
    if scan.raw().contains(&0) {
        out.findings.push(utf16_finding(
            "the header row contains NUL bytes, as UTF-16 text without a byte-order mark does",
        ));
        return None;
    }
    if let Err(e) = std::str::from_utf8(scan.raw()) {
        out.findings.push(invalid_utf8_finding(
            scan.raw(),
            e,
            scan.record_offset(),
            1,
            None,
        ));
    }
    let header = Header::new(&header_fields(scan));
    let tags = batch.opts.institutional_tags;
    if let Start::Utf8Bom { .. } = start {
        out.findings.push(bom_finding(&header));
    }
    for f in header::check_names(&header) {
        out.findings.push(f);
    }
    match header::detect(&header, tags) {
        Ok(kind) => {
            out.kind = Some(kind);
            out.read_as = Some(kind);
            let pitfalls = header::check_pitfalls(&header, kind, &out.name);
            // Read as another kind than meant, its "missing" columns would only be noise.
            let misread = pitfalls
                .iter()
                .any(|f| f.rule == "enrollments_read_as_sections");
            for f in pitfalls {
                out.findings.push(f);
            }
            if let Some(f) = header::check_required_columns(&header, kind).filter(|_| !misread) {
                out.findings.push(f);
            }
        }
        Err(f) => match header::needs_institutional_tags(&header, tags) {
            Some(warning) => {
                out.findings.push(warning);
                // Checked as the kind it is where the feature is on, which is where it imports.
                out.read_as = SisKind::detect(&header.names, true);
                if let Some(f) = out
                    .read_as
                    .and_then(|k| header::check_required_columns(&header, k))
                {
                    out.findings.push(f);
                }
            }
            None => out.findings.push(*f),
        },
    }
    Some(header)
}

/// The first row with bytes that are not UTF-8, and how many such rows there are.
struct BadUtf8 {
    first: Finding,
    rows: u64,
}

/// Streams every record after the header.
fn read_rows<R: Read>(
    scan: &mut Scanner<R>,
    header: &Header,
    plan: Option<&Plan>,
    pos: u32,
    batch: &mut Batch,
    out: &mut FileOutcome,
) {
    let width = header.names.len();
    let mut bad_utf8: Option<BadUtf8> = None;
    loop {
        match scan.next_record() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                out.findings.push(scan_finding(&e, Some(header)));
                break;
            }
        }
        out.rows += 1;
        let line = scan.record_line();
        if out.rows == 1
            && let Some(plan) = plan
        {
            presize(plan, scan.raw().len(), out.bytes, batch, &mut out.dup);
        }
        if let Err(e) = std::str::from_utf8(scan.raw()) {
            match &mut bad_utf8 {
                Some(b) => b.rows += 1,
                None => {
                    let col =
                        (0..scan.len()).find(|&i| std::str::from_utf8(scan.field(i)).is_err());
                    let col = col.map(|i| header.label(i));
                    bad_utf8 = Some(BadUtf8 {
                        first: invalid_utf8_finding(
                            scan.raw(),
                            e,
                            scan.record_offset(),
                            line,
                            col.as_deref(),
                        ),
                        rows: 1,
                    });
                }
            }
        }
        if scan.len() != width {
            out.findings.push(ragged_finding(scan.len(), width, line));
        }
        let Some(plan) = plan else { continue };
        if plan.is_delete(&*scan) {
            out.deleted += 1;
        }
        plan.check(&*scan, line, &mut |f| out.findings.push(f));
        batch.track_row(plan, &*scan, line, pos, &mut out.dup, &mut out.findings);
    }
    if let Some(b) = bad_utf8 {
        let mut f = b.first;
        f.message = format!(
            "{} ({} row{} in all have bytes that are not UTF-8)",
            f.message,
            b.rows,
            if b.rows == 1 { "" } else { "s" }
        );
        out.findings.push(f);
    }
    out.dup.forget_lines();
}

/// Sizes the maps a file will fill from its size and its first row's length, so that they
/// don't rehash again and again while it is read. Bounded by the rows the file can hold.
fn presize(
    plan: &Plan,
    first_row_len: usize,
    file_bytes: u64,
    batch: &mut Batch,
    dup: &mut DuplicateLines,
) {
    let rows = (file_bytes / (first_row_len as u64 + 1)).min(1 << 24) as usize;
    batch.reserve_ids(plan, rows);
    if plan.id.is_none() {
        dup.seen.reserve(rows.min(DUPLICATE_LINES_TRACKED));
    }
}

/// Exact repeats of earlier lines in one file (Canvas drops them once there are 100).
#[derive(Default)]
pub(crate) struct DuplicateLines {
    seen: super::lines::LineSet,
    count: u64,
    first_row: Option<u64>,
}

/// Lines remembered per file for finding exact repeats in files without an id column; past
/// this, new lines are only compared, not remembered (about 2.8 MB at most, so a worker's
/// memory stays small: a repeat of a line past the first 512 Ki lines of a file is only found
/// when it repeats one of those).
const DUPLICATE_LINES_TRACKED: usize = 512 << 10;

/// Canvas de-duplicates a file holding at least this many exact duplicate lines.
const DUPLICATE_LINES_THRESHOLD: u64 = 100;

impl DuplicateLines {
    /// Notes a line of a file without ids, counting it if it repeats an earlier one.
    pub(crate) fn note_line(&mut self, hash: u64, row: u64) {
        if !self.seen.insert(hash) {
            self.repeat(row);
        }
    }

    /// Forgets the lines of a file read to its end (the count and first row stay).
    pub(crate) fn forget_lines(&mut self) {
        self.seen = Default::default();
    }

    /// Notes a row that repeats an earlier one exactly.
    pub(crate) fn repeat(&mut self, row: u64) {
        self.count += 1;
        self.first_row = Some(self.first_row.map_or(row, |r| r.min(row)));
    }

    /// The file's `duplicate_lines` warning, if it has enough repeats.
    pub(crate) fn finding(&self) -> Option<Finding> {
        if self.count < DUPLICATE_LINES_THRESHOLD {
            return None;
        }
        Some(
            Finding::warning(
                "duplicate_lines",
                format!(
                    "{} lines repeat an earlier line exactly (the first at this row); with 100 or more, Canvas drops the repeats before importing, keeping the last copy",
                    self.count
                ),
                "Remove the repeated lines from the export; they carry nothing new.",
            )
            .at_row(self.first_row.unwrap_or(2)),
        )
    }
}

fn ragged_finding(fields: usize, width: usize, line: u64) -> Finding {
    let (what, effect) = if fields > width {
        ("more", "Canvas ignores the extra values")
    } else {
        ("fewer", "Canvas reads the missing ones as blank")
    };
    Finding::warning(
        "ragged_row",
        format!("the row has {fields} fields, {what} than the header's {width}; {effect}"),
        "Check the row for an unquoted comma in a value (quote it) or a missing separator.",
    )
    .at_row(line)
}

fn utf16_finding(evidence: &str) -> Finding {
    Finding::error(
        "utf16_encoding",
        format!("{evidence}: the file is UTF-16, and Canvas reads only UTF-8 (it fails the batch with \"Invalid UTF-8\")"),
        "Re-export the file as UTF-8 without a byte-order mark (e.g. iconv -f UTF-16 -t UTF-8 file.csv > file-utf8.csv).",
    )
    .at_row(1)
}

fn invalid_utf8_finding(
    raw: &[u8],
    e: std::str::Utf8Error,
    record_offset: u64,
    line: u64,
    column: Option<&str>,
) -> Finding {
    let at = e.valid_up_to();
    let byte = raw.get(at).copied().unwrap_or(0);
    let looks = if (0xA0..=0xFF).contains(&byte) || (0x80..=0x9F).contains(&byte) {
        "; the file looks like Latin-1 or Windows-1252"
    } else {
        ""
    };
    let line = line + raw[..at].iter().filter(|&&b| b == b'\n').count() as u64;
    let f = Finding::error(
        "invalid_utf8",
        format!(
            "byte 0x{byte:02X} at byte offset {} is not valid UTF-8{looks}; Canvas fails the batch (\"Invalid UTF-8\")",
            record_offset + at as u64
        ),
        "Re-export the file as UTF-8 (e.g. iconv -f WINDOWS-1252 -t UTF-8 file.csv > file-utf8.csv).",
    )
    .at_row(line);
    match column {
        Some(c) => f.in_column(c.to_owned()),
        None => f,
    }
}

fn bom_finding(header: &Header) -> Finding {
    let first = header.label(0);
    Finding::warning(
        "utf8_bom",
        "the file starts with a UTF-8 byte-order mark, which canvas-sis sends on unchanged; Canvas reads CSVs as \"bom|utf-8\" and drops it, but other tools reading the file may not",
        "Nothing to do for Canvas; to drop it, export as UTF-8 without a byte-order mark (Excel's \"CSV UTF-8\" adds one) or strip it: sed -i '1s/^\\xEF\\xBB\\xBF//' file.csv.",
    )
    .at_row(1)
    .in_column(first)
}

/// A scan error as a finding; `header` names the column when known.
fn scan_finding(e: &ScanError, header: Option<&Header>) -> Finding {
    let column = header
        .filter(|h| e.field < h.names.len())
        .map(|h| h.label(e.field));
    let malformed = "Canvas fails the batch (\"Malformed CSV\")";
    let f = match &e.kind {
        ScanErrorKind::Io(err) => Finding::error(
            "read_error",
            format!("reading the file failed at byte offset {}: {err}", e.offset),
            "Check that the file is complete and readable, then validate again.",
        ),
        ScanErrorKind::Malformed(Malformed::RecordTooLong) => Finding::error(
            "row_too_long",
            format!(
                "the row starting here runs past {} MiB, most likely because a quote opened in it is never closed; {malformed}",
                MAX_RECORD_BYTES / (1024 * 1024)
            ),
            "Check the quoting of this row: double any quote inside a quoted field, and close every quoted field.",
        ),
        ScanErrorKind::Malformed(m) => {
            let (what, fix) = malformed_text(*m);
            Finding::error(
                "malformed_csv",
                format!("{what} (byte offset {}); {malformed}", e.offset),
                fix,
            )
        }
    };
    let f = f.at_row(e.line);
    match column {
        Some(c) if !matches!(e.kind, ScanErrorKind::Io(_)) => f.in_column(c),
        _ => f,
    }
}

fn malformed_text(m: Malformed) -> (String, &'static str) {
    const QUOTE_FIX: &str = "Quote the whole field and double every quote inside it (5\" drive → \"5\"\" drive\"), with nothing between a closing quote and the next comma.";
    match m {
        Malformed::QuoteInUnquotedField => (
            "a double quote inside a field that doesn't start with one (a space before an opening quote counts)".into(),
            QUOTE_FIX,
        ),
        Malformed::TextAfterClosingQuote => (
            "text after the closing quote of a quoted field".into(),
            QUOTE_FIX,
        ),
        Malformed::UnclosedQuote => (
            "a quoted field opened here is never closed".into(),
            "Close the quoted field, and double every quote inside it.",
        ),
        Malformed::MixedLineEnding { found, expected } => (
            format!(
                "a {} line break outside quotes, but the file's line breaks are {} (set by its first line)",
                found.label(),
                expected.label()
            ),
            if expected == LineEnd::CrLf {
                "Use one kind of line break throughout the file (e.g. convert it all to LF with dos2unix)."
            } else {
                "Use one kind of line break throughout the file (e.g. convert it all to LF with dos2unix, or to CRLF with unix2dos)."
            },
        ),
        Malformed::RecordTooLong => ("the row is too long".into(), QUOTE_FIX),
    }
}

impl FindingList {
    fn has_rule(&self, rule: &str) -> bool {
        self.iter().any(|f| f.rule == rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sis::validate::Severity;

    struct Mem(&'static str, &'static [u8]);
    impl BatchFile for Mem {
        fn name(&self) -> &str {
            self.0
        }
        fn size(&self) -> Option<u64> {
            Some(self.1.len() as u64)
        }
        fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
            Ok(Box::new(self.1))
        }
    }

    fn opened(bytes: &'static [u8]) -> (Vec<u8>, Start) {
        let file = Mem("u.csv", bytes);
        let (mut stream, start) = open(&file).expect("opens");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).expect("reads");
        (out, start)
    }

    #[test]
    fn a_utf8_bom_is_dropped_from_the_stream_and_reported() {
        assert_eq!(
            opened(b"\xEF\xBB\xBFuser_id\n"),
            (b"user_id\n".to_vec(), Start::Utf8Bom { quoted: false })
        );
        assert_eq!(
            opened(b"\xEF\xBB\xBF\"user_id\"\n").1,
            Start::Utf8Bom { quoted: true }
        );
        assert_eq!(opened(b"ab"), (b"ab".to_vec(), Start::Plain));
        assert_eq!(opened(b"\xFF\xFEu\0").1, Start::Utf16);
    }

    /// Issue 13 #12: the duplicate-column check compared every name with every earlier one, so
    /// an 8 MB header of a million columns took minutes (and the header's names alone take far
    /// more memory than a record). The header's width is bounded, and a wider one is refused
    /// with an error that says what and what to do, before any per-column work.
    #[test]
    fn a_million_column_header_is_checked_in_linear_time() {
        let mut text = String::with_capacity(8 << 20);
        for i in 0..1_000_000 {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("c{i}"));
        }
        text.push_str("\nU1\n");
        let bytes: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
        let file = Mem("wide.csv", bytes);
        let opts = super::super::ValidateOptions::default();
        let report = super::super::validate_batch(&[&file], &opts);
        let findings = &report.files[0].findings;
        let wide = findings
            .iter()
            .find(|f| f.rule == "header_too_wide")
            .unwrap_or_else(|| {
                panic!("{:?}", findings.iter().map(|f| &f.rule).collect::<Vec<_>>())
            });
        assert_eq!(wide.severity, Severity::Error);
        assert!(
            wide.message.contains("1000000 columns") && !wide.fix.is_empty(),
            "{}: {}",
            wide.message,
            wide.fix
        );
        assert!(
            findings.iter().all(|f| f.rule != "duplicate_column"),
            "no per-column work on a refused header"
        );
    }

    /// A zip made on a Mac carries `__MACOSX/._x.csv` resource forks (binary, with NUL bytes)
    /// beside the CSVs; Canvas skips them silently, so they must not reject the batch.
    #[test]
    fn mac_resource_forks_and_desktop_files_are_passed_over_silently() {
        let fork = Mem(
            "__MACOSX/export/._users.csv",
            b"\0\x05\x16\x07\0\x02\0\0Mac OS X",
        );
        let desktop = Mem("export/Desktop DB.csv", b"\0\0\x01");
        let users = Mem(
            "export/users.csv",
            b"user_id,login_id,status\nU1,u1,active\n",
        );
        let opts = super::super::ValidateOptions::default();
        let report = super::super::validate_batch(&[&fork, &desktop, &users], &opts);
        assert!(!report.is_rejected(), "{}", report.to_text_all());
        assert_eq!(report.findings().count(), 0, "{}", report.to_text_all());
        assert_eq!(sniff_kind(&fork, false), None);
    }

    #[test]
    fn only_csv_names_are_read() {
        assert!(is_csv_name("users.csv"));
        assert!(is_csv_name("2026/USERS.CSV"));
        assert!(!is_csv_name("users.txt"));
        assert!(!is_csv_name(".csv"));
    }

    #[test]
    fn sniffing_reads_the_kind_from_the_header() {
        let f = Mem("x.csv", b"course_id,short_name,long_name,status\n");
        assert_eq!(sniff_kind(&f, false), Some(SisKind::Course));
        let f = Mem("x.txt", b"course_id,short_name,long_name,status\n");
        assert_eq!(sniff_kind(&f, false), None);
    }
}
