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
}
