//! What one message means and the work it asks for, decided the same way whoever received it:
//! the long-polling worker (`canvas-sis run`) or a Lambda invocation (`canvas-sis lambda`).
//!
//! [`MessageHandler::handle`] parses the body, routes each object to its tenant, records and
//! runs the batches (see `stream`), and answers with a [`Disposition`]; carrying it out (delete,
//! release, dead-letter) is the receiver's. Poison messages are recorded in the ledger here
//! and copied to the dead-letter queue ([`MessageHandler::set_aside_poison`]) before the
//! receiver lets them go.

use super::poison::poison_record;
use super::port::MessageQueue;
use super::sqs::Received;
use super::worker::{Disposition, WorkerSettings};
use canvas_sis_core::ledger::poison::PoisonRecord;
use canvas_sis_core::ledger::{BatchId, Ledger, LedgerError, LedgerStore, MessageRelease};
use canvas_sis_core::pipeline::Observer;
use canvas_sis_core::trigger::events::{
    BatchTrigger, Parsed, PoisonError, Router, classify, parse_message,
};
use canvas_sis_core::trigger::runtime::TenantRuntime;

/// Everything needed to turn one message into a [`Disposition`].
pub struct MessageHandler<'a, S> {
    /// The drop buckets' objects (S3 in production: [`S3Objects`](crate::store::S3Objects)).
    pub objects: std::sync::Arc<dyn crate::store::ObjectStore>,
    pub ledger: &'a Ledger<S>,
    pub router: Router,
    pub runtimes: &'a [TenantRuntime],
    pub settings: WorkerSettings,
    pub obs: &'a dyn Observer,
    /// The batch the current message is working on, once recorded (for the release note).
    pub in_flight: std::sync::Mutex<Option<BatchId>>,
    /// Shutdown: the pipeline stops between steps once it is cancelled (`Staged::stop`), so a
    /// POST under way is answered and recorded before the message is let go.
    pub stop: tokio_util::sync::CancellationToken,
}

impl<'a, S> MessageHandler<'a, S> {
    /// The same handler, with every wait on Canvas ending by `until` at the latest (one Lambda
    /// invocation's time; an earlier end already set stays) and no batch in flight.
    pub fn until(&self, until: tokio::time::Instant) -> MessageHandler<'a, S> {
        let mut settings = self.settings.clone();
        settings.wait.until = Some(settings.wait.until.map_or(until, |u| u.min(until)));
        self.with(settings)
    }

    /// The handler of one of a worker's parallel receive loops: its own work folder (so two
    /// loops never share a download or a zip) and no batch in flight.
    pub fn slot(&self, slot: usize) -> MessageHandler<'a, S> {
        let mut settings = self.settings.clone();
        settings.work_dir = settings.work_dir.join(format!("slot-{slot}"));
        self.with(settings)
    }

    fn with(&self, settings: crate::queue::WorkerSettings) -> MessageHandler<'a, S> {
        MessageHandler {
            objects: self.objects.clone(),
            ledger: self.ledger,
            router: self.router.clone(),
            runtimes: self.runtimes,
            settings,
            obs: self.obs,
            in_flight: Default::default(),
            stop: self.stop.clone(),
        }
    }
}

impl<S: LedgerStore> MessageHandler<'_, S> {
    /// Creates the work folder (downloads and zips go under it).
    pub fn prepare(&self) -> Result<(), std::io::Error> {
        std::fs::create_dir_all(&self.settings.work_dir)
    }

    /// Forgets the batch of the previous message: call before handling a new one.
    pub fn start_message(&self) {
        if let Ok(mut current) = self.in_flight.lock() {
            *current = None;
        }
    }

    /// Records on the batch in flight that its message was handed back, and why (the 12-hour
    /// cap, a stop, Lambda's deadline): the ledger says where it stands, and the next delivery
    /// resumes from there.
    pub async fn note_release(&self, why: &str) {
        let id = self.in_flight.lock().ok().and_then(|mut g| g.take());
        let Some(id) = id else { return };
        let note = MessageRelease {
            at: self.ledger.now(),
            why: why.to_owned(),
            extra: Default::default(),
        };
        let noted = self
            .ledger
            .update_batch(&id, |r| {
                if !r.stage.is_terminal() {
                    r.message_released = Some(note.clone());
                }
                Ok::<(), LedgerError>(())
            })
            .await;
        if let Err(e) = noted {
            tracing::warn!(batch = %id, error = %e, "could not note the release on the batch");
        }
    }

    /// What the message means, and the work it asks for.
    pub async fn handle(&self, m: &Received, carried: &mut bool) -> Disposition {
        let events = match parse_message(&m.body) {
            Err(p) => return poison(&p),
            Ok(Parsed::TestEvent { bucket }) => {
                return Disposition::Delete(format!(
                    "S3 test event (bucket {})",
                    bucket.as_deref().unwrap_or("?")
                ));
            }
            Ok(Parsed::Objects { events, ignored }) => {
                for i in &ignored {
                    tracing::info!(event = %i.event, key = ?i.key, "not an object-created event; ignored");
                }
                events
            }
        };
        let mut work = Vec::new();
        for e in events {
            if !self.settings.buckets.is_empty() && !self.settings.buckets.contains(&e.bucket) {
                return Disposition::Poison {
                    kind: "unknown_bucket".into(),
                    error: format!(
                        "an event from bucket {:?} (key {:?}), which is not a drop bucket of this \
                         worker ({}); point the bucket's notifications elsewhere or add it with \
                         --bucket / SIS_BUCKET",
                        e.bucket,
                        e.key,
                        self.settings.buckets.join(", ")
                    ),
                };
            }
            let Some(tenant) = self.router.route(&e.key).map(str::to_owned) else {
                return poison(&PoisonError::unknown_tenant(&e.bucket, &e.key));
            };
            match classify(&e.key) {
                BatchTrigger::Ignore { reason } => {
                    tracing::info!(bucket = %e.bucket, key = %e.key, %reason, "object ignored");
                }
                trigger => work.push((tenant, e, trigger)),
            }
        }
        if work.is_empty() {
            return Disposition::Delete("no batch in the message".into());
        }
        *carried = true;
        for (tenant, event, trigger) in work {
            if let Err(d) = self.batch_event(&tenant, &event, &trigger, m).await {
                return d;
            }
        }
        Disposition::Delete("every batch of the message is recorded as finished or parked".into())
    }

    /// Writes the poison record of `m` under `poison/` in the ledger. Only once it is written may
    /// the message be deleted (`moved_to` says where it went).
    pub async fn record_poison(
        &self,
        m: &Received,
        kind: &str,
        error: &str,
        moved_to: String,
    ) -> Result<PoisonRecord, LedgerError> {
        let rec = poison_record(m, kind, error, moved_to);
        let body = serde_json::to_vec_pretty(&rec).unwrap_or_default();
        self.ledger.store().put_blob(&rec.key(), &body).await?;
        Ok(rec)
    }

    /// Sets poison message `m` aside: records it, then copies it to `dlq` (the dead-letter
    /// queue of the source queue's redrive policy), when there is one. `Ok` once the message
    /// may be deleted; `Err` (logged here) when it must stay in the queue for a later try —
    /// unrecorded, or recorded but not copied.
    pub async fn set_aside_poison<Q: MessageQueue>(
        &self,
        m: &Received,
        kind: &str,
        error: &str,
        dlq: Option<&Q>,
    ) -> Result<PoisonRecord, ()> {
        let id = &m.message_id;
        tracing::error!(message_id = %id, kind, %error, "poison message");
        let moved_to = match dlq {
            Some(dlq) => format!("dead-letter queue {}", dlq.url()),
            None => "deleted (the queue has no dead-letter queue)".into(),
        };
        let rec = match self.record_poison(m, kind, error, moved_to).await {
            Ok(rec) => rec,
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "could not record the poison message; it is kept in the queue");
                return Err(());
            }
        };
        if let Some(dlq) = dlq
            && let Err(e) = dlq.send_copy(m, error).await
        {
            tracing::error!(message_id = %id, error = %e, "could not copy the poison message to the dead-letter queue; it is kept in the queue");
            return Err(());
        }
        Ok(rec)
    }
}

fn poison(p: &PoisonError) -> Disposition {
    Disposition::Poison {
        kind: p.kind.as_str().to_owned(),
        error: p.to_string(),
    }
}
