//! Triggers: how work arrives. Each trigger turns arrivals into batches for the one pipeline and
//! holds no stage logic of its own.
//!
//! - [`folder`]: folder mode (`canvas-sis watch DIR`), the scheduled import script of Canvas's
//!   guide: an inbox on the local disk, claimed into `processing/` and archived afterwards.
//!
//! The SQS and Lambda triggers come later.

pub mod events;
pub mod folder;
