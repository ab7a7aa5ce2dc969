//! One module per command: each turns parsed arguments into a call of the library and an exit
//! code. Printing for people (tables, summaries, progress bars) lives here and nowhere else.

pub mod checkup;
pub mod common;
pub mod completions;
pub mod connect;
#[cfg(feature = "sim")]
pub mod demo;
pub mod doctor;
pub mod exit;
pub mod gate_report;
pub mod import;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod ledger_at;
pub mod listen;
pub mod man;
pub mod notify;
pub mod ops;
pub mod output;
pub mod pack;
pub mod page;
pub mod progress;
#[cfg(feature = "aws")]
pub mod run;
pub mod serve;
#[cfg(feature = "sim")]
pub mod simulate;
pub mod status;
pub mod validate;
pub mod watch;
