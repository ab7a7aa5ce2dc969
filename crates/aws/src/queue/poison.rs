//! Poison messages: recorded in the ledger (the record is the core's `ledger::poison`), then
//! moved out of the way so they never block their FIFO group — copied to the queue's dead-letter
//! queue when its redrive policy names one, and deleted either way. A message is only deleted
//! once its record is written.

use canvas_sis_core::ledger::poison::PoisonRecord;
use chrono::Utc;

use super::sqs::Received;

/// The record of message `m`, found poison now.
pub fn poison_record(m: &Received, kind: &str, error: &str, moved_to: String) -> PoisonRecord {
    PoisonRecord {
        message_id: m.message_id.clone(),
        received_at: Utc::now(),
        receive_count: m.receive_count,
        group: m.group.clone(),
        kind: kind.to_owned(),
        error: error.to_owned(),
        moved_to,
    }
}
