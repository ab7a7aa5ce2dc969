//! The cloud world: the same tenant, ledger, Canvas and people as the folder world, but the
//! batches reach the workers as the SQS worker (`canvas-sis run`) gets them — each batch a
//! folder uploaded to a versioned drop bucket ([`SimObjects`]) and closed by a manifest whose
//! "Object Created" event EventBridge puts on a FIFO queue ([`SimQueue`], with a dead-letter
//! queue) — and each worker is a whole [`Worker::run`]: receive loop, heartbeat, release,
//! dead-letter path and sweep.
//!
//! What a seed adds here: a manifest uploaded before its files (which the fetch waits for); an
//! event EventBridge delivers twice, inside the queue's deduplication window or minutes later;
//! the visibility timeout and `maxReceiveCount`; a queue whose calls fail or lose their answer
//! (a receive that hands a message out and never says so, a delete applied but reported failed);
//! a bucket that answers 503 or breaks a body off. Workers not killed in a faulty round are
//! stopped (SIGTERM) at its end. The healthy round's operator also redrives the dead-letter
//! queue, as `aws sqs start-message-move-task` would, and the round ends once every batch is
//! finished, every event sent and both queues are empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use canvas_sis::aws::queue::{MessageHandler, Worker, WorkerSettings};
use canvas_sis::aws::store::FetchPolicy;
use canvas_sis::config::{Config, OnFailure};
use canvas_sis::ledger::LedgerStore;
use canvas_sis::pipeline::LogObserver;
use canvas_sis::trigger::events::Router;
use canvas_sis::trigger::runtime::TenantRuntime;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::COURSES;

use super::objects::{ObjectFaults, SimObjects};
use super::queue::{QueueFaults, SimQueue};
use super::world::World;
use super::{TENANT, epoch};

/// The drop bucket's name.
const BUCKET: &str = "drop";
/// How long a faulty round lasts for a worker that is not killed in it: then it is stopped.
const ROUND: Duration = Duration::from_secs(15);
/// The longest a healthy round may take (an event delivered again minutes later included).
const HEALTHY_LIMIT: Duration = Duration::from_secs(20 * 60);

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
    /// Whether the operator redrove a message from the dead-letter queue.
    pub(super) redriven: AtomicBool,
}

impl Cloud {
    pub fn new(
        plan: CloudPlan,
        rng: &mut fastrand::Rng,
        canvas: Arc<dyn canvas_sis::canvas::CanvasApi>,
        blackout: Option<canvas_sis::config::Blackout>,
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
        let (router, runtimes) = tenant_runtimes(canvas, blackout);
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
            redriven: AtomicBool::new(false),
        }
    }
}

/// The tenant as the worker's configuration makes it (prefix `main/`, halting on failure, the
/// plan's blackout) over `canvas`, and the router to it.
pub(super) fn tenant_runtimes(
    canvas: Arc<dyn canvas_sis::canvas::CanvasApi>,
    blackout: Option<canvas_sis::config::Blackout>,
) -> (Router, Vec<TenantRuntime>) {
    let env = |name: &str| match name {
        "CANVAS_BASE_URL" => Some("http://canvas.sim.invalid".to_owned()),
        "CANVAS_ACCOUNT_ID" => Some("1".to_owned()),
        "CANVAS_TOKEN" => Some("sim-token".to_owned()),
        _ => None,
    };
    let mut tenant = Config::single_tenant_from(&env).unwrap().tenants.remove(0);
    tenant.name = TENANT.into();
    tenant.s3_prefix = Some(format!("{TENANT}/"));
    tenant.on_failure = OnFailure::Halt;
    tenant.blackouts = blackout.into_iter().collect();
    let router = Router::new([(TENANT, Some(format!("{TENANT}/")))]).unwrap();
    let runtimes = vec![TenantRuntime {
        tenant,
        client: canvas,
        http: None,
        options: Default::default(),
    }];
    (router, runtimes)
}

/// The "Object Created" event EventBridge sends for a put of `key` (batch `n`'s manifest).
pub(super) fn event(n: usize, key: &str, put: &super::objects::Put) -> String {
    json!({
        "version": "0",
        "id": format!("event-b{n}"),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": epoch().to_rfc3339(),
        "detail": {
            "bucket": {"name": BUCKET},
            "object": {
                "key": key,
                "size": put.size,
                "etag": put.etag,
                "version-id": put.version_id,
                "sequencer": put.sequencer,
            },
        },
    })
    .to_string()
}

/// Uploads batch `n` into folder `b<folder>/`, closed by a manifest listing its files (with
/// their sha256 if `digests`), and sends the manifest's event; with `late`, the files come that
/// long after the manifest. Returns the manifest's key and its put.
pub(super) async fn upload(
    objects: &SimObjects,
    queue: &SimQueue,
    (n, folder): (usize, usize),
    users: &str,
    late: Option<Duration>,
    digests: bool,
) -> (String, super::objects::Put) {
    let listed = |name: &str, body: &str| {
        let sha = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(body.as_bytes()))
        };
        if digests {
            json!({"name": name, "sha256": sha})
        } else {
            json!({"name": name})
        }
    };
    let manifest = json!({"files": [listed("users.csv", users), listed("courses.csv", COURSES)]});
    let prefix = format!("{TENANT}/b{folder}/");
    let files = || {
        objects.put(&format!("{prefix}users.csv"), users.as_bytes());
        objects.put(&format!("{prefix}courses.csv"), COURSES.as_bytes());
    };
    if late.is_none() {
        files();
    }
    let key = format!("{prefix}manifest.json");
    let put = objects.put(&key, manifest.to_string().as_bytes());
    queue.send(&event(n, &key, &put), TENANT, &format!("event-b{n}"));
    if let Some(after) = late {
        tokio::time::sleep(after).await;
        files();
    }
    (key, put)
}

/// Uploads batch `n` as the zip `b<folder>.zip` and sends its event. Returns the zip's key, its
/// put and the sha256 of its bytes.
pub(super) fn upload_zip(
    objects: &SimObjects,
    queue: &SimQueue,
    (n, folder): (usize, usize),
    users: &str,
) -> (String, super::objects::Put, String) {
    // A fixed entry time: the same seed uploads the same bytes.
    let zip = {
        use std::io::Write as _;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts =
            zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
        for (name, body) in [("users.csv", users), ("courses.csv", COURSES)] {
            w.start_file(name, opts).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let key = format!("{TENANT}/b{folder}.zip");
    let put = objects.put(&key, &zip);
    queue.send(&event(n, &key, &put), TENANT, &format!("event-b{n}"));
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&zip))
    };
    (key, put, sha)
}

/// Uploads batch `n` as the folder `b<n>/`, its CSVs, then the `READY` marker whose event is
/// sent. Returns the marker's key and its put.
pub(super) fn upload_ready(
    objects: &SimObjects,
    queue: &SimQueue,
    n: usize,
    users: &str,
) -> (String, super::objects::Put) {
    let prefix = format!("{TENANT}/b{n}/");
    objects.put(&format!("{prefix}users.csv"), users.as_bytes());
    objects.put(&format!("{prefix}courses.csv"), COURSES.as_bytes());
    let key = format!("{prefix}READY");
    let put = objects.put(&key, b"");
    queue.send(&event(n, &key, &put), TENANT, &format!("event-b{n}"));
    (key, put)
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
    fn cloud(&self) -> &Cloud {
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
            // The event as first sent.
            let Some((key, first)) = cloud.sent.lock().unwrap()[n].clone() else {
                panic!("b{n}'s event is delivered again before it was first sent");
            };
            let event = event(n, &key, &first);
            self.trace
                .log(format!("eventbridge: the event of b{n} delivered again"));
            cloud.queue.send(&event, TENANT, &format!("event-b{n}"));
            cloud.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// One `canvas-sis run` worker until `stop` (SIGTERM) ends it.
    pub(super) async fn cloud_worker(&self, w: usize, round: usize, stop: &CancellationToken) {
        let cloud = self.cloud();
        let settings = worker_settings(
            self.work[w].path().join("cloud"),
            cloud.plan.visibility,
            self.plan.lease,
            self.staged(w).request.wait,
        );
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
                // The README's rule: a message whose batch `canvas-sis status` lists needs no
                // redrive (the sweep carries a recorded batch on); the others go back.
                let recorded = batches.iter().any(|b| {
                    self.index_of(b)
                        .is_some_and(|n| m.body.contains(&format!("\"event-b{n}\"")))
                });
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
                cloud.redriven.store(true, Ordering::SeqCst);
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
        if !cloud.redriven.load(Ordering::SeqCst) && !order.is_sorted() {
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
        let poison = self.clean.store().list("poison/").await.unwrap_or_default();
        if !poison.is_empty() {
            out.push(format!("messages were taken for poison: {poison:?}"));
        }
        out
    }
}
