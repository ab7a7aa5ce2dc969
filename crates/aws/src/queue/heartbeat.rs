//! The visibility heartbeat: while a batch is in flight its message stays invisible, so no other
//! worker receives it and its FIFO group stays blocked (the tenant's order holds).
//!
//! Every third of the visibility timeout the message is hidden for another full timeout, until
//! one more extension would pass the 12-hour cap SQS puts on one receipt. The worker itself
//! stops the batch and releases the message before that point ([`release_deadline`]); the
//! heartbeat never tries to go past it. A failed extension is logged and retried at the next
//! beat: if the message does become visible meanwhile, another worker may receive it, and the
//! ledger stops that one from importing the batch twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::port::MessageQueue;
use super::sqs::Received;

/// A running heartbeat; dropping it stops the beats.
pub struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    beats: Arc<AtomicU32>,
}

impl Heartbeat {
    /// Starts beating for `m`, which was received with `visibility`.
    pub fn start<Q: MessageQueue>(
        queue: Q,
        m: Received,
        visibility: Duration,
        cap: Duration,
    ) -> Heartbeat {
        let beats = Arc::new(AtomicU32::new(0));
        let count = beats.clone();
        let interval = (visibility / 3).max(Duration::from_secs(1));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let hidden_until = Instant::now() + visibility;
                if hidden_until > m.received_at + cap {
                    tracing::info!(
                        message_id = %m.message_id,
                        "visibility heartbeat stops: one more extension would pass the 12-hour cap"
                    );
                    return;
                }
                match queue.set_visibility(&m, visibility).await {
                    Ok(()) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        canvas_sis_telemetry::metrics::get().heartbeat("ok");
                        tracing::debug!(message_id = %m.message_id, "visibility extended");
                    }
                    Err(e) => {
                        canvas_sis_telemetry::metrics::get().heartbeat("failed");
                        tracing::warn!(
                            message_id = %m.message_id,
                            error = %e,
                            "could not extend the message's visibility; retrying at the next beat"
                        )
                    }
                }
            }
        });
        Heartbeat { task, beats }
    }

    /// How many extensions have landed.
    pub fn beats(&self) -> u32 {
        self.beats.load(Ordering::Relaxed)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// When the worker must stop working on a receipt and hand the message back: `margin` before the
/// cap, but never earlier than one visibility period after receipt.
pub fn release_deadline(
    received_at: Instant,
    cap: Duration,
    margin: Duration,
    visibility: Duration,
) -> Instant {
    received_at + cap.saturating_sub(margin).max(visibility)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_comes_a_margin_before_the_cap() {
        let t0 = Instant::now();
        let cap = Duration::from_secs(43_200);
        let d = release_deadline(t0, cap, Duration::from_secs(600), Duration::from_secs(300));
        assert_eq!(d - t0, Duration::from_secs(42_600));
    }

    #[test]
    fn release_is_never_before_one_visibility_period() {
        let t0 = Instant::now();
        let d = release_deadline(
            t0,
            Duration::from_secs(60),
            Duration::from_secs(600),
            Duration::from_secs(30),
        );
        assert_eq!(d - t0, Duration::from_secs(30));
    }
}
