//! One Lambda invocation: the records of an SQS FIFO batch, handled in order by the worker's
//! [`MessageHandler`], within the invocation's deadline.
//!
//! Time: every wait on Canvas ends `margin` before the deadline (the batch stays `submitted` in
//! the ledger, its import running at Canvas); whatever still runs at `margin / 2` before it is
//! abandoned where the ledger has it, so that the response (and the telemetry flush) still fits.
//!
//! A manifest naming files not uploaded yet is waited for from when its message was sent, across
//! invocations, so that the bounded wait ends (and the batch is rejected) as in the worker.
//!
//! The sweep: an invocation by the sweep's schedule (EventBridge, every few minutes) runs the
//! worker's sweep within the same deadline — it carries on every tenant's oldest unfinished
//! batch whose gate is open (parked behind a blackout or a halt since lifted, approved, or
//! recorded and its message gone to the dead-letter queue), which otherwise would wait for the
//! tenant's next message.
//!
//! Order: the first message that is not finished — and every later one of the event, finished or
//! not started — is reported in `batchItemFailures`, so Lambda hands them back in order and the
//! next invocation resumes from the ledger (waiting on the recorded import, never uploading
//! again). Done messages (batches finished, parked or held; no batch; poison set aside) are not
//! reported, and Lambda deletes them.
//!
//! When they come back: Lambda leaves a reported message hidden for the rest of the queue's
//! visibility timeout (set above the function's timeout, often an hour or more), which would
//! leave a tenant's running import unchecked that long. So before answering, the function sets
//! each reported message's visibility itself: the first unfinished one returns when it is next
//! worth handling (its release delay: `retry_after` for an import still running or a
//! transient failure, longer when only an operator can help, at once when the deadline cut it
//! short), every later one at once — a later message of the same group still waits behind the
//! first, which is in flight until then, and other groups' messages go on.
//!
//! Poison: recorded in the ledger and copied to the dead-letter queue of the source queue's
//! redrive policy, as the worker does ([`MessageHandler::set_aside_poison`]); then not reported,
//! so Lambda deletes it. One that cannot be recorded or copied is reported and comes back.

use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::event::{BatchResponse, Invocation, SqsEvent, SqsRecord};
use crate::queue::{Disposition, MessageHandler, MessageQueue};
use canvas_sis_core::ledger::LedgerStore;

/// The queues behind the event source mapping: the source queue, whose reported messages'
/// visibility the function sets, and the dead-letter queue of its redrive policy, if any.
#[derive(Debug, Clone)]
pub struct EventQueues<Q> {
    pub source: Q,
    pub dlq: Option<Q>,
}

/// Handles one invocation by the deadline: the queue's records (`handle_event`), or the
/// schedule's sweep.
pub async fn handle_invocation<S: LedgerStore, Q: MessageQueue>(
    base: &MessageHandler<'_, S>,
    queues: &EventQueues<Q>,
    invocation: &Invocation,
    deadline: Instant,
    margin: Duration,
) -> BatchResponse {
    match invocation {
        Invocation::Queue(event) => handle_event(base, queues, event, deadline, margin).await,
        Invocation::Sweep => {
            sweep(base, deadline, margin).await;
            BatchResponse::default()
        }
        Invocation::Other(kind) => {
            tracing::warn!(
                detail_type = kind.as_deref().unwrap_or("none"),
                "an invocation that is neither SQS records nor a scheduled event: nothing to do"
            );
            BatchResponse::default()
        }
    }
}

/// The sweep of a scheduled invocation: waits end `margin` before the deadline, and whatever
/// still runs at `margin / 2` before it is left where the ledger has it (the next sweep, or the
/// batch's message, carries it on).
async fn sweep<S: LedgerStore>(base: &MessageHandler<'_, S>, deadline: Instant, margin: Duration) {
    let (wait_end, hard_end) = ends(deadline, margin);
    let handler = base.until(wait_end);
    tokio::select! {
        biased;
        swept = handler.sweep() => match swept {
            Ok(moved) => tracing::info!(moved, "scheduled sweep done"),
            Err(e) => tracing::warn!(error = %e, "the scheduled sweep failed; the next one tries again"),
        },
        _ = tokio::time::sleep_until(hard_end) => {
            tracing::info!("the invocation's deadline is near: the sweep stops where the ledger has it")
        }
    }
}

/// When an invocation's waits end (`margin` before its deadline) and when whatever still runs
/// is left where the ledger has it (`margin / 2` before): now, if that is already past.
fn ends(deadline: Instant, margin: Duration) -> (Instant, Instant) {
    let now = Instant::now();
    let at = |before: Duration| deadline.checked_sub(before).unwrap_or(now).max(now);
    (at(margin), at(margin / 2))
}

/// Handles the event's records in order and says which come back.
pub async fn handle_event<S: LedgerStore, Q: MessageQueue>(
    base: &MessageHandler<'_, S>,
    queues: &EventQueues<Q>,
    event: &SqsEvent,
    deadline: Instant,
    margin: Duration,
) -> BatchResponse {
    let (wait_end, hard_end) = ends(deadline, margin);
    let mut response = BatchResponse::default();
    for (i, rec) in event.records.iter().enumerate() {
        let mut handler = base.until(wait_end);
        let fetch = &mut handler.settings.fetch;
        let now_ms = base.ledger.now().timestamp_millis();
        fetch.incomplete_wait =
            incomplete_wait_left(fetch.incomplete_wait, rec.sent_at_ms(), now_ms);
        let m = rec.to_received();
        canvas_sis_telemetry::metrics::get().message_received(m.sent_at_ms);
        // The queue's name: the last part of the event source's ARN.
        let arn = rec.event_source_arn.as_deref().unwrap_or("sqs");
        let queue = arn.rsplit(':').next().unwrap_or(arn);
        let span = canvas_sis_telemetry::spans::sqs_process(
            queue,
            &m.message_id,
            m.receive_count,
            m.trace_parent.as_deref(),
            m.trace_state.as_deref(),
        );
        let comes_back = if Instant::now() >= wait_end {
            span.in_scope(|| {
                tracing::info!("no time left in this invocation to start the message")
            });
            Some(Duration::ZERO)
        } else {
            handle_record(&handler, queues, rec, hard_end)
                .instrument(span)
                .await
        };
        if let Some(after) = comes_back {
            hand_back(&queues.source, &event.records[i..], after).await;
            for later in &event.records[i..] {
                response.fail(&later.message_id);
            }
            break;
        }
    }
    response
}

/// Sets when the reported messages come back (module docs): the first after `after`, every
/// later one at once. A failed call leaves that message to the queue's visibility timeout.
async fn hand_back<Q: MessageQueue>(source: &Q, reported: &[SqsRecord], after: Duration) {
    for (n, rec) in reported.iter().enumerate() {
        let visibility = if n == 0 { after } else { Duration::ZERO };
        let m = rec.to_received();
        match source.set_visibility(&m, visibility).await {
            Ok(()) => tracing::info!(
                message_id = %m.message_id,
                retry_in_s = visibility.as_secs(),
                "reported message comes back"
            ),
            Err(e) => tracing::warn!(
                message_id = %m.message_id,
                error = %e,
                "could not set when the reported message comes back; it returns when the \
                 queue's visibility timeout runs out"
            ),
        }
    }
}

/// What is left of the wait for a manifest's missing files, counted from when the message was
/// sent: each invocation is shorter than the wait may be, so a returning message goes on waiting
/// where the last one stopped instead of starting over (and is rejected once the wait is over).
/// `now_ms` is the ledger's clock, in milliseconds since the epoch.
fn incomplete_wait_left(wait: Duration, sent_at_ms: Option<u64>, now_ms: i64) -> Duration {
    let Some(sent) = sent_at_ms else { return wait };
    let now_ms = u64::try_from(now_ms).unwrap_or_default();
    wait.saturating_sub(Duration::from_millis(now_ms.saturating_sub(sent)))
}

/// `None` when the message is done with (Lambda may delete it); else how long it should stay
/// hidden before it comes back.
async fn handle_record<S: LedgerStore, Q: MessageQueue>(
    handler: &MessageHandler<'_, S>,
    queues: &EventQueues<Q>,
    rec: &SqsRecord,
    hard_end: Instant,
) -> Option<Duration> {
    let m = rec.to_received();
    handler.start_message();
    let mut carried = false;
    // Biased: a handling that ended is taken even if the deadline came at once.
    let disposition = tokio::select! {
        biased;
        d = handler.handle(&m, &mut carried) => d,
        _ = tokio::time::sleep_until(hard_end) => Disposition::Release {
            after: Duration::ZERO,
            why: "the Lambda invocation's deadline is near: the message comes back and the next \
                  invocation resumes the batch from the ledger".into(),
        },
    };
    match disposition {
        Disposition::Delete(why) => {
            tracing::info!(%why, "message done");
            None
        }
        Disposition::Release { after, why } => {
            handler.note_release(&why).await;
            tracing::info!(%why, "message not finished; reported so that it comes back");
            Some(after)
        }
        Disposition::Poison { kind, error } => {
            match handler
                .set_aside_poison(&m, &kind, &error, queues.dlq.as_ref())
                .await
            {
                Ok(r) => {
                    tracing::info!(
                        record = %r.key(),
                        "poison message set aside; not reported, so Lambda deletes it"
                    );
                    None
                }
                Err(()) => Some(handler.settings.retry_after),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_wait_counts_from_when_the_message_was_sent() {
        let wait = Duration::from_secs(900);
        let now_ms: u64 = 1_765_000_000_000;
        let now = now_ms as i64;
        assert_eq!(incomplete_wait_left(wait, None, now), wait);
        let left = incomplete_wait_left(wait, Some(now_ms - 600_000), now);
        assert!(
            left <= Duration::from_secs(300) && left > Duration::from_secs(290),
            "{left:?}"
        );
        assert_eq!(
            incomplete_wait_left(wait, Some(now_ms - 901_000), now),
            Duration::ZERO
        );
        assert_eq!(
            incomplete_wait_left(wait, Some(now_ms + 5_000), now),
            wait,
            "clock skew"
        );
    }
}
