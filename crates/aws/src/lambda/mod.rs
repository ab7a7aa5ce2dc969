//! The Lambda trigger: `canvas-sis lambda`, the same work as the cloud worker, delivered by a
//! Lambda SQS (FIFO) event source mapping instead of a receive loop.
//!
//! Lambda receives the messages and deletes them; we only say which come back
//! (`ReportBatchItemFailures`). Each record is decided by the worker's own
//! [`MessageHandler`](crate::queue::MessageHandler) — same routing, ledger, pipeline and
//! poison records — within the invocation's deadline ([`invocation`]). A Canvas import outlives
//! an invocation easily (15 minutes at most): its batch stays `submitted` in the ledger, its
//! message comes back, and the next invocation waits on the recorded import again. An
//! EventBridge schedule invokes the function every few minutes for the sweep, which carries on
//! batches whose messages are gone (parked, approved, dead-lettered).

pub mod event;
pub mod invocation;

pub use event::{BatchResponse, Invocation, SqsEvent, SqsRecord};
pub use invocation::{EventQueues, handle_event, handle_invocation};
