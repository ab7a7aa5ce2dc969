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
    let cli = if cmd::lambda::started_by_lambda() {
        Cli::parse_from(["canvas-sis", "lambda"])
    } else {
        Cli::parse()
    };
    // The demo prints its own story on stdout; its logs would only drown it.
    let default_level = match cli.command {
        Command::Demo(_) => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, default_level);
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
            Command::Run(a) => cmd::run::run(a).await,
            Command::Lambda(a) => cmd::lambda::run(a).await,
            Command::Validate(a) => cmd::validate::run(a),
            Command::Pack(a) => cmd::pack::run(a),
            Command::Status(a) => match cmd::ops::Location::chosen(&a.ledger) {
                Some(location) => cmd::ops::status(&location).await,
                None => cmd::status::run(a).await,
            },
            Command::Pause(a) => cmd::ops::pause(a).await,
            Command::Resume(a) => cmd::ops::resume(a).await,
            Command::Approve(a) => cmd::ops::approve(a).await,
            Command::Undo(a) => cmd::ops::undo(a).await,
            Command::Demo(a) => cmd::demo::run(a).await,
            Command::Simulate(a) => cmd::simulate::run(a).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cmd::exit::USAGE)
        }
    }
}

/// Logs on stderr, readable text or JSON lines; `RUST_LOG` overrides the default level.
fn init_logging(format: LogFormat, default_level: &str) {
    // The S3 SDK warns on every download of a multipart object that its part-level checksum
    // can't be checked; the worker hashes what it downloads itself (and checks a manifest's
    // sha256), so that warning says nothing an operator can act on.
    let quiet = "aws_sdk_s3::http_response_checksum=error";
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default_level},{quiet}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
