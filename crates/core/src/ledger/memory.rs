//! In-memory [`LedgerStore`] for fast unit tests: the same semantics as the local and S3
//! adapters, in one process.
//!
//! Versions are content hashes, as in the local adapter. A test can make the next updates fail
//! with `Conflict` ([`MemoryStore::inject_conflicts`]) to exercise retry limits without racing
//! real writers. Nothing here survives the process; never configure it for real work.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::store::{Version, validate_key, validate_prefix};
use super::{LedgerError, LedgerStore};

/// A cheaply clonable handle; clones share the same map.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// One lock around everything: each operation is a few map lookups, never held across
    /// `.await`, so a plain mutex makes every operation atomic.
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    objects: BTreeMap<String, Vec<u8>>,
    /// How many of the next `update` calls fail with `Conflict` regardless of the version.
    injected_conflicts: u32,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` calls to `update` fail with `Conflict`, as if another writer had won.
    pub fn inject_conflicts(&self, n: u32) {
        self.lock().injected_conflicts = n;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated (every operation is
        // a single insert or lookup), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LedgerStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        validate_key(key)?;
        Ok(self.lock().objects.get(key).map(|body| {
            let version = Version::of_content(body);
            (body.clone(), version)
        }))
    }

    async fn create(&self, key: &str, body: &[u8]) -> Result<Version, LedgerError> {
        validate_key(key)?;
        let mut inner = self.lock();
        if inner.objects.contains_key(key) {
            return Err(LedgerError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        inner.objects.insert(key.to_owned(), body.to_vec());
        Ok(Version::of_content(body))
    }

    async fn update(
        &self,
        key: &str,
        body: &[u8],
        expected: &Version,
    ) -> Result<Version, LedgerError> {
        validate_key(key)?;
        let mut inner = self.lock();
        let conflict = || LedgerError::Conflict {
            key: key.to_owned(),
        };
        if inner.injected_conflicts > 0 {
            inner.injected_conflicts -= 1;
            return Err(conflict());
        }
        let Some(current) = inner.objects.get_mut(key) else {
            return Err(LedgerError::NotFound {
                key: key.to_owned(),
            });
        };
        if Version::of_content(current) != *expected {
            return Err(conflict());
        }
        *current = body.to_vec();
        Ok(Version::of_content(body))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        validate_prefix(prefix)?;
        let inner = self.lock();
        Ok(inner
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn put_blob(&self, key: &str, body: &[u8]) -> Result<(), LedgerError> {
        validate_key(key)?;
        self.lock().objects.insert(key.to_owned(), body.to_vec());
        Ok(())
    }

    async fn put_blob_file(&self, key: &str, path: &Path) -> Result<(), LedgerError> {
        validate_key(key)?;
        // Memory is where this store keeps everything anyway.
        let body = tokio::fs::read(path)
            .await
            .map_err(|e| LedgerError::io(key, e))?;
        self.lock().objects.insert(key.to_owned(), body);
        Ok(())
    }

    async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        validate_key(key)?;
        Ok(self.lock().objects.get(key).cloned())
    }

    fn locate(&self, key: &str) -> String {
        format!("memory:{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("test runtime")
            .block_on(f)
    }

    #[test]
    fn create_refuses_an_existing_key() {
        block_on(async {
            let s = MemoryStore::new();
            let v = s.create("a/b", b"1").await.unwrap();
            assert_eq!(v, Version::of_content(b"1"));
            let e = s.create("a/b", b"2").await.unwrap_err();
            assert!(matches!(e, LedgerError::AlreadyExists { key } if key == "a/b"));
            assert_eq!(s.get("a/b").await.unwrap().unwrap().0, b"1");
        });
    }

    #[test]
    fn update_refuses_a_stale_version_and_a_missing_key() {
        block_on(async {
            let s = MemoryStore::new();
            let v1 = s.create("k", b"1").await.unwrap();
            let v2 = s.update("k", b"2", &v1).await.unwrap();
            let e = s.update("k", b"3", &v1).await.unwrap_err();
            assert!(matches!(e, LedgerError::Conflict { .. }), "{e}");
            s.update("k", b"3", &v2).await.unwrap();
            let e = s.update("missing", b"x", &v2).await.unwrap_err();
            assert!(matches!(e, LedgerError::NotFound { .. }), "{e}");
        });
    }

    #[test]
    fn injected_conflicts_fail_only_the_next_updates() {
        block_on(async {
            let s = MemoryStore::new();
            let v = s.create("k", b"1").await.unwrap();
            s.inject_conflicts(1);
            assert!(s.update("k", b"2", &v).await.is_err());
            assert!(s.update("k", b"2", &v).await.is_ok());
        });
    }

    #[test]
    fn list_returns_sorted_keys_under_a_string_prefix() {
        block_on(async {
            let s = MemoryStore::new();
            for k in ["b/2", "a/1", "b/10", "b/1", "c"] {
                s.put_blob(k, b"").await.unwrap();
            }
            assert_eq!(s.list("b/").await.unwrap(), ["b/1", "b/10", "b/2"]);
            assert_eq!(s.list("b/1").await.unwrap(), ["b/1", "b/10"]);
            assert_eq!(s.list("").await.unwrap().len(), 5);
            assert!(s.list("../").await.is_err());
        });
    }

    #[test]
    fn bad_keys_are_refused_by_every_operation() {
        block_on(async {
            let s = MemoryStore::new();
            let v = Version::of_content(b"");
            assert!(s.get("../x").await.is_err());
            assert!(s.create("/x", b"").await.is_err());
            assert!(s.update("a//b", b"", &v).await.is_err());
            assert!(s.put_blob(".x", b"").await.is_err());
            assert!(s.get_blob("a/..").await.is_err());
        });
    }
}
