//! faxnotify-tests: the cross-runtime scenario harness, and the tests of this
//! repository that are not one crate's own (`tests/tests`): the model tests of
//! the client and server cores, the runtime scenarios on each runtime and
//! across runtimes, and TLS reloading.
//!
//! - [`harness`]: the runtime scenario harness, run against `faxnotify-mio`,
//!   `faxnotify-smol` and `faxnotify-tokio`.
//!
//! The conformance suite, the simulator and the load tool have crates of
//! their own: `conformance/`, `sim/` and `loadgen/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod harness;
