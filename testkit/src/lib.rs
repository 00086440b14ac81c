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
//! - [`socket`]: a client core logged in over a real, blocking socket, for
//!   the runtimes' tests that need a raw connection to a real server loop.
//! - [`process`]: whether a process has ended, for tests of what must not
//!   outlive the program that started it.
//!
//! A client logs in, the server dials back, a notification is delivered
//! and acknowledged, all in memory and without time passing:
//!
//! ```
//! use std::time::Instant;
//!
//! use faxnotify_core::client::{self, Client, ClientConfig, ListenPolicy, NetworkSettings};
//! use faxnotify_core::server::{MemoryUserStore, Server, ServerConfig, Target};
//! use faxnotify_core::wire::{Notification, Role};
//! use faxnotify_testkit::{Net, SERVER_ADDR};
//!
//! let mut users = MemoryUserStore::new();
//! users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)?;
//! let server = Server::new(ServerConfig::new([1; 32]), Box::new(users), [2; 32])?;
//! let settings = NetworkSettings::new(ListenPolicy::Fixed { port: 6003 });
//! let config = ClientConfig::new(SERVER_ADDR, "alice", "correct horse", settings);
//! let now = Instant::now();
//! let mut net = Net::pair(Client::new(config, [3; 32], now)?, server, now);
//!
//! net.drive(); // listen, dial, log in, advertise, call back
//! let now = net.now;
//! net.server.notify(now, Target::All, &Notification::server_message("hello"))?;
//! net.drive(); // NOTIFY, then the ACK
//!
//! let delivered = net.client().events.iter().any(|e| {
//!     matches!(e, client::Event::Notification { seq: 1, .. })
//! });
//! assert!(delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not published: it exists for the workspace's own tests.
#![deny(unsafe_code)] // allowed, with SAFETY comments, in `alloc` only
#![warn(missing_docs)]

pub mod alloc;
mod core;
mod endpoint;
pub mod frames;
mod net;
pub mod process;
pub mod socket;
mod topology;

pub use crate::core::Core;
pub use endpoint::Endpoint;
pub use faxnotify_core::io::{Input, Output};
pub use net::Net;
pub use topology::{ClientId, Faults, Middlebox, Path, Relayed, SERVER_ADDR, Side, client_ip};
