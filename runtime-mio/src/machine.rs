//! What the event loop needs from a sans-IO core: the client and the server
//! cores speak the same I/O vocabulary, and this trait lets one loop drive
//! either.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use faxnotify_core::ConnId;

/// One thing the core asks the loop to do (the union of both cores' outputs).
#[derive(Debug)]
pub(crate) enum Action<E> {
    Connect { conn: ConnId, addr: SocketAddr },
    Transmit { conn: ConnId, data: Vec<u8> },
    Close { conn: ConnId },
    Listen { addr: SocketAddr },
    StopListening,
    Event(E),
}

/// What the OS reported, for the core.
#[derive(Debug)]
pub(crate) enum NetInput<'a> {
    Connected(ConnId),
    ConnectFailed(ConnId, io::Error),
    Received(ConnId, &'a [u8]),
    Closed(ConnId),
    Bound { local: SocketAddr },
    BindFailed { addr: SocketAddr, error: io::Error },
}

/// A sans-IO core as the loop sees it.
pub(crate) trait Machine {
    /// What the core tells the application.
    type Event;
    /// An accepted connection; returns the core's handle for it.
    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId;
    /// Feeds one input. The loop only reports what the core asked for, so
    /// a refusal is a bug in the loop: it is logged (and trips a debug
    /// assertion), never propagated to the network.
    fn input(&mut self, now: Instant, input: NetInput<'_>);
    /// Runs due timers.
    fn timeout(&mut self, now: Instant);
    /// The next timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next output.
    fn next_action(&mut self) -> Option<Action<Self::Event>>;
    /// A written transmit buffer, for reuse.
    fn recycle(&mut self, buf: Vec<u8>) {
        drop(buf);
    }
}

/// Logs an input the core refused (a loop bug, never the peer's doing).
pub(crate) fn refused_input(err: &dyn std::error::Error) {
    tracing::error!(%err, "the core refused an input from the event loop (a bug in faxnotify-mio)");
    debug_assert!(false, "core refused an input: {err}");
}
