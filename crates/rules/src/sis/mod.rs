//! Canvas SIS CSV rules shared by everything that reads a feed.
//!
//! Only facts about Canvas's CSV format live here (which kinds of file exist, how Canvas recognises
//! them from their header row, the order it processes them in). What to *do* with a file — validate
//! it for an operator, or import it in the simulator — lives with the caller.

pub mod guard;
pub mod kind;
pub mod validate;

pub use kind::SisKind;
