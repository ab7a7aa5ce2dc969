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
#[derive(Debug)]
pub struct SharedCores {
    /// The machine's cores.
    cores: usize,
    lent: Mutex<usize>,
    changed: Condvar,
}

impl Default for SharedCores {
    /// This machine's cores (as many as the packer's default threads).
    fn default() -> Self {
        SharedCores::with_cores(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// One core lent for as long as this lives.
#[derive(Debug)]
#[must_use = "the core is given back when this is dropped"]
pub struct LentCore<'a>(&'a SharedCores);

impl SharedCores {
    /// Cores of a machine with `cores` of them.
    pub fn with_cores(cores: usize) -> Self {
        SharedCores {
            cores,
            lent: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

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

    /// Waits while worker `index` of `threads` would run on a lent core: while cores are lent,
    /// the workers past the cores left (a packer given fewer threads than the machine has cores
    /// may not need to wait); none when nothing is lent, however many threads there are.
    pub(crate) fn wait_turn(&self, index: usize, threads: usize) {
        let mut lent = self.count();
        while *lent > 0 && index >= threads.min(self.cores.saturating_sub(*lent)) {
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
        let cores = SharedCores::with_cores(2);
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
        // Nothing lent: every worker goes, even past the machine's cores.
        cores.wait_turn(1, 2);
        cores.wait_turn(2, 3);
    }

    #[test]
    fn a_packer_on_fewer_threads_than_cores_keeps_them_while_one_is_lent() {
        let cores = SharedCores::with_cores(4);
        let lent = cores.lend();
        // Two threads on four cores, one lent: three are left, both workers go.
        cores.wait_turn(0, 2);
        cores.wait_turn(1, 2);
        // Four threads: the fourth would take the lent core.
        std::thread::scope(|s| {
            let fourth = s.spawn(|| cores.wait_turn(3, 4));
            std::thread::sleep(Duration::from_millis(200));
            assert!(!fourth.is_finished(), "worker 3 of 4 ran on the lent core");
            drop(lent);
            fourth.join().unwrap();
        });
    }
}
