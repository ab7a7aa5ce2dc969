//! Files that are not regular files, for the tests of hostile inputs (shared by `common` and
//! `common::folder`): named pipes, and mtimes set on a link or a pipe without opening it.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn c_path(path: &Path) -> std::ffi::CString {
    std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Creates a named pipe (FIFO) at `path`: opening it for reading blocks until a writer comes.
pub fn mkfifo(path: &Path) {
    let c = c_path(path);
    // SAFETY: `c` is a valid NUL-terminated path that lives across the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// Sets the mtime of `path` itself to `age` ago — a link, not its target; a pipe, without
/// opening it (which would block).
pub fn set_mtime_nofollow(path: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    let secs = when
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let c = c_path(path);
    // SAFETY: `c` is a valid NUL-terminated path and `times` two valid timespecs, both living
    // across the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}
