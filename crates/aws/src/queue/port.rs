//! The queue port of the cloud worker: what the receive loop, the heartbeat and the poison path
//! ask of a queue — receive one message, delete it, hide it for a while, copy it to a
//! dead-letter queue. [`SqsQueue`](super::SqsQueue) speaks it to SQS; a test speaks it from
//! memory, so the worker's loop can run on a simulated clock.
//!
//! Nothing here decides what a message means or when to delete it; that is the worker's.

use std::future::Future;
use std::time::Duration;

use super::sqs::{QueueError, Received};

/// A queue the worker receives from (FIFO in production). Clones share the queue: the heartbeat
/// extends a message's visibility from its own task.
pub trait MessageQueue: Clone + Send + Sync + 'static {
    /// Where the queue is, for logs and spans (a URL; never a credential).
    fn url(&self) -> &str;

    /// Waits up to `wait` for at most one message, hidden for `visibility` once received.
    fn receive_one(
        &self,
        wait: Duration,
        visibility: Duration,
    ) -> impl Future<Output = Result<Option<Received>, QueueError>> + Send;

    /// Deletes the message of this receipt.
    fn delete(&self, m: &Received) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Hides the message for `visibility` from now (zero makes it receivable again at once).
    fn set_visibility(
        &self,
        m: &Received,
        visibility: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// How many messages wait to be received: visible ones — those behind a message of their
    /// group that another consumer holds included, as SQS counts them — and delayed ones
    /// (`ApproximateNumberOfMessages` + `ApproximateNumberOfMessagesDelayed`). In-flight
    /// messages are not counted: they are another consumer's work.
    fn waiting(&self) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// Sends a copy of `m` to this queue (a dead-letter queue), in the same group, deduplicated
    /// by the original message id so that a retried move does not make two copies.
    fn send_copy(
        &self,
        m: &Received,
        reason: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}
