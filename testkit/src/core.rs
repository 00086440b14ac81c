//! One trait over the client and the server cores, so that one driver
//! runs either. Both speak the core's shared vocabulary
//! ([`faxnotify_core::io`]); the trait only names what each offers.

use std::fmt::{Debug, Display};
use std::net::SocketAddr;
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::client::{self, Client};
use faxnotify_core::io::{Input, Output};
use faxnotify_core::server::{self, Server};

/// A sans-IO core the driver can run: the client or the server. The
/// methods are the cores' own, under names that do not shadow them.
pub trait Core {
    /// The side's application events.
    type Event: Clone + Debug;
    /// The side's error for an input that cannot be true.
    type Error: Display + Debug;

    /// A connection was accepted from `peer` (`handle_accept`).
    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId;
    /// Reports what happened on the network (`handle_input`).
    fn input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Self::Error>;
    /// The next thing to do, if any (`poll_output`).
    fn poll(&mut self) -> Option<Output<Self::Event>>;
    /// When [`Core::timeout`] is next due (`poll_timeout`).
    fn next_timeout(&self) -> Option<Instant>;
    /// Runs the timers due at `now` (`handle_timeout`).
    fn timeout(&mut self, now: Instant);
    /// Takes back a written buffer (`recycle`).
    fn give_back(&mut self, buf: Vec<u8>);
}

/// Both cores have the same inherent API; one macro implements the trait
/// for each.
macro_rules! core_impl {
    ($core:ty, $side:ident) => {
        impl Core for $core {
            type Event = $side::Event;
            type Error = $side::InputError;

            fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
                self.handle_accept(now, peer)
            }

            fn input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Self::Error> {
                self.handle_input(now, input)
            }

            fn poll(&mut self) -> Option<Output<Self::Event>> {
                self.poll_output()
            }

            fn next_timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }

            fn timeout(&mut self, now: Instant) {
                self.handle_timeout(now);
            }

            fn give_back(&mut self, buf: Vec<u8>) {
                self.recycle(buf);
            }
        }
    };
}

core_impl!(Client, client);
core_impl!(Server, server);
