//! What the event loop needs from a sans-IO core: the client and the server
//! cores speak the same I/O vocabulary (`faxnotify_core::io`), and this
//! trait lets one loop drive either.

use std::net::SocketAddr;
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::io::{Input, Output};

/// A sans-IO core as the loop sees it.
pub(crate) trait Machine {
    /// What the core tells the application.
    type Event;
    /// An accepted connection; returns the core's handle for it.
    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId;
    /// Feeds one input. The loop only reports what the core asked for, so
    /// a refusal is a bug in the loop: it is logged (and trips a debug
    /// assertion), never propagated to the network.
    fn input(&mut self, now: Instant, input: Input<'_>);
    /// Runs due timers.
    fn timeout(&mut self, now: Instant);
    /// The next timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next output.
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;
    /// A written transmit buffer, for reuse.
    fn recycle(&mut self, buf: Vec<u8>);
    /// An event of the core, before it goes to the application's events
    /// channel: a machine with a handler on the loop's thread gives it
    /// there and passes on only what the handler hands back.
    fn on_event(&mut self, _now: Instant, event: Self::Event) -> Option<Self::Event> {
        Some(event)
    }
}

/// Logs an input the core refused (a loop bug, never the peer's doing).
pub(crate) fn refused_input(err: &dyn std::error::Error) {
    tracing::error!(%err, "the core refused an input from the event loop (a bug in faxnotify-mio)");
    debug_assert!(false, "core refused an input: {err}");
}
