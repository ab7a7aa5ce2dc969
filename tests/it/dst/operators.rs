//! The people around the pipeline in one seed's world: the operators (pause, resume, approve,
//! undo, a mistaken one-shot re-run) and the account's other users, each at the plan's moments,
//! and the attentive operator of the healthy round. What they did that the invariants need
//! (acknowledgments, approvals, an undo running) is remembered on the [`World`].

use std::time::Duration;

use canvas_sis::canvas::{AccountRef, RestoreOptions};
use canvas_sis::config::OnFailure;
use canvas_sis::ledger::Stage;
use canvas_sis::pipeline::gate;
use canvas_sis::pipeline::operator::{self, Resumed};
use canvas_sis::pipeline::{LogObserver, Outcome, Preflight, Rerun, import_on_clock};

use crate::common::sim_clock;

use super::plan::Act;
use super::world::World;
use super::{OTHER_USER, TENANT};

impl World {
    /// An operator's `resume`, through the fault-free ledger (an operator sees a failed command
    /// and runs it again): the failures it acknowledged are remembered for the invariants.
    pub(super) async fn resume(&self, why: &str) {
        match operator::resume_by(&self.clean, TENANT, "sim-operator").await {
            Ok(Resumed::Acknowledged { halt, batches }) => {
                self.trace.log(format!(
                    "operator ({why}): resume acknowledges {batches:?} (halted by {})",
                    halt.batch
                ));
                self.acks
                    .lock()
                    .unwrap()
                    .push((tokio::time::Instant::now(), batches));
            }
            Ok(other) => self
                .trace
                .log(format!("operator ({why}): resume: {other:?}")),
            Err(e) => self.trace.log(format!("operator ({why}): resume: {e}")),
        }
    }

    /// An operator's `approve` of every batch the guard holds now, through the fault-free
    /// ledger; each approval is remembered for the invariants.
    pub(super) async fn approve_held(&self, why: &str) {
        for b in self.batches().await {
            if !matches!(b.stage, Stage::Held { .. }) || b.approved {
                continue;
            }
            match operator::approve(&self.clean, b.id.as_str()).await {
                Ok(_) => {
                    self.trace
                        .log(format!("operator ({why}): approve {}", b.id));
                    let now = sim_clock::now();
                    self.approved.lock().unwrap().push((now, b.id.clone()));
                }
                Err(e) => self
                    .trace
                    .log(format!("operator ({why}): approve {}: {e}", b.id)),
            }
        }
    }

    /// The operator who approves held batches in the first round, at the plan's moments.
    pub(super) async fn approver(&self) {
        for wait in &self.plan.approvals {
            tokio::time::sleep(*wait).await;
            self.approve_held("planned").await;
        }
    }

    /// An operator who runs the one-shot `import` again, at the plan's moments, on the files of
    /// a batch the stream imported (a re-run by mistake): it must be refused
    /// (`AlreadyImported`), and an import it made would be a second import of that content.
    pub(super) async fn rerunner(&self) {
        for wait in &self.plan.reruns {
            tokio::time::sleep(*wait).await;
            self.rerun("planned").await;
        }
    }

    /// One re-run of the one-shot `import` on the newest batch the stream imported (see
    /// [`Self::rerunner`]).
    pub(super) async fn rerun(&self, why: &str) {
        let done = self.batches().await.into_iter().rev().find(|b| {
            matches!(b.stage, Stage::Terminal { ok: true, .. }) && b.canvas_import_id.is_some()
        });
        let Some(done) = done else {
            self.trace
                .log(format!("operator ({why}): re-run: nothing imported yet"));
            return;
        };
        let mut req = self.staged(0).request;
        // The batch's files as the SIS exported them (a folder world reads them there; a cloud
        // world uploaded them from there).
        let Some(n) = self.index_of(&done) else {
            return;
        };
        req.path = self.inputs.path().join(format!("b{n}"));
        req.work_dir = self.inputs.path().join("operator");
        std::fs::create_dir_all(&req.work_dir).unwrap();
        req.preflight = Preflight::OneShot(Rerun::Refuse);
        let outcome =
            import_on_clock(self.canvas.as_ref(), &req, &LogObserver, sim_clock::now).await;
        let said = match &outcome {
            Outcome::AlreadyImported { import } => format!("refused, import {}", import.id),
            other => format!("{other:?}"),
        };
        self.trace
            .log(format!("operator ({why}): re-run of {}: {said}", done.id));
    }

    /// An operator who undoes the newest batch the stream imported, at the plan's moments of the
    /// healthy round, while the workers send the rest. While Canvas restores, the tenant is held
    /// and nothing of it may be sent (the scripted Canvas checks every create), though the
    /// attentive operator goes on resuming whatever looks closed.
    pub(super) async fn undoer(&self) {
        for wait in &self.plan.undos {
            tokio::time::sleep(*wait).await;
            // The newest imported batch, once there is one (looked for over 30 s at most).
            let mut found = None;
            for _ in 0..60 {
                found = self.batches().await.into_iter().rev().find(|b| {
                    matches!(b.stage, Stage::Terminal { ok: true, .. }) && b.canvas_json.is_some()
                });
                if found.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let Some(done) = found else {
                self.trace.log("operator: undo: nothing imported yet");
                continue;
            };
            self.trace.log(format!("operator: undo {}", done.id));
            let undone = operator::undo(
                &self.clean,
                self.canvas.as_ref(),
                &AccountRef::Id(1),
                done.id.as_str(),
                RestoreOptions::default(),
                Duration::from_secs(120),
            )
            .await;
            let said = undone.map_or_else(|e| e.to_string(), |_| "restored".into());
            self.trace
                .log(format!("operator: undo {}: {said}", done.id));
        }
    }

    /// The operator of the first round: the plan's pauses and resumes, at its moments.
    pub(super) async fn operator(&self) {
        for (wait, act) in &self.plan.acts {
            tokio::time::sleep(*wait).await;
            match act {
                Act::Pause => {
                    let r = operator::pause(&self.clean, TENANT, "sim-operator", "term break");
                    match r.await {
                        Ok(_) => self.trace.log("operator: pause"),
                        Err(e) => self.trace.log(format!("operator: pause: {e}")),
                    }
                }
                Act::Resume => self.resume("planned").await,
            }
        }
    }

    /// The account's other users: their imports by hand, at the plan's moments.
    pub(super) async fn other_users(&self) {
        for wait in &self.plan.others {
            tokio::time::sleep(*wait).await;
            let runs_for = self.jitter(0, 4000);
            self.canvas.someone_else_imports(OTHER_USER, runs_for);
        }
    }

    /// The operator of the healthy round: whenever the tenant is paused or halted, looks and
    /// resumes it, and approves what is held, once a second until the stream is finished — for
    /// 200 s in the folder world, as long as the healthy round may last in a cloud world (where a
    /// Lambda function's sweep, minutes apart, may be all that moves a resumed stream).
    pub(super) async fn attentive_operator(&self) {
        let looks = if self.cloud.is_some() {
            super::cloud::HEALTHY_LIMIT.as_secs()
        } else {
            200
        };
        for _ in 0..looks {
            if self.finished().await {
                return;
            }
            let state = gate::current(&self.clean, TENANT, OnFailure::Halt)
                .await
                .unwrap();
            if !state.is_open() {
                self.resume("healthy round").await;
            }
            self.approve_held("healthy round").await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
