//! canvas-sis: moves SIS CSV exports into Canvas LMS through the SIS Imports API.
//!
//! # Layout
//!
//! - [`batch`]: what a batch is: folder markers, the manifest and its rules, object keys, files.
//! - [`config`]: the config file (tenants, token sources, import defaults, guard, blackouts).
//! - [`store`]: where a batch's files are read from (local files; S3 batches fetched to a work folder).
//! - [`sis`]: Canvas's SIS CSV rules: kinds and detection, validation, the mass-change guard.
//! - [`pack`]: deterministic, parallel zip packing; safe reading of incoming zips.
//! - [`canvas`]: the Canvas SIS Imports API client.
//! - [`ledger`]: the durable record of every batch and tenant (compare-and-swap writes), in a
//!   local directory or in S3 (conditional writes).
//! - [`pipeline`]: the one pipeline: one-shot (`import`) and ledger-backed (unattended) runs.
//! - [`trigger`]: how work arrives: the folder drop (`watch`) and the SQS FIFO worker (`run`).
//! - [`notify`]: webhook and SNS notifications of failed, halted, held (and warned) batches.
//! - `sim`: a Canvas SIS Imports API simulator for tests, the demo and dry runs (cargo feature
//!   `sim`, on by default; the worker image is built without it).
//! - [`telemetry`]: logs, OpenTelemetry traces and metrics, the Prometheus scrape.
//!
//! See `docs/design.md` for the whole shape, and `docs/architecture.md` for how these modules
//! depend on each other (a DAG, checked by `architecture_test`).

#[cfg(test)]
mod architecture_test;
pub mod aws;
pub mod batch;
pub mod canvas;
pub mod config;
pub mod ledger;
pub mod notify;
pub mod pack;
pub mod pipeline;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sis;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_fixtures;
pub mod trigger;
