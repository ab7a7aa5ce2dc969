//! Local-directory [`LedgerStore`]: one file per key under a root directory, safe between
//! threads and between processes on the same host.
//!
//! # On-disk format
//!
//! A key `tenants/a/tenant.json` is the file `<root>/tenants/a/tenant.json`, holding exactly the
//! bytes that were stored — plain JSON for records, so `jq` reads it, an operator can repair it,
//! and a ledger directory can be copied to S3 as is. The [`Version`] is the sha256 of the file's
//! bytes, computed when it is read: no header, no sidecar to keep in step. Next to the files the
//! store keeps its own bookkeeping under dot-names, which keys can never take
//! ([`super::store::validate_key`]):
//! - `.tmp-<name>-<pid>-<random>`: a value being written, in the directory of its key;
//! - `.lock-<name>`: the lock file of key `<name>` for updates; never deleted (deleting a lock
//!   file while another process waits on it would let two writers in).
//!
//! # Why a crash never leaves a torn value
//!
//! A value is never written in place. Every write goes to a fresh temp file in the key's own
//! directory (so the final step stays on one file system), which is flushed with `fsync` before
//! it is published by a single atomic directory operation, and then the directory is `fsync`ed:
//! - **create** publishes with `hard_link(temp, key)`, which fails if `key` exists — the
//!   no-overwrite primitive that makes exactly one of several concurrent creators win, across
//!   processes — then removes the temp name;
//! - **update** takes an exclusive `flock` on the key's lock file, re-reads the file, compares its
//!   hash with the expected version, and publishes with `rename(temp, key)`, which replaces the
//!   file atomically; readers never lock and see the old file or the new one;
//! - **put_blob** is an update without the version check (it takes the same lock, so a blob put
//!   cannot slip between an update's check and its rename); **put_blob_file** is the same with
//!   the temp file filled by copying the given file (never a hard link: the caller's later
//!   changes to its file must not reach the archive).
//!
//! A crash before the publish step leaves the old value and an orphan temp file; after it, the
//! new value (fully written, since it was flushed first). Orphan temp files are never read (they
//! are dot-names) and are removed by [`LocalStore::sweep`], which [`LocalStore::open`] runs: a
//! temp file is removed only when no live writer holds its lock *and* it is older than
//! [`STALE_TEMP_AGE`] (the age covers the instant between a writer creating the file and
//! locking it). `flock` locks die with their process, so a crashed writer never blocks others.
//!
//! Limits: needs a local file system with hard links and `flock` (ext4, xfs, apfs, tmpfs);
//! network file systems (NFS, SMB) may not honour either and are not supported. A key cannot be
//! both a file and a "directory" of other keys (`a/b` and `a/b/c`), unlike S3.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::store::{Version, validate_key, validate_prefix};
use super::{LedgerError, LedgerStore};

/// Temp files younger than this are left alone by [`LocalStore::sweep`] even when unlocked.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

const TEMP_PREFIX: &str = ".tmp-";
const LOCK_PREFIX: &str = ".lock-";

/// A ledger in a local directory. Cheap to clone; clones share the root.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<PathBuf>,
}

impl LocalStore {
    /// Opens (creating if needed) the ledger directory `dir`, and removes stale temp files left
    /// by crashed writers. Blocking; call it once at startup.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let dir = dir.as_ref();
        let at = |e| LedgerError::io(&dir.display().to_string(), e);
        fs::create_dir_all(dir).map_err(at)?;
        let root = dir.canonicalize().map_err(at)?;
        let store = LocalStore {
            root: Arc::new(root),
        };
        store.sweep()?;
        Ok(store)
    }

    /// The ledger's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key` (which must be valid).
    pub fn path_of(&self, key: &str) -> Result<PathBuf, LedgerError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Removes orphan temp files (module docs) anywhere under the root; returns how many.
    /// Blocking. Safe to run while other processes use the store.
    pub fn sweep(&self) -> Result<usize, LedgerError> {
        let mut removed = 0;
        for path in walk(&self.root).map_err(|e| LedgerError::io("", e))? {
            if is_stale_temp(&path) {
                match fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "removed an orphan ledger temp file");
                        removed += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(LedgerError::io(&path.display().to_string(), e)),
                }
            }
        }
        Ok(removed)
    }

    /// Runs blocking file work off the async workers. If the caller's future is dropped, the
    /// operation still runs to completion (or not at all): never half a write.
    async fn blocking<T: Send + 'static>(
        &self,
        key: &str,
        op: impl FnOnce(&Path) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        validate_key(key)?;
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || op(&root))
            .await
            .map_err(|e| LedgerError::io(key, io::Error::other(e)))?
    }
}

impl LedgerStore for LocalStore {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, LedgerError> {
        let k = key.to_owned();
        self.blocking(key, move |root| {
            let body = read_if_exists(&root.join(&k)).map_err(|e| LedgerError::io(&k, e))?;
            Ok(body.map(|b| {
                let v = Version::of_content(&b);
                (b, v)
            }))
        })
        .await
    }

    async fn create(&self, key: &str, body: &[u8]) -> Result<Version, LedgerError> {
        let (k, body) = (key.to_owned(), body.to_vec());
        self.blocking(key, move |root| create_file(root, &k, &body))
            .await
    }

    async fn update(
        &self,
        key: &str,
        body: &[u8],
        expected: &Version,
    ) -> Result<Version, LedgerError> {
        let (k, body, expected) = (key.to_owned(), body.to_vec(), expected.clone());
        self.blocking(key, move |root| {
            replace_file(root, &k, Content::Bytes(&body), Some(&expected))?;
            Ok(Version::of_content(&body))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        validate_prefix(prefix)?;
        let root = Arc::clone(&self.root);
        let p = prefix.to_owned();
        tokio::task::spawn_blocking(move || list_keys(&root, &p))
            .await
            .map_err(|e| LedgerError::io(prefix, io::Error::other(e)))?
    }

    async fn put_blob(&self, key: &str, body: &[u8]) -> Result<(), LedgerError> {
        let (k, body) = (key.to_owned(), body.to_vec());
        self.blocking(key, move |root| {
            replace_file(root, &k, Content::Bytes(&body), None)
        })
        .await
    }

    async fn put_blob_file(&self, key: &str, path: &Path) -> Result<(), LedgerError> {
        let (k, path) = (key.to_owned(), path.to_owned());
        self.blocking(key, move |root| {
            replace_file(root, &k, Content::File(&path), None)
        })
        .await
    }

    async fn get_blob(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let k = key.to_owned();
        self.blocking(key, move |root| {
            read_if_exists(&root.join(&k)).map_err(|e| LedgerError::io(&k, e))
        })
        .await
    }

    fn locate(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

/// Create-if-absent: temp + fsync, `hard_link` (fails if the key exists), fsync the directory.
fn create_file(root: &Path, key: &str, body: &[u8]) -> Result<Version, LedgerError> {
    let io_err = |e| LedgerError::io(key, e);
    let (dir, name) = split(root, key);
    ensure_dir(root, &dir).map_err(io_err)?;
    // Dropped at the end, which removes the temp name (the key keeps the data).
    let temp = TempFile::write(&dir, &name, Content::Bytes(body)).map_err(io_err)?;
    match fs::hard_link(&temp.path, dir.join(&name)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(LedgerError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        Err(e) => return Err(io_err(e)),
    }
    drop(temp);
    sync_dir(&dir).map_err(io_err)?;
    Ok(Version::of_content(body))
}

/// Update-if-unchanged (`expected` is `Some`) or unconditional put (`None`), under the key's
/// exclusive lock: check, temp + fsync, `rename` over, fsync the directory.
fn replace_file(
    root: &Path,
    key: &str,
    content: Content<'_>,
    expected: Option<&Version>,
) -> Result<(), LedgerError> {
    let io_err = |e| LedgerError::io(key, e);
    let not_found = || LedgerError::NotFound {
        key: key.to_owned(),
    };
    let (dir, name) = split(root, key);
    if expected.is_some() && !dir.is_dir() {
        return Err(not_found());
    }
    ensure_dir(root, &dir).map_err(io_err)?;
    // Held until the end of this function; released when `_lock` is dropped (or the process
    // dies). Serializes every replace of this key, across threads and processes.
    let _lock = lock_key(&dir, &name).map_err(io_err)?;
    let path = dir.join(&name);
    if let Some(expected) = expected {
        let current = read_if_exists(&path)
            .map_err(io_err)?
            .ok_or_else(not_found)?;
        if Version::of_content(&current) != *expected {
            return Err(LedgerError::Conflict {
                key: key.to_owned(),
            });
        }
    }
    let mut temp = TempFile::write(&dir, &name, content).map_err(io_err)?;
    fs::rename(&temp.path, &path).map_err(io_err)?;
    temp.published = true;
    sync_dir(&dir).map_err(io_err)?;
    Ok(())
}

/// What a write puts in its temp file: bytes in memory, or a copy of a file, streamed.
#[derive(Clone, Copy)]
enum Content<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl Content<'_> {
    fn write_to(self, out: &mut File) -> io::Result<()> {
        match self {
            Content::Bytes(body) => out.write_all(body),
            Content::File(path) => {
                let named = |e: io::Error| {
                    io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
                };
                let mut src = File::open(path).map_err(named)?;
                io::copy(&mut src, out).map_err(named).map(drop)
            }
        }
    }
}

/// Opens and exclusively locks `<dir>/.lock-<name>`, blocking until the lock is free.
fn lock_key(dir: &Path, name: &str) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{LOCK_PREFIX}{name}")))?;
    file.lock()?;
    Ok(file)
}

/// A fully written, flushed temp file, locked by its writer for as long as this value lives so
/// that [`LocalStore::sweep`] never removes it; removed on drop unless published by `rename`.
struct TempFile {
    path: PathBuf,
    /// Holds the temp file's lock; released after the name is removed (field drops run after
    /// `Drop::drop`).
    file: File,
    published: bool,
}

impl TempFile {
    fn write(dir: &Path, name: &str, content: Content<'_>) -> io::Result<TempFile> {
        let path = dir.join(format!(
            "{TEMP_PREFIX}{name}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        // From here on, dropping `temp` removes the file, on success and error paths alike.
        let mut temp = TempFile {
            path,
            file,
            published: false,
        };
        temp.file.lock()?;
        content.write_to(&mut temp.file)?;
        temp.file.sync_all()?;
        Ok(temp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A temp file nobody is writing: its lock is free and it is older than [`STALE_TEMP_AGE`].
fn is_stale_temp(path: &Path) -> bool {
    let is_temp = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(TEMP_PREFIX));
    if !is_temp {
        return false;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    let old = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= STALE_TEMP_AGE);
    old && file.try_lock().is_ok()
}

/// Keys (files not under a dot-name) that start with `prefix`, sorted.
fn list_keys(root: &Path, prefix: &str) -> Result<Vec<String>, LedgerError> {
    let start = match prefix.rfind('/') {
        Some(i) => root.join(&prefix[..i]),
        None => root.to_path_buf(),
    };
    let mut keys = Vec::new();
    for path in walk(&start).map_err(|e| LedgerError::io(prefix, e))? {
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let parts: Option<Vec<&str>> = rel.iter().map(|s| s.to_str()).collect();
        let Some(parts) = parts else { continue };
        if parts.iter().any(|p| p.starts_with('.')) {
            continue;
        }
        let key = parts.join("/");
        if key.starts_with(prefix) {
            keys.push(key);
        }
    }
    keys.sort();
    Ok(keys)
}

/// Every regular file under `dir` (missing `dir`: none). Does not follow symlinks.
fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    Ok(files)
}

/// The directory and file name of a (validated) key.
fn split(root: &Path, key: &str) -> (PathBuf, String) {
    match key.rsplit_once('/') {
        Some((dir, name)) => (root.join(dir), name.to_owned()),
        None => (root.to_path_buf(), key.to_owned()),
    }
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut body = Vec::new();
    file.read_to_end(&mut body)?;
    Ok(Some(body))
}

/// Creates `dir` if missing and makes the new directory entries durable by syncing every
/// directory from `dir`'s parent up to the root.
fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut d = dir;
    while let Some(parent) = d.parent() {
        if !parent.starts_with(root) {
            break;
        }
        sync_dir(parent)?;
        d = parent;
    }
    Ok(())
}

/// Makes a directory's entries (a new or replaced name) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_files_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path()).unwrap();
        let p = s.path_of("tenants/a/tenant.json").unwrap();
        assert_eq!(p, s.root().join("tenants").join("a").join("tenant.json"));
        assert!(s.path_of("../escape").is_err());
    }

    #[test]
    fn fresh_temp_files_survive_a_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path()).unwrap();
        fs::write(s.root().join(".tmp-x-1-0"), b"partial").unwrap();
        assert_eq!(s.sweep().unwrap(), 0);
        assert!(s.root().join(".tmp-x-1-0").exists());
    }
}
