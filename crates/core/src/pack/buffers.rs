//! Chunk buffers handed back for reuse while one archive is packed.
//!
//! Every chunk needs a megabyte to read into and about as much to deflate into. Allocated
//! afresh, each is a new mapping (the process keeps large buffers in their own mappings, see
//! `src/memory.rs`): the kernel zeroes its pages as they are first touched, and unmapping it
//! interrupts the other cores to flush their TLBs — about a twentieth of `pack`'s CPU on the
//! benchmark feed. The pipeline never holds more than a few chunks at once, so a few spare
//! buffers serve the whole archive; they are freed with the pool when the archive is done.

use std::sync::Mutex;

/// Spare buffers of one size class, at most `keep` of them.
pub(crate) struct BufferPool {
    spare: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufferPool {
    /// A pool that keeps at most `keep` buffers (the most that can be in use at once).
    pub(crate) fn new(keep: usize) -> Self {
        BufferPool {
            spare: Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: a spare one when there is one.
    pub(crate) fn take(&self, capacity: usize) -> Vec<u8> {
        let spare = self.spare.lock().ok().and_then(|mut s| s.pop());
        let mut buf = spare.unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// Hands `buf` back for a later [`BufferPool::take`]; dropped if the pool is full.
    pub(crate) fn give(&self, buf: Vec<u8>) {
        if let Ok(mut spare) = self.spare.lock()
            && spare.len() < self.keep
        {
            spare.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty_and_the_pool_keeps_no_more_than_asked() {
        let pool = BufferPool::new(1);
        let mut a = pool.take(1000);
        assert!(a.is_empty() && a.capacity() >= 1000);
        a.extend_from_slice(b"left over");
        let at = a.as_ptr();
        pool.give(a);
        pool.give(vec![0; 10]); // past `keep`: dropped
        let b = pool.take(500);
        assert_eq!(b.as_ptr(), at, "the same allocation comes back");
        assert!(b.is_empty(), "and comes back empty");
        assert!(
            pool.take(10).capacity() < 1000,
            "the second one was not kept"
        );
    }

    /// Invariant 6 (bounded memory): a buffer is allocated only when no spare one is there, so
    /// however many chunks an archive has, the buffers that ever exist are as many as the
    /// pipeline had in use at once (its permits bound that), not one per chunk.
    #[test]
    fn chunk_buffers_number_what_is_in_use_at_once_however_many_chunks_pass() {
        let in_use = 3;
        let pool = BufferPool::new(in_use + 1);
        let mut seen = std::collections::HashSet::new();
        for chunk in 0..1000 {
            // The first chunks' buffers are made larger than later ones ask for: a buffer with
            // less room later would be a new allocation, not a reused one (whose address the
            // allocator could have handed out again).
            let room = if chunk == 0 { 8192 } else { 4096 };
            let held: Vec<Vec<u8>> = (0..in_use).map(|_| pool.take(room)).collect();
            assert!(held.iter().all(|b| b.capacity() >= 8192), "chunk {chunk}");
            seen.extend(held.iter().map(|b| b.as_ptr() as usize));
            for b in held {
                pool.give(b);
            }
        }
        assert_eq!(seen.len(), in_use, "buffers allocated over 1000 chunks");
    }
}
