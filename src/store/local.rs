//! Batch files on the local file system.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::BatchFile;

/// A file on disk, named inside its batch by `name`.
#[derive(Debug, Clone)]
pub struct LocalFile {
    name: String,
    path: PathBuf,
    size: Option<u64>,
}

impl LocalFile {
    /// `name` is how the file is called inside the batch; `path` is where it is on disk.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let size = std::fs::metadata(&path).ok().map(|m| m.len());
        LocalFile {
            name: name.into(),
            path,
            size,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl BatchFile for LocalFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        self.size
    }

    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        let f = std::fs::File::open(&self.path)?;
        Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_file_can_be_read_twice_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.csv");
        std::fs::write(&p, "user_id,login_id,status\n").unwrap();
        let f = LocalFile::new("users.csv", &p);
        assert_eq!(f.size(), Some(24));
        for _ in 0..2 {
            let mut s = String::new();
            f.open().unwrap().read_to_string(&mut s).unwrap();
            assert!(s.starts_with("user_id"));
        }
    }
}
