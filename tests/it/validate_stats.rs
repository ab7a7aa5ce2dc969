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
