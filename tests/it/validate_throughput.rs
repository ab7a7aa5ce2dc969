//! Throughput of `validate_batch` on a generated ~100 MB institution feed.
//!
//! Ignored by default (it writes 100 MB and wants an optimised build):
//! `cargo test --release --test it -- validate_throughput:: --ignored --nocapture`.

use std::io::{BufWriter, Write};
use std::time::Instant;

use canvas_sis::sis::validate::{ValidateOptions, validate_batch};
use canvas_sis::store::BatchFile;
use canvas_sis::store::local::LocalFile;

const USERS: u64 = 600_000;
const COURSES: u64 = 5_000;
const ENROLLMENTS: u64 = 1_400_000;

fn write(path: &std::path::Path, header: &str, rows: u64, row: impl Fn(u64) -> String) {
    let mut w = BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(w, "{header}").expect("write");
    for i in 0..rows {
        writeln!(w, "{}", row(i)).expect("write");
    }
    w.flush().expect("flush");
}

#[test]
#[ignore = "writes 100 MB; run in release to measure"]
fn validates_a_100_mb_feed_at_hundreds_of_mb_per_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| dir.path().join(n);
    write(
        &p("terms.csv"),
        "term_id,name,status,start_date,end_date",
        1,
        |_| "T2026F,Fall 2026,active,2026-08-20T00:00:00Z,2026-12-20T00:00:00Z".into(),
    );
    write(
        &p("courses.csv"),
        "course_id,short_name,long_name,term_id,status,start_date",
        COURSES,
        |i| format!("C{i:06},CRS{i},\"Course {i}, the long name\",T2026F,active,2026-08-20"),
    );
    write(
        &p("users.csv"),
        "user_id,login_id,first_name,last_name,email,status",
        USERS,
        |i| format!("U{i:08},login{i},Firstname{i},Lastname{i},user{i}@example.edu,active"),
    );
    write(
        &p("enrollments.csv"),
        "course_id,user_id,role,status,start_date,end_date",
        ENROLLMENTS,
        |i| {
            format!(
                "C{:06},U{:08},{},active,2026-08-20T00:00:00Z,2026-12-20T00:00:00Z",
                // Each block of USERS rows has every user once, each block on other courses.
                (i + (i / USERS) * 13) % COURSES,
                i % USERS,
                if i % 30 == 0 { "teacher" } else { "student" }
            )
        },
    );
    let files: Vec<LocalFile> = ["terms.csv", "courses.csv", "users.csv", "enrollments.csv"]
        .into_iter()
        .map(|n| LocalFile::new(n, p(n)))
        .collect();
    let refs: Vec<&dyn BatchFile> = files.iter().map(|f| f as &dyn BatchFile).collect();
    let bytes: u64 = files.iter().filter_map(|f| f.size()).sum();

    let started = Instant::now();
    let report = validate_batch(&refs, &ValidateOptions::default());
    let secs = started.elapsed().as_secs_f64();

    let mb = bytes as f64 / 1e6;
    println!(
        "validated {mb:.1} MB in {secs:.2} s: {:.0} MB/s, {} rows",
        mb / secs,
        report.files.iter().map(|f| f.rows).sum::<u64>()
    );
    assert!(!report.is_rejected(), "{}", report.to_text());
    assert_eq!(report.warning_count(), 0, "{}", report.to_text());
    assert_eq!(report.files[3].rows, ENROLLMENTS);
    assert!(bytes > 90_000_000, "the feed is {bytes} bytes");
}

/// The floor under the rules: the same bytes in a file no rule applies to (unrecognised
/// header), so only scanning, UTF-8 and field counts run.
#[test]
#[ignore = "writes 100 MB; run in release to measure"]
fn scanning_alone_runs_faster_than_the_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raw.csv");
    write(&path, "a,b,c,d,e,f", ENROLLMENTS, |i| {
        format!(
            "C{:06},U{:08},student,active,2026-08-20T00:00:00Z,2026-12-20T00:00:00Z",
            i % COURSES,
            i % USERS
        )
    });
    let file = LocalFile::new("raw.csv", &path);
    let bytes = file.size().expect("size");
    let started = Instant::now();
    let report = validate_batch(&[&file], &ValidateOptions::default());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "scanned {:.1} MB in {secs:.2} s: {:.0} MB/s",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    );
    assert_eq!(report.files[0].rows, ENROLLMENTS);
    assert_eq!(report.files[0].findings[0].rule, "unrecognised_headers");
}
