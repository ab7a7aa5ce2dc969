//! The validator counts rows and deleting rows per file: the numbers the mass-change guard
//! compares between batches. And it counts every finding while keeping only a few per rule when
//! asked (what `pack` and `validate` print needs no more).

use canvas_sis::sis::SisKind;
use canvas_sis::sis::validate::{GROUPED_EXAMPLES, ValidateOptions, validate_batch};
use canvas_sis::store::BatchFile;
use canvas_sis::store::local::LocalFile;

#[test]
fn deleting_rows_are_counted_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = "user_id,login_id,status\nU1,u1,active\nU2,u2,deleted\nU3,u3,DELETED\n";
    let enr = "course_id,user_id,role,status\nC1,U1,student,active\nC1,U2,student,deleted_last_completed\n";
    std::fs::write(dir.path().join("users.csv"), users).unwrap();
    std::fs::write(dir.path().join("enrollments.csv"), enr).unwrap();
    let files = [
        LocalFile::new("users.csv", dir.path().join("users.csv")),
        LocalFile::new("enrollments.csv", dir.path().join("enrollments.csv")),
    ];
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let report = validate_batch(&refs, &ValidateOptions::default());
    let users = report
        .files
        .iter()
        .find(|f| f.kind == Some(SisKind::User))
        .unwrap();
    assert_eq!((users.rows, users.deleted), (3, 2));
    let enr = report
        .files
        .iter()
        .find(|f| f.kind == Some(SisKind::Enrollment))
        .unwrap();
    assert_eq!((enr.rows, enr.deleted), (2, 1));
}

#[test]
fn a_few_findings_per_rule_give_the_same_grouped_report_as_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    // Three rules, hundreds of findings each, interleaved, across two files.
    let mut users = String::from("user_id,login_id,first_name,last_name,email,status\n");
    let mut enr = String::from("course_id,user_id,role,status\n");
    for i in 0..300 {
        users.push_str(&format!("U{i},shared{},A,B,u{i}@x.edu,active\n", i % 2));
        users.push_str(&format!("V{i},v{i},A,B,v{i}@x.edu,sleeping\n"));
        enr.push_str(&format!("C{i},U{i},student,active\n"));
    }
    let courses = "course_id,short_name,long_name,status\nC0,C0,Course 0,active\n";
    std::fs::write(dir.path().join("courses.csv"), courses).unwrap();
    std::fs::write(dir.path().join("users.csv"), &users).unwrap();
    std::fs::write(dir.path().join("enrollments.csv"), &enr).unwrap();
    let files = ["courses.csv", "users.csv", "enrollments.csv"]
        .map(|name| LocalFile::new(name, dir.path().join(name)));
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let all = validate_batch(&refs, &ValidateOptions::default());
    let few = validate_batch(
        &refs,
        &ValidateOptions {
            max_findings_per_rule: GROUPED_EXAMPLES,
            ..ValidateOptions::default()
        },
    );
    let rules: std::collections::BTreeSet<&str> = all
        .files
        .iter()
        .flat_map(|f| f.rule_counts.iter().map(|c| c.rule))
        .collect();
    assert!(rules.len() >= 3, "several rules fire: {rules:?}");
    assert!(all.warning_count() + all.error_count() > 600);
    assert_eq!(few.to_text(), all.to_text(), "the same grouped report");
    assert_eq!(
        (few.error_count(), few.warning_count()),
        (all.error_count(), all.warning_count())
    );
    for f in &few.files {
        for rule in &rules {
            let kept = f.findings.iter().filter(|x| x.rule == *rule).count();
            assert!(
                kept <= GROUPED_EXAMPLES,
                "{}: {kept} of {rule} kept",
                f.name
            );
        }
    }
}

/// Writes a feed with every cross-file problem many times over, ids in a scrambled order:
/// duplicate and repeated users, login ids taken by another user, parents after children,
/// enrollments naming users, courses and sections the batch lacks or a section of another
/// course, some cross-listed.
fn write_cross_file_feed(dir: &std::path::Path) -> Vec<LocalFile> {
    let scramble = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let mut accounts = String::from("account_id,parent_account_id,name,status\n");
    for i in 0..400u64 {
        // Every fifth account names a parent defined only further down.
        let parent = if i % 5 == 0 {
            format!("A{}", i + 7)
        } else {
            format!("A{}", i / 2)
        };
        accounts.push_str(&format!("A{i},{parent},Account {i},active\n"));
    }
    let mut courses = String::from("course_id,short_name,long_name,account_id,status\n");
    let mut sections = String::from("section_id,course_id,name,status\n");
    for i in 0..3_000u64 {
        courses.push_str(&format!("C{i},C{i},Course {i},A{},active\n", i % 450));
        sections.push_str(&format!("S{i},C{i},Section {i},active\n"));
    }
    let mut xlists = String::from("xlist_course_id,section_id,status\n");
    for i in (0..3_000u64).step_by(11) {
        xlists.push_str(&format!("C{},S{i},active\n", i + 1));
    }
    let mut users = String::from("user_id,login_id,first_name,last_name,email,status\n");
    for i in 0..20_000u64 {
        let u = scramble(i) % 18_000;
        let login = if i % 13 == 0 {
            format!("L{}", u + 1)
        } else {
            format!("l{u}")
        };
        let status = if i % 17 == 0 { "suspended" } else { "active" };
        users.push_str(&format!("U{u},{login},First,Last,u{u}@x.edu,{status}\n"));
    }
    let mut enrollments = String::from("course_id,user_id,role,section_id,status\n");
    for i in 0..40_000u64 {
        let s = scramble(i) % 3_300;
        let c = if i % 7 == 0 { s + 1 } else { s };
        let u = scramble(i + 1) % 21_000;
        enrollments.push_str(&format!("C{c},U{u},student,S{s},active\n"));
    }
    let files = [
        ("accounts.csv", accounts),
        ("courses.csv", courses),
        ("sections.csv", sections),
        ("xlists.csv", xlists),
        ("users.csv", users),
        ("enrollments.csv", enrollments),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            std::fs::write(dir.join(name), text).unwrap();
            LocalFile::new(name, dir.join(name))
        })
        .collect()
}

/// Every finding of a report, one line each, sorted (a row's findings may come in another
/// order when some were resolved from the spill), with each file's counts per rule.
fn every_finding(report: &canvas_sis::sis::validate::ValidationReport) -> Vec<String> {
    let mut lines: Vec<String> = report.findings().map(|f| f.to_line()).collect();
    lines.sort_unstable();
    for f in &report.files {
        lines.push(format!(
            "{} {:?} {} {}",
            f.name, f.rule_counts, f.errors, f.warnings
        ));
    }
    lines
}

/// Memory for ids is bounded, and the bound changes nothing a report says: the same feed
/// validated with its id tables in memory, with room for a fraction of them (the rest resolved
/// from the spill, partly answered by the Bloom filter), and with none at all, gives the same
/// findings, every one of them.
#[test]
fn the_id_memory_budget_changes_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_cross_file_feed(dir.path());
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let unbounded = ValidateOptions {
        id_memory_bytes: usize::MAX / 2,
        ..ValidateOptions::default()
    };
    let in_memory = every_finding(&validate_batch(&refs, &unbounded));
    for rule in [
        "duplicate_id",
        "login_id_taken",
        "parent_after_child",
        "reference_not_in_batch",
        "section_not_in_course",
    ] {
        assert!(
            in_memory.iter().any(|l| l.contains(rule)),
            "the feed has no {rule} finding to compare"
        );
    }
    let spill = tempfile::tempdir().unwrap();
    for budget in [0, 64 << 10, 512 << 10] {
        let bounded = ValidateOptions {
            id_memory_bytes: budget,
            spill_dir: Some(spill.path().to_owned()),
            ..ValidateOptions::default()
        };
        let got = every_finding(&validate_batch(&refs, &bounded));
        assert!(got == in_memory, "budget {budget}: the findings differ");
    }
}
