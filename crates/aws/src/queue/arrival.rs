//! A batch event's batch, fetched from the drop bucket and recorded in the ledger — the step
//! before which nothing but the message knows the batch exists.
//!
//! So until it is recorded, its message is kept: a transient failure (S3 answering 503, a body
//! broken off, a ledger write failing) is retried here while the heartbeat hides the message and
//! blocks its FIFO group, for up to `unrecorded_patience`. Released at once, the message would
//! spend one of its receives per retry until the dead-letter queue took it, and the tenant's
//! later uploads would go to Canvas before it. A batch that can never be fetched is still
//! recorded (then rejected), so that the tenant halts and the operator sees why.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::handler::MessageHandler;
use super::sqs::Received;
use super::worker::Disposition;
use crate::store::{FetchError, Fetched, Pin, S3Batches};
use canvas_sis_core::ledger::{BatchRecord, BatchSource, CreateOutcome, LedgerStore, NewBatch};
use canvas_sis_core::trigger::events::{BatchTrigger, ObjectEvent};

/// The source kind of a batch recorded from an upload that could not be fetched (to be rejected).
pub(super) const UNFETCHABLE: &str = "s3-unfetchable";

/// Why a batch event's batch is not recorded yet.
pub(super) enum Unrecorded {
    /// A transient failure: fetch and record again while the message waits.
    Retry(String),
    /// Let the message go with this disposition.
    Release(Disposition),
}

impl<S: LedgerStore> MessageHandler<'_, S> {
    /// Fetches the batch the event names and records it. `Ok(None)`: it repeats a finished
    /// batch. A transient failure (S3, the ledger) is [`Unrecorded::Retry`]; a stop is
    /// [`Unrecorded::Release`] (fetching only reads, so it is abandoned, and whoever receives
    /// the message next starts over).
    #[allow(clippy::too_many_arguments)] // one event's parts, as `record_and_run` holds them
    pub(super) async fn fetch_and_record(
        &self,
        tenant: &str,
        event: &ObjectEvent,
        trigger: &BatchTrigger,
        key: &str,
        pin: &Pin,
        dir: &Path,
        m: &Received,
    ) -> Result<Option<(Result<Fetched, FetchError>, BatchRecord)>, Unrecorded> {
        let fetcher = S3Batches::over(self.objects.clone(), &event.bucket);
        // Biased (here and below): the same order on every run (a simulation's seed replays
        // exactly), the work first.
        let fetched = tokio::select! {
            biased;
            f = fetcher.fetch_pinned(trigger, pin, dir, &self.settings.fetch) => f,
            _ = self.stop.cancelled() => {
                return Err(Unrecorded::Release(
                    self.release("the worker is stopping: the batch was not fetched yet"),
                ));
            }
        };
        let new = match &fetched {
            Ok(f) => new_batch(tenant, event, key, f, m),
            Err(e) if e.is_permanent() => {
                // This upload may have been recorded already (fetched before its objects went):
                // the same delivery is the same batch, whose pipeline finds what is gone.
                match self.recorded_delivery(tenant, event, key).await {
                    Ok(Some(r)) => return Ok(self.known(event, key, fetched, r)),
                    Ok(None) => unfetchable_batch(tenant, event, key, m),
                    Err(e) => return Err(Unrecorded::Retry(format!("recording the batch: {e}"))),
                }
            }
            Err(e) => return Err(Unrecorded::Retry(format!("fetching the batch: {e}"))),
        };
        match self.ledger.create_batch(new).await {
            Ok(CreateOutcome::AlreadyKnown(r)) => Ok(self.known(event, key, fetched, r)),
            Ok(o) => Ok(Some((fetched, o.record().clone()))),
            Err(e) => Err(Unrecorded::Retry(format!("recording the batch: {e}"))),
        }
    }

    /// An upload the ledger already holds: `None` when its batch finished (not imported
    /// again), else the batch, to go on from its recorded stage.
    fn known(
        &self,
        event: &ObjectEvent,
        key: &str,
        fetched: Result<Fetched, FetchError>,
        r: BatchRecord,
    ) -> Option<(Result<Fetched, FetchError>, BatchRecord)> {
        if r.stage.is_terminal() {
            self.obs.note(&format!(
                "s3://{}/{key} repeats batch {} ({}), which already finished; not imported again",
                event.bucket, r.id, r.stage
            ));
            return None;
        }
        Some((fetched, r))
    }

    /// The tenant's batch recorded from this very upload (the object and version its event
    /// names), if any: one with no delivery to compare is never taken for it.
    async fn recorded_delivery(
        &self,
        tenant: &str,
        event: &ObjectEvent,
        key: &str,
    ) -> Result<Option<BatchRecord>, canvas_sis_core::ledger::LedgerError> {
        let Some(delivery) = event.delivery() else {
            return Ok(None);
        };
        Ok(self
            .ledger
            .list_batches(tenant)
            .await?
            .into_iter()
            .find(|b| {
                b.source.delivery.as_deref() == Some(delivery.as_str())
                    && b.source.s3_bucket.as_deref() == Some(event.bucket.as_str())
                    && b.source.s3_trigger_key.as_deref() == Some(key)
            }))
    }

    /// Waits before fetching and recording an unrecorded batch again: doubling from one second
    /// up to `retry_after`. The message is released instead when the worker is stopping, the
    /// retries `started` `unrecorded_patience` ago, or the wait would pass the handling's
    /// deadline (a Lambda invocation's end).
    pub(super) async fn pause_unrecorded(
        &self,
        attempt: u32,
        started: tokio::time::Instant,
        why: &str,
    ) -> Result<(), Disposition> {
        let pause = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6))
            .min(self.settings.retry_after);
        let end = tokio::time::Instant::now() + pause;
        if self.settings.wait.until.is_some_and(|until| end >= until) {
            return Err(self.release(format!("{why} (no time left to try again)")));
        }
        if end >= started + self.settings.unrecorded_patience {
            return Err(self.release(format!(
                "{why} (tried for {} s; the message comes back)",
                started.elapsed().as_secs()
            )));
        }
        tracing::warn!(attempt, retry_in_ms = pause.as_millis() as u64, %why, "the batch is not recorded yet; trying again while its message waits");
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => Err(self.release(format!("the worker is stopping: {why}"))),
            _ = tokio::time::sleep(pause) => Ok(()),
        }
    }
}

/// What any worker needs to fetch a recorded batch again (its bucket, trigger key and
/// versions), which upload it is (its delivery: the same upload seen twice is one batch, another
/// upload of the same content a new one), and which message brought it.
fn s3_source(
    kind: &str,
    location: String,
    e: &ObjectEvent,
    key: &str,
    m: &Received,
) -> BatchSource {
    BatchSource {
        kind: kind.to_owned(),
        location,
        delivery: e.delivery(),
        s3_bucket: Some(e.bucket.clone()),
        s3_etag: e.etag.clone(),
        s3_trigger_key: Some(key.to_owned()),
        s3_version_id: e.version().map(str::to_owned),
        sqs_message_id: Some(m.message_id.clone()),
        ..Default::default()
    }
}

fn new_batch(tenant: &str, e: &ObjectEvent, key: &str, f: &Fetched, m: &Received) -> NewBatch {
    let mut source = s3_source(f.kind, f.location.clone(), e, key, m);
    source.files = f.files.clone();
    source.manifest_sha256 = f.manifest_sha256.clone();
    source.s3_versions = f.versions.clone();
    // The version the event named is the one read; an event without one (moto's S3
    // notifications) still records what was read.
    let trigger_name = key.rsplit('/').next().unwrap_or(key);
    if let Some(v) = f.versions.get(trigger_name) {
        source.s3_version_id.get_or_insert_with(|| v.clone());
    }
    canvas_sis_core::pipeline::staged::record_import_overrides(&mut source, f.import.as_ref());
    NewBatch {
        tenant: tenant.to_owned(),
        source,
        content_sha256: f.content_sha256.clone(),
    }
}

/// A batch that can never be fetched is still recorded (then rejected), so that the tenant halts
/// and the operator sees why; its identity comes from the event (its delivery, and a hash of the
/// event in place of the content it could not read).
fn unfetchable_batch(tenant: &str, e: &ObjectEvent, key: &str, m: &Received) -> NewBatch {
    let location = format!("s3://{}/{key}", e.bucket);
    let identity = format!(
        "unfetchable\0{location}\0{}\0{}\0{}",
        e.etag.as_deref().unwrap_or(""),
        e.sequencer.as_deref().unwrap_or(""),
        e.size.unwrap_or(0)
    );
    NewBatch {
        tenant: tenant.to_owned(),
        source: s3_source(UNFETCHABLE, location, e, key, m),
        content_sha256: hex::encode(Sha256::digest(identity.as_bytes())),
    }
}
