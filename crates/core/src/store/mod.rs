//! Where a batch's files are read from: the object-store port.
//!
//! A batch is read at least twice (validated, then packed), so a file is something that can be
//! *opened* any number of times, each time streaming from the start — never a buffer in memory.
//! Local files are provided by [`local`] and entries of an incoming zip by `pack::read`. S3
//! batches are first fetched to a local work folder by `canvas-sis-aws` (streamed, hashed on the way), so
//! the pipeline reads them as local files too.

pub mod local;

pub use canvas_sis_rules::batch::BatchFile;
