//! The receive loop of `canvas-sis run`: one message at a time, a heartbeat while it is in
//! flight, and exactly one disposition per receipt (see the module docs of `trigger::queue`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::handler::MessageHandler;
use super::heartbeat::{Heartbeat, release_deadline};
use super::port::MessageQueue;
use super::sqs::{QueueError, Received, SqsQueue, VISIBILITY_CAP};
use crate::store::FetchPolicy;
use canvas_sis_core::ledger::{LedgerError, LedgerStore};
use canvas_sis_core::pipeline::WaitPolicy;

/// How the worker behaves; `Default` is the production setting.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Long-poll wait of one receive (at most 20 s).
    pub receive_wait: Duration,
    /// Visibility of a received message, renewed by the heartbeat.
    pub visibility: Duration,
    /// SQS's cap on one receipt's total visibility (12 h; smaller only in tests).
    pub visibility_cap: Duration,
    /// How long before the cap the worker stops and releases the message.
    pub cap_margin: Duration,
    /// How long a released message stays hidden before it is retried.
    pub retry_after: Duration,
    /// How long it stays hidden when only a person can make its batch pass (a refused token or
    /// permission, an unknown account, a contradictory configuration): see `release_after`.
    pub operator_retry_after: Duration,
    /// How long a batch that cannot be fetched or recorded yet (S3 or the ledger failing for
    /// now) is retried while its message waits, before the message is released (each release
    /// spends one of its receives: see `stream::record_and_run`).
    pub unrecorded_patience: Duration,
    /// Drain, then exit: once a receive comes back empty, no parked work is left and no message
    /// waits in the queue (messages behind a group another worker holds are waited for).
    pub until_empty: bool,
    /// How many messages are handled at once, each by its own receive loop. SQS FIFO hands a
    /// message group (a tenant) to one consumer at a time, so this many tenants import side by
    /// side and one tenant's long import does not hold the others back.
    pub parallel: usize,
    /// Exit after this many messages that carried a batch (one receive loop only).
    pub max_batches: Option<u64>,
    /// Where batches are downloaded and zips built; one sub-folder per batch, removed after.
    pub work_dir: PathBuf,
    /// Buckets the worker accepts events from; empty = any.
    pub buckets: Vec<String>,
    pub fetch: FetchPolicy,
    pub wait: WaitPolicy,
    pub submit_lease: Duration,
    /// How often an idle worker looks for parked batches whose tenant was resumed.
    pub sweep_every: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            receive_wait: Duration::from_secs(20),
            visibility: Duration::from_secs(300),
            visibility_cap: VISIBILITY_CAP,
            cap_margin: Duration::from_secs(600),
            retry_after: Duration::from_secs(60),
            operator_retry_after: Duration::from_secs(900),
            unrecorded_patience: Duration::from_secs(900),
            until_empty: false,
            parallel: 1,
            max_batches: None,
            work_dir: std::env::temp_dir().join("canvas-sis-work"),
            buckets: Vec::new(),
            fetch: FetchPolicy::default(),
            wait: WaitPolicy::default(),
            submit_lease: Duration::from_secs(120),
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// The disposition of a message whose 12-hour visibility cap is near.
fn released_at_cap() -> Option<Disposition> {
    Some(Disposition::Release {
        after: Duration::ZERO,
        why: "the message's 12-hour visibility cap is near: released so that a fresh receive \
              resumes the batch from the ledger"
            .into(),
    })
}

/// What becomes of a message whose handling ended because the worker is stopping: a batch that
/// is not finished or parked has its message released at once, for another worker to resume
/// from the ledger; a message whose work is done is still deleted.
fn released_for_stop(d: Disposition) -> Disposition {
    match d {
        Disposition::Release { .. } => Disposition::Release {
            after: Duration::ZERO,
            why: "the worker is stopping: released so that another worker resumes the batch \
                  from the ledger"
                .into(),
        },
        done => done,
    }
}

/// With `until_empty`, consecutive failed receives before the run gives up with the error.
const RECEIVE_ATTEMPTS: u32 = 3;

/// How long a drain's receive waits while nothing was seen waiting (SQS long-polls every
/// server from 1 s on; a zero wait samples only some of them).
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// What the receive loop does next.
enum Next {
    Message(Received),
    /// Nothing to handle now: receive again.
    Idle,
    /// A drain found the queue empty: the run ends.
    Drained,
    Failed(QueueError),
}

/// What becomes of one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done with: delete it.
    Delete(String),
    /// Not done: make it visible again after `after`.
    Release { after: Duration, why: String },
    /// Can never become work: record, move to the DLQ if any, delete.
    Poison { kind: String, error: String },
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub messages: u64,
    /// Messages that carried at least one batch.
    pub batch_messages: u64,
    pub deleted: u64,
    pub released: u64,
    pub poison: u64,
    /// Sweeps that found parked work and ran it.
    pub swept: u64,
    /// Stopped by the stop token (SIGTERM).
    pub stopped: bool,
}

impl RunSummary {
    /// The sum of two receive loops' summaries.
    fn add(mut self, o: RunSummary) -> RunSummary {
        self.messages += o.messages;
        self.batch_messages += o.batch_messages;
        self.deleted += o.deleted;
        self.released += o.released;
        self.poison += o.poison;
        self.swept += o.swept;
        self.stopped |= o.stopped;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("work folder {path}: {source}")]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The cloud worker: a queue to receive from (SQS in production), and the handler that decides
/// each message.
pub struct Worker<'a, S, Q = SqsQueue> {
    pub queue: Q,
    pub dlq: Option<Q>,
    pub handler: MessageHandler<'a, S>,
}

impl<S: LedgerStore, Q: MessageQueue> Worker<'_, S, Q> {
    /// Receives and handles messages until the handler's `stop` token is cancelled (SIGTERM),
    /// the queue is empty (`until_empty`) or `max_batches` is reached.
    ///
    /// With `until_empty` the run ends once a receive comes back empty, a sweep moves nothing
    /// and the queue reports no message waiting (see `after_empty_receive`): batches parked in
    /// a blackout window (or behind a closed gate) stay parked in the ledger, and the next run
    /// (a CronJob's next start) sweeps them on once the window ends.
    ///
    /// With `parallel` above 1, that many receive loops run side by side (each with its own
    /// work folder) and the run ends when every one of them has ended; the first error, if
    /// any, is the run's.
    pub async fn run(&self) -> Result<RunSummary, WorkerError> {
        // Messages being handled now, by any of the loops.
        let busy = AtomicUsize::new(0);
        let n = self.handler.settings.parallel;
        if n <= 1 {
            return self.receive_loop(&busy).await;
        }
        let slots: Vec<Worker<'_, S, Q>> = (0..n)
            .map(|i| Worker {
                queue: self.queue.clone(),
                dlq: self.dlq.clone(),
                handler: self.handler.slot(i),
            })
            .collect();
        let ended =
            futures_util::future::join_all(slots.iter().map(|w| w.receive_loop(&busy))).await;
        ended
            .into_iter()
            .try_fold(RunSummary::default(), |sum, one| Ok(sum.add(one?)))
    }

    /// One receive loop: the whole run when `parallel` is 1. `busy` counts the messages the
    /// run's loops are handling.
    async fn receive_loop(&self, busy: &AtomicUsize) -> Result<RunSummary, WorkerError> {
        let stop = &self.handler.stop;
        self.handler
            .prepare()
            .map_err(|source| WorkerError::WorkDir {
                path: self.handler.settings.work_dir.clone(),
                source,
            })?;
        let mut summary = RunSummary::default();
        let mut last_sweep: Option<Instant> = None;
        let mut failures = 0u32;
        // Messages were seen waiting that no receive could take (their groups are held).
        let mut blocked = false;
        loop {
            if self
                .handler
                .settings
                .max_batches
                .is_some_and(|n| summary.batch_messages >= n)
            {
                break;
            }
            // Biased (here and below): the same order on every run, so a simulation's seed replays
            // exactly; a stop is seen before a new message is taken.
            let s = &self.handler.settings;
            // A drain's receives are short until messages are seen waiting behind groups that
            // other workers hold: an empty queue ends the run in about a second, not a long poll.
            let wait = if s.until_empty && !blocked {
                s.receive_wait.min(DRAIN_WAIT)
            } else {
                s.receive_wait
            };
            let received = tokio::select! {
                biased;
                _ = stop.cancelled() => { summary.stopped = true; break; }
                r = self.queue.receive_one(wait, s.visibility) => r,
            };
            let next = match received {
                Ok(Some(m)) => Next::Message(m),
                Ok(None) => {
                    let others_busy = busy.load(Ordering::SeqCst) > 0;
                    self.after_empty_receive(
                        &mut last_sweep,
                        &mut summary,
                        &mut blocked,
                        others_busy,
                    )
                    .await
                }
                Err(e) => Next::Failed(e),
            };
            let m = match next {
                Next::Message(m) => m,
                Next::Idle => {
                    failures = 0;
                    continue;
                }
                Next::Drained => break,
                Next::Failed(e) if s.until_empty && failures + 1 >= RECEIVE_ATTEMPTS => {
                    // A run that must end (a CronJob) ends with the error instead of looping.
                    return Err(e.into());
                }
                Next::Failed(e) => {
                    failures += 1;
                    let pause = Duration::from_secs(2u64.pow(failures.min(5)));
                    tracing::warn!(error = %e, retry_in_s = pause.as_secs(), "receive failed");
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => { summary.stopped = true; break; }
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            blocked = false;
            failures = 0;
            summary.messages += 1;
            let metrics = canvas_sis_telemetry::metrics::get();
            metrics.message_received(m.sent_at_ms);
            let span = canvas_sis_telemetry::spans::sqs_process(
                self.queue.url(),
                &m.message_id,
                m.receive_count,
                m.trace_parent.as_deref(),
                m.trace_state.as_deref(),
            );
            busy.fetch_add(1, Ordering::SeqCst);
            let (disposition, carried_batch) =
                self.process(&m, stop).instrument(span.clone()).await;
            if carried_batch {
                summary.batch_messages += 1;
            }
            let name = match &disposition {
                Disposition::Delete(_) => {
                    summary.deleted += 1;
                    "deleted"
                }
                Disposition::Release { .. } => {
                    summary.released += 1;
                    "released"
                }
                Disposition::Poison { .. } => {
                    canvas_sis_telemetry::spans::mark_error(&span);
                    summary.poison += 1;
                    "poison"
                }
            };
            metrics.message_disposed(name);
            self.dispose(&m, disposition).instrument(span).await;
            busy.fetch_sub(1, Ordering::SeqCst);
            if stop.is_cancelled() {
                summary.stopped = true;
                break;
            }
        }
        Ok(summary)
    }

    /// What an empty receive leads to: a sweep of parked batches (when due, and always in a
    /// drain), then, in a drain (`until_empty`), the end of the run only if no message waits
    /// at all. Messages that wait while no receive can take them sit behind a message of their
    /// group that another worker holds (a long import of that tenant): they are work this run
    /// may take once the group frees, so the run keeps polling for them instead of exiting —
    /// an exit would have KEDA start a job that exits at once, again and again. Nor does one of
    /// parallel loops end while another still handles a message (`others_busy`): what arrives
    /// meanwhile is taken at once, as a single loop takes it after its current message.
    async fn after_empty_receive(
        &self,
        last_sweep: &mut Option<Instant>,
        summary: &mut RunSummary,
        blocked: &mut bool,
        others_busy: bool,
    ) -> Next {
        let s = &self.handler.settings;
        let due = last_sweep.is_none_or(|t| t.elapsed() >= s.sweep_every);
        // A drain sweeps before it may end; while it waits for held groups, only when due.
        if due || (s.until_empty && !*blocked) {
            *last_sweep = Some(Instant::now());
            match self.handler.sweep().await {
                Ok(true) => {
                    summary.swept += 1;
                    return Next::Idle;
                }
                Ok(false) => {}
                // The ledger is unreachable now; the next sweep tries again.
                Err(e) => tracing::warn!(error = %e, "the sweep of parked batches failed"),
            }
        }
        if !s.until_empty {
            return Next::Idle;
        }
        match self.queue.waiting().await {
            Ok(0) if others_busy => {
                *blocked = true;
                Next::Idle
            }
            // Nothing waits any more: one more short receive and a sweep before the end.
            Ok(0) if *blocked => {
                *blocked = false;
                Next::Idle
            }
            Ok(0) => Next::Drained,
            Ok(waiting) => {
                if !*blocked {
                    tracing::info!(
                        waiting,
                        "the queue is not drained: messages wait behind message groups other \
                         workers hold; waiting for those groups to free"
                    );
                }
                *blocked = true;
                Next::Idle
            }
            Err(e) => Next::Failed(e),
        }
    }

    /// Handles one message under its heartbeat, racing the release deadline. A stop (SIGTERM)
    /// does not cut the handling short: the pipeline sees the same token and stops at its next
    /// step boundary — a POST under way is answered and its import id recorded first — and the
    /// message is then released at once (or deleted, when its batches got to a recorded end).
    async fn process(&self, m: &Received, stop: &CancellationToken) -> (Disposition, bool) {
        let s = &self.handler.settings;
        let _beat = Heartbeat::start(
            self.queue.clone(),
            m.clone(),
            s.visibility,
            s.visibility_cap,
        );
        let release_at =
            release_deadline(m.received_at, s.visibility_cap, s.cap_margin, s.visibility);
        self.handler.start_message();
        let mut carried = false;
        let disposition = {
            let handling = self.handler.handle(m, &mut carried);
            tokio::pin!(handling);
            // `None`: stopping; the handling goes on to its next step boundary.
            // Biased: a handling that ended is taken even if the cap or a stop came at once.
            let ended = tokio::select! {
                biased;
                d = &mut handling => Some(d),
                _ = tokio::time::sleep_until(release_at) => released_at_cap(),
                _ = stop.cancelled() => None,
            };
            match ended {
                // The handling may have seen the stop first and ended on its own.
                Some(d) if stop.is_cancelled() => released_for_stop(d),
                Some(d) => d,
                None => released_for_stop(handling.await),
            }
        };
        if let Disposition::Release { why, .. } = &disposition {
            self.handler.note_release(why).await;
        }
        (disposition, carried)
    }

    /// Carries out a disposition. Failures are logged: an undeleted message comes back and the
    /// ledger recognises its batch; an unrecorded poison message is released, never deleted.
    async fn dispose(&self, m: &Received, d: Disposition) {
        let id = &m.message_id;
        match d {
            Disposition::Delete(why) => {
                tracing::info!(message_id = %id, %why, "message done");
                if let Err(e) = self.queue.delete(m).await {
                    tracing::warn!(message_id = %id, error = %e, "could not delete the message; it will come back and be recognised");
                }
            }
            Disposition::Release { after, why } => {
                tracing::info!(message_id = %id, %why, retry_in_s = after.as_secs(), "message released");
                if let Err(e) = self.queue.set_visibility(m, after).await {
                    tracing::warn!(message_id = %id, error = %e, "could not release the message; it returns when its visibility runs out");
                }
            }
            Disposition::Poison { kind, error } => self.move_poison(m, &kind, &error).await,
        }
    }

    async fn move_poison(&self, m: &Received, kind: &str, error: &str) {
        let set_aside = self
            .handler
            .set_aside_poison(m, kind, error, self.dlq.as_ref())
            .await;
        if set_aside.is_err() {
            let _ = self
                .queue
                .set_visibility(m, self.handler.settings.retry_after)
                .await;
            return;
        }
        if let Err(e) = self.queue.delete(m).await {
            tracing::warn!(message_id = %m.message_id, error = %e, "could not delete the poison message");
        }
    }
}
