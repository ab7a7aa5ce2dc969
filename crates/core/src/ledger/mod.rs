//! The durable ledger: what happened to every batch and tenant, kept so that a crash, a
//! duplicate message or a second worker can never make a batch reach Canvas twice.
//!
//! The pipeline records each stage of a batch here *before* acting on it (above all `Submitting`
//! before the POST, see [`Stage`]), and reads it back after a restart to resume instead of
//! redoing. The ledger is a port with adapters, like the object store:
//! - [`store`]: the raw port, [`LedgerStore`] — bytes under keys with create-if-absent and
//!   update-if-unchanged, shaped after S3 conditional writes;
//! - [`local`]: a local directory, safe across processes and crashes (its docs give the format);
//! - S3 objects under a prefix, with conditional writes, safe across hosts: `canvas-sis-aws`;
//! - [`memory`]: in memory, for tests;
//! - [`record`]: the typed, versioned JSON records and the batch stage state machine;
//! - [`ledger`](Ledger): typed access with compare-and-swap retry, batch dedup, arrival sequences
//!   and archives;
//! - [`error`]: [`LedgerError`] and its retryable/permanent class.
//!
//! It deliberately does not decide policy (when to halt a tenant, whether a held batch may go
//! on): it only makes each decision durable and refuses stage changes that would allow a second
//! upload.

pub mod error;
pub mod event;
#[allow(clippy::module_inception)] // The brief names the file; the type is `Ledger`.
mod ledger;
pub mod local;
pub mod memory;
pub mod poison;
pub mod record;
pub mod store;

pub use error::{ErrorClass, LedgerError};
pub use event::BatchEvent;
pub use ledger::{CreateOutcome, DEFAULT_MAX_ATTEMPTS, Ledger, batch_key, tenant_key};
pub use local::LocalStore;
pub use memory::MemoryStore;
pub use record::{
    AcceptedStats, Acknowledgement, ArchiveRefs, BatchId, BatchRecord, BatchSource, Failure,
    FileIdentity, Gate, Halt, KindCounts, KindStats, MessageRelease, NewBatch, PostedFile, Restore,
    RestoreMark, Stage, StageChange, SubmitLease, TenantRecord, ZipDigest, content_hash,
};
pub use store::{LedgerStore, Version};
