//! canvas-sis: moves SIS CSV exports into Canvas LMS through the SIS Imports API.
//!
//! # Layout
//!
//! - [`sis`]: Canvas's SIS CSV rules (file kinds, header detection in Canvas's processing order).
//! - [`store`]: where a batch's files are read from (local files now; S3 later).
//! - [`pack`]: deterministic, parallel zip packing; safe reading of incoming zips.
//! - [`canvas`]: the Canvas SIS Imports API client.
//! - [`sim`]: a Canvas SIS Imports API simulator (HTTP server) used by the tests, the demo and
//!   users who want to dry-run a feed without a Canvas.
//!
//! The pipeline, triggers, stores and the Canvas client arrive with later work; see
//! `../shared/design.md` for the whole shape.

pub mod canvas;
pub mod config;
pub mod pack;
pub mod pipeline;
pub mod sim;
pub mod sis;
pub mod store;
pub mod trigger;
