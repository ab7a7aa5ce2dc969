//! The spill's records walked on two threads: this one reads the runs back and merges them, a
//! second one takes each record in that order (for the resolver: decoding, judging, spilling
//! the findings). After the last file nothing else is left to run, so the taking no longer adds
//! to the merge's time; on the 1 GiB bench feed the merge is the larger half (the taking thread
//! was busy a third to a half of the time).
//!
//! Records cross in batches of about [`BATCH_BYTES`], through a channel of at most two waiting
//! batches; emptied batches come back to be filled again, so memory stays at a few batches
//! whatever the size of the spill.

use std::io;
use std::sync::mpsc;

use super::spill::Spill;

/// Bytes of records per batch handed over.
const BATCH_BYTES: usize = 256 << 10;

/// Batches filled but not yet taken, at most (the merge waits past this).
const WAITING: usize = 2;

/// Records in the order the merge gave them.
struct Batch {
    heads: Vec<Head>,
    payloads: Vec<u8>,
}

struct Head {
    table: u8,
    key: u64,
    seq: u64,
    end: usize,
}

impl Batch {
    /// A new, empty batch; the merge makes one only when no emptied batch is waiting.
    fn new() -> Self {
        #[cfg(test)]
        tests::BATCHES_MADE.with(|n| n.set(n.get() + 1));
        Batch {
            heads: Vec::new(),
            payloads: Vec::new(),
        }
    }

    fn push(&mut self, table: u8, key: u64, seq: u64, payload: &[u8]) {
        self.payloads.extend_from_slice(payload);
        self.heads.push(Head {
            table,
            key,
            seq,
            end: self.payloads.len(),
        });
    }

    fn each(&self, take: &mut impl FnMut(u8, u64, u64, &[u8])) {
        let mut start = 0;
        for h in &self.heads {
            take(h.table, h.key, h.seq, &self.payloads[start..h.end]);
            start = h.end;
        }
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.payloads.clear();
    }
}

/// Gives every record of `spill` to `take` with `state`, in [`Spill::drain`]'s order, `take`
/// running on a thread of its own; returns the state once every record was taken. The runs are
/// read back with `read_budget` bytes of buffers. An error reading them back ends the walk.
pub(crate) fn drain_to_thread<S: Send>(
    spill: Spill,
    read_budget: usize,
    mut state: S,
    mut take: impl FnMut(&mut S, u8, u64, u64, &[u8]) + Send,
) -> io::Result<S> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(WAITING);
    let (empty_tx, empty_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let taker = s.spawn(move || {
            for mut batch in full_rx {
                batch.each(&mut |t, k, s, p| take(&mut state, t, k, s, p));
                batch.clear();
                // The merge may be gone already (it stops at a read error).
                let _ = empty_tx.send(batch);
            }
            state
        });
        let mut batch = Batch::new();
        let mut sent = true;
        let walked = spill.drain(read_budget, |table, key, seq, payload| {
            if !sent {
                return;
            }
            batch.push(table, key, seq, payload);
            if batch.payloads.len() >= BATCH_BYTES {
                let next = empty_rx.try_recv().unwrap_or_else(|_| Batch::new());
                sent = full_tx.send(std::mem::replace(&mut batch, next)).is_ok();
            }
        });
        if !batch.heads.is_empty() {
            // The taker only stops early by panicking, which the join below passes on.
            let _ = full_tx.send(batch);
        }
        drop(full_tx);
        let state = match taker.join() {
            Ok(state) => state,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        walked.map(|()| state)
    })
}

#[cfg(test)]
mod tests {
    use super::super::spill::RUN_BYTES;
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Batches made on this thread (the merge's, which makes them all).
        pub(super) static BATCHES_MADE: Cell<usize> = const { Cell::new(0) };
    }

    fn pushed(n: u64, run_bytes: usize, dir: &std::path::Path) -> Spill {
        let mut spill = Spill::new(Some(dir.to_owned()), run_bytes);
        for i in 0..n {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (n / 4 + 1);
            spill.push((i % 2) as u8, key, format!("payload {i:>6}").as_bytes());
        }
        spill
    }

    fn on_one_thread(spill: Spill) -> Vec<(u8, u64, u64, Vec<u8>)> {
        let mut out = Vec::new();
        spill
            .drain(RUN_BYTES, |t, k, s, p| out.push((t, k, s, p.to_vec())))
            .unwrap();
        out
    }

    #[test]
    fn the_taking_thread_sees_every_record_in_the_order_one_thread_would() {
        let dir = tempfile::tempdir().unwrap();
        // Enough records for many batches and several runs on disk.
        let expected = on_one_thread(pushed(200_000, 1 << 20, dir.path()));
        assert!(expected.len() * 16 > 4 * BATCH_BYTES);
        let seen = drain_to_thread(
            pushed(200_000, 1 << 20, dir.path()),
            RUN_BYTES,
            Vec::new(),
            |seen, t, k, s, p| seen.push((t, k, s, p.to_vec())),
        );
        assert_eq!(seen.unwrap(), expected);
    }

    /// Invariant 6: the batches that ever exist are as many as can be in flight at once (one
    /// filling, `WAITING` handed over, one being taken, one on its way back), however many
    /// records cross.
    #[test]
    fn batches_in_memory_number_what_is_in_flight_at_once_however_many_records_cross() {
        let dir = tempfile::tempdir().unwrap();
        let spill = pushed(400_000, 1 << 20, dir.path());
        BATCHES_MADE.with(|n| n.set(0));
        let taken = drain_to_thread(spill, RUN_BYTES, 0u64, |n, _, _, _, _| *n += 1).unwrap();
        assert_eq!(taken, 400_000);
        // Payloads of 14 bytes: over 20 batches crossed, far more than may exist.
        assert!(taken as usize * "payload 000000".len() > 20 * BATCH_BYTES);
        let made = BATCHES_MADE.with(Cell::get);
        assert!(made <= WAITING + 3, "{made} batches made");
    }

    #[test]
    fn a_spill_held_in_memory_crosses_too() {
        let dir = tempfile::tempdir().unwrap();
        let counted = drain_to_thread(
            pushed(1_000, RUN_BYTES, dir.path()),
            RUN_BYTES,
            0u64,
            |count, _, _, _, _| *count += 1,
        );
        assert_eq!(counted.unwrap(), 1_000);
    }
}
