//! The staged pipeline against a scripted, in-memory Canvas through the `CanvasApi` port: no
//! HTTP, no sockets, no simulator server. This is the seam deterministic simulation testing
//! (issue 16) drives the pipeline through; here it runs one batch to `imported`, and once with
//! the POST's answer lost after Canvas made the import, which must never become a second import.

use std::path::Path;
use std::time::Duration;

use canvas_sis::ledger::{BatchId, BatchRecord, BatchSource, Ledger, MemoryStore, NewBatch, Stage};
use canvas_sis::pipeline::staged::{Progress, Staged};
use canvas_sis::pipeline::{WaitPolicy, gate};

use crate::common::canvas::{CanvasFaults, Fate, ScriptedCanvas};
use crate::common::{COURSES, users_csv};

/// One tenant's ledger, its batch folders and the scripted Canvas.
struct World {
    canvas: ScriptedCanvas,
    ledger: Ledger<MemoryStore>,
    work: tempfile::TempDir,
    inputs: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        World {
            canvas: ScriptedCanvas::default(),
            ledger: Ledger::new(MemoryStore::new()),
            work: tempfile::tempdir().unwrap(),
            inputs: tempfile::tempdir().unwrap(),
        }
    }

    fn staged(&self) -> Staged<'_, MemoryStore> {
        crate::common::staged::staged(
            &self.ledger,
            &self.canvas,
            "main",
            self.work.path(),
            WaitPolicy {
                poll_min: Duration::from_millis(1),
                poll_max: Duration::from_millis(5),
                ..WaitPolicy::default()
            },
            Duration::ZERO,
        )
    }

    /// A batch folder of three users and two courses, recorded in the ledger as received.
    async fn batch(&self) -> (BatchId, std::path::PathBuf) {
        self.batch_of("b1", 3).await
    }

    /// Batch folder `name` of `users` users and two courses, recorded in the ledger as received.
    async fn batch_of(&self, name: &str, users: usize) -> (BatchId, std::path::PathBuf) {
        let dir = self.inputs.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.csv"), users_csv(users)).unwrap();
        std::fs::write(dir.join("courses.csv"), COURSES).unwrap();
        let new = NewBatch {
            tenant: "main".into(),
            source: BatchSource {
                kind: "folder".into(),
                location: dir.display().to_string(),
                ..Default::default()
            },
            content_sha256: format!("{name:0>64}"),
        };
        let created = self.ledger.create_batch(new).await.unwrap();
        (created.record().id.clone(), dir)
    }

    /// One run of the batch, which must finish it.
    async fn run(&self, id: &BatchId, dir: &Path) -> BatchRecord {
        match self.staged().run_batch(id, dir).await.unwrap() {
            Progress::Finished(r) => *r,
            Progress::Blocked(r) => panic!("blocked at {}", r.stage),
        }
    }

    /// The zip the ledger archived for the batch: the one it packed and sent.
    async fn archived_zip(&self, rec: &BatchRecord) -> Vec<u8> {
        let key = rec.archive.zip.as_ref().expect("the zip is archived");
        self.ledger.get_archive(key).await.unwrap().unwrap()
    }
}

fn imported() -> Stage {
    Stage::Terminal {
        state: "imported".into(),
        ok: true,
    }
}

#[tokio::test]
async fn a_batch_runs_to_imported_against_a_canvas_without_http() {
    let w = World::new();
    let (id, dir) = w.batch().await;
    let rec = w.run(&id, &dir).await;
    assert_eq!(rec.stage, imported());
    let (imports, posted) = {
        let a = w.canvas.account();
        (a.imports(), a.posted())
    };
    assert_eq!(imports.len(), 1, "exactly one import");
    assert_eq!(rec.canvas_import_id, Some(imports[0].id));
    assert_eq!(
        posted,
        [w.archived_zip(&rec).await],
        "the packed zip, sent once"
    );
    let names: Vec<_> = rec.history.iter().map(|h| h.to.name()).collect();
    assert_eq!(
        names,
        ["validated", "packed", "submitting", "submitted", "terminal"]
    );
}

#[tokio::test]
async fn a_lost_create_answer_is_found_in_canvas_and_never_sent_again() {
    let w = World::new();
    w.canvas.account().lose_next_answer = true;
    let (id, dir) = w.batch().await;
    let rec = w.run(&id, &dir).await;
    let (imports, posted) = {
        let a = w.canvas.account();
        (a.imports(), a.posted())
    };
    assert_eq!(posted.len(), 1, "the POST is never repeated");
    assert_eq!(imports.len(), 1, "no second import");
    assert_eq!(
        rec.canvas_import_id,
        Some(imports[0].id),
        "the lost POST's import is adopted"
    );
    assert_eq!(rec.stage, imported());
    assert_eq!(posted, [w.archived_zip(&rec).await]);
}

/// Never past a failure, whoever recorded it: another worker recorded the batch's failed end and
/// lost its halt write (it died, or the ledger failed it); this worker, waiting on the same
/// import, finds the batch ended when it comes to record it — and must halt the tenant before
/// the next batch looks at the gate, not send it.
#[tokio::test(start_paused = true)]
async fn never_past_a_failure_another_worker_recorded_without_its_halt() {
    let w = World {
        canvas: ScriptedCanvas::new(
            CanvasFaults {
                max_stage: Duration::from_secs(5),
                ..CanvasFaults::default()
            },
            7,
            Default::default(),
        ),
        ..World::new()
    };
    let (b1, d1) = w.batch_of("b1", 3).await;
    let (b2, _) = w.batch_of("b2", 4).await;
    w.canvas.set_fate(users_csv(3).as_bytes(), Fate::Failed);
    // b1 is sent; its worker gives up waiting at once: b1 stays submitted, its import runs.
    let mut sender = w.staged();
    sender.request.wait.deadline = Duration::ZERO;
    let sent = sender.run_batch(&b1, &d1).await;
    assert!(sent.is_err(), "the sender gave up waiting: {sent:?}");
    let ends = w.canvas.account().made[0].ends();
    // This worker waits on the same import, looking every 3 s.
    let mut waiter = w.staged();
    waiter.request.wait.poll_min = Duration::from_secs(3);
    waiter.request.wait.poll_max = Duration::from_secs(3);
    let other_worker = async {
        // Canvas ends the import; the other worker records it failed, and dies before its halt.
        tokio::time::sleep_until(ends + Duration::from_millis(1)).await;
        let failed = Stage::Terminal {
            state: "failed_with_messages".into(),
            ok: false,
        };
        w.ledger
            .transition(&b1, failed, "another worker")
            .await
            .unwrap();
    };
    let input_of = |r: &BatchRecord| Some(std::path::PathBuf::from(&r.source.location));
    let (run, ()) = tokio::join!(waiter.run_tenant(input_of), other_worker);
    let run = run.unwrap();
    assert_eq!(w.canvas.account().made.len(), 1, "b2 was never sent");
    let b2 = w.ledger.get_batch(&b2).await.unwrap().unwrap();
    assert!(!b2.stage.is_terminal(), "b2 waits: {}", b2.stage);
    let state = gate::current(&w.ledger, "main", canvas_sis::config::OnFailure::Halt)
        .await
        .unwrap();
    assert!(!state.is_open(), "the tenant is halted by b1: {run:?}");
}
