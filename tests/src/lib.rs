//! faxnotify-conformance: FNP/1 simulator, conformance suite and cross-runtime tests.
//!
//! - [`sim`]: a deterministic simulator of one server and many clients
//!   under injected faults, with the delivery invariants it checks.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod sim;
