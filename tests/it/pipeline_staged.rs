//! The unattended, ledger-backed pipeline against the simulator: each invariant of docs/design.md
//! it touches has a test named after it. Crashes are reproduced by leaving the ledger exactly as a
//! worker that died at that point would have left it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use canvas_sis::canvas::CanvasClient;
use canvas_sis::ledger::{BatchId, BatchSource, Ledger, MemoryStore, NewBatch, Stage, ZipDigest};
use canvas_sis::pipeline::WaitPolicy;
use canvas_sis::pipeline::operator;
use canvas_sis::pipeline::staged::{OnFailure, Progress, RunError, Staged};
use canvas_sis::sis::SisKind;
use serde_json::json;

use crate::common::*;

struct World {
    sim: Sim,
    client: CanvasClient,
    ledger: Ledger<MemoryStore>,
    work: tempfile::TempDir,
    inputs: tempfile::TempDir,
}

async fn world() -> World {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 2000.0;
    c.errors_attachment_lag = Duration::from_millis(100);
    let sim = Sim::start(c).await;
    let client = client(&sim, ADMIN);
    World {
        sim,
        client,
        ledger: Ledger::new(MemoryStore::new()),
        work: tempfile::tempdir().unwrap(),
        inputs: tempfile::tempdir().unwrap(),
    }
}

impl World {
    fn staged(&self, lease: Duration) -> Staged<'_, MemoryStore> {
        crate::common::staged::staged(
            &self.ledger,
            &self.client,
            "main",
            self.work.path(),
            WaitPolicy {
                poll_min: Duration::from_millis(20),
                poll_max: Duration::from_millis(100),
                errors_file_wait: Duration::from_secs(2),
                ..WaitPolicy::default()
            },
            lease,
        )
    }

    /// A batch folder with `files`, recorded in the ledger as received.
    async fn batch(&self, name: &str, files: &[(&str, &str)]) -> (BatchId, std::path::PathBuf) {
        self.batch_with_import(name, files, None).await
    }

    /// [`World::batch`] whose manifest carried the import options `import`.
    async fn batch_with_import(
        &self,
        name: &str,
        files: &[(&str, &str)],
        import: Option<&canvas_sis::config::ImportOverrides>,
    ) -> (BatchId, std::path::PathBuf) {
        let dir = self.inputs.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (n, body) in files {
            std::fs::write(dir.join(n), body).unwrap();
        }
        let sha = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(name.as_bytes()))
        };
        let mut source = BatchSource {
            kind: "folder".into(),
            location: dir.display().to_string(),
            ..Default::default()
        };
        canvas_sis::pipeline::staged::record_import_overrides(&mut source, import);
        let new = NewBatch {
            tenant: "main".into(),
            source,
            content_sha256: sha,
        };
        let created = self.ledger.create_batch(new).await.unwrap();
        (created.record().id.clone(), dir)
    }

    /// Leaves the batch as a worker that died right after recording `submitting` would.
    async fn crash_after_recording_submitting(&self, id: &BatchId, dir: &Path) {
        self.crash_after_packing(id, dir).await;
        self.ledger
            .transition(id, Stage::Submitting, "test")
            .await
            .unwrap();
    }

    /// Leaves the batch as a worker that died right after recording `packed` would.
    async fn crash_after_packing(&self, id: &BatchId, dir: &Path) {
        let staged = self.staged(Duration::ZERO);
        self.ledger
            .transition(id, Stage::Validated, "test")
            .await
            .unwrap();
        let collected = canvas_sis::pipeline::collect::collect(dir, &Default::default()).unwrap();
        let report = canvas_sis::pipeline::validate(&collected, &Default::default());
        let zip = staged
            .request
            .work_dir
            .join(format!("{}.zip", id.local_part()));
        canvas_sis::pipeline::pack(
            &collected,
            &canvas_sis::pipeline::kinds_of(&report),
            &zip,
            &Default::default(),
        )
        .unwrap();
        self.ledger
            .transition(id, Stage::Packed, "test")
            .await
            .unwrap();
    }

    /// Whether the ledger holds the tenant halted (by an unacknowledged failure).
    async fn halted(&self) -> bool {
        canvas_sis::pipeline::gate::current(&self.ledger, "main", OnFailure::Halt)
            .await
            .unwrap()
            .halted
            .is_some()
    }

    /// [`World::batch`] of the [`good`] files.
    async fn good_batch(&self, name: &str) -> (BatchId, std::path::PathBuf) {
        self.batch(name, &refs(&good())).await
    }

    /// [`World::batch`] of a users.csv of `users` users alone.
    async fn users_batch(&self, name: &str, users: usize) -> (BatchId, std::path::PathBuf) {
        self.batch(name, &[("users.csv", &users_csv(users))]).await
    }

    /// One run of the batch with no submit lease, which must finish it.
    async fn run_once(&self, id: &BatchId, dir: &Path) -> canvas_sis::ledger::BatchRecord {
        run_finished(&self.staged(Duration::ZERO), id, dir).await
    }

    /// Records an operator's approval of a held batch, straight in the ledger.
    async fn approve_in_ledger(&self, id: &BatchId) {
        self.ledger
            .update_batch(id, |r| {
                r.approved = true;
                Ok::<(), canvas_sis::ledger::LedgerError>(())
            })
            .await
            .unwrap();
    }

    /// The validation report archived for the batch.
    async fn report_of(&self, rec: &canvas_sis::ledger::BatchRecord) -> Vec<u8> {
        let key = rec.archive.report.as_ref().expect("a report is archived");
        self.ledger.get_archive(key).await.unwrap().unwrap()
    }

    async fn posts(&self) -> usize {
        self.sim
            .requests()
            .await
            .iter()
            .filter(|r| {
                r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/sis_imports")
            })
            .count()
    }
}

fn good() -> Vec<(&'static str, String)> {
    vec![
        ("users.csv", users_csv(3)),
        ("courses.csv", COURSES.to_owned()),
    ]
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(n, b)| (*n, b.as_str())).collect()
}

/// A world with one batch of the [`good`] files, left as a worker that died right after
/// recording `submitting` would.
async fn crashed_after_recording_submitting() -> (World, BatchId, std::path::PathBuf) {
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    w.crash_after_recording_submitting(&id, &dir).await;
    (w, id, dir)
}

const COURSES_ONLY: &[(&str, &str)] = &[("courses.csv", COURSES)];

fn good_zip() -> Vec<u8> {
    zip_of(&refs(&good()))
}

fn terminal(state: &str, ok: bool) -> Stage {
    Stage::Terminal {
        state: state.into(),
        ok,
    }
}

/// The batches a tenant run finished, in the order it finished them.
fn finished_ids(finished: &[canvas_sis::ledger::BatchRecord]) -> Vec<BatchId> {
    finished.iter().map(|r| r.id.clone()).collect()
}

/// The batches a tenant run finished, each with the name of the stage it ended in.
fn finished_stages(finished: &[canvas_sis::ledger::BatchRecord]) -> Vec<(BatchId, &'static str)> {
    finished
        .iter()
        .map(|r| (r.id.clone(), r.stage.name()))
        .collect()
}

/// Imports `terms` into the simulator and waits for it: batch mode needs the term to exist.
async fn seed_terms(sim: &Sim, terms: &str) {
    let seed = sim.post_zip_id(zip_of(&[("terms.csv", terms)]), "").await;
    sim.wait_real(seed, Duration::from_secs(10)).await;
}

/// One run of the batch by `staged`, which must finish it.
async fn run_finished(
    staged: &Staged<'_, MemoryStore>,
    id: &BatchId,
    dir: &Path,
) -> canvas_sis::ledger::BatchRecord {
    finished(staged.run_batch(id, dir).await.unwrap())
}

fn finished(p: Progress) -> canvas_sis::ledger::BatchRecord {
    match p {
        Progress::Finished(r) => *r,
        Progress::Blocked(r) => panic!("blocked at {}", r.stage),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_runs_from_received_to_terminal_and_its_outcome_is_archived() {
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(rec.stage, terminal("imported", true));
    assert!(rec.canvas_import_id.is_some());
    for key in [
        &rec.archive.report,
        &rec.archive.zip,
        &rec.archive.canvas_json,
    ] {
        let key = key.as_ref().expect("archived");
        assert!(w.ledger.get_archive(key).await.unwrap().is_some(), "{key}");
    }
    assert_eq!(
        rec.file_kinds,
        Some(BTreeMap::from([
            ("courses.csv".to_owned(), SisKind::Course),
            ("users.csv".to_owned(), SisKind::User),
        ])),
        "kinds kept for packing"
    );
    let names: Vec<_> = rec.history.iter().map(|h| h.to.name()).collect();
    assert_eq!(
        names,
        ["validated", "packed", "submitting", "submitted", "terminal"]
    );
    let tenant = w.ledger.tenant("main").await.unwrap();
    assert_eq!(
        tenant.last_accepted.unwrap().per_kind["users"].rows,
        3,
        "the guard's next reference"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_one_import_when_the_worker_died_after_recording_submitting_before_the_post() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(rec.stage, terminal("imported", true));
    assert_eq!(w.sim.imports().await.len(), 1);
    assert_eq!(w.posts().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_one_import_when_the_worker_died_after_the_post_before_recording_it() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    // The dead worker's POST (this batch's files, our user) reached Canvas.
    let theirs = w.sim.post_zip_id(good_zip(), "").await;
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(
        rec.canvas_import_id,
        Some(theirs),
        "adopted, not uploaded again"
    );
    assert_eq!(w.sim.imports().await.len(), 1);
    assert_eq!(w.posts().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submitted_batch_is_only_waited_on_never_uploaded_again() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    let import = w.sim.post_zip_id(small_feed(), "").await;
    w.ledger
        .transition(&id, Stage::Submitted { import_id: import }, "test")
        .await
        .unwrap();
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(rec.canvas_import_id, Some(import));
    assert_eq!(w.posts().await, 1, "only the one made before the crash");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_being_submitted_by_a_live_worker_is_left_alone() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    let err = w
        .staged(Duration::from_secs(600))
        .run_batch(&id, &dir)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Busy(_)), "{err}");
    assert_eq!(w.posts().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_order_never_past_a_failure_later_batches_park_until_resume() {
    let w = world().await;
    let (b1, d1) = w.good_batch("b1").await;
    let (b2, d2) = w.users_batch("b2", 4).await;
    w.sim.add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed_with_messages"}})).await;
    let staged = w.staged(Duration::ZERO);
    let r1 = run_finished(&staged, &b1, &d1).await;
    assert_eq!(r1.stage, terminal("failed_with_messages", false));
    assert!(w.halted().await, "the tenant is halted");
    let Progress::Blocked(parked) = staged.run_batch(&b2, &d2).await.unwrap() else {
        panic!("must park")
    };
    assert!(
        matches!(parked.stage, Stage::Parked { .. }),
        "{}",
        parked.stage
    );
    assert_eq!(
        w.sim.imports().await.len(),
        1,
        "nothing sent past the failure"
    );
    canvas_sis::pipeline::operator::resume(&w.ledger, "main")
        .await
        .unwrap();
    let r2 = run_finished(&staged, &b2, &d2).await;
    assert_eq!(r2.stage, terminal("imported", true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mass_change_is_held_until_approved() {
    let w = world().await;
    let staged = w.staged(Duration::ZERO);
    let (b1, d1) = w.users_batch("b1", 100).await;
    run_finished(&staged, &b1, &d1).await;
    let (b2, d2) = w.users_batch("b2", 30).await;
    let Progress::Blocked(held) = staged.run_batch(&b2, &d2).await.unwrap() else {
        panic!("must hold")
    };
    let Stage::Held { reason } = &held.stage else {
        panic!("{}", held.stage)
    };
    assert!(reason.contains("users went from 100 to 30"), "{reason}");
    assert_eq!(w.sim.imports().await.len(), 1);
    w.approve_in_ledger(&b2).await;
    let r2 = run_finished(&staged, &b2, &d2).await;
    assert_eq!(r2.stage, terminal("imported", true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_batch_sends_nothing_keeps_its_report_and_halts_the_tenant() {
    let w = world().await;
    let (id, dir) = w
        .batch(
            "bad",
            &[("users.csv", "user_id,login_id,status\nU1,u\"1,active\n")],
        )
        .await;
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(rec.stage, terminal("rejected", false));
    let report = w.report_of(&rec).await;
    assert!(String::from_utf8_lossy(&report).contains("users.csv:2"));
    assert!(w.sim.requests().await.is_empty());
    assert!(w.halted().await, "the tenant is halted");
}

/// A warning rejects only where the tenant chose it (`strict`): Canvas would import this batch
/// and skip the row, but this tenant makes `bad_status` reject (issue 14).
#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_strict_rule_rejects_a_batch_canvas_would_import_with_a_warning() {
    let w = world().await;
    let (id, dir) = w
        .batch(
            "strict",
            &[("users.csv", "user_id,login_id,status\nU1,u1,retired\n")],
        )
        .await;
    let mut staged = w.staged(Duration::ZERO);
    staged.request.validate.strict =
        canvas_sis::sis::validate::Strict::rules(&["bad_status"]).unwrap();
    let rec = run_finished(&staged, &id, &dir).await;
    assert_eq!(rec.stage, terminal("rejected", false));
    let report = w.report_of(&rec).await;
    let report = String::from_utf8_lossy(&report);
    assert!(
        report.contains("strict setting covers bad_status"),
        "{report}"
    );
    assert!(w.sim.requests().await.is_empty());
}

fn input_of(rec: &canvas_sis::ledger::BatchRecord) -> Option<std::path::PathBuf> {
    Some(std::path::PathBuf::from(&rec.source.location))
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_behind_a_held_batch_are_parked_and_go_on_in_order_once_it_is_approved() {
    let w = world().await;
    let staged = w.staged(Duration::ZERO);
    let (b1, d1) = w.users_batch("b1", 100).await;
    run_finished(&staged, &b1, &d1).await;
    let (b2, _) = w.users_batch("b2", 30).await;
    let (b3, _) = w.users_batch("b3", 31).await;
    let run = staged.run_tenant(input_of).await.unwrap();
    let (stopped, _) = run.stopped_at.expect("stopped at the held batch");
    assert_eq!(stopped.id, b2);
    assert!(
        matches!(stopped.stage, Stage::Held { .. }),
        "{}",
        stopped.stage
    );
    let later = w.ledger.get_batch(&b3).await.unwrap().unwrap();
    let Stage::Parked { reason } = &later.stage else {
        panic!("b3 should be parked: {}", later.stage)
    };
    assert!(
        reason.contains(&format!("waiting behind batch {b2}")),
        "{reason}"
    );
    assert_eq!(
        w.sim.imports().await.len(),
        1,
        "nothing sent past the held batch"
    );
    canvas_sis::pipeline::operator::approve(&w.ledger, b2.as_str())
        .await
        .unwrap();
    let run = staged.run_tenant(input_of).await.unwrap();
    let ids = finished_ids(&run.finished);
    assert_eq!(ids, vec![b2, b3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_runs_in_arrival_order_and_stops_at_a_failure_parking_the_rest() {
    let w = world().await;
    let (b1, _) = w.users_batch("b1", 3).await;
    let (b2, _) = w.users_batch("b2", 4).await;
    let (b3, _) = w.users_batch("b3", 5).await;
    w.sim.add_fault(json!({"method": "POST", "skip": 1, "action": {"kind": "import", "final_state": "failed"}})).await;
    let staged = w.staged(Duration::ZERO);
    let run = staged.run_tenant(input_of).await.unwrap();
    let ids = finished_ids(&run.finished);
    assert_eq!(
        ids,
        vec![b1.clone(), b2.clone()],
        "b1 imported, b2 failed; b3 never sent"
    );
    let (stopped, why) = run.stopped_at.expect("stopped at b3");
    assert_eq!(stopped.id, b3);
    assert!(why.starts_with("parked"), "{why}");
    let imports = w.sim.imports().await;
    assert_eq!(imports.len(), 2);
    assert!(imports[0]["id"].as_u64() < imports[1]["id"].as_u64());
    canvas_sis::pipeline::operator::resume(&w.ledger, "main")
        .await
        .unwrap();
    let run = staged.run_tenant(input_of).await.unwrap();
    assert_eq!(run.finished.len(), 1);
    assert_eq!(run.finished[0].id, b3);
    assert!(run.stopped_at.is_none());
}

/// Leaves `id` submitted as a Canvas import that will end `final_state`, as a worker that
/// recorded the POST and then stopped would.
async fn submitted_ending(w: &World, id: &BatchId, dir: &Path, final_state: &str) -> u64 {
    w.crash_after_recording_submitting(id, dir).await;
    w.sim
        .add_fault(
            json!({"method": "POST", "action": {"kind": "import", "final_state": final_state}}),
        )
        .await;
    let import = w.sim.post_zip_id(small_feed(), "").await;
    w.ledger
        .transition(id, Stage::Submitted { import_id: import }, "test")
        .await
        .unwrap();
    import
}

#[tokio::test(flavor = "multi_thread")]
async fn never_past_a_failure_a_failure_during_a_pause_keeps_the_tenant_halted_after_resume() {
    let w = world().await;
    let (b1, d1) = w.good_batch("b1").await;
    let (b2, _) = w.users_batch("b2", 4).await;
    submitted_ending(&w, &b1, &d1, "failed_with_messages").await;
    operator::pause(&w.ledger, "main", "ops", "term rollover")
        .await
        .unwrap();
    // Canvas ends b1's import while the tenant is paused.
    let staged = w.staged(Duration::ZERO);
    let run = staged.run_tenant(input_of).await.unwrap();
    assert_eq!(run.finished.len(), 1, "b1 ends under the pause");
    let (stopped, _) = run.stopped_at.expect("b2 parked by the pause");
    assert_eq!(stopped.id, b2);
    // Lifting the pause does not walk past b1's failure, and says so.
    let lifted = operator::resume(&w.ledger, "main").await.unwrap();
    let operator::Resumed::Unpaused {
        still_halted: Some(halt),
        ..
    } = &lifted
    else {
        panic!("the pause is lifted, the halt stays: {lifted:?}")
    };
    assert_eq!(halt.batch, b1);
    let run = staged.run_tenant(input_of).await.unwrap();
    let later = w.ledger.get_batch(&b2).await.unwrap().unwrap();
    let Stage::Parked { reason } = &later.stage else {
        panic!("b2 must stay parked behind b1's failure: {}", later.stage)
    };
    assert!(
        reason.contains(&format!("halted by batch {b1}")),
        "{reason}"
    );
    assert!(run.finished.is_empty());
    assert_eq!(
        w.sim.imports().await.len(),
        1,
        "nothing sent past the failure"
    );
    // The operator, told, resumes again: that acknowledges b1's failure and b2 goes on.
    let acknowledged = operator::resume(&w.ledger, "main").await.unwrap();
    assert!(
        matches!(&acknowledged, operator::Resumed::Acknowledged { batches, .. } if *batches == [b1.clone()]),
        "{acknowledged:?}"
    );
    let run = staged.run_tenant(input_of).await.unwrap();
    assert_eq!(run.finished.len(), 1, "{:?}", run.stopped_at);
    assert_eq!(run.finished[0].id, b2);
}

#[tokio::test(flavor = "multi_thread")]
async fn never_past_a_failure_a_crash_between_recording_the_failure_and_the_halt_still_halts() {
    let w = world().await;
    let (b1, d1) = w.good_batch("b1").await;
    let (b2, _) = w.users_batch("b2", 4).await;
    let import = submitted_ending(&w, &b1, &d1, "failed").await;
    w.sim.wait_real(import, Duration::from_secs(10)).await;
    // The worker recorded Canvas's end, then died before it could halt the tenant.
    let failed = terminal("failed", false);
    w.ledger
        .transition(&b1, failed, "Canvas ended it failed")
        .await
        .unwrap();
    let run = w.staged(Duration::ZERO).run_tenant(input_of).await.unwrap();
    let later = w.ledger.get_batch(&b2).await.unwrap().unwrap();
    assert!(
        matches!(&later.stage, Stage::Parked { reason } if reason.contains(&format!("halted by batch {b1}"))),
        "b2 must park behind b1's failure: {}",
        later.stage
    );
    assert!(run.finished.is_empty(), "{:?}", run.finished);
    assert_eq!(
        w.sim.imports().await.len(),
        1,
        "nothing sent past the failure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_whose_policy_continues_goes_on_past_a_failure_which_is_acknowledged_by_the_policy()
 {
    let w = world().await;
    let (b1, _) = w.users_batch("b1", 3).await;
    let (b2, _) = w.users_batch("b2", 4).await;
    w.sim
        .add_fault(json!({"method": "POST", "action": {"kind": "import", "final_state": "failed"}}))
        .await;
    let mut staged = w.staged(Duration::ZERO);
    staged.on_failure = OnFailure::Continue;
    let run = staged.run_tenant(input_of).await.unwrap();
    let ids = finished_ids(&run.finished);
    assert_eq!(ids, vec![b1.clone(), b2]);
    assert!(
        !w.halted().await,
        "not even as the ledger shows it to an operator"
    );
    let acknowledged = w.ledger.get_batch(&b1).await.unwrap().unwrap().failure;
    assert_eq!(
        acknowledged.and_then(|f| f.acknowledged).map(|a| a.by),
        Some(canvas_sis::pipeline::gate::POLICY_CONTINUES.to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_newest_full_snapshot_is_sent_older_ones_are_superseded() {
    let w = world().await;
    // The term must exist before batch mode can name it.
    seed_terms(&w.sim, TERMS).await;
    let mut staged = w.staged(Duration::ZERO);
    staged.request.options.batch_mode = Some(canvas_sis::canvas::BatchMode::Term(
        canvas_sis::canvas::BatchModeTerm::SisId("T2026".into()),
    ));
    staged.request.options.change_threshold = Some(100);
    let (s1, _) = w.batch("s1", COURSES_ONLY).await;
    let (s2, _) = w.batch("s2", COURSES_ONLY).await;
    let (s3, _) = w.batch("s3", COURSES_ONLY).await;
    let run = staged.run_tenant(input_of).await.unwrap();
    let stages = finished_stages(&run.finished);
    assert_eq!(
        stages,
        vec![(s1, "superseded"), (s2, "superseded"), (s3, "terminal")]
    );
    assert_eq!(
        w.sim.imports().await.len(),
        2,
        "the seed and the newest snapshot only"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_superseded_only_by_a_later_snapshot_of_the_same_term() {
    let w = world().await;
    let terms =
        format!("{TERMS}T2025S,Spring 2026,active,2026-01-10T00:00:00Z,2026-05-20T00:00:00Z\n");
    seed_terms(&w.sim, &terms).await;
    // The tenant's default is fall's full snapshot; spring's batch names its own term.
    let defaults = canvas_sis::config::ImportDefaults {
        batch_mode_term: Some("sis_term_id:T2026".into()),
        change_threshold: Some(100),
        ..Default::default()
    };
    let mut staged = w.staged(Duration::ZERO);
    staged.request.options = defaults.to_options().unwrap();
    staged.import_defaults = Some(defaults);
    let spring = canvas_sis::config::ImportOverrides {
        batch_mode_term: Some("sis_term_id:T2025S".into()),
        ..Default::default()
    };
    let (s1, _) = w
        .batch_with_import("spring", &[("courses.csv", COURSES)], Some(&spring))
        .await;
    let (f1, _) = w.batch("fall-1", COURSES_ONLY).await;
    let (f2, _) = w.batch("fall-2", COURSES_ONLY).await;
    let run = staged.run_tenant(input_of).await.unwrap();
    let stages = finished_stages(&run.finished);
    assert_eq!(
        stages,
        vec![(f1, "superseded"), (s1, "terminal"), (f2, "terminal")],
        "spring is sent (no later spring snapshot); only fall's older snapshot is superseded"
    );
    let imports = w.sim.imports().await;
    assert_eq!(imports.len(), 3, "the seed, spring and the newest fall");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_crash_the_previous_batch_import_is_never_taken_for_this_one() {
    let w = world().await;
    let staged = w.staged(Duration::ZERO);
    let (b1, d1) = w.users_batch("b1", 3).await;
    let first = run_finished(&staged, &b1, &d1).await;
    let (b2, d2) = w.users_batch("b2", 4).await;
    w.crash_after_recording_submitting(&b2, &d2).await;
    let second = run_finished(&staged, &b2, &d2).await;
    assert_ne!(
        second.canvas_import_id, first.canvas_import_id,
        "b1's import, created a moment ago, is not b2's"
    );
    assert_eq!(w.sim.imports().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_each_stage_before_the_post_resumes_there_and_imports_once() {
    let w = world().await;
    let staged = w.staged(Duration::ZERO);
    // Left validated, then left packed (zip on disk), as a worker that died there would.
    let (validated, d1) = w.users_batch("validated", 3).await;
    w.ledger
        .transition(&validated, Stage::Validated, "crash after validate")
        .await
        .unwrap();
    let r1 = run_finished(&staged, &validated, &d1).await;
    assert_eq!(r1.stage, terminal("imported", true));

    let (packed, d2) = w.users_batch("packed", 4).await;
    w.crash_after_packing(&packed, &d2).await;
    let r2 = run_finished(&staged, &packed, &d2).await;
    assert_eq!(r2.stage, terminal("imported", true));
    assert_eq!(w.sim.imports().await.len(), 2, "one import per batch");
    let history: Vec<_> = r1.history.iter().map(|h| h.to.name()).collect();
    assert_eq!(
        history,
        ["validated", "packed", "submitting", "submitted", "terminal"],
        "resumed at validated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_while_held_or_parked_resumes_there() {
    let w = world().await;
    let staged = w.staged(Duration::ZERO);
    let (held, d1) = w.users_batch("held", 3).await;
    w.ledger
        .transition(&held, Stage::Validated, "t")
        .await
        .unwrap();
    w.ledger
        .transition(
            &held,
            Stage::Held {
                reason: "guard".into(),
            },
            "t",
        )
        .await
        .unwrap();
    w.approve_in_ledger(&held).await;
    let r1 = run_finished(&staged, &held, &d1).await;
    assert_eq!(r1.stage, terminal("imported", true));

    let (parked, d2) = w.users_batch("parked", 4).await;
    w.ledger
        .transition(
            &parked,
            Stage::Parked {
                reason: "was paused".into(),
            },
            "t",
        )
        .await
        .unwrap();
    let r2 = run_finished(&staged, &parked, &d2).await;
    assert_eq!(r2.stage, terminal("imported", true));
    assert_eq!(w.sim.imports().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_waits_packed_while_another_import_of_the_account_runs() {
    let w = world().await;
    let staged = w.staged(Duration::ZERO);
    w.sim
        .add_fault(json!({"method": "POST", "action": {"kind": "import", "stuck_in": "created"}}))
        .await;
    let other = w.sim.post_zip_id(small_feed(), "").await;
    let (id, dir) = w.users_batch("b1", 3).await;
    let err = staged.run_batch(&id, &dir).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("SIS import {other}")),
        "{err}"
    );
    assert_eq!(
        w.ledger.get_batch(&id).await.unwrap().unwrap().stage,
        Stage::Packed,
        "not sent behind it"
    );
    assert_eq!(w.posts().await, 1);
    w.sim.patch_import(other, json!({"frozen": false})).await;
    w.sim.wait_real(other, Duration::from_secs(10)).await;
    let rec = run_finished(&staged, &id, &dir).await;
    assert_eq!(rec.stage, terminal("imported", true));
}

/// Leaves the batch as a worker that died after recording `packed` *and* sending its POST,
/// before its zip reached the archive (it is archived while it is uploaded): the zip is gone
/// with the worker's disk, the input is still in place. Returns the sent zip and the import.
async fn crash_after_the_post_before_the_archive(
    w: &World,
    id: &BatchId,
    dir: &Path,
) -> (Vec<u8>, u64) {
    let bytes = crash_while_posting_before_the_archive(w, id, dir).await;
    let import = w.sim.post_zip_id(bytes.clone(), "").await;
    (bytes, import)
}

/// A worker packed the batch, recorded `submitting` and died with its POST under way (whether it
/// reached Canvas is the caller's), before archiving the zip, which its disk took with it.
/// Returns the zip's bytes.
async fn crash_while_posting_before_the_archive(w: &World, id: &BatchId, dir: &Path) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    w.crash_after_packing(id, dir).await;
    let zip = w.work.path().join(format!("{}.zip", id.local_part()));
    let bytes = std::fs::read(&zip).unwrap();
    let packed = ZipDigest::new(&hex::encode(Sha256::digest(&bytes)), bytes.len() as u64);
    w.ledger
        .update_batch(id, |r| {
            r.packed_zip = Some(packed.clone());
            Ok::<(), canvas_sis::ledger::LedgerError>(())
        })
        .await
        .unwrap();
    w.ledger
        .transition(id, Stage::Submitting, "test")
        .await
        .unwrap();
    std::fs::remove_file(&zip).unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_lost_a_batch_whose_post_made_nothing_and_that_cannot_be_packed_again_is_rejected()
 {
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    crash_while_posting_before_the_archive(&w, &id, &dir).await;
    // The upload never reached Canvas, and the export's files are gone since.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(
        rec.stage,
        terminal("rejected", false),
        "not left submitting"
    );
    assert!(
        rec.errors
            .iter()
            .any(|e| e.contains("cannot be sent again")),
        "{:?}",
        rec.errors
    );
    assert_eq!(w.posts().await, 0, "nothing sent");
    assert!(w.halted().await, "the tenant halts for an operator");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_lost_a_zip_not_archived_before_a_crash_is_packed_again_and_archived() {
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    let (sent, theirs) = crash_after_the_post_before_the_archive(&w, &id, &dir).await;
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(rec.stage, terminal("imported", true));
    assert_eq!(
        rec.canvas_import_id,
        Some(theirs),
        "adopted, not sent again"
    );
    assert_eq!(w.posts().await, 1);
    let key = rec.archive.zip.as_ref().expect("the zip is archived");
    assert_eq!(
        w.ledger.get_archive(key).await.unwrap().unwrap(),
        sent,
        "the same bytes as were sent"
    );
    assert!(rec.errors.is_empty(), "{:?}", rec.errors);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zip_that_can_no_longer_be_packed_the_same_does_not_hold_back_canvass_end() {
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    let (_, theirs) = crash_after_the_post_before_the_archive(&w, &id, &dir).await;
    std::fs::write(dir.join("users.csv"), users_csv(5)).unwrap();
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(rec.canvas_import_id, Some(theirs));
    assert_eq!(
        rec.stage,
        terminal("imported", true),
        "Canvas's end is recorded all the same"
    );
    assert_eq!(
        rec.archive.zip, None,
        "a different zip is never archived as the sent one"
    );
    assert!(
        rec.errors
            .iter()
            .any(|e| e.contains("zip is not archived") && e.contains("the input changed")),
        "{:?}",
        rec.errors
    );
    assert_eq!(w.posts().await, 1);
}

/// Waits (polling, bounded) until `cond` holds.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes the batch's `submitting` look abandoned long ago (its worker died an hour back).
async fn age_submitting(w: &World, id: &BatchId) {
    let long_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    w.ledger
        .update_batch(id, |r| {
            r.submit_started_at = Some(long_ago);
            Ok::<(), canvas_sis::ledger::LedgerError>(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_one_import_when_a_second_worker_finds_a_submitting_batch_whose_holder_is_alive() {
    let w = world().await;
    let lease = Duration::from_millis(600);
    // Worker A's create takes far longer than the lease (a large upload, a throttled Canvas).
    w.sim
        .add_fault(json!({"method": "POST", "path_contains": "/sis_imports",
            "action": {"kind": "delay", "millis": 4000}}))
        .await;
    let (id, dir) = w.good_batch("wednesday").await;
    let (a, b) = (w.staged(lease), w.staged(lease));
    let second = async {
        // B's sweep comes while A's POST is in Canvas's hands, two leases after A claimed it.
        until("A's POST is in flight and two leases old", || async {
            let rec = w.ledger.get_batch(&id).await.unwrap().unwrap();
            let old = rec
                .submit_started_at
                .is_some_and(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default() > lease * 2);
            old && w.posts().await == 1
        })
        .await;
        b.run_batch(&id, &dir).await
    };
    let (first, second) = tokio::join!(a.run_batch(&id, &dir), second);
    assert!(
        matches!(second, Err(RunError::Busy(_))),
        "the live holder keeps its lease, yet the second worker went on: {:?}",
        second
            .as_ref()
            .map(|_| "ran the batch")
            .map_err(|e| e.to_string())
    );
    let rec = finished(first.unwrap());
    assert!(rec.canvas_import_id.is_some());
    assert_eq!(
        w.sim.imports().await.len(),
        1,
        "exactly one import in Canvas"
    );
    assert_eq!(w.posts().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_one_of_two_workers_takes_over_an_abandoned_submitting_batch() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    age_submitting(&w, &id).await;
    let (a, b) = (
        w.staged(Duration::from_secs(60)),
        w.staged(Duration::from_secs(60)),
    );
    let (ra, rb) = tokio::join!(a.run_batch(&id, &dir), b.run_batch(&id, &dir));
    let busy = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Err(RunError::Busy(_))))
        .count();
    let brief = |r: &Result<Progress, RunError>| match r {
        Ok(p) => format!("{:?}", std::mem::discriminant(p)),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        busy,
        1,
        "the takeover is a compare-and-swap: {} / {}",
        brief(&ra),
        brief(&rb)
    );
    assert_eq!(w.sim.imports().await.len(), 1);
    assert_eq!(w.posts().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_by_another_user_in_the_post_window_is_never_adopted() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    // Another tool on the account, with its own token, posts the same files meanwhile.
    let theirs = w.sim.post_zip_id_as("import-token", good_zip(), "").await;
    let rec = w.run_once(&id, &dir).await;
    assert_ne!(
        rec.canvas_import_id,
        Some(theirs),
        "not ours: another user made it"
    );
    assert_eq!(w.sim.imports().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_of_our_user_with_other_files_in_the_post_window_is_never_adopted() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    // An admin's manual import with the integration's token, of other files.
    let theirs = w.sim.post_zip_id(small_feed(), "").await;
    w.sim.wait_real(theirs, Duration::from_secs(10)).await;
    let rec = w.run_once(&id, &dir).await;
    assert_ne!(rec.canvas_import_id, Some(theirs), "its files are not ours");
    assert_eq!(w.sim.imports().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_imports_of_ours_that_could_each_be_the_lost_post_leave_the_batch_to_an_operator() {
    let (w, id, dir) = crashed_after_recording_submitting().await;
    let mut candidates = Vec::new();
    for _ in 0..2 {
        let i = w.sim.post_zip_id(good_zip(), "").await;
        w.sim.wait_real(i, Duration::from_secs(10)).await;
        candidates.push(i);
    }
    let rec = w.run_once(&id, &dir).await;
    assert_eq!(
        rec.stage,
        terminal("unresolved", false),
        "neither is adopted, nothing is sent"
    );
    let said = rec.errors.join("\n");
    for i in &candidates {
        assert!(said.contains(&i.to_string()), "names import {i}: {said}");
    }
    assert_eq!(w.posts().await, 2, "no upload of ours");
    assert!(w.halted().await, "the tenant halts on an unresolved batch");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_whose_lease_shows_no_post_left_is_uploaded_without_adopting_a_lookalike() {
    use canvas_sis::ledger::SubmitLease;
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    w.crash_after_packing(&id, &dir).await;
    // The worker died after claiming the batch, before recording its POST: none left.
    let long_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    w.ledger
        .update_batch(&id, |r| {
            r.apply_transition(Stage::Submitting, "test", long_ago)?;
            r.submit_lease = Some(SubmitLease::new("dead-worker", long_ago));
            Ok::<(), canvas_sis::ledger::LedgerError>(())
        })
        .await
        .unwrap();
    // Meanwhile the same files reach Canvas with our token by another way (an admin's script).
    let lookalike = w.sim.post_zip_id(good_zip(), "").await;
    let rec = finished(
        w.staged(Duration::from_secs(60))
            .run_batch(&id, &dir)
            .await
            .unwrap(),
    );
    assert_ne!(rec.canvas_import_id, Some(lookalike), "our POST never left");
    assert_eq!(w.sim.imports().await.len(), 2);
    let lease = rec.submit_lease.expect("the lease is kept as evidence");
    assert_eq!(lease.attempt, 2, "taken over once");
    assert!(
        lease.post_started_at.is_some(),
        "the new POST was recorded first"
    );
    assert!(
        lease.pre_post_ids.contains(&lookalike),
        "listed before our POST"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blackout_that_opens_before_the_submit_parks_the_packed_batch_unsent() {
    let w = world().await;
    let (id, dir) = w.users_batch("b1", 3).await;
    w.crash_after_packing(&id, &dir).await;
    let mut staged = w.staged(Duration::ZERO);
    let now = chrono::Utc::now();
    let end = now + chrono::TimeDelta::hours(1);
    staged.blackouts = vec![canvas_sis::config::Blackout::Range {
        from: now - chrono::TimeDelta::minutes(1),
        to: end,
    }];
    let Progress::Blocked(rec) = staged.run_batch(&id, &dir).await.unwrap() else {
        panic!("a packed batch went on during a blackout");
    };
    assert!(
        matches!(&rec.stage, Stage::Parked { reason } if reason.starts_with("blackout until")),
        "{:?}",
        rec.stage
    );
    assert_eq!(w.posts().await, 0, "nothing sent in the window");
    staged.blackouts.clear();
    let rec = run_finished(&staged, &id, &dir).await;
    assert!(matches!(rec.stage, Stage::Terminal { ok: true, .. }));
    assert_eq!(w.posts().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_run_ends_between_steps_and_resumes_from_the_recorded_stage() {
    let w = world().await;
    let (id, dir) = w.users_batch("b1", 3).await;
    let staged = w.staged(Duration::ZERO);
    staged.stop.cancel();
    let err = staged.run_batch(&id, &dir).await.unwrap_err();
    assert!(matches!(err, RunError::Stopped(_)), "{err}");
    assert_eq!(
        w.ledger.get_batch(&id).await.unwrap().unwrap().stage,
        Stage::Received
    );
    let rec = w.run_once(&id, &dir).await;
    assert!(matches!(rec.stage, Stage::Terminal { ok: true, .. }));
}

/// The batch's staged run with `batch_mode` on a term Canvas does not have (the guard, which
/// would hold a first batch-mode batch, is off: the POST is the point).
fn with_unknown_term(mut staged: Staged<'_, MemoryStore>) -> Staged<'_, MemoryStore> {
    use canvas_sis::canvas::{BatchMode, BatchModeTerm};
    staged.request.options.batch_mode =
        Some(BatchMode::Term(BatchModeTerm::SisId("NO_SUCH_TERM".into())));
    staged.guard.enabled = false;
    staged
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_refused_by_canvas_ends_the_batch_rejected_with_canvass_message_and_halts_the_tenant()
 {
    let w = world().await;
    let (id, dir) = w.good_batch("b1").await;
    let staged = with_unknown_term(w.staged(Duration::ZERO));
    // Canvas's api_find of the term answers 404 before any import exists.
    let rec = match staged.run_batch(&id, &dir).await {
        Ok(p) => finished(p),
        Err(e) => panic!("a refused create must end the batch, not leave it to be sent again: {e}"),
    };
    assert_eq!(rec.stage, terminal("rejected", false));
    assert!(
        rec.errors
            .iter()
            .any(|e| e.contains("The specified resource does not exist.")),
        "Canvas's own message: {:?}",
        rec.errors
    );
    assert!(
        !rec.errors
            .iter()
            .any(|e| e.contains("account 1 was not found")),
        "not a made-up reason: {:?}",
        rec.errors
    );
    assert_eq!(rec.canvas_import_id, None);
    assert!(w.halted().await, "the tenant halts");
    // The next pass finds it ended: nothing is sent again.
    let again = run_finished(&staged, &id, &dir).await;
    assert_eq!(again.stage, rec.stage);
    assert_eq!(w.posts().await, 1);
    assert!(w.sim.imports().await.is_empty());
}

/// Keeps the batch events the pipeline sends (what notifications are made from).
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<String>>);

impl canvas_sis::pipeline::Observer for Events {
    fn batch_event(&self, _tenant: &str, event: canvas_sis::pipeline::BatchEvent<'_>) {
        self.0.lock().unwrap().push(format!("{event:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_refused_for_the_tokens_permission_stays_retryable_and_alerts_the_operator() {
    let mut w = world().await;
    // This token may read imports (manage_sis) but not create them (import_sis).
    w.client = client(&w.sim, "manage-token");
    let (id, dir) = w.good_batch("b1").await;
    let events = Events::default();
    let mut staged = w.staged(Duration::ZERO);
    staged.obs = &events;
    let err = staged.run_batch(&id, &dir).await.unwrap_err();
    assert!(err.to_string().contains("import_sis"), "what to fix: {err}");
    let rec = w.ledger.get_batch(&id).await.unwrap().unwrap();
    assert!(!rec.stage.is_terminal(), "retryable: {}", rec.stage);
    assert!(!w.halted().await, "the tenant is not halted");
    let events = events.0.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.contains("NeedsOperator") && e.contains("import_sis")),
        "an operator alert saying what to fix: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_file_upload_is_retried_and_never_waited_on_as_an_orphan_import() {
    let mut w = world().await;
    let mut cfg = client_config(&w.sim, ADMIN);
    cfg.pre_attachment_threshold_bytes = 1;
    w.client = CanvasClient::new(cfg).unwrap();
    // The file host refuses the first import's file every time it is sent (the first try and
    // the client's 3 retries); the file of a second import goes through.
    w.sim
        .add_fault(json!({"path_contains": "/files_api/", "times": 4,
            "action": {"kind": "status", "status": 502}}))
        .await;
    let (id, dir) = w.good_batch("b1").await;
    let mut staged = w.staged(Duration::ZERO);
    staged.request.wait.deadline = Duration::from_secs(5);
    let rec = match staged.run_batch(&id, &dir).await {
        Ok(p) => finished(p),
        Err(e) => panic!("the batch must not wait on an import whose file never arrived: {e}"),
    };
    assert_eq!(rec.stage, terminal("imported", true));
    let imports = w.sim.imports().await;
    let state = |i: &serde_json::Value| i["workflow_state"].as_str().unwrap().to_owned();
    let imported: Vec<_> = imports.iter().filter(|i| state(i) == "imported").collect();
    assert_eq!(
        imported.len(),
        1,
        "exactly one import with the data: {imports:?}"
    );
    assert_eq!(rec.canvas_import_id, imported[0]["id"].as_u64());
    assert!(
        imports
            .iter()
            .all(|i| state(i) == "imported" || state(i) == "aborted"),
        "the orphan is aborted, never left initializing: {imports:?}"
    );
}
