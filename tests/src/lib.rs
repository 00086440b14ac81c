//! faxnotify-conformance: FNP/1 simulator, conformance suite and cross-runtime tests.
//!
//! Not yet implemented; see issues 7 and 9.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "runtimes")]
pub mod harness;
