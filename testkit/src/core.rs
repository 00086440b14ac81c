//! One trait over the client and the server cores, so that one driver
//! runs either, and the vocabulary it speaks.
//!
//! The vocabulary mirrors the one the cores are moving to (one `Input`,
//! one `Output<Event>` for both sides); until then each impl below maps it
//! to its side's own enums, and nothing else in the testkit knows the
//! difference.

use std::fmt::{Debug, Display};
use std::net::SocketAddr;
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::client::{self, BindError, Client, ConnectError};
use faxnotify_core::server::{self, Server};

/// Something that happened on the network, for [`Core::handle_input`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Input<'a> {
    /// A dial the core asked for succeeded.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A dial the core asked for failed.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// Why (the server does not distinguish).
        error: ConnectError,
    },
    /// Bytes read from a connection.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: &'a [u8],
    },
    /// The peer closed the connection.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The listener is bound (client only).
    Bound {
        /// Where.
        local: SocketAddr,
    },
    /// The listener could not be bound (client only).
    BindFailed {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        error: BindError,
    },
}

/// Something a core asks for, from [`Core::poll_output`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Output<E> {
    /// Dial `addr`.
    Connect {
        /// The handle of the new connection.
        conn: ConnId,
        /// Where to.
        addr: SocketAddr,
    },
    /// Write bytes.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Close after writing what was transmitted.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Bind the listener (client only).
    Listen {
        /// Where.
        addr: SocketAddr,
    },
    /// Close the listener (client only).
    StopListening,
    /// For the application.
    Event(E),
}

/// A sans-IO core the driver can run: the client or the server.
pub trait Core {
    /// The side's application events.
    type Event: Clone + Debug;
    /// The side's error for an input that cannot be true.
    type Error: Display + Debug;

    /// A connection was accepted from `peer`.
    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId;
    /// Reports what happened on the network.
    fn input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Self::Error>;
    /// The next thing to do, if any.
    fn poll(&mut self) -> Option<Output<Self::Event>>;
    /// When [`Core::timeout`] is next due.
    fn next_timeout(&self) -> Option<Instant>;
    /// Runs the timers due at `now`.
    fn timeout(&mut self, now: Instant);
    /// Takes back a written buffer.
    fn give_back(&mut self, buf: Vec<u8>);
}

impl Core for Client {
    type Event = client::Event;
    type Error = client::InputError;

    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        self.handle_accept(now, peer)
    }

    fn input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Self::Error> {
        let input = match input {
            Input::Connected { conn } => client::Input::Connected { conn },
            Input::ConnectFailed { conn, error } => client::Input::ConnectFailed { conn, error },
            Input::Received { conn, data } => client::Input::Received { conn, data },
            Input::Closed { conn } => client::Input::Closed { conn },
            Input::Bound { local } => client::Input::Bound { local },
            Input::BindFailed { addr, error } => client::Input::BindFailed { addr, error },
        };
        self.handle_input(now, input)
    }

    fn poll(&mut self) -> Option<Output<Self::Event>> {
        Some(match self.poll_output()? {
            client::Output::Connect { conn, addr } => Output::Connect { conn, addr },
            client::Output::Transmit { conn, data } => Output::Transmit { conn, data },
            client::Output::Close { conn } => Output::Close { conn },
            client::Output::Listen { addr } => Output::Listen { addr },
            client::Output::StopListening => Output::StopListening,
            client::Output::Event(e) => Output::Event(e),
            other => panic!("the testkit does not know the client output {other:?}"),
        })
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

impl Core for Server {
    type Event = server::Event;
    type Error = server::InputError;

    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        self.handle_accept(now, peer)
    }

    fn input(&mut self, now: Instant, input: Input<'_>) -> Result<(), Self::Error> {
        let input = match input {
            Input::Connected { conn } => server::Input::Connected { conn },
            Input::ConnectFailed { conn, .. } => server::Input::ConnectFailed { conn },
            Input::Received { conn, data } => server::Input::Received { conn, data },
            Input::Closed { conn } => server::Input::Closed { conn },
            Input::Bound { .. } | Input::BindFailed { .. } => {
                panic!("the server has no listener of its own to report on")
            }
        };
        self.handle_input(now, input)
    }

    fn poll(&mut self) -> Option<Output<Self::Event>> {
        Some(match self.poll_output()? {
            server::Output::Connect { conn, addr } => Output::Connect { conn, addr },
            server::Output::Transmit { conn, data } => Output::Transmit { conn, data },
            server::Output::Close { conn } => Output::Close { conn },
            server::Output::Event(e) => Output::Event(e),
            other => panic!("the testkit does not know the server output {other:?}"),
        })
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }

    fn give_back(&mut self, _buf: Vec<u8>) {
        // The server keeps no pool of transmit buffers (yet).
    }
}
