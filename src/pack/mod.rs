//! Deterministic, parallel zip packing of a batch, and safe reading of incoming zips.
//!
//! (Being written: see the pack work.)
