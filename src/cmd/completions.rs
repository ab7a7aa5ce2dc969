//! `canvas-sis completions SHELL`: the shell's completion script, generated from the clap
//! definitions in `cli.rs` (so it never drifts from the flags), printed on stdout.
//!
//! Installing it is the user's: e.g. `canvas-sis completions bash > /etc/bash_completion.d/canvas-sis`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::cmd::exit;

pub fn run(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cmd, name, &mut std::io::stdout());
    Ok(exit::OK)
}
