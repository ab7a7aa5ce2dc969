//! Conformance with Canvas: the cases of canvas-lms's importer specs, run through the simulator
//! over HTTP and through the validator.
//!
//! Each `tests/conformance/*.cases` file holds cases written from one of canvas-lms's
//! `spec/lib/sis/csv/*_importer_spec.rb` files, in this project's own words and data: the files
//! of one or more imports and, for each import, the exact messages Canvas produces (or none: it
//! imports cleanly). The format is described in `tests/conformance/README.md`.
//!
//! Two agreements are measured per case:
//! - the simulator: every import of the case gives exactly Canvas's messages (as a multiset,
//!   warnings and failures apart);
//! - the validator: for every import of the case, it rejects exactly when Canvas fails the import
//!   (an `error:` line). Rejecting a feed Canvas imports is a false rejection — the worst outcome,
//!   allowed zero times.
//!
//! `CONFORMANCE_ONLY=<text>` runs the cases whose file name or title contains the text and prints
//! the result without asserting the thresholds.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use canvas_sis::sis::validate::{ValidateOptions, ValidationReport, validate_batch};
use canvas_sis::store::BatchFile;
use futures_util::StreamExt;
use serde_json::Value;

use crate::common::*;

/// Share of cases each side must agree on (the bar).
const REQUIRED_AGREEMENT: f64 = 0.98;
/// Cases run at once, each against its own simulator (they mostly wait on its clock).
const SIMULATORS_AT_ONCE: usize = 16;

/// One file of an import.
#[derive(Debug, Clone)]
struct CaseFile {
    name: String,
    bytes: Vec<u8>,
}

/// What Canvas says about one import: `(failure, message)` pairs.
type Messages = Vec<(bool, String)>;

/// One import of a case: its files, its create parameters, and what Canvas says.
#[derive(Debug, Clone, Default)]
struct Step {
    files: Vec<CaseFile>,
    params: String,
    expected: Messages,
}

impl Step {
    fn canvas_fails(&self) -> bool {
        self.expected.iter().any(|(failure, _)| *failure)
    }
}

/// One case: where it was written from, the account features it needs, its imports in order.
#[derive(Debug, Clone)]
struct Case {
    origin: String,
    title: String,
    spec: String,
    features: Vec<String>,
    steps: Vec<Step>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Reads every `*.cases` file, in name order.
fn load_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/conformance exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cases"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no tests/conformance/*.cases files");
    paths.iter().flat_map(|p| parse_cases(p)).collect()
}

/// Parses one `.cases` file (format: `tests/conformance/README.md`).
fn parse_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("cases file is UTF-8");
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut cases: Vec<Case> = Vec::new();
    let mut step = Step::default();
    // Where the current `--- file` block's lines go, with its escaping flag.
    let mut file: Option<(String, bool, Vec<String>)> = None;
    let mut in_expect = false;
    let flush_file = |file: &mut Option<(String, bool, Vec<String>)>, step: &mut Step| {
        if let Some((name, escapes, lines)) = file.take() {
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            let bytes = if escapes {
                unescape(&text)
            } else {
                text.into_bytes()
            };
            step.files.push(CaseFile { name, bytes });
        }
    };
    for (i, line) in text.lines().enumerate() {
        let at = format!("{file_name}:{}", i + 1);
        if let Some(title) = line.strip_prefix("=== ") {
            flush_file(&mut file, &mut step);
            assert!(
                step.files.is_empty(),
                "{at}: the previous case has files after its last `--- expect`"
            );
            in_expect = false;
            cases.push(Case {
                origin: at,
                title: title.trim().to_owned(),
                spec: String::new(),
                features: Vec::new(),
                steps: Vec::new(),
            });
            continue;
        }
        let case = match cases.last_mut() {
            Some(c) => c,
            None if line.trim().is_empty() || line.starts_with('#') => continue,
            None => panic!("{at}: text before the first `=== title`"),
        };
        if let Some(rest) = line.strip_prefix("--- ") {
            flush_file(&mut file, &mut step);
            in_expect = false;
            let rest = rest.trim();
            if let Some(name) = rest.strip_prefix("file ") {
                let (name, escapes) = match name.trim().strip_suffix(" escapes") {
                    Some(n) => (n.trim(), true),
                    None => (name.trim(), false),
                };
                file = Some((name.to_owned(), escapes, Vec::new()));
            } else if let Some(params) = rest.strip_prefix("params ") {
                step.params = params.trim().to_owned();
            } else if rest == "expect" {
                assert!(!step.files.is_empty(), "{at}: `--- expect` with no files");
                in_expect = true;
                case.steps.push(std::mem::take(&mut step));
            } else {
                panic!("{at}: unknown marker `--- {rest}`");
            }
            continue;
        }
        if let Some((_, _, lines)) = file.as_mut() {
            lines.push(line.to_owned());
        } else if in_expect {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let expected = &mut case.steps.last_mut().expect("a step").expected;
            if let Some(m) = line.strip_prefix("warning: ") {
                expected.push((false, m.to_owned()));
            } else if let Some(m) = line.strip_prefix("error: ") {
                expected.push((true, m.to_owned()));
            } else {
                panic!("{at}: an expect line starts with `warning: ` or `error: `: {line}");
            }
        } else if let Some(spec) = line.strip_prefix("spec: ") {
            case.spec = spec.trim().to_owned();
        } else if let Some(features) = line.strip_prefix("features: ") {
            case.features = features.split(',').map(|f| f.trim().to_owned()).collect();
        } else if !(line.trim().is_empty() || line.starts_with('#')) {
            panic!("{at}: unexpected line outside a block: {line}");
        }
    }
    flush_file(&mut file, &mut step);
    assert!(
        step.files.is_empty(),
        "{file_name}: the last case has files after its last `--- expect`"
    );
    for c in &cases {
        assert!(!c.steps.is_empty(), "{}: case has no import", c.origin);
        assert!(!c.spec.is_empty(), "{}: case names no `spec:`", c.origin);
    }
    cases
}

/// `\xNN`, `\r`, `\t` and `\\` in a file marked `escapes` (bytes a text file can't show).
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'x' if i + 3 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("ascii hex");
                    out.push(u8::from_str_radix(hex, 16).expect("two hex digits after \\x"));
                    i += 4;
                    continue;
                }
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A case file held in memory, as the validator reads batch files.
struct MemFile(CaseFile);

impl BatchFile for MemFile {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn size(&self) -> Option<u64> {
        Some(self.0.bytes.len() as u64)
    }
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(std::io::Cursor::new(&self.0.bytes)))
    }
}

fn zip_files(files: &[CaseFile]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for f in files {
        w.start_file(f.name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&f.bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A simulator for one case: real clock, imports start at once and run fast.
async fn case_sim(features: &[String]) -> Sim {
    let mut config = canvas_sis::sim::SimConfig::with_tokens(tokens());
    config.rows_per_sec = 1_000_000.0;
    config.start_delay = Duration::ZERO;
    for feature in features {
        match feature.as_str() {
            "institutional_tags" => {
                for a in &mut config.accounts {
                    a.institutional_tags = true;
                }
            }
            "differentiation_tags" => {
                for a in &mut config.accounts {
                    a.differentiation_tags = true;
                }
            }
            other => panic!(
                "unknown feature `{other}` (the simulator models institutional_tags, differentiation_tags)"
            ),
        }
    }
    Sim::start(config).await
}

/// The messages of a finished import: `processing_errors` are failures, the rest warnings.
fn messages_of(import: &Value) -> Messages {
    let mut out = Messages::new();
    for (key, failure) in [("processing_errors", true), ("processing_warnings", false)] {
        for pair in import[key].as_array().into_iter().flatten() {
            let message = pair[1].as_str().unwrap_or_default().to_owned();
            out.push((failure, message));
        }
    }
    out
}

fn sorted(mut m: Messages) -> Messages {
    m.sort();
    m
}

fn show(m: &Messages) -> String {
    if m.is_empty() {
        return "(imports cleanly)".into();
    }
    m.iter()
        .map(|(f, msg)| format!("{}: {msg}", if *f { "error" } else { "warning" }))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The first disagreement of the simulator with Canvas on a case, if any.
async fn run_in_simulator(case: &Case) -> Option<String> {
    let sim = case_sim(&case.features).await;
    for (n, step) in case.steps.iter().enumerate() {
        let query = if step.params.is_empty() {
            String::new()
        } else {
            format!("&{}", step.params)
        };
        let created = sim.post_zip(zip_files(&step.files), &query).await;
        let id = created["id"].as_u64().expect("an import id");
        let done = sim.wait_real(id, Duration::from_secs(20)).await;
        let got = sorted(messages_of(&done));
        let want = sorted(step.expected.clone());
        if got != want {
            return Some(format!(
                "import {}: Canvas says {}\n      simulator says {}",
                n + 1,
                show(&want),
                show(&got)
            ));
        }
    }
    None
}

/// How the validator's verdict compares with Canvas's on one import.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Agrees,
    /// Canvas imports it; the validator rejects it.
    FalseRejection(String),
    /// Canvas fails the import; the validator lets it through.
    Missed,
}

fn judge(step: &Step, report: &ValidationReport) -> Verdict {
    match (step.canvas_fails(), report.is_rejected()) {
        (false, true) => Verdict::FalseRejection(report.first_errors(3).join(" | ")),
        (true, false) => Verdict::Missed,
        _ => Verdict::Agrees,
    }
}

/// What the validator made of a case's imports.
#[derive(Debug, Default)]
struct ValidatorRun {
    /// The imports (1-based) whose verdict differs from Canvas's.
    disagreements: Vec<(usize, Verdict)>,
    /// Imports Canvas warns about without failing them, and how many of those the validator
    /// warns about too. Informational: many of Canvas's warnings depend on what the account
    /// already holds, which a validator reading only the batch cannot know.
    canvas_warns: usize,
    validator_warns_too: usize,
}

fn run_in_validator(case: &Case) -> ValidatorRun {
    let opts = ValidateOptions {
        institutional_tags: case.features.iter().any(|f| f == "institutional_tags"),
        ..ValidateOptions::default()
    };
    let mut run = ValidatorRun::default();
    for (n, step) in case.steps.iter().enumerate() {
        let files: Vec<MemFile> = step.files.iter().cloned().map(MemFile).collect();
        let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
        let report = validate_batch(&refs, &opts);
        if !step.canvas_fails() && !step.expected.is_empty() {
            run.canvas_warns += 1;
            run.validator_warns_too += usize::from(report.warning_count() > 0);
        }
        let verdict = judge(step, &report);
        if verdict != Verdict::Agrees {
            run.disagreements.push((n + 1, verdict));
        }
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_and_the_validator_agree_with_canvas_importer_specs() {
    let only = std::env::var("CONFORMANCE_ONLY").ok();
    let cases: Vec<Case> = load_cases()
        .into_iter()
        .filter(|c| {
            only.as_deref()
                .is_none_or(|o| c.origin.contains(o) || c.title.contains(o))
        })
        .collect();
    assert!(
        !cases.is_empty(),
        "no case matches CONFORMANCE_ONLY={only:?}"
    );

    let mut sim_agree = 0usize;
    let mut validator_agree = 0usize;
    let mut false_rejections = 0usize;
    let mut canvas_warns = 0usize;
    let mut validator_warns_too = 0usize;
    let mut per_file: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut report = String::new();
    // Each case has its own simulator, so cases run side by side; results keep the cases' order.
    let sim_results: Vec<Option<String>> =
        futures_util::stream::iter(cases.iter().map(run_in_simulator))
            .buffered(SIMULATORS_AT_ONCE)
            .collect()
            .await;
    for (case, sim_result) in cases.iter().zip(sim_results) {
        let file = case.origin.split(':').next().unwrap_or_default().to_owned();
        let tally = per_file.entry(file).or_default();
        tally.0 += 1;
        match sim_result {
            None => {
                sim_agree += 1;
                tally.1 += 1;
            }
            Some(diff) => report.push_str(&format!(
                "SIMULATOR {} {:?} ({})\n      {diff}\n",
                case.origin, case.title, case.spec
            )),
        }
        let run = run_in_validator(case);
        canvas_warns += run.canvas_warns;
        validator_warns_too += run.validator_warns_too;
        let verdicts = run.disagreements;
        if verdicts.is_empty() {
            validator_agree += 1;
            tally.2 += 1;
        }
        for (n, v) in verdicts {
            let what = match v {
                Verdict::FalseRejection(errors) => {
                    false_rejections += 1;
                    format!("FALSE REJECTION of import {n}: {errors}")
                }
                Verdict::Missed => format!("import {n}: Canvas fails it, the validator passes it"),
                Verdict::Agrees => unreachable!("only disagreements are kept"),
            };
            report.push_str(&format!(
                "VALIDATOR {} {:?} ({})\n      {what}\n",
                case.origin, case.title, case.spec
            ));
        }
    }
    let total = cases.len();
    let pct = |n: usize| 100.0 * n as f64 / total as f64;
    let mut summary = String::from("cases file: cases / simulator agrees / validator agrees\n");
    for (file, (n, s, v)) in &per_file {
        summary.push_str(&format!("  {file}: {n} / {s} / {v}\n"));
    }
    summary.push_str(&format!(
        "simulator agrees with Canvas on {sim_agree} of {total} cases ({:.1}%)\n\
         validator verdict agrees on {validator_agree} of {total} cases ({:.1}%), \
         false rejections: {false_rejections}\n\
         (information) the validator warns on {validator_warns_too} of the {canvas_warns} imports \
         Canvas warns about without failing\n",
        pct(sim_agree),
        pct(validator_agree)
    ));
    println!("{report}\n{summary}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-report.txt");
    std::fs::write(&out, format!("{report}\n{summary}")).expect("report written");
    if only.is_some() {
        return;
    }
    assert_eq!(
        false_rejections, 0,
        "the validator refused feeds Canvas imports:\n{report}"
    );
    assert!(
        pct(sim_agree) >= 100.0 * REQUIRED_AGREEMENT,
        "simulator agreement below {}%:\n{report}\n{summary}",
        100.0 * REQUIRED_AGREEMENT
    );
    assert!(
        pct(validator_agree) >= 100.0 * REQUIRED_AGREEMENT,
        "validator agreement below {}%:\n{report}\n{summary}",
        100.0 * REQUIRED_AGREEMENT
    );
}

#[test]
fn a_cases_file_reads_files_steps_params_and_expected_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.cases");
    std::fs::write(
        &path,
        "# comment\n=== two imports\nspec: x_spec.rb \"does a thing\"\nfeatures: institutional_tags\n\
         --- file users.csv\nuser_id,login_id,status\nU1,u1,active\n--- expect\n\
         --- params override_sis_stickiness=true\n--- file bad.csv escapes\na\\xff\\r\n--- expect\n\
         warning: one\nerror: two\n",
    )
    .unwrap();
    let cases = parse_cases(&path);
    assert_eq!(cases.len(), 1);
    let c = &cases[0];
    assert_eq!(c.title, "two imports");
    assert_eq!(c.features, vec!["institutional_tags"]);
    assert_eq!(c.steps.len(), 2);
    assert_eq!(
        c.steps[0].files[0].bytes,
        b"user_id,login_id,status\nU1,u1,active\n"
    );
    assert!(c.steps[0].expected.is_empty());
    assert_eq!(c.steps[1].params, "override_sis_stickiness=true");
    assert_eq!(c.steps[1].files[0].bytes, b"a\xff\r\n");
    assert_eq!(
        c.steps[1].expected,
        vec![(false, "one".into()), (true, "two".into())]
    );
    assert!(c.steps[1].canvas_fails());
}
