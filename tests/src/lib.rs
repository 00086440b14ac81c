//! faxnotify-tests: the cross-runtime scenario harness and the tests of this
//! repository that span crates.
//!
//! - `harness` (feature `runtimes`, on by default): the runtime scenario
//!   harness, run against `faxnotify-mio` and `faxnotify-smol`.
//!
//! The conformance suite, the simulator and the load tool have crates of
//! their own: `conformance/`, `sim/` and `loadgen/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "runtimes")]
pub mod harness;
