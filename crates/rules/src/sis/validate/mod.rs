//! Validation of a batch of SIS CSV files against Canvas's rules, before anything is sent.
//!
//! [`validate_batch`] streams every file once, in Canvas's processing order, and reports each
//! problem with what it is, where it is (file, row, column) and what to do (docs/design.md
//! invariant 7). Errors reject the batch before upload; warnings travel with it. It never fails and
//! never panics on input: an unreadable file is a finding too.
//!
//! Layout:
//! - `scan`: a Ruby-strict streaming CSV record reader (Canvas parses with Ruby's CSV).
//! - `header`: how Canvas will recognise a file, its pitfalls, required columns.
//! - `rules` (data) and `row` (checks): what each kind's rows must hold.
//! - `file`: one file's single pass; `batch`: ordering, duplicate ids, references.
//! - `dates`: what Canvas makes of a date value (Ruby's `Date._parse`); `iso_dates`: the two
//!   usual forms read directly, with the same answers.
//! - `ids`: ids kept as 64-bit hashes, in tables with a memory budget; past it, `deferred`
//!   checks sorted on disk by `spill`, resolved on two threads (`handoff`); `lines`: the line set for exact repeats; `finding`,
//!   `report`: what comes out.
//!
//! Memory is bounded: one record at a time, plus the id tables up to `id_memory_bytes` (the
//! checks they cannot hold are spilled to disk and resolved after the last file), plus at most
//! `max_findings_per_file` findings per file (100 000 by default; the rest are counted per rule).
//! The text report groups findings by rule (a count and the first few places), so a feed with one
//! problem on every row prints a line, not a million.
//!
//! This module reports for operators, in its own words. The simulator (`sim::content`) has its
//! own checks that reproduce Canvas's wording; the two deliberately share no code.

mod batch;
mod bloom;
mod dates;
mod deferred;
mod file;
mod finding;
mod handoff;
mod header;
mod ids;
mod iso_dates;
mod lines;
mod report;
mod row;
mod rules;
mod run_heap;
mod scan;
mod spill;
mod values;

pub use batch::validate_batch;

/// The kind each CSV's header says it is, read from the first record only — what validation
/// will find unless the file is unreadable. Lets packing start before validation ends.
pub fn sniff_kinds(
    files: &[&dyn crate::batch::BatchFile],
    institutional_tags: bool,
) -> std::collections::BTreeMap<String, crate::sis::SisKind> {
    files
        .iter()
        .filter_map(|f| file::sniff_kind(*f, institutional_tags).map(|k| (f.name().to_owned(), k)))
        .collect()
}
pub use finding::{Finding, RULES, RuleCount, Severity, Strict, UnknownRule};
pub use report::{FileReport, ValidationReport};

/// Findings kept per file by default (see [`ValidateOptions::max_findings_per_file`]).
pub const DEFAULT_MAX_FINDINGS_PER_FILE: usize = 100_000;

/// How to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Whether the Canvas account has the institutional tags feature on (without it, Canvas
    /// doesn't recognise institutional tag files).
    pub institutional_tags: bool,
    /// Findings kept (listed in the JSON report) per file; the rest are counted per rule in
    /// `rule_counts` and in one `findings_truncated` summary. Findings take about half a KiB
    /// each, so the default (100 000) bounds a file's findings to about 50 MiB while listing
    /// every finding of realistic feeds.
    pub max_findings_per_file: usize,
    /// Findings kept per file of each rule and severity (the rest are counted as above). A
    /// report read grouped by rule ([`ValidationReport::to_text`]) names only the first
    /// [`GROUPED_EXAMPLES`] of each rule, so a command that prints nothing else keeps no more
    /// than that: a feed with a million warnings then costs kilobytes, not a hundred MiB.
    /// Unbounded by default.
    pub max_findings_per_rule: usize,
    /// The warnings the tenant has chosen to make reject the batch.
    pub strict: Strict,
    /// Bytes the id tables (duplicate ids, references across files) may take. Past it, the
    /// checks they cannot answer are sorted on disk in `spill_dir` and resolved after the last
    /// file, with the same findings: memory stays bounded whatever the number of ids. The
    /// tables are freed before that, and their budget buffers the reading back.
    pub id_memory_bytes: usize,
    /// Where that spill goes (an unlinked temporary file); the system's temporary folder if
    /// `None`.
    pub spill_dir: Option<std::path::PathBuf>,
}

/// Bytes the id tables take at most by default (see [`ValidateOptions::id_memory_bytes`]):
/// a feed of about 260 000 users with their login ids, 45 000 courses and 45 000 sections (the
/// 100 MiB bench feed) stays in memory.
pub const DEFAULT_ID_MEMORY_BYTES: usize = 20 << 20;

/// How many findings of one rule the grouped report names: what `max_findings_per_rule` may be
/// lowered to without changing [`ValidationReport::to_text`].
pub const GROUPED_EXAMPLES: usize = report::GROUPED_EXAMPLES;

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            institutional_tags: false,
            max_findings_per_file: DEFAULT_MAX_FINDINGS_PER_FILE,
            max_findings_per_rule: usize::MAX,
            strict: Strict::Off,
            id_memory_bytes: DEFAULT_ID_MEMORY_BYTES,
            spill_dir: None,
        }
    }
}
