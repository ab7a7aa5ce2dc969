//! How the process's allocator gives memory back: one setting, made once at start-up.
//!
//! glibc's malloc serves a large request (a 1 MiB pack chunk, an 8 MiB validation table) with
//! its own `mmap`, and returns it to the system when it is freed — but the first such free
//! also raises the threshold for the next ones (up to 32 MiB) and the heap trim threshold with
//! it. From then on the worker's chunk buffers come from the heaps of the threads that
//! allocate them and stay resident after they are freed, spread over one heap per thread. On
//! the worker's benchmark feed (`scripts/bench_worker.sh`) that raised the peak RSS from about
//! 42 MiB to 53 MiB, and `pack` alone from 23 MiB to 35 MiB. Fixing the threshold keeps large
//! buffers in their own mappings, given back as soon as they are dropped.
//!
//! Other allocators (musl's, macOS's) do not have this behaviour, and the call is skipped there.

/// Requests at or above this size get their own mapping (glibc's default start value, made
/// fixed). Small enough for pack chunks and validation tables, large enough that the many
/// small allocations of parsing and HTTP stay on the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 128 * 1024;

/// Fixes glibc's mmap threshold (see the module docs). Call first thing in `main`, before any
/// thread exists.
pub fn return_large_buffers_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's tuning parameters; it is called before any other
        // thread exists, so no allocation races with it. A refused value (return 0) leaves
        // glibc's defaults, which are correct, only larger.
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
    }
}
