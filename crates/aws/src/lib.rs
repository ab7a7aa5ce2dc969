//! canvas-sis-aws: the AWS adapters of canvas-sis, each behind a port of `canvas-sis-core`.
//!
//! - [`clients`]: the S3, SQS and SNS clients from the environment; `s3://` URLs.
//! - [`ledger`]: the ledger in S3 ([`ledger::S3Store`], conditional writes, safe across hosts).
//! - [`store`]: S3 batches (a zip or a closed folder) fetched to a work folder.
//! - [`sns`]: notices published to an SNS topic (the core's `TopicPublisher`).
//! - [`secrets`]: Canvas tokens kept in Secrets Manager, fetched once at start.
//! - [`queue`]: the SQS FIFO worker (`canvas-sis run`): one message at a time, heartbeat,
//!   poison to the dead-letter queue, release on stop or near the 12-hour cap.
//! - [`lambda`]: the same work delivered by a Lambda SQS event source (`canvas-sis lambda`).

pub mod clients;
pub mod lambda;
pub mod ledger;
pub mod queue;
pub mod secrets;
pub mod sns;
pub mod store;

pub use clients::*;
