//! # faxnotify-testkit
//!
//! What faxnotify's tests, benchmarks and examples share to run the
//! sans-IO cores without sockets, in the way quinn-proto's test `Pair` does:
//!
//! - [`Net`]: a server and any number of clients joined by an in-memory
//!   network with a manual clock; [`Net::drive`] until nothing moves,
//!   [`Net::step`] one round at a time, [`Net::run_for`] to let time pass;
//!   the events of each side; bytes, cuts, refused dials and binds, and
//!   middleboxes injected on purpose.
//! - [`Endpoint`]: one core and the outputs it produced, for tests that
//!   script the other side themselves.
//! - [`alloc`]: the counting global allocator of the allocation tests and
//!   the memory benchmarks.
//! - [`frames`]: frames to bytes and back.
//!
//! Not published: it exists for the workspace's own tests.
#![deny(unsafe_code)] // allowed, with SAFETY comments, in `alloc` only
#![warn(missing_docs)]

pub mod alloc;
mod core;
mod endpoint;
pub mod frames;
mod net;

pub use crate::core::Core;
pub use endpoint::Endpoint;
pub use faxnotify_core::io::{Input, Output};
pub use net::{ClientId, Faults, Middlebox, Net, Path, Relayed, SERVER_ADDR, Side, client_ip};
