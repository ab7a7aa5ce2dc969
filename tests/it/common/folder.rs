//! Helpers for the folder-mode tests: a fresh watch folder per test, files with chosen mtimes
//! (no sleeping: the scanner takes `now` as an argument), and a minimal valid zip.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use canvas_sis::trigger::folder::{Layout, ScanPolicy, TenantInbox};

pub use super::mkfifo;

/// A fixed "now" for every test.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub fn secs_ago(s: u64) -> SystemTime {
    now() - Duration::from_secs(s)
}

pub fn quiet() -> Duration {
    Duration::from_secs(60)
}

pub fn policy() -> ScanPolicy {
    ScanPolicy {
        incomplete_wait: Duration::from_secs(600),
    }
}

pub struct Watch {
    pub _tmp: tempfile::TempDir,
    pub layout: Layout,
}

impl Watch {
    pub fn new() -> Watch {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::ensure(&tmp.path().join("watch")).unwrap();
        Watch { _tmp: tmp, layout }
    }

    /// One tenant, `main`, whose inbox is `inbox/` itself.
    pub fn single(&self) -> Vec<TenantInbox> {
        vec![TenantInbox {
            tenant: "main".into(),
            dir: self.layout.inbox(),
            quiet_period: quiet(),
        }]
    }

    pub fn inbox(&self, rel: &str) -> PathBuf {
        self.layout.inbox().join(rel)
    }
}

/// Writes `body` at `path` (creating parents) with mtime `mtime`.
pub fn put(path: &Path, body: &[u8], mtime: SystemTime) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    touch(path, mtime);
}

pub fn touch(path: &Path, mtime: SystemTime) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(mtime).unwrap();
}

/// The smallest valid zip: an empty end-of-central-directory record.
pub fn empty_zip() -> Vec<u8> {
    let mut z = b"PK\x05\x06".to_vec();
    z.extend_from_slice(&[0; 18]);
    z
}

pub const USERS: &[u8] = b"user_id,login_id,status\nu1,u1,active\n";
pub const COURSES: &[u8] = b"course_id,short_name,long_name,status\nc1,C1,Course 1,active\n";

/// Every file under `dir`, relative, sorted, with contents.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, std::fs::read(&p).unwrap()));
        }
    }
}
