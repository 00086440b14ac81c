//! # faxnotify-async
//!
//! The async FNP/1 [`Server`] and [`Client`], written once for any async
//! runtime. It is an adapter around the sans-IO cores of `faxnotify-core`:
//! it owns the sockets, timers and tasks and contains no protocol logic.
//! What it needs from a runtime is the small [`Runtime`] trait (spawn a
//! task, a timer, a TCP listener, TCP streams), as quinn does in
//! `quinn/src/runtime.rs`. Applications use an adapter crate that
//! implements it and names the handles for its runtime:
//! [faxnotify-smol](https://docs.rs/faxnotify-smol) (async-io, any executor)
//! and [faxnotify-tokio](https://docs.rs/faxnotify-tokio).
//!
//! ```text
//! Server::bind(addr, config, users).await -> (Server, ServerEvents)
//!     server.notify(target, notification).await, sessions(), end_session(), shutdown()
//!     server.post(target, encoded) (fire and forget), take_post_report()
//! Server::bind_with_handler(addr, config, users, options, handler).await
//!     handler(event, notifier) on the driver task: notifier.post(..)
//! Client::start(config).await -> Client
//!     client.next_event().await (next_events(&mut vec, limit): a batch), logout(), state(), change_settings()
//! ```
//!
//! # Tasks
//!
//! Each server and each client has a *driver* task that owns its core and
//! runs the core's loop (drain outputs, arm a timer at `poll_timeout`,
//! wait for a socket message, an application command or the timer), plus
//! one task per connection that reads it and writes what the driver could
//! not write at once, all started through the
//! [`Runtime`] value in [`Options::runner`]. The futures the API returns only
//! wait on channels, so they can be awaited from any executor.
//!
//! # Writing an adapter for another runtime
//!
//! Implement [`Runtime`] on a type that says where tasks run (the
//! `runner` of [`Options`]): `launch` starts the driver, `listener` adopts a
//! bound std listener, `connect` dials, `timer` makes an [`AsyncTimer`];
//! plus [`Spawn`], [`AsyncListener`] and [`AsyncTcp`] on the runtime's
//! spawner, listener and stream (newtypes). Then name the handles:
//! `pub type Server = faxnotify_async::Server<MyRunner>;` and likewise
//! `Client` and `Options`. faxnotify-tokio's `runtime.rs` (about 180 lines
//! with its documentation) is a complete example.
//!
//! Then prove it: with this crate's `adapter-tests` feature in your
//! `[dev-dependencies]`, one test file implements the three methods of
//! `adapter_tests::Harness` (make a harness per test, block on a future
//! inside your runtime, the `runner` for the instances) and calls
//! `faxnotify_async::adapter_tests!(MyHarness);`. That runs every check
//! faxnotify-smol and faxnotify-tokio pass (delivery, backpressure, shutdown,
//! faults, listen policies and addresses, IPv4/IPv6, TLS) on your runtime,
//! about thirty tests; add tests only for what your runtime alone has.
//!
//! # Notifying cheaply
//!
//! Notifications are encoded on the caller's thread, never in the driver:
//! `notify` and `notify_batch` encode into the calling thread's arena and
//! wait for the driver's per-session report. [`Server::post`] is fire and
//! forget: notifications encoded with a [`NotificationEncoder`] go into a
//! bounded inbox ([`Options::post_capacity`]; a full one refuses with
//! [`PostError::Full`]) that the driver empties on its next turn, waking it
//! only when no wake is pending; a [`PostReport`]
//! ([`Server::take_post_report`]) counts what was accepted and lists the
//! refusals, and each session's outcome comes as the usual events. The
//! driver writes each connection once per turn, whatever the turn
//! produced for it (a batch of up to 64 network messages, a command, the
//! posts), and a connection whose last read was short waits for the socket
//! instead of reading again into `WouldBlock`. In steady state nothing on
//! this path allocates: waits keep wakers instead of event listeners, and
//! read and write buffers go round instead of being made per message.
//!
//! # A handler on the driver task
//!
//! An application that notifies in answer to events (the next notification
//! when the last one is acknowledged) pays, through [`ServerEvents`] and
//! `post`, two cross-task hand-offs per round trip: the driver wakes the
//! application for the `Delivered` event, the application's post wakes the
//! driver. A [`ServerHandler`] given to [`Server::bind_with_handler`] runs
//! on the driver task with each event instead; it may post right there
//! ([`LoopNotifier`]: queued at once, same [`PostReport`]) and hands back
//! the events it leaves to the application, which go to the stream in
//! order. Every event goes to exactly one of the two.
//!
//! # Backpressure
//!
//! Nothing a peer or a slow application does grows memory without bound:
//!
//! - **Reading.** Connection tasks hand chunks (at most `read_chunk` bytes)
//!   to the driver through one bounded queue (`input_queue` messages); when
//!   it is full, they stop reading and TCP flow control pushes back on the
//!   peers. An idle connection holds no read buffer and no write buffer.
//! - **Writing.** Bytes for a connection are written at the end of the
//!   driver's turn when the socket takes them, else queued for its
//!   task. While more than
//!   `pause_reading_above` bytes (64 KiB) wait for a peer that does not
//!   read, that connection is not read either, so its requests (PINGs, ...)
//!   cannot make the core produce more replies. What the application sends
//!   is bounded by the core (the server's NOTIFY window [B-4] and queue
//!   limit [B-6]); as a last resort a connection whose backlog exceeds
//!   `max_write_backlog` (8 MiB) is treated as dead and closed. So a
//!   connection costs at most about `read_chunk + max_write_backlog`.
//! - **Events.** While `event_capacity` events wait for the application,
//!   the driver stops taking network input (timers and commands go on), so
//!   a client application that does not read its events stops
//!   acknowledging, and the server holds notifications back within its
//!   window and queue limits.
//! - **Commands and replies** go through bounded channels.
//!
//! A server with 10 000 connections does not re-poll every socket on each
//! wake-up: each connection's tasks are woken by the reactor for that
//! socket only, and the driver's work per message is O(1).
//!
//! # Sockets
//!
//! Listeners are bound with socket2 and never with `SO_REUSEPORT`, so two
//! instances can never share a callback endpoint: a second client with the
//! same `fixed` port fails at start with the core's
//! [`StopReason::FixedPortInUse`](faxnotify_core::client::StopReason::FixedPortInUse),
//! and the next instance of a full `range` with
//! [`StopReason::RangeExhausted`](faxnotify_core::client::StopReason::RangeExhausted).
//! `SO_REUSEADDR` is set on Unix only (there it does not let two live
//! listeners share a port, and it lets a restart bind a port with
//! connections in TIME_WAIT). IPv6 listeners are dual-stack: a server on
//! `[::]` serves IPv4 clients too and dials their callbacks over IPv4.
//! Every connection has `TCP_NODELAY`.
//!
//! # Randomness
//!
//! Seeds come from the operating system ([`getrandom`]) unless
//! [`Options::seed`] fixes one (for reproducible tests only).
//!
//! # Logging
//!
//! `tracing` spans `fnp_server` / `fnp_client` and `debug` events for the
//! lifecycle of listeners and connections.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

#[cfg(feature = "adapter-tests")]
pub mod adapter_tests;
mod client;
mod connection;
mod conns;
mod doorbell;
mod driver;
mod errors;
mod mailbox;
mod net;
mod options;
mod runtime;
mod server;
mod task;
// Cluster mode's calls on a running server [D-17].
mod cluster;

pub use client::Client;
pub use errors::{
    ChangeSettingsError, ClientStartError, Closed, EndSessionError, LogoutError, NotifyError,
    PostError, ServerStartError, SetTlsIdentityError,
};
pub use faxnotify_runtime::{LoopNotifier, NotificationEncoder, PostReport, ServerHandler};
pub use options::{Options, OptionsError};
pub use runtime::{AsyncListener, AsyncTcp, AsyncTimer, Runtime, Spawn};
pub use server::Server;
pub use server::{ServerEvents, ServerStats};
