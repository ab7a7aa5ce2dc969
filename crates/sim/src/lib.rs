//! A Canvas SIS Imports API simulator: an HTTP server that behaves like Canvas's code does.
//!
//! Used by the tests (in-process on an ephemeral port), by `canvas-sis demo`, and by users who want
//! to dry-run a feed (`canvas-sis simulate`). It follows `docs/canvas-api.md`;
//! where the published docs and Canvas's code differ, it does what the code does.
//!
//! # Layout
//!
//! - `config`: accounts, tokens and knobs (speed, lags, holds, limits) given at start.
//! - `server`: the accept loop (it can drop a connection on purpose, for the fault tests).
//! - `api`: one module per Canvas endpoint, plus auth, errors, pagination and parameters.
//! - `engine`: batches and their workflow states, per-account FIFO queue, time, progress.
//! - `content`: the entities a root account holds and what an import does to them.
//! - `throttle`: Canvas's leaky bucket per token.
//! - `faults`, `inspect`, `admin`: the test controls under `/__sim/`.
//! - `persist`: optional save and load of the whole state to a file.

pub mod admin;
pub mod api;
pub mod clock;
pub mod config;
pub mod content;
pub mod engine;
pub mod faults;
pub mod inspect;
pub mod persist;
pub mod server;
pub mod state;
pub mod throttle;

pub use config::{AccountSpec, Permission, SimConfig, TokenSpec};
pub use server::{RunningSimulator, StartError, start};
