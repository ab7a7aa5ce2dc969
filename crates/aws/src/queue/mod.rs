//! The SQS FIFO trigger: `canvas-sis run`, the cloud worker.
//!
//! One message at a time: receive ([`sqs`]) → parse and route (`trigger::events`) → fetch the
//! batch from the drop bucket (`store::s3`), at the version its event names → record it in the
//! ledger (dedup by delivery: a duplicate message, a redelivery after the FIFO window or a second
//! worker all find the same batch; another upload of the same key is another batch) → run
//! the tenant's stream through the staged pipeline → dispose of the message. While a message is
//! in flight a [`heartbeat`] keeps it invisible, so its FIFO group (its tenant) stays blocked and
//! in order; tenants in other groups go on in parallel on other workers.
//!
//! What happens to a message ([`Disposition`]):
//! - **deleted** when every batch it carried has a recorded terminal outcome or is parked in the
//!   ledger, or when it carried no batch (test event, other objects, other S3 events);
//! - **released** (made visible again, after a delay) when a batch could not be finished now —
//!   Canvas unreachable, still importing at the wait deadline, a stop signal, the 12-hour
//!   visibility cap near; the next receive resumes from the ledger and never uploads twice. An
//!   S3 or ledger hiccup before the batch is recorded does not release it: fetching and
//!   recording are retried while the message waits (up to `unrecorded_patience`), since a
//!   release spends one of its receives and a dead-lettered, unrecorded batch would lose its
//!   place behind later uploads;
//! - **poison** ([`poison`]): recorded in the ledger, copied to the dead-letter queue if the queue
//!   has one, then deleted — it never blocks its group forever.
//!
//! Every batch is recorded before its message can be released, delayed or dropped, and no
//! recorded batch needs its message to move on: the [`Worker`]'s sweep resumes any tenant whose
//! oldest unfinished batch can go on — parked (gate opened, blackout over), approved, or left
//! at any other stage by a message that was dead-lettered (account busy, Canvas down) — in
//! arrival order. A batch that arrives in a blackout window is recorded and parked at once.
//!
//! On a stop signal the current step is finished — a POST under way is answered and its import
//! id recorded — then the message is released and the worker exits.
//!
//! What a message means and which disposition it gets is decided by the [`MessageHandler`],
//! which the Lambda trigger (`trigger::lambda`) uses too; the [`Worker`] adds the receive loop,
//! heartbeat, release, dead-letter queue and sweep, over any [`MessageQueue`] (SQS in
//! production).

mod arrival;
mod handler;
pub mod heartbeat;
pub mod poison;
pub mod port;
pub mod sqs;
mod stream;
mod worker;

pub use handler::MessageHandler;
pub use heartbeat::Heartbeat;
pub use poison::poison_record;
pub use port::MessageQueue;
pub use sqs::{QueueError, Received, SqsQueue};
pub use worker::{Disposition, RunSummary, Worker, WorkerError, WorkerSettings};
