//! Folder mode readiness: what in an inbox is a batch, when, and in which order.

use std::path::PathBuf;
use std::time::Duration;

use canvas_sis::trigger::folder::{
    BatchKind, Layout, ReadyBatch, TenantInbox, ready_batches, scan,
};

use crate::common::folder::*;

fn ready(w: &Watch) -> Vec<ReadyBatch> {
    ready_batches(&w.layout, &w.single(), &policy(), now()).unwrap()
}

fn names(b: &[ReadyBatch]) -> Vec<&str> {
    b.iter().map(|b| b.name.as_str()).collect()
}

#[test]
fn layout_creates_every_folder_and_refuses_a_dir_it_cannot_use() {
    let tmp = tempfile::tempdir().unwrap();
    let l = Layout::ensure(&tmp.path().join("w")).unwrap();
    for p in [
        l.inbox(),
        l.processing(),
        l.archive(),
        l.failed(),
        l.logs(),
        l.ledger(),
    ] {
        assert!(p.is_dir(), "{}", p.display());
    }
    // A regular file where DIR should be: nothing can be created under it.
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let e = Layout::ensure(&file.join("w")).unwrap_err().to_string();
    assert!(e.contains("plain-file"), "names the path: {e}");
}

#[test]
fn a_read_only_dir_is_refused_with_a_clear_message() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    Layout::ensure(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join("probe");
    if std::fs::write(&probe, "").is_ok() {
        // Running as root: permissions do not bind, so this case cannot be shown here.
        std::fs::remove_file(&probe).unwrap();
        eprintln!("skipped: permissions do not apply to this user (root)");
        return;
    }
    let e = Layout::ensure(&dir).unwrap_err().to_string();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        e.contains("cannot write in") && e.contains("permissions"),
        "{e}"
    );
}

#[test]
fn a_zip_changed_5_s_ago_is_not_ready_and_61_s_ago_is() {
    let w = Watch::new();
    let zip = w.inbox("feed.zip");
    put(&zip, &empty_zip(), secs_ago(5));
    assert!(ready(&w).is_empty());
    let s = scan(&w.layout, &w.single(), &policy(), now()).unwrap();
    assert!(s.pending[0].why.contains("quiet period"), "{:?}", s.pending);

    touch(&zip, secs_ago(61));
    let b = ready(&w);
    assert_eq!(names(&b), ["feed.zip"]);
    assert_eq!(b[0].kind, BatchKind::Zip);
    assert_eq!(b[0].paths, vec![zip.clone()]);
    assert_eq!(b[0].ready_at, secs_ago(61));
    assert_eq!(b[0].rejection, None);
}

#[test]
fn a_quiet_zip_without_its_end_record_waits_then_is_a_batch_to_reject() {
    let w = Watch::new();
    put(
        &w.inbox("feed.zip"),
        b"PK\x03\x04 only the start of a zip",
        secs_ago(120),
    );
    assert!(ready(&w).is_empty(), "inside the bounded wait");
    touch(&w.inbox("feed.zip"), secs_ago(601));
    let b = ready(&w);
    assert_eq!(names(&b), ["feed.zip"]);
    let why = b[0].rejection.as_deref().unwrap();
    assert!(why.contains("not a complete zip"), "{why}");
}

#[test]
fn a_folder_closed_by_ready_is_a_batch_of_its_csvs() {
    let w = Watch::new();
    put(&w.inbox("2026-11-28/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("2026-11-28/courses.csv"), COURSES, secs_ago(300));
    put(&w.inbox("2026-11-28/notes.txt"), b"x", secs_ago(300));
    assert!(ready(&w).is_empty(), "no marker yet");

    put(&w.inbox("2026-11-28/READY"), b"", secs_ago(100));
    let b = ready(&w);
    assert_eq!(names(&b), ["2026-11-28"]);
    assert_eq!(b[0].kind, BatchKind::Folder);
    assert_eq!(b[0].source, w.inbox("2026-11-28"));
    assert_eq!(
        b[0].paths,
        vec![
            w.inbox("2026-11-28/courses.csv"),
            w.inbox("2026-11-28/users.csv")
        ]
    );
    assert_eq!(
        b[0].ready_at,
        secs_ago(100),
        "the marker is the newest file"
    );
    assert_eq!(b[0].manifest, None);
}

/// Issue 13: the marker is the operator's word that the folder is complete (it is written last),
/// so a closed folder does not wait for the quiet period — that is for loose files and zips.
#[test]
fn a_folder_closed_by_ready_or_manifest_is_a_batch_at_once() {
    let w = Watch::new();
    put(&w.inbox("a/users.csv"), USERS, now());
    put(&w.inbox("a/READY"), b"", now());
    put(&w.inbox("b/users.csv"), USERS, secs_ago(1));
    put(&w.inbox("b/manifest.json"), b"{}", now());
    let b = ready(&w);
    assert_eq!(names(&b), ["a", "b"], "no quiet period for a closed folder");
    assert!(b.iter().all(|b| b.rejection.is_none()), "{b:?}");
    assert_eq!(b[0].ready_at, now());
}

/// A manifest caught half-written is not valid JSON yet: while it is fresh the folder waits (the
/// writer may still be at it), and only a manifest still broken after the quiet period rejects.
#[test]
fn a_manifest_still_being_written_waits_and_a_settled_broken_one_rejects() {
    let w = Watch::new();
    put(&w.inbox("b/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("b/manifest.json"), b"{\"files\": [", secs_ago(2));
    assert!(ready(&w).is_empty());
    let s = scan(&w.layout, &w.single(), &policy(), now()).unwrap();
    assert!(
        s.pending[0].why.contains("manifest.json"),
        "{:?}",
        s.pending
    );
    touch(&w.inbox("b/manifest.json"), secs_ago(61));
    let b = ready(&w);
    let why = b[0].rejection.as_deref().unwrap_or("");
    assert!(why.contains("not a valid manifest"), "{why}");
}

#[test]
fn an_empty_manifest_means_every_csv_and_a_file_list_means_those_files_with_options() {
    let w = Watch::new();
    put(&w.inbox("all/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("all/courses.csv"), COURSES, secs_ago(300));
    put(&w.inbox("all/manifest.json"), b"{}", secs_ago(200));
    let listed = format!(
        r#"{{"files":[{{"name":"users.csv","sha256":"{}"}}],"import":{{"diffing_data_set":"nightly","skip_deletes":true}}}}"#,
        sha256_hex(USERS)
    );
    put(&w.inbox("some/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("some/courses.csv"), COURSES, secs_ago(300));
    put(
        &w.inbox("some/manifest.json"),
        listed.as_bytes(),
        secs_ago(100),
    );
    let b = ready(&w);
    assert_eq!(names(&b), ["all", "some"]);
    assert_eq!(b[0].paths.len(), 2);
    assert_eq!(b[1].paths, vec![w.inbox("some/users.csv")]);
    let m = b[1].manifest.as_ref().unwrap();
    let import = m.import.as_ref().unwrap();
    assert_eq!(import.diffing_data_set.as_deref(), Some("nightly"));
    assert_eq!(import.skip_deletes, Some(true));
    assert!(b.iter().all(|b| b.rejection.is_none()), "{b:?}");
}

#[test]
fn a_manifest_naming_a_missing_file_waits_then_becomes_a_batch_to_reject() {
    let w = Watch::new();
    let m = br#"{"files":[{"name":"users.csv"},{"name":"enrollments.csv"}]}"#;
    put(&w.inbox("b/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("b/manifest.json"), m, secs_ago(120));
    assert!(ready(&w).is_empty(), "waits for enrollments.csv");
    let s = scan(&w.layout, &w.single(), &policy(), now()).unwrap();
    assert!(
        s.pending[0].why.contains("enrollments.csv"),
        "{:?}",
        s.pending
    );

    touch(&w.inbox("b/manifest.json"), secs_ago(601));
    let b = ready(&w);
    assert_eq!(names(&b), ["b"]);
    let why = b[0].rejection.as_deref().unwrap();
    assert!(
        why.contains("enrollments.csv") && why.contains("did not arrive"),
        "{why}"
    );
    assert!(
        !why.contains("users.csv,"),
        "names only the missing file: {why}"
    );
}

#[test]
fn a_sha256_mismatch_is_a_rejection_naming_the_file_and_both_digests() {
    let w = Watch::new();
    let wrong = sha256_hex(b"something else");
    let m = format!(r#"{{"files":[{{"name":"users.csv","sha256":"{wrong}"}}]}}"#);
    put(&w.inbox("b/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("b/manifest.json"), m.as_bytes(), secs_ago(300));
    let b = ready(&w);
    let why = b[0].rejection.as_deref().unwrap();
    assert!(
        why.contains("users.csv") && why.contains(&wrong) && why.contains(&sha256_hex(USERS)),
        "{why}"
    );
}

#[test]
fn a_broken_manifest_is_a_rejection_that_says_what_to_write() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "not a valid manifest"),
        (br#"{"fils":[]}"#, "fils"),
        (br#"{"files":[]}"#, "empty \"files\" list"),
        (
            br#"{"files":[{"name":"../etc/passwd.csv"}]}"#,
            "plain .csv file names",
        ),
        (
            br#"{"files":[{"name":"users.csv","sha256":"abc"}]}"#,
            "64 hex digits",
        ),
        (
            br#"{"import":{"change_threshold":500}}"#,
            "change_threshold",
        ),
        (br#"{"import":{"batch_mode":true}}"#, "batch_mode"),
    ];
    for (body, want) in cases {
        let w = Watch::new();
        put(&w.inbox("b/users.csv"), USERS, secs_ago(300));
        put(&w.inbox("b/manifest.json"), body, secs_ago(300));
        let b = ready(&w);
        assert_eq!(b.len(), 1, "{}", String::from_utf8_lossy(body));
        let why = b[0].rejection.as_deref().unwrap_or("");
        assert!(
            why.contains(want),
            "for {}: {why}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn loose_csvs_form_one_batch_once_all_of_them_are_quiet() {
    let w = Watch::new();
    put(&w.inbox("users.csv"), USERS, secs_ago(300));
    put(&w.inbox("courses.csv"), COURSES, secs_ago(5));
    assert!(ready(&w).is_empty(), "courses.csv is still changing");
    touch(&w.inbox("courses.csv"), secs_ago(90));
    let b = ready(&w);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].kind, BatchKind::LooseCsv);
    assert_eq!(
        b[0].paths,
        vec![w.inbox("courses.csv"), w.inbox("users.csv")]
    );
    assert_eq!(b[0].ready_at, secs_ago(90), "the newest file");
    assert_eq!(b[0].source, w.layout.inbox());
}

#[test]
fn temp_names_are_never_picked_up_and_a_changing_one_holds_the_loose_csvs() {
    let w = Watch::new();
    for n in [
        "users.csv.part",
        ".users.csv.Xy12",
        "feed.zip.filepart",
        "courses.csv~",
        "x.tmp",
    ] {
        put(&w.inbox(n), USERS, secs_ago(3000));
    }
    assert!(ready(&w).is_empty(), "{:?}", ready(&w));

    put(&w.inbox("users.csv"), USERS, secs_ago(300));
    put(&w.inbox("enrollments.csv.part"), b"half", secs_ago(2));
    assert!(
        ready(&w).is_empty(),
        "an upload beside the loose CSVs is in progress"
    );
    std::fs::remove_file(w.inbox("enrollments.csv.part")).unwrap();
    let b = ready(&w);
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].paths,
        vec![w.inbox("users.csv")],
        "temp files are not part of it"
    );
}

#[test]
fn batches_arrive_in_ready_time_order_then_by_name() {
    let w = Watch::new();
    put(&w.inbox("late.zip"), &empty_zip(), secs_ago(100));
    put(&w.inbox("b-tie.zip"), &empty_zip(), secs_ago(200));
    put(&w.inbox("a-tie.zip"), &empty_zip(), secs_ago(200));
    put(&w.inbox("folder/users.csv"), USERS, secs_ago(900));
    put(&w.inbox("folder/READY"), b"", secs_ago(500));
    put(&w.inbox("users.csv"), USERS, secs_ago(400));
    let b = ready(&w);
    let loose = b
        .iter()
        .find(|b| b.kind == BatchKind::LooseCsv)
        .unwrap()
        .name
        .clone();
    assert_eq!(
        names(&b),
        [
            "folder",
            loose.as_str(),
            "a-tie.zip",
            "b-tie.zip",
            "late.zip"
        ]
    );
    assert!(b.windows(2).all(|p| p[0].ready_at <= p[1].ready_at));
}

#[test]
fn each_tenant_has_its_own_inbox_and_the_inbox_root_is_not_scanned() {
    let w = Watch::new();
    let inboxes = vec![
        TenantInbox {
            tenant: "main".into(),
            dir: w.inbox("main"),
            quiet_period: quiet(),
        },
        TenantInbox {
            tenant: "sandbox".into(),
            dir: w.inbox("sandbox"),
            quiet_period: Duration::from_secs(10),
        },
    ];
    put(&w.inbox("main/feed.zip"), &empty_zip(), secs_ago(300));
    put(&w.inbox("sandbox/users.csv"), USERS, secs_ago(30));
    put(&w.inbox("stray.zip"), &empty_zip(), secs_ago(3000));
    let b = ready_batches(&w.layout, &inboxes, &policy(), now()).unwrap();
    let got: Vec<(&str, &str)> = b
        .iter()
        .map(|b| (b.tenant.as_str(), b.name.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], ("main", "feed.zip"));
    assert_eq!(
        got[1].0, "sandbox",
        "30 s is quiet for sandbox's 10 s period"
    );
    assert!(
        b.iter()
            .all(|b| b.paths.iter().all(|p| !p.ends_with("stray.zip")))
    );
}

#[test]
fn tenant_inboxes_come_from_the_config() {
    let w = Watch::new();
    let text = "[defaults]\ntoken_env = \"T\"\n\
                [tenants.a]\ncanvas_url = \"https://a.test\"\nfolder = \"a-drop\"\n\
                [tenants.b]\ncanvas_url = \"https://b.test\"\nfolder = \"b-drop\"\nquiet_period_secs = 5\n";
    let c = canvas_sis::config::Config::from_toml(text, std::path::Path::new("/c.toml"), &|_| None)
        .unwrap();
    let inboxes = w.layout.tenant_inboxes(&c).unwrap();
    assert_eq!(inboxes[0].dir, w.inbox("a-drop"));
    assert_eq!(inboxes[1].quiet_period, Duration::from_secs(5));
    assert!(w.inbox("b-drop").is_dir(), "created");
    let _: Vec<PathBuf> = inboxes.into_iter().map(|i| i.dir).collect();
}

/// Issue 13 #12: what is not a regular file or folder in the inbox — a symbolic link (to a file
/// or a folder), a named pipe — is never followed nor opened: it is reported, with what it is and
/// what to drop instead, and never becomes part of a batch.
#[test]
fn a_symlink_or_a_named_pipe_in_the_inbox_is_reported_never_followed() {
    let w = Watch::new();
    let outside = w._tmp.path().join("outside");
    put(&outside.join("users.csv"), USERS, secs_ago(300));
    put(&outside.join("READY"), b"", secs_ago(300));
    put(&outside.join("feed.zip"), &empty_zip(), secs_ago(300));
    std::os::unix::fs::symlink(&outside, w.inbox("linked-folder")).unwrap();
    std::os::unix::fs::symlink(outside.join("feed.zip"), w.inbox("linked.zip")).unwrap();
    std::os::unix::fs::symlink(outside.join("users.csv"), w.inbox("users.csv")).unwrap();
    mkfifo(&w.inbox("pipe.zip"));
    mkfifo(&w.inbox("pipe.csv"));
    let s = scan(&w.layout, &w.single(), &policy(), now()).unwrap();
    assert!(s.ready.is_empty(), "{:?}", s.ready);
    for (name, what) in [
        ("linked-folder", "symbolic link"),
        ("linked.zip", "symbolic link"),
        ("users.csv", "symbolic link"),
        ("pipe.zip", "named pipe"),
        ("pipe.csv", "named pipe"),
    ] {
        let p = s
            .pending
            .iter()
            .find(|p| p.path == w.inbox(name))
            .unwrap_or_else(|| panic!("{name} is reported: {:?}", s.pending));
        assert!(
            p.why.contains(what) && p.why.contains("regular file"),
            "{name}: {}",
            p.why
        );
    }
}

/// Issue 13 #12: a closed batch folder holding a symbolic link or a named pipe among its CSVs is a
/// batch to reject (it cannot be imported whole), naming the file and what to put there instead;
/// the link is never followed to identify the batch.
#[test]
fn a_batch_folder_holding_a_symlink_or_a_named_pipe_is_a_batch_to_reject() {
    let w = Watch::new();
    let outside = w._tmp.path().join("secret.csv");
    put(&outside, USERS, secs_ago(300));
    put(&w.inbox("linked/courses.csv"), COURSES, secs_ago(300));
    std::os::unix::fs::symlink(&outside, w.inbox("linked/users.csv")).unwrap();
    put(&w.inbox("linked/READY"), b"", secs_ago(300));
    put(&w.inbox("piped/courses.csv"), COURSES, secs_ago(300));
    mkfifo(&w.inbox("piped/users.csv"));
    let m = br#"{"files":[{"name":"users.csv"},{"name":"courses.csv"}]}"#;
    put(&w.inbox("piped/manifest.json"), m, secs_ago(300));
    let b = ready(&w);
    assert_eq!(names(&b), ["linked", "piped"]);
    for (batch, what) in b.iter().zip(["symbolic link", "named pipe"]) {
        let why = batch.rejection.as_deref().unwrap_or("");
        assert!(
            why.contains("users.csv") && why.contains(what) && why.contains("regular file"),
            "{}: {why}",
            batch.name
        );
        assert!(
            !batch.paths.iter().any(|p| p.ends_with("users.csv")),
            "{:?}",
            batch.paths
        );
    }
}

/// A file's SHA-256, as the manifest and the ledger write it.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
