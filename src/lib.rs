//! canvas-sis: moves SIS CSV exports into Canvas LMS through the SIS Imports API.
//!
//! This crate is the top of the workspace: the `canvas-sis` binary (`src/main.rs`: `cli`, one
//! module per command under `cmd`) and this library, which only names the layers below it under
//! one roof, so that a command (or an integration test) says `canvas_sis::ledger` whatever crate
//! the ledger lives in. The crates, bottom up (`docs/architecture.md` draws them):
//!
//! - `canvas-sis-rules`: [`batch`] (what a batch is) and [`sis`] (Canvas's SIS CSV rules).
//! - `canvas-sis-client`: [`canvas`], the Canvas SIS Imports API client.
//! - `canvas-sis-core`: [`ledger`], [`notify`], [`config`], [`store`], [`pack`], [`pipeline`],
//!   [`trigger`] (folder mode): the one pipeline, free of any cloud SDK.
//! - `canvas-sis-telemetry`: [`telemetry`], logs, OpenTelemetry traces and metrics.
//! - `canvas-sis-aws`: `aws`, the S3 ledger and batches, the SQS worker, Lambda, SNS, Secrets
//!   Manager (cargo feature `aws`, on by default; `cargo demo` builds without it).
//! - `canvas-sis-web`: [`web`], the read-only status page (and the models `status --json` prints).
//! - `canvas-sis-sim`: `sim`, the Canvas simulator (cargo feature `sim`, on by default; the
//!   worker image is built without it).

#[cfg(test)]
mod architecture_test;
#[cfg(feature = "aws")]
pub use canvas_sis_aws as aws;
pub use canvas_sis_client as canvas;
pub use canvas_sis_core::{config, ledger, notify, pack, pipeline, store, trigger};
pub use canvas_sis_rules::{batch, sis};
#[cfg(feature = "sim")]
pub use canvas_sis_sim as sim;
pub use canvas_sis_telemetry as telemetry;
pub use canvas_sis_web as web;
