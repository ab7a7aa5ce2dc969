//! `canvas-sis man`: the manual page (roff), generated from the clap definitions in `cli.rs`,
//! printed on stdout — `canvas-sis man > /usr/local/share/man/man1/canvas-sis.1`.
//!
//! One page: the command, its global options and the list of subcommands with their summaries;
//! each subcommand's flags are in its `--help`.

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::cmd::exit;

pub fn run() -> anyhow::Result<u8> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .context("rendering the manual page")?;
    std::io::Write::write_all(&mut std::io::stdout(), &page).context("writing the manual page")?;
    Ok(exit::OK)
}
