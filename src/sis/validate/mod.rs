//! Validation of a batch of SIS CSV files against Canvas's rules.
//!
//! (Being written: see the validation work.)
