//! # faxnotify-hylafax
//!
//! The sans-IO half of `faxnotify hylafax`, the bridge from HylaFAX to FNP/1:
//! it parses hfaxd's `SITE TRIGGER` event stream ([`event`]) and queue
//! listings ([`queue`]), follows jobs, modems, receptions ([`bridge`]) and
//! received faxes leaving HylaFAX's receive queue ([`received`]),
//! and says which notification goes to whom ([`bridge::Output`]). The
//! command in `faxnotify-cli` does the I/O (hfaxd's client-server protocol,
//! the faxnotify server's admin socket).
//!
//! Everything HylaFAX sends is untrusted: lines are bounded ([`lines`]),
//! text is made printable, escaped and bounded ([`text`]), and no input
//! panics (the `hylafax` fuzz target checks that).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod bridge;
pub mod config;
pub mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod lines;
pub mod queue;
pub mod received;
pub mod text;

pub use bridge::{Bridge, Output, Recipients};
pub use config::{Config, ConfigError, Routing};
