//! The Canvas SIS Imports API client.
//!
//! (Being written: see the client work.)
