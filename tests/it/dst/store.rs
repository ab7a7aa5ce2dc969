//! The simulated ledger store: a `MemoryStore` whose writes fail by the seed — before they
//! apply, or after (a lost answer) — and whose every call answers after a seeded latency.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvas_sis::ledger::{LedgerError, LedgerStore, MemoryStore, Version};

use crate::common::trace::Trace;

/// What the ledger store does wrong, and how slowly.
#[derive(Debug, Clone, Default)]
pub struct StoreFaults {
    pub(super) latency: Duration,
    /// Chance that a write fails before it is applied.
    pub(super) p_fail_before: f64,
    /// Chance that a write is applied and then reported failed.
    pub(super) p_lose_answer: f64,
}

#[derive(Debug)]
pub struct StoreCtl {
    pub(super) faults: Mutex<StoreFaults>,
    pub(super) rng: Mutex<fastrand::Rng>,
    pub(super) trace: Trace,
}

/// A [`LedgerStore`] over a `MemoryStore` whose writes fail by the seed (module docs).
#[derive(Debug, Clone)]
pub struct FaultyStore {
    pub(super) inner: MemoryStore,
    pub(super) ctl: Arc<StoreCtl>,
}

impl FaultyStore {
    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.ctl.rng.lock().unwrap().f64() < p
    }

    fn faults(&self) -> StoreFaults {
        self.ctl.faults.lock().unwrap().clone()
    }

    async fn delay(&self, op: &str, key: &str) {
        let max = self.faults().latency.as_millis() as u64;
        if max > 0 {
            let ms = self.ctl.rng.lock().unwrap().u64(0..=max);
            self.ctl
                .trace
                .detail(|| format!("ledger: {op} {key} waits {ms}ms"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn injected(&self, op: &str, key: &str, when: &str) -> LedgerError {
        self.ctl
            .trace
            .log(format!("ledger: {op} {key} FAILS {when}"));
        LedgerError::io(
            key,
            std::io::Error::other(format!("injected failure {when}")),
        )
    }

    /// A write: latency, maybe a failure before it, `apply`, maybe a lost answer after it.
    async fn write<T>(
        &self,
        op: &str,
        key: &str,
        apply: impl Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        self.delay(op, key).await;
        let faults = self.faults();
        if self.chance(faults.p_fail_before) {
            return Err(self.injected(op, key, "before applying"));
        }
        let out = apply.await;
        if out.is_ok() && self.chance(faults.p_lose_answer) {
            self.delay(op, key).await;
            return Err(self.injected(op, key, "after applying (answer lost)"));
        }
        out
    }
}

impl LedgerStore for FaultyStore {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        self.delay("get", key).await;
        self.inner.get(key).await
    }

    async fn create(&self, key: &str, body: &[u8]) -> Result<Version, LedgerError> {
        self.write("create", key, self.inner.create(key, body))
            .await
    }

    async fn update(
        &self,
        key: &str,
        body: &[u8],
        expected: &Version,
    ) -> Result<Version, LedgerError> {
        self.write("update", key, self.inner.update(key, body, expected))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        self.delay("list", prefix).await;
        self.inner.list(prefix).await
    }

    async fn put_blob(&self, key: &str, body: &[u8]) -> Result<(), LedgerError> {
        self.write("put_blob", key, self.inner.put_blob(key, body))
            .await
    }

    /// Reads the file on the runtime's thread: `MemoryStore` reads it with `tokio::fs` (a
    /// blocking-pool thread), whose answer comes back after however long the read really took,
    /// so two runs of a seed would interleave differently (`a_seed_replays_exactly` found it).
    async fn put_blob_file(&self, key: &str, path: &Path) -> Result<(), LedgerError> {
        let body = std::fs::read(path).map_err(|e| LedgerError::io(key, e))?;
        self.write("put_blob_file", key, self.inner.put_blob(key, &body))
            .await
    }

    async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.delay("get_blob", key).await;
        self.inner.get_blob(key).await
    }
}
