//! Folder mode claim, recover and archive: one winner per batch, crash-safe moves, and nothing
//! lost between the inbox and the archive.

use std::sync::{Arc, Barrier};

use canvas_sis::trigger::folder::{
    BatchKind, Extra, FolderError, ReadyBatch, archive, claim, ready_batches, recover,
};

use crate::common::folder::*;

/// Puts `one.zip`, then `two.zip`, settled in the inbox; returns the two ready batches.
fn two_settled_zips(w: &Watch) -> Vec<ReadyBatch> {
    put(&w.inbox("one.zip"), &empty_zip(), secs_ago(300));
    put(&w.inbox("two.zip"), &empty_zip(), secs_ago(200));
    ready(w)
}

fn ready(w: &Watch) -> Vec<ReadyBatch> {
    ready_batches(&w.layout, &w.single(), &policy(), now()).unwrap()
}

fn loose_three(w: &Watch) {
    put(&w.inbox("a_users.csv"), USERS, secs_ago(300));
    put(&w.inbox("b_courses.csv"), COURSES, secs_ago(300));
    put(
        &w.inbox("c_more.csv"),
        b"user_id,login_id,status\nu2,u2,active\n",
        secs_ago(300),
    );
}

#[test]
fn claiming_a_folder_moves_it_whole_into_processing() {
    let w = Watch::new();
    put(&w.inbox("b1/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("b1/manifest.json"), b"{}", secs_ago(300));
    let before = tree(&w.inbox("b1"));
    let r = ready(&w).remove(0);
    let c = claim(&w.layout, &r, "0001").unwrap();
    assert_eq!(c.dir, w.layout.processing().join("0001"));
    assert_eq!(c.input, c.dir.join("input"));
    assert_eq!(c.files, vec![c.dir.join("input/users.csv")]);
    assert_eq!(c.kind, BatchKind::Folder);
    assert!(!w.inbox("b1").exists());
    assert_eq!(tree(&c.input), before, "every file, byte for byte");
    let journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.dir.join("claim.json")).unwrap()).unwrap();
    assert_eq!(journal["complete"], true);
    assert_eq!(journal["moves"][0]["from"], "inbox/b1");
    assert!(ready(&w).is_empty());
}

#[test]
fn loose_csvs_move_together_into_one_folder_and_a_zip_into_input() {
    let w = Watch::new();
    loose_three(&w);
    put(&w.inbox("feed.zip"), &empty_zip(), secs_ago(1000));
    let batches = ready(&w);
    assert_eq!(batches.len(), 2);
    let z = claim(&w.layout, &batches[0], "z1").unwrap();
    assert_eq!(z.input, z.dir.join("input/feed.zip"));
    assert!(z.input.is_file());
    let l = claim(&w.layout, &batches[1], "l1").unwrap();
    assert_eq!(l.kind, BatchKind::LooseCsv);
    let names: Vec<String> = tree(&l.input).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a_users.csv", "b_courses.csv", "c_more.csv"]);
    assert!(tree(&w.layout.inbox()).is_empty());
}

#[test]
fn two_watchers_racing_for_one_batch_never_both_win() {
    for round in 0..40 {
        let w = Arc::new(Watch::new());
        if round % 2 == 0 {
            loose_three(&w);
        } else {
            put(&w.inbox("feed.zip"), &empty_zip(), secs_ago(300));
        }
        let before = tree(&w.layout.inbox());
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|id| {
                let (w, barrier) = (Arc::clone(&w), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let r = ready(&w).remove(0);
                    barrier.wait();
                    claim(&w.layout, &r, id)
                        .map(|c| (c.batch_id.clone(), tree(&c.dir.join("input"))))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        let loss = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            loss.is_lost(),
            "round {round}: the loser is told it lost: {loss}"
        );
        assert_eq!(
            wins[0].1, before,
            "round {round}: the winner has every file"
        );
        let left: Vec<String> = std::fs::read_dir(w.layout.processing())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            [wins[0].0.clone()],
            "round {round}: the loser left nothing behind"
        );
    }
}

#[test]
fn two_claims_with_the_same_batch_id_cannot_both_succeed() {
    let w = Watch::new();
    let b = two_settled_zips(&w);
    let _first = claim(&w.layout, &b[0], "same").unwrap();
    let e = claim(&w.layout, &b[1], "same").unwrap_err();
    assert!(matches!(e, FolderError::AlreadyClaimed { .. }), "{e}");
    assert!(
        w.inbox("two.zip").is_file(),
        "the second batch stays in the inbox"
    );
}

/// Makes a completed claim look like one interrupted after `moved` of its moves: the other files
/// go back to the inbox and the journal says incomplete. The claim's lock is released, as when
/// its process dies.
fn interrupt(w: &Watch, c: canvas_sis::trigger::folder::ClaimedBatch, moved: usize) {
    let journal_path = c.dir.join("claim.json");
    drop(c);
    let mut j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&journal_path).unwrap()).unwrap();
    for m in j["moves"].as_array().unwrap().iter().skip(moved) {
        let (from, to) = (m["from"].as_str().unwrap(), m["to"].as_str().unwrap());
        std::fs::rename(w.layout.root.join(to), w.layout.root.join(from)).unwrap();
    }
    j["complete"] = serde_json::Value::Bool(false);
    std::fs::write(&journal_path, serde_json::to_vec(&j).unwrap()).unwrap();
}

#[test]
fn a_claim_interrupted_after_its_first_move_is_completed_by_recover() {
    let w = Watch::new();
    loose_three(&w);
    let before = tree(&w.layout.inbox());
    let c = claim(&w.layout, &ready(&w).remove(0), "b7").unwrap();
    interrupt(&w, c, 1);
    assert_eq!(
        tree(&w.layout.inbox()).len(),
        2,
        "two files still in the inbox"
    );

    // Meanwhile a scan must not offer the two left-behind files as a new batch.
    assert!(
        ready(&w).is_empty(),
        "files of an unfinished claim are left alone"
    );

    let got = recover(&w.layout).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].batch_id, "b7");
    assert_eq!(
        tree(&got[0].input),
        before,
        "all three files, byte for byte"
    );
    assert!(tree(&w.layout.inbox()).is_empty());
    assert_eq!(got[0].rejection, None);
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(got[0].dir.join("claim.json")).unwrap()).unwrap();
    assert_eq!(j["complete"], true);
}

#[test]
fn a_claim_interrupted_before_its_first_move_is_dropped_and_the_batch_scanned_again() {
    let w = Watch::new();
    loose_three(&w);
    let before = tree(&w.layout.inbox());
    let c = claim(&w.layout, &ready(&w).remove(0), "b8").unwrap();
    interrupt(&w, c, 0);
    assert!(recover(&w.layout).unwrap().is_empty());
    assert!(!w.layout.processing().join("b8").exists());
    assert_eq!(tree(&w.layout.inbox()), before);
    assert_eq!(ready(&w).len(), 1, "the batch is found again");
}

/// A claimer killed while it wrote its journal in the staging folder leaves `claim.json.tmp`
/// there; recovery removes that dead staging folder all the same (nothing of the batch is in it).
#[test]
fn a_staging_folder_left_by_a_claimer_killed_mid_journal_is_removed_by_recover() {
    let w = Watch::new();
    let staging = w
        .layout
        .processing()
        .join(".claiming-b10-4242-1796578431872761983");
    std::fs::create_dir_all(staging.join("input")).unwrap();
    std::fs::write(staging.join("claim.lock"), b"").unwrap();
    std::fs::write(staging.join("claim.json.tmp"), b"{\"version\": 1, \"batch_").unwrap();
    assert!(recover(&w.layout).unwrap().is_empty());
    assert!(
        !staging.exists(),
        "the dead staging folder is gone: {:?}",
        tree(&w.layout.processing())
    );
}

#[test]
fn a_file_that_vanished_during_an_interrupted_claim_is_named_not_silently_dropped() {
    let w = Watch::new();
    loose_three(&w);
    let c = claim(&w.layout, &ready(&w).remove(0), "b9").unwrap();
    interrupt(&w, c, 1);
    std::fs::remove_file(w.inbox("c_more.csv")).unwrap();
    let got = recover(&w.layout).unwrap();
    let why = got[0].rejection.as_deref().unwrap();
    assert!(why.contains("c_more.csv"), "{why}");
}

#[test]
fn recover_leaves_a_live_claim_alone_and_returns_a_dead_one() {
    let w = Watch::new();
    let b = two_settled_zips(&w);
    let live = claim(&w.layout, &b[0], "live").unwrap();
    let dead = claim(&w.layout, &b[1], "dead").unwrap();
    drop(dead); // its owner is gone: the lock is released
    let got = recover(&w.layout).unwrap();
    let ids: Vec<&str> = got.iter().map(|c| c.batch_id.as_str()).collect();
    assert_eq!(
        ids,
        ["dead"],
        "the live claim (lock held) is not taken over"
    );
    drop(live);
}

#[test]
fn a_dead_staging_folder_is_removed_and_owns_nothing() {
    let w = Watch::new();
    put(&w.inbox("one.zip"), &empty_zip(), secs_ago(300));
    let staging = w.layout.processing().join(".claiming-x-1-2");
    std::fs::create_dir_all(staging.join("input")).unwrap();
    std::fs::write(staging.join("claim.json"), b"{}").unwrap();
    std::fs::write(staging.join("claim.lock"), b"").unwrap();
    assert!(recover(&w.layout).unwrap().is_empty());
    assert!(!staging.exists());
    assert_eq!(ready(&w).len(), 1);
}

#[test]
fn archive_moves_everything_with_the_extras_and_nothing_is_lost() {
    let w = Watch::new();
    put(&w.inbox("b1/users.csv"), USERS, secs_ago(300));
    put(&w.inbox("b1/courses.csv"), COURSES, secs_ago(300));
    put(&w.inbox("b1/manifest.json"), b"{}", secs_ago(300));
    let before = tree(&w.inbox("b1"));
    let c = claim(&w.layout, &ready(&w).remove(0), "0042").unwrap();
    let work = tempfile::tempdir().unwrap();
    let built = work.path().join("batch.zip");
    std::fs::write(&built, b"zip bytes").unwrap();
    let dest = archive(
        &w.layout,
        c,
        true,
        &[
            Extra::File("batch.zip", &built),
            Extra::Bytes("report.json", b"{\"ok\":true}"),
            Extra::Bytes("canvas.json", b"{\"workflow_state\":\"imported\"}"),
        ],
    )
    .unwrap();
    assert_eq!(dest, w.layout.archive().join("0042"));
    assert!(!w.layout.processing().join("0042").exists());
    assert_eq!(
        tree(&dest.join("input")),
        before,
        "every input file, byte for byte"
    );
    assert_eq!(std::fs::read(dest.join("batch.zip")).unwrap(), b"zip bytes");
    assert!(!built.exists(), "the zip was moved, not copied");
    assert!(dest.join("report.json").is_file() && dest.join("canvas.json").is_file());
    assert!(
        dest.join("claim.json").is_file(),
        "the journal stays with the batch"
    );
    assert!(recover(&w.layout).unwrap().is_empty());
}

#[test]
fn a_failed_batch_goes_to_failed_and_an_existing_archive_is_never_overwritten() {
    let w = Watch::new();
    let b = two_settled_zips(&w);
    let c = claim(&w.layout, &b[0], "f1").unwrap();
    let dest = archive(&w.layout, c, false, &[Extra::Bytes("errors.csv", b"e")]).unwrap();
    assert_eq!(dest, w.layout.failed().join("f1"));
    assert!(dest.join("input/one.zip").is_file());

    std::fs::create_dir_all(w.layout.archive().join("f2")).unwrap();
    std::fs::write(w.layout.archive().join("f2/keep"), b"old").unwrap();
    let c = claim(&w.layout, &b[1], "f2").unwrap();
    let e = archive(&w.layout, c, true, &[]).unwrap_err();
    assert!(matches!(e, FolderError::AlreadyArchived { .. }), "{e}");
    assert_eq!(
        std::fs::read(w.layout.archive().join("f2/keep")).unwrap(),
        b"old"
    );
    assert!(
        w.layout.processing().join("f2/input/two.zip").is_file(),
        "stays in processing"
    );
    let back = recover(&w.layout).unwrap();
    assert_eq!(back[0].batch_id, "f2", "and recover hands it back");
}

#[test]
fn archive_refuses_extra_names_that_would_escape_or_clobber() {
    let w = Watch::new();
    put(&w.inbox("one.zip"), &empty_zip(), secs_ago(300));
    for bad in ["../x", "claim.json", "input", ".hidden", "a/b"] {
        let w2 = Watch::new();
        put(&w2.inbox("one.zip"), &empty_zip(), secs_ago(300));
        let c = claim(&w2.layout, &ready(&w2).remove(0), "x").unwrap();
        let e = archive(&w2.layout, c, true, &[Extra::Bytes(bad, b"")]).unwrap_err();
        assert!(matches!(e, FolderError::BadName { .. }), "{bad}: {e}");
        assert!(w2.layout.processing().join("x/input/one.zip").is_file());
    }
    let e = claim(&w.layout, &ready(&w).remove(0), "../up").unwrap_err();
    assert!(matches!(e, FolderError::BadName { .. }), "{e}");
}
