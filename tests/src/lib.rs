//! faxnotify-conformance: FNP/1 simulator, conformance suite and cross-runtime tests.
//!
//! Not yet implemented; see issues 7 and 9.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The runtime-neutral scenario harness: real sockets on loopback, run
/// against each runtime (`faxnotify-mio`, `faxnotify-smol`).
#[cfg(feature = "runtimes")]
pub mod harness;
