//! What happened to a batch, as the pipeline tells its observers (log, metrics, notifications)
//! once the ledger has recorded it. Defined next to the records it points at, so that a
//! listener (e.g. `notify`) needs the ledger only.

use super::{BatchId, BatchRecord};

/// A change in a batch's life that an operator may need to hear about: what notifications,
/// metrics and the batch's log line are made from. Sent once, when the ledger has recorded it.
#[derive(Debug, Clone, Copy)]
pub enum BatchEvent<'a> {
    /// Terminal: Canvas ended the import (successfully or not), or the batch was rejected
    /// before it was sent (`stage` is `Terminal { state: "rejected", .. }`).
    Finished(&'a BatchRecord),
    /// Held by the mass-change guard until an operator approves it.
    Held(&'a BatchRecord),
    /// Parked behind a closed gate (halted or paused tenant, or a held batch before it).
    Parked(&'a BatchRecord),
    /// The tenant's gate closed because of `batch`; its later batches park until `resume`.
    Halted { batch: &'a BatchId, reason: &'a str },
    /// `batch` cannot go on until an operator fixes something outside it — the token, its
    /// permissions, the account (`reason` is Canvas's answer and what to fix). The batch stays
    /// where it is and is tried again on each pass; nothing is halted or lost.
    NeedsOperator { batch: &'a BatchId, reason: &'a str },
}
