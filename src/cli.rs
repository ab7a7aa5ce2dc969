//! Command-line arguments of `canvas-sis` (clap derive), with examples in `--help`.
//!
//! Exit codes: 0 success; 1 an error (the message says what and what to do); 2 bad usage.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use canvas_sis::sim::TokenSpec;

#[derive(Debug, Parser)]
#[command(
    name = "canvas-sis",
    version,
    about = "Feed SIS CSV exports into Canvas LMS, safely and in order."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Canvas SIS Imports API simulator (for tests, demos and dry runs of a feed).
    ///
    /// Prints its base URL as the first line of stdout; logs go to stderr.
    ///
    /// Example:
    ///   canvas-sis simulate --listen 127.0.0.1:0 --token sis-bot:s3cret:import_sis,manage_sis
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,

    /// An accepted token: NAME:SECRET[:PERMS]. PERMS is a comma list of import_sis, manage_sis
    /// (default both), `none`, and optionally expired, revoked or no_scopes. Repeatable.
    /// Without any, one token admin:sim-token with both permissions is accepted.
    #[arg(long = "token", value_name = "NAME:SECRET[:PERMS]")]
    pub tokens: Vec<TokenSpec>,

    /// Import speed, in CSV rows per second.
    #[arg(long, default_value_t = 500.0)]
    pub rows_per_second: f64,

    /// How long a new import waits before it may start (Canvas's sis_batch_process_start_delay).
    #[arg(long, default_value_t = 0.0)]
    pub start_delay_secs: f64,

    /// How long after an import ends its errors_attachment appears.
    #[arg(long, default_value_t = 1.0)]
    pub errors_attachment_lag_secs: f64,

    /// How long the next import waits after an abort (Canvas: 600).
    #[arg(long, default_value_t = 600.0)]
    pub abort_hold_secs: f64,

    /// Keep the state (content, imports, files) in this JSON file across restarts.
    #[arg(long)]
    pub state_file: Option<PathBuf>,

    /// Status of a throttled answer: 403 (Canvas) or 429.
    #[arg(long, default_value_t = 403)]
    pub throttle_status: u16,

    /// Turn the request throttle off.
    #[arg(long)]
    pub no_throttle: bool,

    /// What one request costs in the throttle's bucket (Canvas: CPU + DB seconds).
    #[arg(long, default_value_t = 1.0)]
    pub request_cost: f64,

    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Time moves only through POST /__sim/advance (for reproducible tests).
    #[arg(long)]
    pub manual_clock: bool,

    /// Answer 401 instead of 403 to a user who lacks the SIS permission (older Canvas).
    #[arg(long)]
    pub legacy_401: bool,

    /// Turn on the institutional_tags feature on every root account.
    #[arg(long)]
    pub institutional_tags: bool,
}
