//! Cores the packer lends to work running beside it on the same machine.
//!
//! Validation and packing of one batch run at the same time, and validation is one thread (two
//! at its very end) that must finish before the batch may go anywhere. With every deflate thread
//! running too, the three share two cores evenly: validation runs at two thirds of its speed,
//! deflate finishes first, and one core idles through validation's end. A lent core takes one
//! deflate thread out (it parks between chunks, holding none), so validation has a core to itself
//! and deflate has the others, then all of them once the loan ends. Nothing waits that has a core
//! to run on: deflate's parked thread comes back the moment validation is done.

use std::sync::{Condvar, Mutex, MutexGuard};

/// Cores lent away from a packer; see the module doc.
#[derive(Debug, Default)]
pub struct SharedCores {
    lent: Mutex<usize>,
    changed: Condvar,
}

/// One core lent for as long as this lives.
#[derive(Debug)]
#[must_use = "the core is given back when this is dropped"]
pub struct LentCore<'a>(&'a SharedCores);

impl SharedCores {
    /// Lends one core: the packer deflates on one thread fewer until the guard is dropped (on
    /// one thread, it waits).
    pub fn lend(&self) -> LentCore<'_> {
        *self.count() += 1;
        LentCore(self)
    }

    fn count(&self) -> MutexGuard<'_, usize> {
        // The count stays right even if a holder panicked: nothing else is kept under the lock.
        self.lent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits while worker `index` of `threads` is one of those lent away (the last ones).
    pub(crate) fn wait_turn(&self, index: usize, threads: usize) {
        let mut lent = self.count();
        while index >= threads.saturating_sub(*lent) {
            lent = self.changed.wait(lent).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for LentCore<'_> {
    fn drop(&mut self) {
        *self.0.count() -= 1;
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_last_workers_wait_while_cores_are_lent_and_go_once_they_are_back() {
        let cores = SharedCores::default();
        std::thread::scope(|s| {
            let lent = cores.lend();
            // Worker 0 of 2 still has a core: it does not wait.
            cores.wait_turn(0, 2);
            let second = s.spawn(|| cores.wait_turn(1, 2));
            std::thread::sleep(Duration::from_millis(200));
            assert!(!second.is_finished(), "worker 1 of 2 ran on the lent core");
            drop(lent);
            second.join().unwrap();
        });
        // Nothing lent: every worker goes.
        cores.wait_turn(1, 2);
    }
}
