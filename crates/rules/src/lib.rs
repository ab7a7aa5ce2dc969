//! canvas-sis-rules: what a batch is and Canvas's SIS CSV rules, with no I/O beyond reading a
//! batch's files. The bottom layer: the pipeline (`canvas-sis-core`) and the simulator
//! (`canvas-sis-sim`) both build on it, and it depends on no other crate of the workspace.
//!
//! - [`batch`]: the markers that close a batch folder, the manifest and its rules, what an S3
//!   object key means, a batch's files and their identity by content.
//! - [`sis`]: the SIS CSV kinds and their detection, header and row validation, the mass-change
//!   guard.

pub mod batch;
pub mod sis;
/// Facts measured outside this project that unit tests check against (test builds only).
#[cfg(any(test, feature = "test-fixtures"))]
#[doc(hidden)]
pub mod test_fixtures;
