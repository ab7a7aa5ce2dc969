//! What a seed decides before its world runs: the batches, their fates and which are purges, the
//! workers and when each is killed, the operator's acts and approvals, the other user's imports,
//! the blackout, the faults, and whether a worker is killed or stopped.

use std::time::Duration;

use crate::common::canvas::{CanvasFaults, Fate};

use super::LEASES;
use super::store::StoreFaults;

/// What an operator does at a seeded moment of the first round.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Pause,
    Resume,
}

/// Everything a seed decided before the run starts.
#[derive(Debug)]
pub struct Plan {
    pub(super) batches: usize,
    /// What Canvas makes of each batch's content.
    pub(super) fates: Vec<Fate>,
    /// The operator's actions during the first round: after how long, what.
    pub(super) acts: Vec<(Duration, Act)>,
    /// Imports another user of the account makes by hand during the first round: after how
    /// long each.
    pub(super) others: Vec<Duration>,
    /// The tenant's blackout window, if any: its start after the epoch, and its length.
    pub(super) blackout: Option<(Duration, Duration)>,
    pub(super) workers: usize,
    /// Pause before each batch arrives.
    pub(super) arrivals: Vec<Duration>,
    /// Per faulty round, per worker: when it is killed (`None`: it runs its passes out).
    pub(super) kills: Vec<Vec<Option<Duration>>>,
    pub(super) canvas: CanvasFaults,
    pub(super) store: StoreFaults,
    pub(super) lease: Duration,
    /// Per batch: a purge (every user `deleted`), which the mass-change guard holds until an
    /// operator approves it.
    pub(super) purges: Vec<bool>,
    /// When the operator of the first round approves whatever the guard holds.
    pub(super) approvals: Vec<Duration>,
    /// Per faulty round, per worker: whether its interruption (`kills`) is a stop (SIGTERM:
    /// the step under way finishes, within a grace period) rather than a kill.
    pub(super) stops: Vec<Vec<bool>>,
    /// When an operator runs the one-shot `import` again on the files of a batch the stream
    /// already imported (a mistaken re-run, which must be refused).
    pub(super) reruns: Vec<Duration>,
    /// When an operator undoes the newest imported batch (`canvas-sis undo`: Canvas's
    /// `restore_states`, with the tenant paused while it runs).
    pub(super) undos: Vec<Duration>,
    /// The tenant imports full snapshots (batch mode, one term): an older unsent batch is
    /// superseded by a newer one waiting. Drawn by the world from a stream of its own.
    pub(super) snapshots: bool,
}

impl Plan {
    pub fn draw(rng: &mut fastrand::Rng) -> Plan {
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
                // New draws go after them.
                max_upload: Duration::ZERO,
                p_orphan_of_cut_upload: 0.0,
            },
            store: StoreFaults {
                latency: ms(rng, 50),
                p_fail_before: pick(rng, &[0.0, 0.02, 0.05]),
                p_lose_answer: pick(rng, &[0.0, 0.02, 0.05]),
            },
            lease: LEASES[rng.usize(..LEASES.len())],
            purges: Vec::new(),
            approvals: Vec::new(),
            stops: Vec::new(),
            reruns: Vec::new(),
            undos: Vec::new(),
            snapshots: false,
        };
        plan.canvas.max_upload =
            Duration::from_millis(pick(rng, &[0.0, 0.0, 2000.0, 6000.0]) as u64);
        plan.canvas.p_orphan_of_cut_upload = pick(rng, &[0.0, 0.5, 1.0]);
        let p_purge = pick(rng, &[0.0, 0.0, 0.2, 0.5]);
        plan.purges = (0..batches).map(|_| rng.f64() < p_purge).collect();
        plan.approvals = (0..rng.usize(0..=2)).map(|_| ms(rng, 8000)).collect();
        plan.stops = (0..rounds)
            .map(|_| (0..workers).map(|_| rng.bool()).collect())
            .collect();
        plan.reruns = (0..rng.usize(0..=2)).map(|_| ms(rng, 15_000)).collect();
        plan.undos = (0..rng.usize(0..=2)).map(|_| ms(rng, 15_000)).collect();
        plan
    }
}
