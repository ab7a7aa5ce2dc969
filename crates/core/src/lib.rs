//! canvas-sis-core: the one pipeline and everything it decides with, free of any cloud SDK.
//!
//! - [`ledger`]: the durable record of every batch and tenant (compare-and-swap writes) and the
//!   store port it is written through (local directory and memory here; S3 in `canvas-sis-aws`).
//! - [`notify`]: notification settings, notices and their delivery (webhooks here; SNS through
//!   the [`notify::TopicPublisher`] port, implemented in `canvas-sis-aws`).
//! - [`config`]: the config file (tenants, token sources, import defaults, guard, blackouts).
//! - [`store`]: a batch's files on the local disk (S3 batches are fetched by `canvas-sis-aws`).
//! - [`pack`]: deterministic, parallel zip packing; safe reading of incoming zips.
//! - [`pipeline`]: the stages, the gate and leases, operator actions, the one-shot `import`, and
//!   the `Observer` port that telemetry implements.
//! - [`trigger`]: folder mode (`watch`), the events a queue message carries, each tenant's
//!   runtime (the SQS worker and Lambda are in `canvas-sis-aws`).
//!
//! It builds on `canvas-sis-rules` (batches and Canvas's CSV rules) and `canvas-sis-client` (the
//! Canvas HTTP client). `docs/architecture.md` draws the crates and the modules inside this one.

pub mod config;
pub mod ledger;
pub mod notify;
pub mod pack;
pub mod pipeline;
pub mod store;
pub mod trigger;
