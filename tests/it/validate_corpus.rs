//! Black-box tests of `validate_batch` driven by a corpus of small broken batches.
//!
//! Each case is a folder under `tests/corpus/validate/<case>/`: the batch's files, an optional
//! `_options.txt` (`institutional_tags=true`, `max_findings_per_file=N`), and `expected.txt`,
//! the exact report: one `file` line per file (name, kind, rows, bytes) and one line per finding
//! (severity, rule, file:row:column, message), then the verdict. Fixes are not spelled out in
//! `expected.txt`, but every finding must carry one (docs/design.md invariant 7).
//!
//! `VALIDATE_BLESS=1 cargo test --test it -- validate_corpus::` rewrites `expected.txt` from the current
//! output; review the diff before committing it.

use std::path::{Path, PathBuf};

use canvas_sis::sis::validate::{
    Finding, RULES, ValidateOptions, ValidationReport, validate_batch,
};
use canvas_sis::store::BatchFile;
use canvas_sis::store::local::LocalFile;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/validate")
}

/// Every case folder of the corpus.
fn case_dirs() -> Vec<PathBuf> {
    std::fs::read_dir(corpus())
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect()
}

fn options(dir: &Path) -> ValidateOptions {
    let mut opts = ValidateOptions::default();
    let Ok(text) = std::fs::read_to_string(dir.join("_options.txt")) else {
        return opts;
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once('=') {
            Some(("institutional_tags", v)) => opts.institutional_tags = v.trim() == "true",
            Some(("max_findings_per_file", v)) => {
                opts.max_findings_per_file = v.trim().parse().expect("a number")
            }
            _ => panic!("unknown option line in {}: {line}", dir.display()),
        }
    }
    opts
}

/// The batch files of a case: every file but `expected.txt` and `_`-prefixed ones.
fn batch_files(dir: &Path) -> Vec<LocalFile> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("case folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.txt" && !n.starts_with('_'))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| LocalFile::new(n.clone(), dir.join(&n)))
        .collect()
}

/// One finding of the report: `{lead} severity rule location: message`.
fn finding_line(lead: &str, x: &Finding) -> String {
    format!(
        "{lead} {} {} {}: {}\n",
        x.severity.label(),
        x.rule,
        x.location(),
        x.message
    )
}

fn render(report: &ValidationReport) -> String {
    let mut out = String::new();
    for f in &report.files {
        let kind = f.kind.map_or("none", |k| k.importer_name());
        out.push_str(&format!(
            "file {} kind={kind} rows={} bytes={}\n",
            f.name, f.rows, f.bytes
        ));
        for x in &f.findings {
            out.push_str(&finding_line(" ", x));
        }
    }
    for x in &report.batch_findings {
        out.push_str(&finding_line("batch", x));
    }
    out.push_str(&format!(
        "errors={} warnings={} rejected={}\n",
        report.error_count(),
        report.warning_count(),
        report.is_rejected()
    ));
    out
}

fn run_case(case: &str) {
    let dir = corpus().join(case);
    assert!(dir.is_dir(), "no corpus case {case}");
    let files = batch_files(&dir);
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let report = validate_batch(&refs, &options(&dir));
    for f in report.findings() {
        assert!(!f.fix.trim().is_empty(), "{case}: no fix for {f:?}");
        assert!(!f.message.trim().is_empty(), "{case}: no message for {f:?}");
    }
    let got = render(&report);
    let expected_path = dir.join("expected.txt");
    if std::env::var_os("VALIDATE_BLESS").is_some() {
        std::fs::write(&expected_path, &got).expect("write expected.txt");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|_| panic!("{case}: no expected.txt (bless with VALIDATE_BLESS=1)"));
    assert_eq!(got, expected, "{case}: report differs from expected.txt");
}

/// The lines of a report, sorted: the same findings whatever order a row's findings came in.
fn sorted_lines(report: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = report.lines().collect();
    lines.sort_unstable();
    lines
}

/// Where the cross-file checks are answered (the id tables in memory, or a spill sorted on
/// disk once the tables reach their budget) never changes what they find. Every case runs with
/// no memory for ids at all (every check spilled) and with room for one small table (the rest
/// spilled, some answered in memory), and reports the same findings as in memory.
#[test]
fn every_case_finds_the_same_with_its_id_tables_spilled_to_disk() {
    let spill = tempfile::tempdir().expect("temp dir");
    let mut spilled_cases = 0;
    for dir in case_dirs() {
        let files = batch_files(&dir);
        let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
        let in_memory = render(&validate_batch(&refs, &options(&dir)));
        for budget in [0, 30_000] {
            let opts = ValidateOptions {
                id_memory_bytes: budget,
                spill_dir: Some(spill.path().to_owned()),
                ..options(&dir)
            };
            let spilled = render(&validate_batch(&refs, &opts));
            assert_eq!(
                sorted_lines(&spilled),
                sorted_lines(&in_memory),
                "{}: budget {budget}",
                dir.display()
            );
        }
        spilled_cases += 1;
    }
    assert!(spilled_cases >= 20, "only {spilled_cases} cases");
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*

        /// Every folder of the corpus has a test, so no case is silently skipped.
        #[test]
        fn every_corpus_case_has_a_test() {
            let known = [$(stringify!($name)),*];
            for entry in std::fs::read_dir(corpus()).expect("corpus") {
                let entry = entry.expect("entry");
                if entry.path().is_dir() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    assert!(known.contains(&name.as_str()), "corpus case {name} has no test");
                }
            }
        }
    };
}

cases!(
    accounts_without_parent_column_are_not_recognised,
    an_enrollment_naming_a_section_of_another_course,
    bad_dates,
    bad_status_values,
    differentiation_tags_are_detected_and_validated,
    duplicate_ids_across_files,
    empty_files_are_ignored_with_a_warning,
    enrollment_roles_and_role_ids,
    enrollments_with_a_name_column_are_read_as_sections,
    findings_past_the_cap_are_summarised,
    hundred_duplicate_lines_are_reported,
    institutional_tags_need_the_feature,
    institutional_tags_with_the_feature,
    latin1_bytes_are_invalid_utf8,
    login_ids_emails_and_their_lengths,
    missing_header_row_is_unrecognised,
    missing_required_columns_are_reported_once,
    mixed_line_endings_are_malformed,
    non_csv_files_are_skipped_with_a_warning,
    parent_account_after_child,
    ragged_rows_are_warnings,
    same_user_id_twice_in_a_file_is_a_warning,
    references_absent_from_the_batch,
    self_observation_and_nul_bytes,
    stray_quotes_are_malformed,
    term_overrides_and_logins_of_existing_users_are_clean,
    unrecognised_headers_name_the_closest_kind,
    unterminated_quote_is_malformed,
    utf16_with_bom_is_rejected,
    utf8_bom_before_a_used_column_is_dropped_by_canvas,
    utf8_bom_before_an_unused_column_is_a_warning,
    valid_institution_feed,
    value_lists_and_whole_numbers,
);

/// The valid feed must stay valid: no findings at all, not even warnings.
#[test]
fn a_valid_institution_feed_has_no_findings() {
    let dir = corpus().join("valid_institution_feed");
    let files = batch_files(&dir);
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let report = validate_batch(&refs, &ValidateOptions::default());
    let all: Vec<_> = report.findings().collect();
    assert!(all.is_empty(), "{}", report.to_text());
    assert_eq!(report.files.len(), 12);
    assert!(report.files.iter().all(|f| f.kind.is_some() && f.rows > 0));
}

/// Files are reported in Canvas's processing order, not the order they were given in.
#[test]
fn files_are_reported_in_canvas_processing_order() {
    let dir = corpus().join("valid_institution_feed");
    let mut files = batch_files(&dir);
    files.reverse();
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let report = validate_batch(&refs, &ValidateOptions::default());
    let kinds: Vec<_> = report.files.iter().filter_map(|f| f.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
    assert_eq!(report.files[0].name, "accounts.csv");
}

/// A file that can't be opened is a finding, not a panic or an `Err`.
#[test]
fn an_unreadable_file_is_an_error_finding() {
    let missing = LocalFile::new("users.csv", "/nonexistent/canvas-sis/users.csv");
    let report = validate_batch(&[&missing], &ValidateOptions::default());
    assert!(report.is_rejected());
    assert_eq!(report.files[0].findings[0].rule, "unreadable_file");
}

/// An empty batch is rejected: there is nothing to import.
#[test]
fn an_empty_batch_is_rejected() {
    let report = validate_batch(&[], &ValidateOptions::default());
    assert!(report.is_rejected());
    assert_eq!(report.batch_findings[0].rule, "no_sis_files");
}

/// Every rule a corpus report names is one `strict` accepts ([`RULES`]), so a tenant can name any
/// rule it sees in a report.
#[test]
fn every_rule_in_the_corpus_reports_is_a_known_rule() {
    for dir in case_dirs() {
        let files = batch_files(&dir);
        let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
        let report = validate_batch(&refs, &options(&dir));
        for f in report.findings().filter(|f| f.rule != "findings_truncated") {
            assert!(
                RULES.contains(&f.rule),
                "{}: {} is not in RULES",
                dir.display(),
                f.rule
            );
        }
    }
}

/// The JSON form carries every field a `--json` consumer needs.
#[test]
fn the_json_report_has_locations_rules_and_fixes() {
    let dir = corpus().join("bad_status_values");
    let files = batch_files(&dir);
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let report = validate_batch(&refs, &ValidateOptions::default());
    let v = serde_json::to_value(&report).expect("serialises");
    let users = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["name"] == "users.csv")
        .expect("users.csv");
    let bad = users["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "bad_status")
        .expect("bad_status");
    assert_eq!(
        bad["severity"], "warning",
        "Canvas skips the row and imports the rest"
    );
    assert_eq!(bad["row"], 3);
    assert_eq!(bad["column"], "status");
    assert_eq!(bad["file"], "users.csv");
    assert!(bad["fix"].as_str().is_some_and(|s| s.contains("active")));
}
