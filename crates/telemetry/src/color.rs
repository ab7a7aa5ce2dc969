//! Whether what canvas-sis writes on stderr may carry ANSI colors and styles.
//!
//! Only when stderr is a terminal, and never when `NO_COLOR` is set to anything but the empty
//! string (<https://no-color.org>). Cron mail, journald and CI logs get plain text. This decides
//! for the log lines; the progress bar (`src/cmd/progress.rs`) draws only on a terminal and uses
//! no colors.

use std::ffi::OsStr;
use std::io::IsTerminal;

/// The variable that turns colors off, whatever the terminal.
pub const NO_COLOR_ENV: &str = "NO_COLOR";

/// Whether this process's stderr may carry ANSI escapes.
pub fn on_stderr() -> bool {
    wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os(NO_COLOR_ENV).as_deref(),
    )
}

/// The rule: a terminal, and `NO_COLOR` unset or empty.
pub fn wanted(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_only_on_a_terminal_and_never_with_a_non_empty_no_color() {
        assert!(wanted(true, None));
        assert!(
            wanted(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!wanted(true, Some(OsStr::new("1"))));
        assert!(!wanted(true, Some(OsStr::new("false"))), "any value counts");
        assert!(!wanted(false, None));
        assert!(!wanted(false, Some(OsStr::new(""))));
    }
}
