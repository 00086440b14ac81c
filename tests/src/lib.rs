//! faxnotify-conformance: FNP/1 simulator, conformance suite and cross-runtime tests.
//!
//! - [`conformance`]: the FNP/1 conformance suite, which checks any FNP/1
//!   server or client (in any language) over real TCP and reports a verdict
//!   per requirement of `docs/protocol.md`.
//! - `harness` (feature `runtimes`, on by default): the runtime scenario
//!   harness, run against `faxnotify-mio` and `faxnotify-smol`.
//! - `load` (feature `load`, on by default): the end-to-end load tool
//!   behind `faxnotify bench`.
//! - [`sim`]: a deterministic simulator of one server and many clients
//!   under injected faults, with the delivery invariants it checks.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod conformance;
#[cfg(feature = "runtimes")]
pub mod harness;
#[cfg(feature = "load")]
pub mod load;
pub mod sim;
