//! Fuzzing harnesses (feature `fuzzing`).
//!
//! The cargo-fuzz targets in `fuzz/` are three-line shims over these
//! functions, so the harness code compiles with every build that enables the
//! feature, and `cargo test` replays the committed corpora through the same
//! code on machines without a nightly toolchain.
//!
//! Each harness panics only when an invariant of the library is broken; any
//! input, however hostile, must otherwise be handled.

mod decode;

pub use decode::decode;
