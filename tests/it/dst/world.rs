//! One seed's world: the shared ledger and Canvas, the batches arriving, the workers looping
//! (and killed or stopped), the rounds — the run itself. The people around it are in
//! `operators`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvas_sis::canvas::{BatchMode, BatchModeTerm, ImportOptions};
use canvas_sis::config::Blackout;
use canvas_sis::ledger::{
    BatchId, BatchRecord, BatchSource, Ledger, LedgerError, MemoryStore, NewBatch, Stage,
};
use canvas_sis::pipeline::WaitPolicy;
use canvas_sis::pipeline::staged::{RunError, Staged};
use canvas_sis::pipeline::tenant::TenantRun;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::common::canvas::{CanvasFaults, ScriptedCanvas};
use crate::common::sim_clock;
use crate::common::trace::Trace;
use crate::common::{COURSES, users_csv};

use super::cloud::Cloud;
use super::cloud_plan::{CloudPlan, LambdaPlan};
use super::plan::Plan;
use super::second::Second;
use super::store::{FaultyStore, StoreCtl, StoreFaults};
use super::{TENANT, epoch};

/// The term a snapshot tenant's batches replace (`batch_mode_term_id=sis_term_id:…`).
const SNAPSHOT_TERM: &str = "fall";

/// How long a stopped worker may take to finish its step before it is killed (Kubernetes'
/// default termination grace period).
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Which world a seed runs in: batches dropped in a folder for `Staged::run_tenant` loops, or
/// uploaded to the drop bucket for whole `canvas-sis run` workers (`cloud`) or for the Lambda
/// function behind the queue's event source mapping (`lambda`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Folder,
    Cloud,
    Lambda,
}

/// One seed's world (module docs).
pub struct World {
    pub(super) plan: Plan,
    pub(super) canvas: Arc<ScriptedCanvas>,
    /// The queue, bucket and worker settings of a cloud world (`cloud`); `None` in the folder
    /// world.
    pub(super) cloud: Option<Cloud>,
    pub(super) store: FaultyStore,
    /// What the workers use: through the faulty store.
    pub(super) ledger: Ledger<FaultyStore>,
    /// The harness's own view of the same map, without faults: arrivals, lease expiry, checks.
    pub(super) clean: Ledger<MemoryStore>,
    pub(super) rng: Mutex<fastrand::Rng>,
    pub(super) trace: Trace,
    /// Errors no pass should end with (an illegal stage change), as the passes met them.
    pub(super) noise: Mutex<Vec<String>>,
    /// Every acknowledgment of failures an operator's `resume` reported: when, which batches.
    pub(super) acks: Mutex<Vec<(tokio::time::Instant, Vec<BatchId>)>>,
    /// Every batch an operator approved past the mass-change guard, and when (simulated wall
    /// clock).
    pub(super) approved: Mutex<Vec<(chrono::DateTime<chrono::Utc>, BatchId)>>,
    pub(super) inputs: tempfile::TempDir,
    /// One work directory per worker slot: its host's disk.
    pub(super) work: Vec<tempfile::TempDir>,
}

impl World {
    /// Seeds everything on this thread: the world's RNG, fastrand's thread RNG (the pipeline's
    /// lease holder ids) and the simulated wall clock. A cloud world draws its own parts after
    /// everything the folder world draws, so a seed's folder world is the same either way; a
    /// Lambda world draws the function's settings after the cloud world's parts.
    pub(super) fn new(seed: u64, verbose: bool, kind: Kind) -> World {
        sim_clock::start(epoch());
        fastrand::seed(seed);
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut plan = Plan::draw(&mut rng);
        // A stream of its own: the rest of the world is drawn as before.
        plan.snapshots = fastrand::Rng::with_seed(seed ^ 0x5a47_5b07_d1e5_0001).f64() < 0.3;
        let trace = if verbose {
            Trace::verbose()
        } else {
            Trace::default()
        };
        let memory = MemoryStore::new();
        let store = FaultyStore {
            inner: memory.clone(),
            ctl: Arc::new(StoreCtl {
                faults: Mutex::new(plan.store.clone()),
                rng: Mutex::new(fastrand::Rng::with_seed(rng.u64(..))),
                trace: trace.clone(),
            }),
        };
        let canvas = Arc::new(ScriptedCanvas::new(
            plan.canvas.clone(),
            rng.u64(..),
            trace.clone(),
        ));
        for (n, fate) in plan.fates.iter().enumerate() {
            canvas.set_fate(users_of(&plan, n).as_bytes(), *fate);
        }
        let cloud = (kind != Kind::Folder).then(|| {
            let mut drawn = CloudPlan::draw(&mut rng, plan.batches);
            // A stream of its own: the rest of the world is drawn as before.
            drawn.draw_deletions(&mut fastrand::Rng::with_seed(seed ^ 0xde1e_7ed0_0b1e_c750));
            drawn.draw_parallel(&mut fastrand::Rng::with_seed(seed ^ 0x9a7a_11e1_5107_5e75));
            trace.log(format!("cloud: {drawn:?}"));
            let second = Second::draw(seed, &plan.canvas, &trace);
            trace.log(format!("second tenant: uploads at {:?}", second.arrivals));
            let mut cloud = Cloud::new(
                drawn,
                &mut rng,
                canvas.clone(),
                blackout_of(&plan),
                options_of(&plan),
                second,
                &trace,
            );
            if kind == Kind::Lambda {
                let lambda = LambdaPlan::draw(&mut rng, cloud.plan.visibility);
                trace.log(format!("lambda: {lambda:?}"));
                cloud.lambda = Some(lambda);
            }
            cloud
        });
        World {
            canvas,
            cloud,
            ledger: Ledger::new(store.clone()).with_clock(sim_clock::now),
            clean: Ledger::new(memory).with_clock(sim_clock::now),
            store,
            rng: Mutex::new(rng),
            acks: Mutex::new(Vec::new()),
            approved: Mutex::new(Vec::new()),
            noise: Mutex::new(Vec::new()),
            inputs: tempfile::tempdir().unwrap(),
            work: (0..plan.workers)
                .map(|_| tempfile::tempdir().unwrap())
                .collect(),
            trace,
            plan,
        }
    }

    pub(super) fn staged(&self, worker: usize) -> Staged<'_, FaultyStore> {
        let mut staged = crate::common::staged::staged(
            &self.ledger,
            self.canvas.as_ref(),
            TENANT,
            self.work[worker].path(),
            WaitPolicy {
                poll_min: Duration::from_millis(50),
                poll_max: Duration::from_millis(500),
                errors_file_wait: Duration::from_millis(100),
                ..WaitPolicy::default()
            },
            self.plan.lease,
        );
        staged.blackouts = self.blackout().into_iter().collect();
        staged.request.options = self.options();
        staged
    }

    /// The tenant's import options (`options_of`).
    pub(super) fn options(&self) -> ImportOptions {
        options_of(&self.plan)
    }

    /// The plan's blackout window, on the simulated clock.
    pub(super) fn blackout(&self) -> Option<Blackout> {
        blackout_of(&self.plan)
    }

    /// A seeded wait between `min_ms` and `max_ms`.
    pub(super) fn jitter(&self, min_ms: u64, max_ms: u64) -> Duration {
        Duration::from_millis(self.rng.lock().unwrap().u64(min_ms..=max_ms))
    }

    /// The `users.csv` of batch `n` (see [`users_of`]).
    pub(super) fn users_of(&self, n: usize) -> String {
        users_of(&self.plan, n)
    }

    /// Records the batches, in order, at the plan's times, through the fault-free ledger (the
    /// trigger that records them is not what this slice tests).
    pub(super) async fn arrivals(&self) {
        for (n, wait) in self.plan.arrivals.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            let dir = self.inputs.path().join(format!("b{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let users = self.users_of(n);
            std::fs::write(dir.join("users.csv"), &users).unwrap();
            std::fs::write(dir.join("courses.csv"), COURSES).unwrap();
            let sha = {
                use sha2::{Digest, Sha256};
                hex::encode(Sha256::digest(users.as_bytes()))
            };
            let new = NewBatch {
                tenant: TENANT.into(),
                source: BatchSource {
                    kind: "folder".into(),
                    location: dir.display().to_string(),
                    ..Default::default()
                },
                content_sha256: sha,
            };
            let rec = self.clean.create_batch(new).await.unwrap();
            self.trace
                .log(format!("arrival: b{n} is {}", rec.record().id));
        }
    }

    /// Which batch of the plan a record is: by the version its event named, or the digest of
    /// the `users.csv` it read (batches may share an S3 folder), else by its location, which
    /// ends in `b<n>` (a folder).
    pub(super) fn index_of(&self, rec: &BatchRecord) -> Option<usize> {
        // In a cloud world, by the version its event named (its upload's manifest, marker or
        // zip), when the upload is done.
        if let Some(cloud) = &self.cloud
            && let Some(version) = &rec.source.s3_version_id
            && let Some(n) = cloud.sent.lock().unwrap().iter().position(|s| {
                s.as_ref()
                    .is_some_and(|(_, put)| &put.version_id == version)
            })
        {
            return Some(n);
        }
        if let Some(cloud) = &self.cloud
            && let [zip] = rec.source.files.as_slice()
            && zip.name.ends_with(".zip")
        {
            let zipped = cloud.zipped.lock().unwrap();
            return zipped
                .iter()
                .find(|(sha, _)| *sha == zip.sha256)
                .map(|(_, n)| *n);
        }
        if let Some(users) = rec.source.files.iter().find(|f| f.name == "users.csv") {
            use sha2::{Digest, Sha256};
            return (0..self.plan.batches).find(|n| {
                hex::encode(Sha256::digest(self.users_of(*n).as_bytes())) == users.sha256
            });
        }
        let last = rec
            .source
            .location
            .trim_end_matches('/')
            .rsplit('/')
            .next()?;
        last.strip_prefix('b')?.parse().ok()
    }

    /// The record of batch `n` of the plan, if it was recorded.
    pub(super) fn record_of<'b>(
        &self,
        batches: &'b [BatchRecord],
        n: usize,
    ) -> Option<&'b BatchRecord> {
        batches.iter().find(|b| self.index_of(b) == Some(n))
    }

    pub(super) async fn batches(&self) -> Vec<BatchRecord> {
        self.clean.list_batches(TENANT).await.unwrap()
    }

    /// Every batch arrived and ended.
    pub(super) async fn finished(&self) -> bool {
        let batches = self.batches().await;
        batches.len() == self.plan.batches
            && batches
                .iter()
                .all(|b| matches!(b.stage, Stage::Terminal { .. } | Stage::Superseded { .. }))
    }

    /// One worker: passes over the tenant's stream until it is finished, `passes` ran out or it
    /// was stopped (`stop`: it finishes the step under way, then its pass ends).
    pub(super) async fn worker(
        &self,
        w: usize,
        round: usize,
        passes: usize,
        stop: &CancellationToken,
    ) {
        let mut staged = self.staged(w);
        staged.stop = stop.clone();
        for _ in 0..passes {
            let run = staged
                .run_tenant(|r| Some(PathBuf::from(&r.source.location)))
                .await;
            let illegal = match &run {
                Ok(TenantRun {
                    error: Some(RunError::Ledger(e @ LedgerError::IllegalTransition { .. })),
                    ..
                })
                | Err(RunError::Ledger(e @ LedgerError::IllegalTransition { .. })) => Some(e),
                _ => None,
            };
            if let Some(e) = illegal {
                // The pipeline's own races end in Busy or in the other worker's result; an
                // illegal move reaching the pass is an error an operator would be paged for.
                self.noise
                    .lock()
                    .unwrap()
                    .push(format!("w{w} r{round}: a pass failed with {e}"));
            }
            let what = match run {
                Ok(run) => format!(
                    "finished {}, stopped at {}, error {}",
                    run.finished.len(),
                    run.stopped_at
                        .map_or("-".into(), |(r, why)| format!("{} ({why})", r.id)),
                    run.error.map_or("-".into(), |e| e.to_string())
                ),
                Err(e) => format!("error {e}"),
            };
            self.trace.log(format!("w{w} r{round}: pass: {what}"));
            if stop.is_cancelled() {
                self.trace.log(format!("w{w} r{round}: stopped"));
                return;
            }
            if self.finished().await {
                return;
            }
            tokio::time::sleep(self.jitter(50, 500)).await;
        }
    }

    /// A worker that may be interrupted at `kill`: killed (its future dropped wherever it waits
    /// then), or with `stop` stopped as by SIGTERM — it finishes the step under way and exits,
    /// and is killed only if that takes longer than [`STOP_GRACE`].
    ///
    /// A cloud worker that is not killed in the round is stopped at its end
    /// ([`World::round_length`]).
    pub(super) async fn mortal(&self, w: usize, round: usize, kill: Option<Duration>, stop: bool) {
        let token = CancellationToken::new();
        let (kill, stop) = match kill {
            None if self.cloud.is_some() => (Some(self.round_length()), true),
            other => (other, stop),
        };
        let Some(at) = kill else {
            return self.worker(w, round, 20, &token).await;
        };
        let working: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> =
            if self.cloud.is_some() {
                Box::pin(self.cloud_worker(w, round, &token))
            } else {
                Box::pin(self.worker(w, round, 20, &token))
            };
        tokio::pin!(working);
        if tokio::time::timeout(at, &mut working).await.is_ok() {
            return;
        }
        if stop {
            self.trace.log(format!("w{w} r{round}: STOP (SIGTERM)"));
            token.cancel();
            if tokio::time::timeout(STOP_GRACE, &mut working).await.is_ok() {
                return;
            }
        }
        self.trace.log(format!("w{w} r{round}: KILLED"));
    }

    /// The faulty rounds, then the healthy one (module docs).
    pub(super) async fn run(&self) {
        if self.cloud.is_some() {
            tokio::join!(self.rounds(), self.redeliveries());
        } else {
            self.rounds().await;
        }
    }

    async fn rounds(&self) {
        let arrivals: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> =
            if self.cloud.is_some() {
                Box::pin(async {
                    tokio::join!(self.uploads(), self.second_uploads(), self.deletions());
                })
            } else {
                Box::pin(self.arrivals())
            };
        let mut arrivals = Some(arrivals);
        for (round, kills) in self.plan.kills.iter().enumerate() {
            self.trace
                .log(format!("harness: round {round}, kills {kills:?}"));
            let stops = &self.plan.stops[round];
            let workers = join_all(
                kills
                    .iter()
                    .enumerate()
                    .map(|(w, kill)| Box::pin(self.mortal(w, round, *kill, stops[w]))),
            );
            match arrivals.take() {
                Some(a) => {
                    tokio::join!(
                        a,
                        self.operator(),
                        self.approver(),
                        self.rerunner(),
                        self.other_users(),
                        workers
                    );
                }
                None => {
                    workers.await;
                }
            }
        }
        self.trace.log("harness: healthy round (faults off)");
        self.canvas.set_faults(CanvasFaults::default());
        *self.store.ctl.faults.lock().unwrap() = StoreFaults::default();
        self.heal_cloud();
        let round = self.plan.kills.len();
        if self.cloud.is_some() {
            let done = CancellationToken::new();
            let workers = join_all(
                (0..self.plan.workers).map(|w| Box::pin(self.cloud_worker(w, round, &done))),
            );
            tokio::join!(
                workers,
                self.attentive_operator(),
                self.undoer(),
                self.queue_operator(&done)
            );
        } else {
            let never = CancellationToken::new();
            let workers = join_all(
                (0..self.plan.workers).map(|w| Box::pin(self.worker(w, round, 100, &never))),
            );
            tokio::join!(workers, self.attentive_operator(), self.undoer());
        }
        if !self.plan.reruns.is_empty() {
            self.rerun("the morning after").await;
        }
    }
}

/// The tenant's import options: batch mode for one term when it imports full snapshots.
fn options_of(plan: &Plan) -> ImportOptions {
    ImportOptions {
        batch_mode: plan
            .snapshots
            .then(|| BatchMode::Term(BatchModeTerm::SisId(SNAPSHOT_TERM.into()))),
        ..ImportOptions::default()
    }
}

/// The plan's blackout window, on the simulated clock.
fn blackout_of(plan: &Plan) -> Option<Blackout> {
    let epoch = epoch();
    let delta = |d: Duration| chrono::TimeDelta::from_std(d).unwrap();
    plan.blackout.map(|(start, len)| Blackout::Range {
        from: epoch + delta(start),
        to: epoch + delta(start + len),
    })
}

/// The `users.csv` of batch `n` under `plan`: its size names the batch in Canvas's copy. 20 and
/// more users, so that the mass-change guard judges every batch (it leaves feeds under 20 rows
/// alone); a purge marks every one of its users `deleted`, which the guard holds.
pub(super) fn users_of(plan: &Plan, n: usize) -> String {
    let users = users_csv(20 + n);
    if plan.purges.get(n).copied().unwrap_or(false) {
        users.replace(",active\n", ",deleted\n")
    } else {
        users
    }
}
