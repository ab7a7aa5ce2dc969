//! The cloud world: the same tenant, ledger, Canvas and people as the folder world, but the
//! batches reach the workers as the SQS worker (`canvas-sis run`) gets them — put in a versioned
//! drop bucket ([`SimObjects`]) and announced by the "Object Created" event EventBridge puts on a
//! FIFO queue ([`SimQueue`], with a dead-letter queue) — and each worker is a whole
//! [`Worker::run`]: receive loop, heartbeat, release, dead-letter path and sweep.
//!
//! What a seed adds here is drawn in `cloud_plan` and uploaded by `uploads`: folders closed by a
//! manifest (files late, digests listed) or `READY`, zips, a name reused by the next batch,
//! events delivered twice (inside the queue's deduplication window or minutes later), the
//! visibility timeout and `maxReceiveCount`, a queue whose calls fail or lose their answer, a
//! bucket that answers 503 or breaks a body off. Workers not killed in a faulty round are stopped
//! (SIGTERM) at its end. The healthy round's operator also reads the dead-letter queue by the
//! runbook's rule (docs/runbook.md: a message whose batch the ledger knows is deleted, the others
//! redriven, as `aws sqs start-message-move-task` would), and the round ends once every batch is
//! finished, every event sent and both queues are empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use canvas_sis::aws::queue::{MessageHandler, Worker, WorkerSettings};
use canvas_sis::aws::store::FetchPolicy;
use canvas_sis::config::{Config, OnFailure};
use canvas_sis::ledger::LedgerStore;
use canvas_sis::pipeline::LogObserver;
use canvas_sis::trigger::events::Router;
use canvas_sis::trigger::runtime::TenantRuntime;
use tokio_util::sync::CancellationToken;

use crate::common::COURSES;

use super::cloud_plan::CloudPlan;
use super::objects::{ObjectFaults, SimObjects};
use super::queue::{QueueFaults, SimQueue};
use super::second::{SECOND, Second};
use super::uploads::{event, upload, upload_ready, upload_zip};
use super::world::World;
use super::{TENANT, TOKEN};

/// The drop bucket's name.
pub(super) const BUCKET: &str = "drop";
/// How long a faulty round lasts for a worker that is not killed in it: then it is stopped.
const ROUND: Duration = Duration::from_secs(15);
/// The longest a healthy round may take (an event delivered again minutes later included).
pub(super) const HEALTHY_LIMIT: Duration = Duration::from_secs(20 * 60);

/// The cloud world's parts (module docs).
pub struct Cloud {
    pub(super) plan: CloudPlan,
    pub(super) queue: SimQueue,
    pub(super) dlq: SimQueue,
    pub(super) objects: SimObjects,
    pub(super) router: Router,
    pub(super) runtimes: Vec<TenantRuntime>,
    /// Events still to be delivered again.
    pub(super) pending: AtomicUsize,
    /// Per batch, once uploaded: its manifest's key and what the put answered (what its event
    /// announced, and announces again when EventBridge delivers it twice).
    pub(super) sent: std::sync::Mutex<Vec<Option<(String, super::objects::Put)>>>,
    /// The sha256 of each zip uploaded, and its batch: a zip batch's record names only its zip.
    pub(super) zipped: std::sync::Mutex<Vec<(String, usize)>>,
    /// In a Lambda world, the function's settings: the workers are the function's execution
    /// environments (`lambda`).
    pub(super) lambda: Option<super::cloud_plan::LambdaPlan>,
    /// Another tenant on the same queue, if the seed has it upload anything (`second`).
    pub(super) second: Option<Second>,
}

impl Cloud {
    pub fn new(
        plan: CloudPlan,
        rng: &mut fastrand::Rng,
        canvas: Arc<dyn canvas_sis::canvas::CanvasApi>,
        blackout: Option<canvas_sis::config::Blackout>,
        options: canvas_sis::canvas::ImportOptions,
        second: Second,
        trace: &crate::common::trace::Trace,
    ) -> Cloud {
        let dlq = SimQueue::new(
            "dlq",
            rng.u64(..),
            None,
            QueueFaults::default(),
            trace.clone(),
        );
        let queue = SimQueue::new(
            "queue",
            rng.u64(..),
            Some((plan.max_receives, dlq.clone())),
            plan.queue.clone(),
            trace.clone(),
        );
        let objects = SimObjects::new(rng.u64(..), plan.objects.clone(), trace.clone());
        let second = (!second.arrivals.is_empty()).then_some(second);
        let second_canvas = second
            .as_ref()
            .map(|s| s.canvas.clone() as Arc<dyn canvas_sis::canvas::CanvasApi>);
        let (router, mut runtimes) = tenant_runtimes(canvas, blackout, second_canvas);
        runtimes[0].options = options;
        let pending = plan.duplicates.iter().flatten().count();
        let sent = std::sync::Mutex::new(vec![None; plan.folders.len()]);
        Cloud {
            plan,
            queue,
            dlq,
            objects,
            router,
            runtimes,
            pending: AtomicUsize::new(pending),
            sent,
            zipped: Default::default(),
            lambda: None,
            second,
        }
    }
}

/// The tenant as the worker's configuration makes it (prefix `main/`, halting on failure, the
/// plan's blackout) over `canvas` — and the second tenant (prefix `second/`, halting, no
/// blackout) over `second`, if given — and the router to them.
pub(super) fn tenant_runtimes(
    canvas: Arc<dyn canvas_sis::canvas::CanvasApi>,
    blackout: Option<canvas_sis::config::Blackout>,
    second: Option<Arc<dyn canvas_sis::canvas::CanvasApi>>,
) -> (Router, Vec<TenantRuntime>) {
    let env = |name: &str| match name {
        "CANVAS_BASE_URL" => Some("http://canvas.sim.invalid".to_owned()),
        "CANVAS_ACCOUNT_ID" => Some("1".to_owned()),
        "CANVAS_TOKEN" => Some(TOKEN.to_owned()),
        _ => None,
    };
    let runtime = |name: &str, client, blackouts: Vec<_>| {
        let mut tenant = Config::single_tenant_from(&env).unwrap().tenants.remove(0);
        tenant.name = name.into();
        tenant.s3_prefix = Some(format!("{name}/"));
        tenant.on_failure = OnFailure::Halt;
        tenant.blackouts = blackouts;
        TenantRuntime {
            tenant,
            client,
            http: None,
            options: Default::default(),
        }
    };
    let mut runtimes = vec![runtime(TENANT, canvas, blackout.into_iter().collect())];
    if let Some(client) = second {
        runtimes.push(runtime(SECOND, client, Vec::new()));
    }
    let router = Router::new(
        runtimes
            .iter()
            .map(|r| (r.tenant.name.clone(), r.tenant.s3_prefix.clone())),
    )
    .unwrap();
    (router, runtimes)
}

/// A worker's settings in the simulation: short waits, the plan's visibility and lease.
pub(super) fn worker_settings(
    work_dir: std::path::PathBuf,
    visibility: Duration,
    submit_lease: Duration,
    wait: canvas_sis::pipeline::WaitPolicy,
) -> WorkerSettings {
    WorkerSettings {
        receive_wait: Duration::from_secs(2),
        visibility,
        retry_after: Duration::from_secs(1),
        operator_retry_after: Duration::from_secs(5),
        work_dir,
        buckets: vec![BUCKET.into()],
        fetch: FetchPolicy {
            incomplete_wait: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            ..FetchPolicy::default()
        },
        wait,
        submit_lease,
        sweep_every: Duration::from_secs(2),
        ..WorkerSettings::default()
    }
}

/// One `canvas-sis run` worker over the simulated queue and bucket, until `stop`: what it said
/// when it exited.
pub(super) async fn run_worker<S: LedgerStore>(
    ledger: &canvas_sis::ledger::Ledger<S>,
    queue: &SimQueue,
    dlq: &SimQueue,
    objects: &SimObjects,
    (router, runtimes): (&Router, &[TenantRuntime]),
    settings: WorkerSettings,
    stop: &CancellationToken,
) -> String {
    let worker = Worker {
        queue: queue.clone(),
        dlq: Some(dlq.clone()),
        handler: MessageHandler {
            objects: Arc::new(objects.clone()),
            ledger,
            router: router.clone(),
            runtimes,
            settings,
            obs: &LogObserver,
            in_flight: Default::default(),
            stop: stop.clone(),
        },
    };
    match worker.run().await {
        Ok(s) => format!("{s:?}"),
        Err(e) => format!("error {e}"),
    }
}

impl World {
    pub(super) fn cloud(&self) -> &Cloud {
        self.cloud.as_ref().expect("a cloud world")
    }

    /// The batches arriving in the bucket, in order at the plan's times: each folder's files and
    /// manifest (the files late, if the seed says so), and the manifest's event on the queue.
    pub(super) async fn uploads(&self) {
        let cloud = self.cloud();
        for (n, wait) in self.plan.arrivals.iter().enumerate() {
            tokio::time::sleep(*wait).await;
            let users = self.users_of(n);
            let dir = self.inputs.path().join(format!("b{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("users.csv"), &users).unwrap();
            std::fs::write(dir.join("courses.csv"), COURSES).unwrap();
            let late = cloud.plan.late_files[n];
            let folder = cloud.plan.folders[n];
            if cloud.plan.zips[n] {
                let (key, put, sha) = upload_zip(&cloud.objects, &cloud.queue, (n, folder), &users);
                cloud.zipped.lock().unwrap().push((sha, n));
                cloud.sent.lock().unwrap()[n] = Some((key, put));
                self.trace
                    .log(format!("arrival: b{n} uploaded as b{folder}.zip"));
                continue;
            }
            if cloud.plan.ready[n] {
                let sent = upload_ready(&cloud.objects, &cloud.queue, n, &users);
                cloud.sent.lock().unwrap()[n] = Some(sent);
                self.trace
                    .log(format!("arrival: b{n} uploaded to b{n}/, closed by READY"));
                continue;
            }
            let digests = cloud.plan.digests[n];
            let sent = upload(
                &cloud.objects,
                &cloud.queue,
                (n, folder),
                &users,
                late,
                digests,
            )
            .await;
            cloud.sent.lock().unwrap()[n] = Some(sent);
            self.trace.log(format!(
                "arrival: b{n} uploaded to b{folder}/ (files late by {late:?}, digests {digests})"
            ));
        }
    }

    /// The SIS deleting batches' objects, at the plan's delays after it uploaded them.
    pub(super) async fn deletions(&self) {
        let cloud = self.cloud();
        let deletions = cloud.plan.deleted.iter().enumerate();
        let waits = deletions.filter_map(|(n, d)| Some((n, (*d)?)));
        let deleting = waits.map(|(n, after)| async move {
            // Uploaded (its late files too) once its put is known.
            while cloud.sent.lock().unwrap()[n].is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(after).await;
            let names: &[&str] = if cloud.plan.zips[n] {
                &[""]
            } else if cloud.plan.ready[n] {
                &["users.csv", "courses.csv", "READY"]
            } else {
                &["users.csv", "courses.csv", "manifest.json"]
            };
            self.trace.log(format!("sis: deletes the objects of b{n}"));
            for name in names {
                let key = if name.is_empty() {
                    format!("{TENANT}/b{n}.zip")
                } else {
                    format!("{TENANT}/b{n}/{name}")
                };
                cloud.objects.delete(&key);
            }
        });
        futures_util::future::join_all(deleting).await;
    }

    /// EventBridge delivering events again, at the plan's delays after their first delivery.
    pub(super) async fn redeliveries(&self) {
        let cloud = self.cloud();
        let mut at = Duration::ZERO;
        let mut sends: Vec<(Duration, usize)> = Vec::new();
        for (n, arrival) in self.plan.arrivals.iter().enumerate() {
            at += *arrival + cloud.plan.late_files[n].unwrap_or_default();
            if let Some(after) = cloud.plan.duplicates[n] {
                sends.push((at + after, n));
            }
        }
        sends.sort();
        let start = tokio::time::Instant::now();
        for (when, n) in sends {
            tokio::time::sleep_until(start + when).await;
            // The event as first sent: at the same moment as its upload (a second delivery at
            // once), the upload may not have said so yet.
            let (key, first) = loop {
                if let Some(sent) = cloud.sent.lock().unwrap()[n].clone() {
                    break sent;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            let event = event(&format!("event-b{n}"), &key, &first);
            self.trace
                .log(format!("eventbridge: the event of b{n} delivered again"));
            cloud.queue.send(&event, TENANT, &format!("event-b{n}"));
            cloud.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// One `canvas-sis run` worker (or, in a Lambda world, one execution environment of the
    /// function) until `stop` (SIGTERM) ends it.
    pub(super) async fn cloud_worker(&self, w: usize, round: usize, stop: &CancellationToken) {
        let cloud = self.cloud();
        if let Some(lambda) = &cloud.lambda {
            return self.lambda_worker(lambda, w, round, stop).await;
        }
        let settings = WorkerSettings {
            parallel: cloud.plan.parallel,
            ..worker_settings(
                self.work[w].path().join("cloud"),
                cloud.plan.visibility,
                self.plan.lease,
                self.staged(w).request.wait,
            )
        };
        let said = run_worker(
            &self.ledger,
            &cloud.queue,
            &cloud.dlq,
            &cloud.objects,
            (&cloud.router, &cloud.runtimes),
            settings,
            stop,
        )
        .await;
        self.trace
            .log(format!("w{w} r{round}: worker exits: {said}"));
    }

    /// How long a faulty round lasts for a cloud worker that is not killed in it.
    pub(super) fn round_length(&self) -> Duration {
        ROUND
    }

    /// Whether the cloud world has settled: every batch finished, every event sent, both
    /// queues empty.
    async fn settled(&self) -> bool {
        let cloud = self.cloud();
        self.finished().await
            && self.second_finished().await
            && cloud.pending.load(Ordering::SeqCst) == 0
            && cloud.queue.messages().is_empty()
            && cloud.dlq.messages().is_empty()
    }

    /// The healthy round's operator of the queue: redrives whatever the dead-letter queue holds
    /// back to the queue, and ends the round (`done`) once the world has settled.
    pub(super) async fn queue_operator(&self, done: &CancellationToken) {
        let cloud = self.cloud();
        let start = tokio::time::Instant::now();
        while start.elapsed() < HEALTHY_LIMIT {
            let dead = cloud.dlq.take_all();
            let batches = if dead.is_empty() {
                Vec::new()
            } else {
                self.batches().await
            };
            for m in dead {
                // The runbook's rule (docs/runbook.md): a message whose batch `canvas-sis
                // status` lists needs no redrive (the sweep carries a recorded batch on); the
                // others go back.
                let recorded = match self.second_recorded(&m.body).await {
                    Some(recorded) => recorded,
                    None => batches.iter().any(|b| {
                        self.index_of(b)
                            .is_some_and(|n| m.body.contains(&format!("\"event-b{n}\"")))
                    }),
                };
                if recorded {
                    self.trace.log(format!(
                        "operator: {} in the dead-letter queue is a recorded batch's: deleted",
                        m.id
                    ));
                    continue;
                }
                self.trace.log(format!(
                    "operator: redrive {} from the dead-letter queue",
                    m.id
                ));
                cloud
                    .queue
                    .send(&m.body, &m.group, &format!("redrive-{}", m.id));
            }
            if self.settled().await {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        done.cancel();
    }

    /// Faults off in the queue and the bucket (the healthy round).
    pub(super) fn heal_cloud(&self) {
        if let Some(cloud) = &self.cloud {
            cloud.queue.set_faults(QueueFaults::default());
            cloud.objects.set_faults(ObjectFaults::default());
            if let Some(second) = &cloud.second {
                second.canvas.set_faults(Default::default());
            }
        }
    }

    /// The cloud world's own promises: every upload recorded once, no message lost or left, no
    /// poison, and the ledger in upload order unless a message came back from the dead-letter
    /// queue.
    pub(super) async fn cloud_breaches(&self) -> Vec<String> {
        let Some(cloud) = &self.cloud else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let batches = self.batches().await;
        let order: Vec<Option<usize>> = batches.iter().map(|b| self.index_of(b)).collect();
        for n in 0..self.plan.batches {
            let times = order.iter().filter(|o| **o == Some(n)).count();
            if times != 1 {
                out.push(format!("the upload of b{n} was recorded {times} times"));
            }
        }
        if order.contains(&None) {
            out.push(format!("the ledger holds a batch of no upload: {order:?}"));
        }
        // A batch whose message the dead-letter queue took before it was recorded arrives when
        // it is recorded at last (redriven, or by a worker still holding the message's expired
        // receipt): after the uploads recorded meanwhile.
        if cloud.dlq.accepted() == 0 && !order.is_sorted() {
            out.push(format!(
                "the ledger recorded the uploads out of order: {order:?}"
            ));
        }
        for (name, q) in [("queue", &cloud.queue), ("dead-letter queue", &cloud.dlq)] {
            let left = q.messages();
            if !left.is_empty() {
                out.push(format!("the {name} still holds {left:?}"));
            }
        }
        out.extend(self.second_breaches(cloud.dlq.accepted() > 0).await);
        let poison = self.clean.store().list("poison/").await.unwrap_or_default();
        if !poison.is_empty() {
            out.push(format!("messages were taken for poison: {poison:?}"));
        }
        out
    }
}
