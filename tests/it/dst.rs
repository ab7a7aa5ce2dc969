//! Deterministic simulation testing (issue 16): seeded worlds of one tenant, several workers,
//! a faulty ledger, a faulty Canvas shared with another user, an operator and a blackout
//! window, run on a paused tokio clock, with the pipeline's promises checked after every seed.
//! `docs/simulation.md` says how to run it, what it covers and what it does not yet.
//!
//! **A world** (all drawn from `fastrand::Rng::with_seed(seed)`): one tenant; 2–4 batches (small
//! valid CSVs, each batch's `users.csv` a different size so Canvas's copy names its batch)
//! recorded in arrival order at seeded times, each with a fate in Canvas (imported, imported
//! with a warning, failed, or its create refused with a 400); 1–3 workers, each a loop of
//! [`Staged::run_tenant`] over ONE shared ledger and ONE shared [`ScriptedCanvas`], with its own
//! work directory (its host's disk, kept across its restarts); a submit lease of 1, 3 or 10 s;
//! maybe a blackout window; an operator who pauses and resumes at seeded moments; another user
//! of the account who imports by hand. Everything runs on one current-thread runtime with
//! paused time: tasks switch only at the seeded delays of the fakes and the pipeline's own
//! sleeps, time jumps when every task waits, and the ledger's clock (`common::sim_clock`) is
//! that paused clock, so leases expire, evidence windows close and blackouts open by the seed.
//!
//! **Faults.** The ledger store ([`FaultyStore`] over `MemoryStore`) may fail a write before
//! applying it, or apply it and then report failure (a lost answer), and answers after a seeded
//! latency. Canvas may lose a create's answer after making the import (`CreateOutcomeUnknown`),
//! refuse a create with a 429, take seconds over a create's upload, answer a read with a 503,
//! leave an import `created` or `importing` for seconds, and answer slowly. A worker may be killed — its future dropped at
//! whatever await point a seeded `tokio::time::timeout` finds it — and is restarted in the next
//! round; its lease runs out on the simulated clock while the others go on. A run is 1–3 faulty
//! rounds, then one healthy round: faults off, every worker restarted and looping until the
//! stream is finished, and an attentive operator who resumes whatever is paused or halted.
//!
//! **Invariants**, checked after every seed: each batch's content reached Canvas at most once,
//! and exactly once unless Canvas refused its create; Canvas never saw a create of ours while
//! another import of ours was in flight (the scripted Canvas checks this as it goes); Canvas saw
//! the batches in arrival order; after a batch failed in Canvas, no create until an operator's
//! resume acknowledged the failure; no create of ours inside the blackout window (past the
//! few calls of a send that checked just before it opened); the healthy round finished the
//! stream; and the ledger agrees with Canvas (each batch terminal as its fate says, recording
//! the id of the import Canvas made from its zip).
//!
//! **Seeds.** `SIM_SEEDS=N` runs seeds `0..N` (default [`DEFAULT_SEEDS`], the CI budget) after
//! the [`KEPT_SEEDS`], on every core (`SIM_THREADS`); `SIM_SEED=N` replays one seed and prints
//! its trace with every call and wait. A failing seed panics with its breaches, its trace and
//! the command that replays it:
//! `SIM_SEED=N cargo test --locked --test it -- dst:: --nocapture`.
//! [`a_seed_replays_exactly`] holds the harness to its word: 30 seeds run twice must leave the
//! same verbose trace, to the simulated millisecond.
//!
//! **It can see**: `scripts/mutants.sh` re-introduces each defect kept under `tests/mutations/`
//! and reports the seed that catches it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvas_sis::config::{Blackout, OnFailure};
use canvas_sis::ledger::{
    BatchId, BatchRecord, BatchSource, Ledger, LedgerError, LedgerStore, MemoryStore, NewBatch,
    Stage, Version,
};
use canvas_sis::pipeline::WaitPolicy;
use canvas_sis::pipeline::gate;
use canvas_sis::pipeline::operator::{self, Resumed};
use canvas_sis::pipeline::staged::{RunError, Staged};
use canvas_sis::pipeline::tenant::TenantRun;
use futures_util::future::join_all;

use crate::common::canvas::{CanvasFaults, Fate, OUR_USER, ScriptedCanvas, Trace, zip_entry};
use crate::common::sim_clock;
use crate::common::{COURSES, users_csv};

/// Seeds run when `SIM_SEEDS` is not set: the CI budget, about a minute on two cores in a
/// debug build.
const DEFAULT_SEEDS: u64 = 2000;
/// Seeds that once failed, run on top of the budget (each found with the world generator of its
/// day; the mutation patches are what keeps a defect found whatever the draw): 42 and 422 caught
/// harness artifacts of an earlier lease expiry; 11 a takeover that re-uploaded inside a
/// blackout; 6 two workers validating one batch, the second's pass failing on the stale step;
/// 1332 a second worker that found the failed batch ended and sent the next one past it.
const KEPT_SEEDS: [u64; 5] = [42, 422, 11, 6, 1332];
const TENANT: &str = "main";
/// The submit leases a seed draws from: a live worker renews its lease every third of it; a
/// killed one's runs out on the simulated clock while the others go on.
const LEASES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
];
/// The account's other user, who imports by hand now and then.
const OTHER_USER: u64 = 99;
/// When every simulation starts, by the simulated wall clock (`common::sim_clock`).
const EPOCH: &str = "2026-09-01T02:00:00Z";

/// What the ledger store does wrong, and how slowly.
#[derive(Debug, Clone, Default)]
struct StoreFaults {
    latency: Duration,
    /// Chance that a write fails before it is applied.
    p_fail_before: f64,
    /// Chance that a write is applied and then reported failed.
    p_lose_answer: f64,
}

#[derive(Debug)]
struct StoreCtl {
    faults: Mutex<StoreFaults>,
    rng: Mutex<fastrand::Rng>,
    trace: Trace,
}

/// A [`LedgerStore`] over a `MemoryStore` whose writes fail by the seed (module docs).
#[derive(Debug, Clone)]
struct FaultyStore {
    inner: MemoryStore,
    ctl: Arc<StoreCtl>,
}

impl FaultyStore {
    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.ctl.rng.lock().unwrap().f64() < p
    }

    fn faults(&self) -> StoreFaults {
        self.ctl.faults.lock().unwrap().clone()
    }

    async fn delay(&self, op: &str, key: &str) {
        let max = self.faults().latency.as_millis() as u64;
        if max > 0 {
            let ms = self.ctl.rng.lock().unwrap().u64(0..=max);
            self.ctl
                .trace
                .detail(|| format!("ledger: {op} {key} waits {ms}ms"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn injected(&self, op: &str, key: &str, when: &str) -> LedgerError {
        self.ctl
            .trace
            .log(format!("ledger: {op} {key} FAILS {when}"));
        LedgerError::io(
            key,
            std::io::Error::other(format!("injected failure {when}")),
        )
    }

    /// A write: latency, maybe a failure before it, `apply`, maybe a lost answer after it.
    async fn write<T>(
        &self,
        op: &str,
        key: &str,
        apply: impl Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        self.delay(op, key).await;
        let faults = self.faults();
        if self.chance(faults.p_fail_before) {
            return Err(self.injected(op, key, "before applying"));
        }
        let out = apply.await;
        if out.is_ok() && self.chance(faults.p_lose_answer) {
            self.delay(op, key).await;
            return Err(self.injected(op, key, "after applying (answer lost)"));
        }
        out
    }
}

impl LedgerStore for FaultyStore {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        self.delay("get", key).await;
        self.inner.get(key).await
    }

    async fn create(&self, key: &str, body: &[u8]) -> Result<Version, LedgerError> {
        self.write("create", key, self.inner.create(key, body))
            .await
    }

    async fn update(
        &self,
        key: &str,
        body: &[u8],
        expected: &Version,
    ) -> Result<Version, LedgerError> {
        self.write("update", key, self.inner.update(key, body, expected))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        self.delay("list", prefix).await;
        self.inner.list(prefix).await
    }

    async fn put_blob(&self, key: &str, body: &[u8]) -> Result<(), LedgerError> {
        self.write("put_blob", key, self.inner.put_blob(key, body))
            .await
    }

    /// Reads the file on the runtime's thread: `MemoryStore` reads it with `tokio::fs` (a
    /// blocking-pool thread), whose answer comes back after however long the read really took,
    /// so two runs of a seed would interleave differently (`a_seed_replays_exactly` found it).
    async fn put_blob_file(&self, key: &str, path: &Path) -> Result<(), LedgerError> {
        let body = std::fs::read(path).map_err(|e| LedgerError::io(key, e))?;
        self.write("put_blob_file", key, self.inner.put_blob(key, &body))
            .await
    }

    async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.delay("get_blob", key).await;
        self.inner.get_blob(key).await
    }
}

/// What an operator does at a seeded moment of the first round.
#[derive(Debug, Clone, Copy)]
enum Act {
    Pause,
    Resume,
}

/// Everything a seed decided before the run starts.
#[derive(Debug)]
struct Plan {
    batches: usize,
    /// What Canvas makes of each batch's content.
    fates: Vec<Fate>,
    /// The operator's actions during the first round: after how long, what.
    acts: Vec<(Duration, Act)>,
    /// Imports another user of the account makes by hand during the first round: after how
    /// long each.
    others: Vec<Duration>,
    /// The tenant's blackout window, if any: its start after the epoch, and its length.
    blackout: Option<(Duration, Duration)>,
    workers: usize,
    /// Pause before each batch arrives.
    arrivals: Vec<Duration>,
    /// Per faulty round, per worker: when it is killed (`None`: it runs its passes out).
    kills: Vec<Vec<Option<Duration>>>,
    canvas: CanvasFaults,
    store: StoreFaults,
    lease: Duration,
}

impl Plan {
    fn draw(rng: &mut fastrand::Rng) -> Plan {
        let batches = rng.usize(2..=4);
        let workers = rng.usize(1..=3);
        let rounds = rng.usize(1..=3);
        let ms = |rng: &mut fastrand::Rng, max: u64| Duration::from_millis(rng.u64(0..=max));
        let pick = |rng: &mut fastrand::Rng, of: &[f64]| of[rng.usize(..of.len())];
        let p_bad = pick(rng, &[0.0, 0.0, 0.15, 0.35]);
        let bad = [Fate::ImportedWithMessages, Fate::Failed, Fate::Refused];
        let mut plan = Plan {
            batches,
            fates: (0..batches)
                .map(|_| {
                    if rng.f64() < p_bad {
                        bad[rng.usize(..bad.len())]
                    } else {
                        Fate::Imported
                    }
                })
                .collect(),
            acts: (0..rng.usize(0..=3))
                .map(|_| {
                    let act = if rng.bool() { Act::Pause } else { Act::Resume };
                    (ms(rng, 4000), act)
                })
                .collect(),
            others: (0..rng.usize(0..=2)).map(|_| ms(rng, 5000)).collect(),
            blackout: rng
                .bool()
                .then(|| (ms(rng, 10_000), Duration::from_millis(rng.u64(500..=8000)))),
            workers,
            arrivals: (0..batches).map(|_| ms(rng, 800)).collect(),
            kills: (0..rounds)
                .map(|_| {
                    (0..workers)
                        .map(|_| rng.bool().then(|| ms(rng, 3000)))
                        .collect()
                })
                .collect(),
            canvas: CanvasFaults {
                latency: ms(rng, 200),
                p_transient: pick(rng, &[0.0, 0.05, 0.2]),
                p_throttle_create: pick(rng, &[0.0, 0.1, 0.3]),
                p_lose_answer: pick(rng, &[0.0, 0.2, 0.5]),
                max_stage: ms(rng, 3000),
                // Drawn last (below): a new draw in the middle would change every seed's world.
                max_upload: Duration::ZERO,
            },
            store: StoreFaults {
                latency: ms(rng, 50),
                p_fail_before: pick(rng, &[0.0, 0.02, 0.05]),
                p_lose_answer: pick(rng, &[0.0, 0.02, 0.05]),
            },
            lease: LEASES[rng.usize(..LEASES.len())],
        };
        plan.canvas.max_upload =
            Duration::from_millis(pick(rng, &[0.0, 0.0, 2000.0, 6000.0]) as u64);
        plan
    }
}

/// One seed's world (module docs).
struct World {
    plan: Plan,
    canvas: ScriptedCanvas,
    store: FaultyStore,
    /// What the workers use: through the faulty store.
    ledger: Ledger<FaultyStore>,
    /// The harness's own view of the same map, without faults: arrivals, lease expiry, checks.
    clean: Ledger<MemoryStore>,
    rng: Mutex<fastrand::Rng>,
    trace: Trace,
    /// Errors no pass should end with (an illegal stage change), as the passes met them.
    noise: Mutex<Vec<String>>,
    /// Every acknowledgment of failures an operator's `resume` reported: when, which batches.
    acks: Mutex<Vec<(tokio::time::Instant, Vec<BatchId>)>>,
    inputs: tempfile::TempDir,
    /// One work directory per worker slot: its host's disk.
    work: Vec<tempfile::TempDir>,
}

impl World {
    /// Seeds everything on this thread: the world's RNG, fastrand's thread RNG (the pipeline's
    /// lease holder ids) and the simulated wall clock.
    fn new(seed: u64, verbose: bool) -> World {
        sim_clock::start(EPOCH.parse().unwrap());
        fastrand::seed(seed);
        let mut rng = fastrand::Rng::with_seed(seed);
        let plan = Plan::draw(&mut rng);
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
        let canvas = ScriptedCanvas::new(plan.canvas.clone(), rng.u64(..), trace.clone());
        for (n, fate) in plan.fates.iter().enumerate() {
            canvas.set_fate(Self::users_of(n).as_bytes(), *fate);
        }
        World {
            canvas,
            ledger: Ledger::new(store.clone()).with_clock(sim_clock::now),
            clean: Ledger::new(memory).with_clock(sim_clock::now),
            store,
            rng: Mutex::new(rng),
            acks: Mutex::new(Vec::new()),
            noise: Mutex::new(Vec::new()),
            inputs: tempfile::tempdir().unwrap(),
            work: (0..plan.workers)
                .map(|_| tempfile::tempdir().unwrap())
                .collect(),
            trace,
            plan,
        }
    }

    fn staged(&self, worker: usize) -> Staged<'_, FaultyStore> {
        let mut staged = crate::common::staged::staged(
            &self.ledger,
            &self.canvas,
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
        staged
    }

    /// The plan's blackout window, on the simulated clock.
    fn blackout(&self) -> Option<Blackout> {
        let epoch: chrono::DateTime<chrono::Utc> = EPOCH.parse().unwrap();
        let delta = |d: Duration| chrono::TimeDelta::from_std(d).unwrap();
        self.plan.blackout.map(|(start, len)| Blackout::Range {
            from: epoch + delta(start),
            to: epoch + delta(start + len),
        })
    }

    fn pause(&self, min_ms: u64, max_ms: u64) -> Duration {
        Duration::from_millis(self.rng.lock().unwrap().u64(min_ms..=max_ms))
    }

    /// The `users.csv` of batch `n`: its size names the batch in Canvas's copy.
    fn users_of(n: usize) -> String {
        users_csv(3 + n)
    }

    /// Records the batches, in order, at the plan's times, through the fault-free ledger (the
    /// trigger that records them is not what this slice tests).
    async fn arrivals(&self) {
        for (n, wait) in self.plan.arrivals.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            let dir = self.inputs.path().join(format!("b{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let users = Self::users_of(n);
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

    async fn batches(&self) -> Vec<BatchRecord> {
        self.clean.list_batches(TENANT).await.unwrap()
    }

    /// Every batch arrived and ended.
    async fn finished(&self) -> bool {
        let batches = self.batches().await;
        batches.len() == self.plan.batches
            && batches
                .iter()
                .all(|b| matches!(b.stage, Stage::Terminal { .. } | Stage::Superseded { .. }))
    }

    /// One worker: passes over the tenant's stream until it is finished or `passes` ran out.
    async fn worker(&self, w: usize, round: usize, passes: usize) {
        let staged = self.staged(w);
        for _ in 0..passes {
            let run = staged
                .run_tenant(|r| Some(PathBuf::from(&r.source.location)))
                .await;
            if let Ok(TenantRun {
                error: Some(RunError::Ledger(e @ LedgerError::IllegalTransition { .. })),
                ..
            }) = &run
            {
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
            if self.finished().await {
                return;
            }
            tokio::time::sleep(self.pause(50, 500)).await;
        }
    }

    /// A worker that may be killed at `kill`: its future is dropped wherever it waits then.
    async fn mortal(&self, w: usize, round: usize, kill: Option<Duration>) {
        let Some(at) = kill else {
            return self.worker(w, round, 20).await;
        };
        if tokio::time::timeout(at, self.worker(w, round, 20))
            .await
            .is_err()
        {
            self.trace.log(format!("w{w} r{round}: KILLED"));
        }
    }

    /// An operator's `resume`, through the fault-free ledger (an operator sees a failed command
    /// and runs it again): the failures it acknowledged are remembered for the invariants.
    async fn resume(&self, why: &str) {
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

    /// The operator of the first round: the plan's pauses and resumes, at its moments.
    async fn operator(&self) {
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
    async fn other_users(&self) {
        for wait in &self.plan.others {
            tokio::time::sleep(*wait).await;
            let runs_for = self.pause(0, 4000);
            self.canvas.someone_else_imports(OTHER_USER, runs_for);
        }
    }

    /// The operator of the healthy round: whenever the tenant is paused or halted, looks and
    /// resumes it, until the stream is finished.
    async fn attentive_operator(&self) {
        for _ in 0..200 {
            if self.finished().await {
                return;
            }
            let state = gate::current(&self.clean, TENANT, OnFailure::Halt)
                .await
                .unwrap();
            if !state.is_open() {
                self.resume("healthy round").await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The faulty rounds, then the healthy one (module docs).
    async fn run(&self) {
        let arrivals = self.arrivals();
        let mut arrivals = Some(Box::pin(arrivals));
        for (round, kills) in self.plan.kills.iter().enumerate() {
            self.trace
                .log(format!("harness: round {round}, kills {kills:?}"));
            let workers = join_all(
                kills
                    .iter()
                    .enumerate()
                    .map(|(w, kill)| Box::pin(self.mortal(w, round, *kill))),
            );
            match arrivals.take() {
                Some(a) => {
                    tokio::join!(a, self.operator(), self.other_users(), workers);
                }
                None => {
                    workers.await;
                }
            }
        }
        self.trace.log("harness: healthy round (faults off)");
        self.canvas.set_faults(CanvasFaults::default());
        *self.store.ctl.faults.lock().unwrap() = StoreFaults::default();
        let round = self.plan.kills.len();
        let workers =
            join_all((0..self.plan.workers).map(|w| Box::pin(self.worker(w, round, 100))));
        tokio::join!(workers, self.attentive_operator());
    }

    /// The batch whose content a posted zip carries, by its `users.csv`.
    fn batch_of(&self, zip: &[u8]) -> Option<usize> {
        let users = zip_entry(zip, "users.csv")?;
        (0..self.plan.batches).find(|n| Self::users_of(*n).as_bytes() == users.as_slice())
    }

    /// The invariants (module docs): every breach found, empty when the seed is clean.
    async fn breaches(&self) -> Vec<String> {
        let mut out = Vec::new();
        let batches = self.batches().await;
        // Canvas's side: each import (id, batch, created, ended if it failed), each refusal.
        let (made, refused) = {
            let a = self.canvas.account();
            out.extend(a.overlaps.iter().cloned());
            let made: Vec<_> = a
                .made
                .iter()
                .filter(|m| m.by() == OUR_USER)
                .map(|m| {
                    let failed = (m.fate == Fate::Failed).then(|| m.ends());
                    (m.import.id, self.batch_of(&m.zip), m.created, failed)
                })
                .collect();
            let refused: Vec<_> = a
                .refused
                .iter()
                .map(|r| (r.at, self.batch_of(&r.zip)))
                .collect();
            (made, refused)
        };
        let sent: Vec<usize> = made.iter().filter_map(|m| m.1).collect();
        if sent.len() != made.len() {
            out.push(format!("Canvas holds an import of no batch: {made:?}"));
        }
        for (n, fate) in self.plan.fates.iter().enumerate() {
            let ids: Vec<u64> = made
                .iter()
                .filter(|m| m.1 == Some(n))
                .map(|m| m.0)
                .collect();
            let expected = usize::from(*fate != Fate::Refused);
            if ids.len() != expected {
                out.push(format!(
                    "b{n} ({fate:?}) reached Canvas {} times (imports {ids:?})",
                    ids.len()
                ));
            }
        }
        if !sent.is_sorted() {
            out.push(format!(
                "Canvas saw the batches out of arrival order: {sent:?}"
            ));
        }
        out.extend(self.sent_past_a_failure(&batches, &made, &refused));
        out.extend(self.sent_in_a_blackout());
        out.extend(self.noise.lock().unwrap().iter().cloned());
        if !self.finished().await {
            let stages: Vec<_> = batches.iter().map(|b| b.stage.name()).collect();
            out.push(format!(
                "the healthy round did not finish the stream: {stages:?}"
            ));
        }
        for (n, b) in batches.iter().enumerate() {
            let fate = self.plan.fates[n];
            let (state, ok) = match fate {
                Fate::Imported => ("imported", true),
                Fate::ImportedWithMessages => ("imported_with_messages", true),
                Fate::Failed => ("failed_with_messages", false),
                Fate::Refused => ("rejected", false),
            };
            let expected = Stage::Terminal {
                state: state.into(),
                ok,
            };
            let canvas_id = made.iter().find(|m| m.1 == Some(n)).map(|m| m.0);
            if b.stage != expected || b.canvas_import_id != canvas_id {
                out.push(format!(
                    "ledger disagrees with Canvas on b{n} ({fate:?}): {:?} with import {:?}, Canvas made {canvas_id:?}",
                    b.stage, b.canvas_import_id
                ));
            }
        }
        out
    }

    /// No create of ours was sent inside the blackout window, past the few calls a send that
    /// checked the window just before it opened still makes (the listing, `users/self`, the
    /// lease's write). An upload sent before the window may end inside it.
    fn sent_in_a_blackout(&self) -> Vec<String> {
        let Some(Blackout::Range { from, to }) = self.blackout() else {
            return Vec::new();
        };
        let calls = self.plan.canvas.latency * 4 + self.plan.store.latency * 6;
        let grace = chrono::TimeDelta::from_std(calls + Duration::from_millis(100)).unwrap();
        let a = self.canvas.account();
        a.made
            .iter()
            .filter(|m| m.by() == OUR_USER)
            .filter_map(|m| {
                let at = m.sent_at;
                (from + grace <= at && at < to).then(|| {
                    format!(
                        "import {} was sent {} into the blackout {from} - {to}",
                        m.import.id,
                        at - from
                    )
                })
            })
            .collect()
    }

    /// "Never past a failure": after a batch failed in Canvas (its import ended failed, or its
    /// create was refused), Canvas saw no create until an operator's resume acknowledged it.
    fn sent_past_a_failure(
        &self,
        batches: &[BatchRecord],
        made: &[(
            u64,
            Option<usize>,
            tokio::time::Instant,
            Option<tokio::time::Instant>,
        )],
        refused: &[(tokio::time::Instant, Option<usize>)],
    ) -> Vec<String> {
        let failures = made
            .iter()
            .filter_map(|m| Some((m.3?, m.1?)))
            .chain(refused.iter().filter_map(|r| Some((r.0, r.1?))));
        let acks = self.acks.lock().unwrap();
        let mut out = Vec::new();
        for (failed_at, n) in failures {
            let Some(id) = batches.get(n).map(|b| &b.id) else {
                continue;
            };
            for (import, _, created, _) in made.iter().filter(|m| m.2 > failed_at) {
                let acknowledged = acks
                    .iter()
                    .any(|(at, ids)| *at >= failed_at && *at <= *created && ids.contains(id));
                if !acknowledged {
                    out.push(format!(
                        "import {import} was created {:?} after b{n} failed, before any resume acknowledged it",
                        *created - failed_at
                    ));
                }
            }
        }
        out
    }
}

/// Runs one seed on a paused current-thread runtime on this thread: its breaches and its trace
/// (with every call and wait if `verbose`).
fn simulate(seed: u64, verbose: bool) -> (Vec<String>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let world = World::new(seed, verbose);
        world.trace.log(format!("seed {seed}: {:?}", world.plan));
        world.run().await;
        (world.breaches().await, world.trace.lines())
    })
}

/// A seed that broke something: where it stands in the run order, its breaches (or its panic)
/// and its trace.
struct Failed {
    position: usize,
    seed: u64,
    breaches: Vec<String>,
    trace: Vec<String>,
}

/// Runs `seeds` on `threads` threads, each taking the next seed in order; after a failure no
/// new seed starts. Returns the traces of every seed run if `keep_traces`, and the failure
/// earliest in the order (every seed before it ran, so it is the first failing seed whatever
/// the thread count).
fn run_seeds(
    seeds: &[u64],
    threads: usize,
    keep_traces: bool,
) -> (Vec<Vec<String>>, Option<Failed>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::<Failed>::new());
    let traces = Mutex::new(vec![Vec::new(); if keep_traces { seeds.len() } else { 0 }]);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            // The pipeline's futures are large in a debug build: a roomy stack.
            std::thread::Builder::new()
                .stack_size(32 << 20)
                .spawn_scoped(scope, || {
                    while !stop.load(Ordering::SeqCst) {
                        let position = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&seed) = seeds.get(position) else {
                            return;
                        };
                        let run = std::panic::catch_unwind(|| simulate(seed, keep_traces));
                        let (breaches, trace) = run.unwrap_or_else(|panic| {
                            let what = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default();
                            (vec![format!("the simulation panicked: {what}")], Vec::new())
                        });
                        if breaches.is_empty() {
                            if keep_traces {
                                traces.lock().unwrap()[position] = trace;
                            }
                            continue;
                        }
                        stop.store(true, Ordering::SeqCst);
                        failures.lock().unwrap().push(Failed {
                            position,
                            seed,
                            breaches,
                            trace,
                        });
                    }
                })
                .unwrap();
        }
    });
    let first = failures
        .into_inner()
        .unwrap()
        .into_iter()
        .min_by_key(|f| f.position);
    (traces.into_inner().unwrap(), first)
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
    )
}

/// `SIM_THREADS`, else every core.
fn threads() -> usize {
    env_u64("SIM_THREADS").map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    )
}

#[test]
fn every_seed_sends_each_batch_once_in_order_and_never_past_a_failure_and_the_ledger_agrees() {
    let replay = env_u64("SIM_SEED");
    let seeds: Vec<u64> = match replay {
        Some(n) => vec![n],
        None => KEPT_SEEDS
            .into_iter()
            .chain(0..env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS))
            .collect(),
    };
    let started = std::time::Instant::now();
    let (traces, failed) = run_seeds(&seeds, threads(), replay.is_some());
    if let Some(f) = failed {
        eprintln!("--- seed {} trace ---\n{}", f.seed, f.trace.join("\n"));
        panic!(
            "dst: seed {} breaks the pipeline's guarantees (seed number {} of the run, after {:.1?}):\n  {}\nreplay: SIM_SEED={} cargo test --locked --test it -- dst:: --nocapture",
            f.seed,
            f.position + 1,
            started.elapsed(),
            f.breaches.join("\n  "),
            f.seed
        );
    }
    if replay.is_some() {
        eprintln!("--- seed {} trace ---\n{}", seeds[0], traces[0].join("\n"));
    }
    let took = started.elapsed();
    eprintln!(
        "dst: {} seeds clean in {took:.1?} ({:.1} seeds/s, {} threads)",
        seeds.len(),
        seeds.len() as f64 / took.as_secs_f64(),
        threads()
    );
}

/// A failing seed is only worth its number if running it again does exactly the same: every
/// event of its trace, at the same simulated millisecond.
#[test]
fn a_seed_replays_exactly() {
    let seeds: Vec<u64> = (1000..1030).collect();
    let (first, failed) = run_seeds(&seeds, threads(), true);
    assert!(failed.is_none(), "seeds 1000..1030 run clean");
    let (second, _) = run_seeds(&seeds, threads(), true);
    for (n, seed) in seeds.iter().enumerate() {
        assert!(first[n].len() > 3, "seed {seed} left a trace");
        let differ = first[n].iter().zip(&second[n]).position(|(a, b)| a != b);
        assert!(
            differ.is_none() && first[n].len() == second[n].len(),
            "seed {seed} ran differently the second time, from line {differ:?}:\n{}\n---\n{}",
            first[n][differ.unwrap_or(0).saturating_sub(6)..].join("\n"),
            second[n][differ.unwrap_or(0).saturating_sub(6)..].join("\n")
        );
    }
}
