//! Batch files on the local file system, and the one way inputs are opened: [`open_regular`].
//!
//! Inputs are regular files (design precision): a symbolic link would let a drop make the tool
//! read — and quote, pack and upload — a file from anywhere the process can read (the token
//! file), and opening a named pipe blocks until a writer comes, which may be never. So every
//! input is opened without following a link and without waiting, and refused unless the open
//! file is a regular file.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::BatchFile;

/// An input that is not a regular file: what it is, and what to do.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is {what}, not a regular file; canvas-sis reads only regular files (it never follows a \
     symbolic link nor reads a pipe or a device): put the file itself there",
    path.display()
)]
pub struct NotRegular {
    pub path: PathBuf,
    pub what: &'static str,
}

impl NotRegular {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, self)
    }
}

/// What a file type is, in words for a message ("a named pipe").
pub fn type_name(t: FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Why `path` is not a regular file (`None` when it is one), without following a link.
pub fn not_regular(path: &Path) -> io::Result<Option<NotRegular>> {
    let t = std::fs::symlink_metadata(path)?.file_type();
    Ok((!t.is_file()).then(|| NotRegular {
        path: path.to_owned(),
        what: type_name(t),
    }))
}

/// Opens an input for reading, only if it is a regular file.
///
/// The type is checked before opening (so a device is never opened) and again on the open
/// descriptor (so a swap between the two is caught). `O_NOFOLLOW` refuses a link as the last
/// component; `O_NONBLOCK` makes opening a pipe swapped in meanwhile return at once instead of
/// waiting for a writer (on a regular file it changes nothing).
pub fn open_regular(path: &Path) -> io::Result<File> {
    if let Some(e) = not_regular(path)? {
        return Err(e.into_io());
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => NotRegular {
                path: path.to_owned(),
                what: "a symbolic link",
            }
            .into_io(),
            _ => e,
        })?;
    let t = file.metadata()?.file_type();
    if !t.is_file() {
        return Err(NotRegular {
            path: path.to_owned(),
            what: type_name(t),
        }
        .into_io());
    }
    Ok(file)
}

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
        let size = std::fs::symlink_metadata(&path).ok().map(|m| m.len());
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
        let f = open_regular(&self.path)?;
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

    #[test]
    fn a_link_or_a_pipe_is_refused_without_being_followed_or_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("token");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("users.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = LocalFile::new("users.csv", &link).open().err().unwrap();
        assert!(
            e.to_string()
                .contains("is a symbolic link, not a regular file"),
            "{e}"
        );
        let pipe = dir.path().join("pipe.csv");
        let c = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = open_regular(&pipe).unwrap_err();
        assert!(
            e.to_string()
                .contains("is a named pipe, not a regular file"),
            "{e}"
        );
    }
}
