//! Content work: see `super`.
