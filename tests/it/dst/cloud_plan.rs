//! What a seed decides for the cloud world before it runs (`cloud`): how each batch is
//! uploaded (a folder closed by a manifest or `READY`, or a zip; its own name or the previous
//! batch's; files late; digests listed), which events EventBridge delivers twice, the queue's
//! visibility and `maxReceiveCount`, and the faults of the queue and the bucket; and for a
//! Lambda world, the function's settings (`LambdaPlan`).

use std::time::Duration;

use super::objects::ObjectFaults;
use super::queue::QueueFaults;

/// What a seed decides for the cloud world (module docs).
#[derive(Debug)]
pub struct CloudPlan {
    /// Per batch: its files are uploaded this long after its manifest.
    pub(super) late_files: Vec<Option<Duration>>,
    /// Per batch: EventBridge delivers its event again this long after the first time.
    pub(super) duplicates: Vec<Option<Duration>>,
    pub(super) visibility: Duration,
    pub(super) max_receives: u32,
    pub(super) queue: QueueFaults,
    pub(super) objects: ObjectFaults,
    /// Per batch: the folder it is written to (`b<folder>/`): its own, or the previous batch's
    /// (an SIS that writes every export to one folder, overwriting the last).
    pub(super) folders: Vec<usize>,
    /// Per batch: its manifest lists each file's sha256 (always, when its folder is shared).
    pub(super) digests: Vec<bool>,
    /// Per batch: a zip (`b<folder>.zip`, overwritten when the folder is shared) rather than a
    /// folder closed by a manifest.
    pub(super) zips: Vec<bool>,
    /// Per batch: a folder closed by a `READY` marker written after its CSVs, rather than by a
    /// manifest (only a folder of its own whose files are not late: `READY` lists nothing).
    pub(super) ready: Vec<bool>,
    /// Per batch: the SIS deletes its objects this long after uploading them (only a batch in
    /// a folder or zip of its own). Drawn by the world from a stream of its own.
    pub(super) deleted: Vec<Option<Duration>>,
    /// The receive loops of each `run` worker (`run --parallel`). Drawn by the world from a
    /// stream of its own.
    pub(super) parallel: usize,
}

impl CloudPlan {
    pub fn draw(rng: &mut fastrand::Rng, batches: usize) -> CloudPlan {
        let pick = |rng: &mut fastrand::Rng, of: &[f64]| of[rng.usize(..of.len())];
        let p_late = pick(rng, &[0.0, 0.3, 1.0]);
        let p_dup = pick(rng, &[0.0, 0.3, 1.0]);
        let mut plan = CloudPlan {
            late_files: (0..batches)
                .map(|_| (rng.f64() < p_late).then(|| Duration::from_millis(rng.u64(0..=4000))))
                .collect(),
            duplicates: (0..batches)
                .map(|_| {
                    (rng.f64() < p_dup).then(|| {
                        if rng.bool() {
                            // Inside the dedup window: the queue drops it.
                            Duration::from_millis(rng.u64(0..=20_000))
                        } else {
                            Duration::from_secs(rng.u64(301..=420))
                        }
                    })
                })
                .collect(),
            visibility: Duration::from_secs(rng.u64(3..=8)),
            max_receives: rng.u32(2..=5),
            queue: QueueFaults {
                p_fail: pick(rng, &[0.0, 0.05, 0.15]),
                p_lose_answer: pick(rng, &[0.0, 0.05, 0.15]),
                latency: Duration::from_millis(rng.u64(0..=50)),
            },
            objects: ObjectFaults {
                latency: Duration::from_millis(rng.u64(0..=50)),
                p_unavailable: pick(rng, &[0.0, 0.05, 0.2]),
                p_cut_body: pick(rng, &[0.0, 0.05, 0.2]),
            },
            folders: Vec::new(),
            digests: Vec::new(),
            zips: Vec::new(),
            ready: Vec::new(),
            deleted: vec![None; batches],
            parallel: 1,
        };
        let p_reuse = pick(rng, &[0.0, 0.0, 0.5, 1.0]);
        for n in 0..batches {
            let folder = match plan.folders.last() {
                Some(last) if rng.f64() < p_reuse => *last,
                _ => n,
            };
            plan.folders.push(folder);
        }
        let p_digest = pick(rng, &[0.0, 0.5, 1.0]);
        plan.digests = (0..batches)
            .map(|n| {
                let shared = plan
                    .folders
                    .iter()
                    .filter(|f| **f == plan.folders[n])
                    .count()
                    > 1;
                rng.f64() < p_digest || shared
            })
            .collect();
        let p_zip = pick(rng, &[0.0, 0.3, 1.0]);
        plan.zips = (0..batches).map(|_| rng.f64() < p_zip).collect();
        let p_ready = pick(rng, &[0.0, 0.5, 1.0]);
        plan.ready = (0..batches)
            .map(|n| {
                let own = plan
                    .folders
                    .iter()
                    .filter(|f| **f == plan.folders[n])
                    .count()
                    == 1;
                let ready = rng.f64() < p_ready;
                ready && own && !plan.zips[n] && plan.late_files[n].is_none()
            })
            .collect();
        plan
    }
}

/// What a seed decides for the function of a Lambda world: its event source mapping's batch
/// size, its timeout (at most the queue's visibility: Lambda refuses a mapping otherwise), the
/// margin its waits keep before the deadline, and the sweep's schedule.
#[derive(Debug, Clone)]
pub struct LambdaPlan {
    /// Messages per invocation (1 to 10 for FIFO).
    pub(super) batch_size: usize,
    pub(super) timeout: Duration,
    /// `SIS_LAMBDA_MARGIN_SECS`: waits end this long before the deadline.
    pub(super) margin: Duration,
    /// How often the EventBridge schedule invokes the function for the sweep.
    pub(super) sweep_every: Duration,
}

impl LambdaPlan {
    pub fn draw(rng: &mut fastrand::Rng, visibility: Duration) -> LambdaPlan {
        let batch_size = [1, 1, 2, 10][rng.usize(..4)];
        let timeout = Duration::from_millis(rng.u64(2000..=visibility.as_millis() as u64));
        let margin = timeout.mul_f64([0.2, 0.35, 0.5][rng.usize(..3)]);
        LambdaPlan {
            batch_size,
            timeout,
            margin,
            sweep_every: Duration::from_secs(rng.u64(5..=60)),
        }
    }
}

impl CloudPlan {
    /// Draws which batches the SIS deletes after uploading them, and when (`deleted`): in a
    /// third of the worlds, each batch with a name of its own by an even chance, 0–6 s after its
    /// upload.
    pub fn draw_deletions(&mut self, rng: &mut fastrand::Rng) {
        let deletes = rng.f64() < 0.3;
        for n in 0..self.folders.len() {
            let own = self
                .folders
                .iter()
                .filter(|f| **f == self.folders[n])
                .count()
                == 1;
            let delete = rng.bool();
            let after = Duration::from_millis(rng.u64(0..=6000));
            self.deleted[n] = (deletes && own && delete).then_some(after);
        }
    }

    /// Draws the receive loops of each worker (`parallel`): 1, 2 or 3.
    pub fn draw_parallel(&mut self, rng: &mut fastrand::Rng) {
        self.parallel = rng.usize(1..=3);
    }

    /// Whether batch `n` may end rejected because the SIS deleted its objects before they were
    /// read: a deleted object is a withdrawn upload (the worker says it is gone and asks for it
    /// again, though a versioned bucket still holds it), and a manifest's CSV deleted before
    /// it was read is missing.
    pub fn may_be_rejected_when_deleted(&self, n: usize) -> bool {
        self.deleted[n].is_some()
    }
}
