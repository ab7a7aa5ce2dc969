//! Operator actions on the ledger: pause, resume, approve, undo.

use std::time::Duration;

use canvas_sis::canvas::{AccountRef, RestoreOptions};
use canvas_sis::ledger::{BatchSource, Gate, Ledger, MemoryStore, NewBatch, Stage};
use canvas_sis::pipeline::operator::{self, OperatorError};

use crate::common::*;

async fn batch(ledger: &Ledger<MemoryStore>, name: &str) -> canvas_sis::ledger::BatchId {
    use sha2::{Digest, Sha256};
    let new = NewBatch {
        tenant: "main".into(),
        source: BatchSource {
            kind: "folder".into(),
            location: format!("/drop/{name}"),
            files: vec![],
            ..Default::default()
        },
        content_sha256: hex::encode(Sha256::digest(name.as_bytes())),
    };
    ledger.create_batch(new).await.unwrap().record().id.clone()
}

#[tokio::test]
async fn pause_and_resume_close_and_reopen_the_gate_but_a_halt_is_not_paused_over() {
    let ledger = Ledger::new(MemoryStore::new());
    let t = operator::pause(&ledger, "main", "ops", "term rollover")
        .await
        .unwrap();
    assert!(matches!(t.gate, Gate::Paused { ref reason, .. } if reason == "term rollover"));
    let before = operator::resume(&ledger, "main").await.unwrap();
    assert!(
        matches!(
            before,
            operator::Resumed::Unpaused {
                still_halted: None,
                ..
            }
        ),
        "{before:?}"
    );
    assert_eq!(ledger.tenant("main").await.unwrap().gate, Gate::Open);
    let id = batch(&ledger, "b1").await;
    ledger
        .update_tenant("main", |t| {
            t.gate = Gate::Halted {
                reason: "failed".into(),
                batch: id.clone(),
                at: chrono::Utc::now(),
            };
            Ok::<(), canvas_sis::ledger::LedgerError>(())
        })
        .await
        .unwrap();
    let err = operator::pause(&ledger, "main", "ops", "x")
        .await
        .unwrap_err();
    assert!(matches!(err, OperatorError::Halted { .. }), "{err}");
    assert!(err.to_string().contains("resume"));
    assert_eq!(
        operator::tenants(&ledger).await.unwrap(),
        vec!["main".to_owned()]
    );
}

#[tokio::test]
async fn only_a_held_batch_can_be_approved() {
    let ledger = Ledger::new(MemoryStore::new());
    let id = batch(&ledger, "b1").await;
    let err = operator::approve(&ledger, id.as_str()).await.unwrap_err();
    assert!(matches!(err, OperatorError::NotHeld { .. }), "{err}");
    ledger.transition(&id, Stage::Validated, "t").await.unwrap();
    ledger
        .transition(
            &id,
            Stage::Held {
                reason: "too many deletes".into(),
            },
            "t",
        )
        .await
        .unwrap();
    let rec = operator::approve(&ledger, id.as_str()).await.unwrap();
    assert!(rec.approved);
    let err = operator::approve(&ledger, "main/00000099-0123456789ab")
        .await
        .unwrap_err();
    assert!(matches!(err, OperatorError::NoSuchBatch(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_restores_the_batch_import_in_canvas_and_records_it() {
    let mut c = canvas_sis::sim::SimConfig::with_tokens(tokens());
    c.rows_per_sec = 2000.0;
    let sim = Sim::start(c).await;
    let client = client(&sim, ADMIN);
    let ledger = Ledger::new(MemoryStore::new());
    let id = batch(&ledger, "b1").await;
    let import = sim.post_zip(small_feed(), "").await["id"].as_u64().unwrap();
    let canvas_json = sim.wait_real(import, Duration::from_secs(10)).await;
    for stage in [
        Stage::Validated,
        Stage::Packed,
        Stage::Submitting,
        Stage::Submitted { import_id: import },
        Stage::Terminal {
            state: "imported".into(),
            ok: true,
        },
    ] {
        ledger.transition(&id, stage, "t").await.unwrap();
    }
    ledger
        .update_batch(&id, |r| {
            r.canvas_json = Some(canvas_json.clone());
            Ok::<(), canvas_sis::ledger::LedgerError>(())
        })
        .await
        .unwrap();
    let entry = undo_within(&ledger, &client, &id, 20).await.unwrap();
    assert_eq!(entry["workflow_state"], "completed");
    assert_eq!(sim.show(import).await["workflow_state"], "restored");
    let rec = ledger.get_batch(&id).await.unwrap().unwrap();
    assert_eq!(rec.restores.len(), 1);
    assert_eq!(rec.restores[0].import_id, import);
    assert_eq!(
        ledger.tenant("main").await.unwrap().gate,
        Gate::Open,
        "paused during the restore only"
    );

    let never = batch(&ledger, "b2").await;
    let err = operator::undo(
        &ledger,
        &client,
        &AccountRef::Id(1),
        never.as_str(),
        RestoreOptions::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OperatorError::NothingToUndo(_)), "{err}");
}

/// `undo` of batch `id` on account 1, following the restore for at most `secs`.
async fn undo_within<S: canvas_sis::ledger::LedgerStore>(
    ledger: &Ledger<S>,
    client: &canvas_sis::canvas::CanvasClient,
    id: &canvas_sis::ledger::BatchId,
    secs: u64,
) -> Result<serde_json::Value, OperatorError> {
    operator::undo(
        ledger,
        client,
        &AccountRef::Id(1),
        id.as_str(),
        RestoreOptions::default(),
        Duration::from_secs(secs),
    )
    .await
}

/// The operators' clock of these tests: the wall clock, moved on by [`later`].
static AHEAD_SECS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn operators_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
        + chrono::TimeDelta::seconds(AHEAD_SECS.load(std::sync::atomic::Ordering::SeqCst))
}

/// Moves [`operators_clock`] on by `secs`.
fn later(secs: i64) {
    AHEAD_SECS.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
}

/// An undo holds its tenant while Canvas restores, whatever an operator does meanwhile: a
/// `resume` is refused while the undo checks in (the operator's own pause stays under the hold),
/// so is a second undo, and nothing can be sent. A restore the undo gave up on keeps the tenant held
/// (status says why) until a `resume` once the undo has been silent for a minute.
#[tokio::test(flavor = "multi_thread")]
async fn undo_holds_the_tenant_while_canvas_restores_whatever_an_operator_resumes_until_it_ends() {
    // A manual clock: Canvas's restore does not move until the test says so.
    let sim = Sim::manual().await;
    let client = client(&sim, ADMIN);
    let ledger = Ledger::new(MemoryStore::new()).with_clock(operators_clock);
    let id = batch(&ledger, "b1").await;
    let import = sim.post_zip(small_feed(), "").await["id"].as_u64().unwrap();
    let canvas_json = sim.run_to_end(import).await;
    record_imported(&ledger, &id, import, canvas_json).await;
    let undo = undo_within(&ledger, &client, &id, 2);
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        operator::pause(&ledger, "main", "ops", "look")
            .await
            .unwrap();
        let lifted = operator::resume(&ledger, "main").await;
        let refused = operator::resume(&ledger, "main").await;
        let state = canvas_sis::pipeline::gate::current(&ledger, "main", Default::default())
            .await
            .unwrap();
        let second = undo_within(&ledger, &client, &id, 2).await;
        (lifted, refused, state, second)
    };
    let (undone, (lifted, refused, during, second)) = tokio::join!(undo, meanwhile);
    assert!(
        matches!(second, Err(OperatorError::UndoRunning { .. })),
        "a second undo while one is alive is refused: {second:?}"
    );
    assert!(
        matches!(lifted, Err(OperatorError::UndoRunning { .. })),
        "the undo's hold comes first: {lifted:?}"
    );
    let refused = refused.unwrap_err().to_string();
    assert!(
        refused.contains(&format!("undo of batch {id}")) && refused.contains("goes on by itself"),
        "{refused}"
    );
    assert!(!during.is_open(), "{during:?}");
    let err = undone.unwrap_err();
    assert!(matches!(err, OperatorError::RestoreTimeout { .. }), "{err}");
    let state = canvas_sis::pipeline::gate::current(&ledger, "main", Default::default())
        .await
        .unwrap();
    assert!(
        state.describe().contains("HELD by an undo") && !state.is_open(),
        "a restore the undo gave up on keeps the tenant held, saying so: {}",
        state.describe()
    );
    assert!(matches!(
        operator::resume(&ledger, "main").await,
        Err(OperatorError::UndoRunning { .. })
    ));
    later(61);
    let after = operator::resume(&ledger, "main").await.unwrap();
    let operator::Resumed::UndoHoldLifted { gate, .. } = after else {
        panic!("{after:?}")
    };
    assert!(
        gate.paused.is_some(),
        "the operator's pause is still under it: {gate:?}"
    );
    operator::resume(&ledger, "main").await.unwrap();
    let open = canvas_sis::pipeline::gate::current(&ledger, "main", Default::default())
        .await
        .unwrap();
    assert!(open.is_open(), "{open:?}");
}
