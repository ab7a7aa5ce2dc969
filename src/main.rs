//! The `canvas-sis` command line: parses arguments and runs one command.
fn main() {}
