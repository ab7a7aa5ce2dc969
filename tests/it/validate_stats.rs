//! The validator counts rows and deleting rows per file: the numbers the mass-change guard
//! compares between batches.

use canvas_sis::sis::SisKind;
use canvas_sis::sis::validate::{ValidateOptions, validate_batch};
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
