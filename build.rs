//! Build script: release binaries are linked with the functions a worker run executes laid out
//! first and together (`link/hot-functions.txt`, made by `scripts/profile_hot_functions.sh`).
//!
//! Why: a process's resident set counts every page of its code it has touched, and the kernel
//! maps file pages up to 64 KiB at a time around each fault. The ~4 MiB of code a worker runs
//! was scattered over 13 MiB of `.text`, so most of it ended up resident (issue 5: the worker's
//! peak is held to 1/5 of the Python pipeline's). Laid out together, far fewer pages are.
//!
//! How: LLD's `--symbol-ordering-file` (LLD is rustc's default linker for x86_64 Linux since
//! Rust 1.90). Names the list does not know, such as functions added since the last profile, are
//! placed after it without a warning: a stale list costs memory, never correctness. Other
//! targets, and debug and test builds, link as before.

use std::path::Path;

fn main() {
    let list = Path::new("link/hot-functions.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    println!("cargo::rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !release || target != "x86_64-unknown-linux-gnu" || !list.exists() {
        return;
    }
    // A linker chosen in RUSTFLAGS or cargo's config may not be LLD and would refuse the option.
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || std::env::var_os("RUSTC_LINKER").is_some() {
        println!("cargo::warning=a linker is configured: hot functions are not laid out first");
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let path = Path::new(&dir).join(list);
    println!(
        "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        path.display()
    );
    println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
