//! The `canvas-sis` command line: parse arguments, set up logging, run one command, exit with
//! the code the command chose (the table is in `cli.rs`).
//!
//! `anyhow` is used here, at the edge, and nowhere else: an `Err` from a command is a usage or
//! configuration problem (exit 2), printed with its context chain.

mod cli;
mod cmd;
mod memory;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    memory::return_large_buffers_promptly();
    #[cfg(feature = "aws")]
    let started_by_lambda = cmd::lambda::started_by_lambda();
    #[cfg(not(feature = "aws"))]
    let started_by_lambda = false;
    let cli = if started_by_lambda {
        Cli::parse_from(["canvas-sis", "lambda"])
    } else {
        Cli::parse()
    };
    // The demo prints its own story on stdout; its logs would only drown it.
    let default_level = match cli.command {
        Command::Demo(_) => "warn",
        _ => "info",
    };
    let style = match cli.log_format {
        LogFormat::Text => canvas_sis::telemetry::LogStyle::Text,
        LogFormat::Json => canvas_sis::telemetry::LogStyle::Json,
    };
    // Logs, traces and metrics; flushed when dropped, at the end of `main`.
    let telemetry = canvas_sis::telemetry::init(style, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(cmd::exit::USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Import(a) => cmd::import::run(a).await,
            Command::Watch(a) => cmd::watch::run(a).await,
            #[cfg(feature = "aws")]
            Command::Run(a) => cmd::run::run(a).await,
            #[cfg(feature = "aws")]
            Command::Lambda(a) => cmd::lambda::run(a).await,
            #[cfg(not(feature = "aws"))]
            Command::Run(_) | Command::Lambda(_) => Err(anyhow::anyhow!(
                "this canvas-sis was built without AWS (cargo feature `aws`, left out of `cargo \
                 demo`): `run` and `lambda` need the default build (`cargo build`)"
            )),
            Command::Validate(a) => cmd::validate::run(a),
            Command::Pack(a) => cmd::pack::run(a),
            Command::Status(a) => match cmd::ledger_at::Location::chosen(&a.ledger) {
                Some(location) => {
                    cmd::status::of_ledger(&location, a.json, a.limit.clamp(1, 1000) as usize).await
                }
                None => cmd::status::run(a).await,
            },
            Command::Serve(a) => cmd::serve::run(a).await,
            Command::Pause(a) => cmd::ops::pause(a).await,
            Command::Resume(a) => cmd::ops::resume(a).await,
            Command::Approve(a) => cmd::ops::approve(a).await,
            Command::Undo(a) => cmd::ops::undo(a).await,
            Command::Doctor(a) => cmd::doctor::run(a).await,
            Command::Completions(a) => cmd::completions::run(a),
            Command::Man => cmd::man::run(),
            #[cfg(feature = "sim")]
            Command::Demo(a) => cmd::demo::run(a).await,
            #[cfg(feature = "sim")]
            Command::Simulate(a) => cmd::simulate::run(a).await,
            #[cfg(not(feature = "sim"))]
            Command::Demo(_) | Command::Simulate(_) => Err(anyhow::anyhow!(
                "this canvas-sis was built without the simulator (cargo feature `sim`, left out of \
                 the worker image): `demo` and `simulate` need the default build (`cargo build`)"
            )),
        }
    });
    let code = match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cmd::exit::USAGE)
        }
    };
    drop(runtime);
    drop(telemetry);
    code
}
