//! The Lambda trigger: `canvas-sis lambda`, the same work as the cloud worker, delivered by a
//! Lambda SQS (FIFO) event source mapping instead of a receive loop.
//!
//! Lambda receives the messages and deletes them; we only say which come back
//! (`ReportBatchItemFailures`). Each record is decided by the worker's own
//! [`MessageHandler`](crate::queue::MessageHandler) — same routing, ledger, pipeline and
//! poison records — within the invocation's deadline ([`invocation`]). A Canvas import outlives
//! an invocation easily (15 minutes at most): its batch stays `submitted` in the ledger, its
//! message comes back, and the next invocation waits on the recorded import again.

pub mod event;
pub mod invocation;

pub use event::{BatchResponse, SqsEvent, SqsRecord};
pub use invocation::handle_event;
