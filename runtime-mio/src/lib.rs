//! # faxnotify-mio
//!
//! Runs the FNP/1 fax notification [server](Server) and [client](Client)
//! of [`faxnotify_core`] on a [mio](https://docs.rs/mio) event loop, for
//! applications that want no async runtime.
//!
//! Each [`Server`] and each [`Client`] owns one thread with one mio
//! `Poll`. The thread owns every socket and the sans-IO core; it is a pure
//! adapter — the protocol lives in the core. The application talks to it
//! from any thread through a cloneable handle ([`ServerHandle`],
//! [`ClientHandle`]; a channel plus a mio `Waker`), and reads the core's
//! events from a bounded channel ([`Events`]).
//!
//! ```text
//!  application threads                 loop thread
//!  ───────────────────                 ───────────
//!  handle.notify(..) ──command──▶ Waker ─▶ poll ─▶ core.notify_each ─▶ Transmit ─▶ socket
//!  handle.post(..)   ──inbox────▶ Waker (once per turn) ─▶ core.notify_encoded ─▶ ...
//!  events.recv()     ◀──Events (bounded)── core events ◀─ core.handle_input ◀─ socket
//! ```
//!
//! See [`Server`] and [`Client`] for runnable examples.
//!
//! # Notifying cheaply
//!
//! Notifications are encoded on the application's thread, never on the
//! loop: `notify` and `notify_batch` encode into the calling thread's arena
//! and wait for the loop's per-session report. [`ServerHandle::post`] goes
//! further: fire and forget, with a [`NotificationEncoder`] of the
//! application's own, into a bounded inbox ([`LoopOptions::post_capacity`],
//! a full inbox refuses the post with [`PostError::Full`]) that the loop
//! empties once per turn; what became of the posts adds up in a
//! [`PostReport`] ([`ServerHandle::take_post_report`]), and each session's
//! outcome comes as the usual `Delivered` / `Undelivered` events. A post
//! costs no reply, wakes the loop only if no wake is pending (one eventfd
//! write for any number of posts per turn), and allocates nothing per
//! notification in steady state: a small payload travels inline in the
//! notification itself, with no buffer at all; for a larger one every
//! session's queue shares the arena's slice, and the loop frees an arena
//! chunk once, after hundreds of notifications, not a buffer per
//! notification.
//!
//! # A handler on the loop thread
//!
//! An application that notifies in answer to events (the next notification
//! when the last one is acknowledged) pays, through [`Events`] and `post`,
//! two thread hand-offs per round trip: the loop wakes the application for
//! the `Delivered` event, the application wakes the loop for the post. A
//! [`ServerHandler`] set with [`ServerBuilder::handler`] runs on the loop
//! thread with each event instead; it may post right there
//! ([`LoopNotifier`]: queued at once, same [`PostReport`]) and hands back
//! the events it leaves to the application, which go to [`Events`] in
//! order. Every event goes to exactly one of the two.
//!
//! # The loop
//!
//! One turn applies the core's outputs (dials, writes, closes, listener
//! binds, events), sleeps in `poll` until I/O, a command, or the core's
//! next deadline (`poll_timeout`; an idle loop sleeps until then, so it
//! uses no CPU between keepalives), then runs the application's commands
//! and due timers, accepts new connections and reads.
//!
//! - **Connections** live in a slab addressed by mio `Token`s. Accepts and
//!   connects are non-blocking; a dial's outcome is checked with
//!   `take_error` on its first writable event. `TCP_NODELAY` is set on
//!   every connection.
//! - **Reads** go until `WouldBlock`, at most
//!   [`LoopOptions::read_budget`] bytes per connection per turn so that a
//!   busy peer cannot starve the others.
//! - **Reads** after a short read stop there (the socket is empty; new data
//!   raises a new edge), so a batch of ACKs costs one `recvfrom`, not two;
//!   once the peer's FIN was seen they go on to the end.
//! - **Writes** happen once per turn: what the turn's commands, reads and
//!   timers produced for a connection leaves in one vectored write. They go
//!   until `WouldBlock`; what remains waits in a per-connection queue, and
//!   WRITABLE interest is registered only while that queue is not empty.
//! - **Closing** a connection (the core's `Close`) first writes what is
//!   queued, then sends FIN and reads (discarding) until the peer's FIN, so
//!   that the last frames — a BYE or an ERROR — are not destroyed by a
//!   reset. [`LoopOptions::close_linger`] bounds how long this may take.
//!   A `Close` of kind `Prompt` (the server's, for a connection that never
//!   got a session: a refusal, a failed login or handshake; the client's,
//!   for a callback that never authenticated) does not wait
//!   for the peer: after the writes and the FIN it discards what has
//!   arrived and closes the socket, whose last bytes the kernel still
//!   sends, so that peers who never log in cannot keep the process's
//!   descriptors.
//!
//! # Sockets and listen policies
//!
//! Listeners are created with `socket2`: never `SO_REUSEPORT` (two live
//! listeners must never share an endpoint: a second client on the same
//! fixed port must fail, not steal half the callbacks), and `SO_REUSEADDR`
//! on Unix only, where it lets a restarted process bind a port that has
//! connections in TIME_WAIT but still refuses a second *listening* socket
//! on a live port (on Windows it would allow that, so it is not set
//! there). IPv6 listeners are dual-stack where the OS allows it
//! (`IPV6_V6ONLY` off): a server on `[::]` accepts IPv4 clients, which
//! the core sees as IPv4 and dials back over IPv4 [C-1].
//!
//! The client binds its callback listener by its listen policy
//! (`dynamic`, `range`, `fixed`) before [`ClientBuilder::start`] returns:
//! `AddrInUse` and `PermissionDenied` are mapped to the core's bind errors,
//! and a fixed port in use or an exhausted range fails the start with the
//! core's own [`StopReason`](faxnotify_core::client::StopReason)
//! (`FixedPortInUse { port }`, `RangeExhausted { lo, hi }`) in
//! [`ClientStartError::Listen`].
//!
//! # Backpressure
//!
//! Nothing a peer does can make the loop buffer without bound:
//!
//! - **Toward a peer that does not read.** While a connection's output
//!   queue holds more than [`LoopOptions::max_output_backlog`] bytes
//!   (256 KiB by default) the loop stops reading from that connection. Its
//!   queue can then only grow by what the core sends on its own, which the
//!   core bounds: on the server the delivery window (`window` NOTIFYs in
//!   flight, [B-4]) plus a keepalive per third of a lease; on the client an
//!   ACK or a PONG. So one connection's queue stays below
//!   `max_output_backlog` + the replies to one 64 KiB read + one window of
//!   NOTIFYs. A peer that stops reading for good is ended by the core's
//!   timers (lease, keepalive), and its last bytes by `close_linger`.
//! - **From a peer that floods.** Reads are bounded per turn and paused as
//!   above; the core's decoder holds at most one frame (64 KiB, 4 KiB
//!   before login [F-1]). A flood of PINGs therefore fills the peer's own
//!   TCP send buffer, not our memory.
//! - **Toward the application.** See the next section: a slow application
//!   slows the network down instead of growing a queue.
//!
//! [`LoopStats`] (from `stats()` on either handle) shows the largest output
//! queue seen and the connections whose reads are paused.
//!
//! # Events and a slow application
//!
//! Events go through a channel of [`LoopOptions::event_capacity`] events.
//! The loop never blocks on it and never drops an event: when it is full,
//! further events wait inside the loop and **the loop stops reading from
//! the network and accepting connections** until the application takes
//! events again ([`Events`]
//! wakes the loop when it makes room). Timers and commands still run, so a
//! few more events may queue, but no peer can add any. On the client this
//! is real end-to-end backpressure: unread notifications are not
//! acknowledged, the server's window fills and further notifications wait
//! in the server's queue [B-6]. Reading stays paused for as long as the
//! application does not read, so a client application that stalls for
//! longer than a lease makes the client consider the server silent and
//! reconnect (resuming its session: nothing is lost). On the server an
//! application that stops reading events stalls every connection until
//! leases run out, so read them on a thread of their own.
//!
//! The [`Events`] belong to their [`Server`] or [`Client`] (unlike the
//! async runtimes' `ServerEvents`, they cannot be dropped on their own). A
//! server application that wants no events gives
//! [`ServerBuilder::handler`] a handler that keeps every one; the loop
//! then never waits for the application:
//!
//! ```
//! use faxnotify_core::server::{Event, MemoryUserStore, ServerConfig};
//! use faxnotify_mio::{LoopNotifier, Server};
//!
//! let server = Server::builder(ServerConfig::new([7; 32]), MemoryUserStore::new())
//!     .listen("127.0.0.1:0".parse()?)
//!     .handler(|_: Event, _: &mut LoopNotifier<'_>| None) // no event reaches `events()`
//!     .start()?;
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Ending
//!
//! [`Server::shutdown`] ends every session with BYE shutdown and waits for
//! the last bytes; [`Client::logout`] logs out and the loop ends on the
//! server's BYE ([`Client::join`] waits for it). Dropping a [`Server`] or
//! [`Client`] stops its loop at once and closes its sockets without a word
//! (the peers see a lost connection).
//!
//! # Seeds
//!
//! The cores draw every nonce, session id and jitter from a seed. By
//! default 32 bytes come from the operating system (`getrandom`); tests may
//! pass a constant with `seed(..)` on the builders.
//!
//! # Logging
//!
//! The loop emits `tracing` events at debug level for each connection's
//! life (accepted, dialling, connected, closing, dropped) inside a
//! `faxnotify_server` or `faxnotify_client` span.
//!
//! # Test hooks
//!
//! With the `test-hooks` feature, [`ClientHandle`] can suspend and resume
//! the callback listener (closing it and dropping every callback
//! connection, as if the listening side had died), for fault-injection
//! tests. Do not enable it in production.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

mod client;
mod conn;
mod errors;
mod events;
mod machine;
mod mailbox;
mod options;
mod reactor;
mod server;
mod socket;
mod stats;

pub use client::{Client, ClientBuilder, ClientHandle};
#[cfg(feature = "test-hooks")]
pub use errors::ResumeError;
pub use errors::{
    ChangeSettingsError, ClientStartError, Closed, EndSessionError, LogoutError, NotifyError,
    RunError, ServerStartError, SetTlsIdentityError,
};
pub use events::Events;
pub use faxnotify_runtime::{
    LoopNotifier, NotificationEncoder, PostError, PostReport, ServerHandler,
};
pub use options::{LoopOptions, OptionsError};
pub use server::{Server, ServerBuilder, ServerHandle};
pub use stats::LoopStats;

/// The core this runtime drives, re-exported for convenience.
pub use faxnotify_core as core;
