//! # faxnotify-core
//!
//! The sans-IO core of FNP/1, the fax notification protocol: a fax client logs in
//! to a fax server over a *control* connection and advertises a TCP *callback*
//! port; the server dials back to it to push notifications of fax activity.
//!
//! This crate does no I/O, reads no clock and uses no global randomness: every
//! time-dependent call takes `now: Instant` and randomness comes from a seed the
//! caller injects. The same inputs always give the same outputs, which makes the
//! state machines reproducible under property tests, snapshots and fuzzing.
//!
//! - [`wire`]: frames, notification payloads and the incremental decoder.
//! - [`io`]: the inputs and outputs an adapter exchanges with either core.
//! - [`auth`]: the SCRAM-SHA-256 login, session keys and callback proofs.
//! - [`client`]: the client state machine.
//! - [`server`]: the server state machine.
//! - [`tls`]: FNP/1 over TLS 1.3 (settings; the sans-IO TLS session).
//! - [`peer_text`]: which characters of a peer's text must be escaped before
//!   a person sees it.
//! - `fuzzing` (feature `fuzzing`): the harnesses the fuzz targets and the
//!   corpus replay tests drive both state machines with.
//!
//! The protocol is specified in `docs/protocol.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod auth;
pub mod client;
mod conn;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod io;
pub mod peer_text;
mod rng;
pub mod server;
pub mod tls;
pub mod wire;

pub use conn::ConnId;
mod session_id;
pub use session_id::{ParseSessionIdError, SessionId};
