//! The status page of canvas-sis: what a Canvas administrator opens every morning.
//!
//! Read-only and server-rendered (askama templates, no JavaScript): the tenants with their gate,
//! freshness and what waits ([`model::overview`]); a tenant's history of batches with a small
//! chart ([`model::history`]); one batch with its files, validation report, guard comparison,
//! Canvas's result, its messages grouped by class across batches, and the command an operator
//! runs next ([`model::batch`]). The same models are what `canvas-sis status --json` prints.
//!
//! Everything comes from the ledger, through [`canvas_sis_core::ledger::Ledger`] over any store
//! (a folder-mode directory or the cloud worker's S3 state): the page never writes, never asks
//! Canvas, and shows no token or webhook URL (the ledger holds none). Messages and validation
//! findings are shown as classes with counts; their raw text (which can carry a person's data)
//! and the archived zip and errors file are shown only when the operator enables row samples
//! ([`PageOptions::row_samples`]). Access control ([`auth`]) is optional: a bearer token or
//! basic-auth credentials read from a file.

pub mod auth;
pub mod classes;
pub mod model;
mod pages;
pub mod server;

pub use server::{PageOptions, TenantSettings, router};
