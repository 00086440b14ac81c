//! The client's inputs and outputs: the vocabulary an adapter speaks.

use std::net::SocketAddr;

use crate::ConnId;

use super::errors::{BindError, ConnectError};
use super::events::Event;
#[cfg(doc)]
use super::settings::ListenAddress;

/// Something that happened on the network, reported by the adapter with
/// [`Client::handle_input`](super::Client::handle_input).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// A [`Output::Connect`] succeeded.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A [`Output::Connect`] failed.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// Why ([`ConnectError::from_io`] maps an `io::Error`).
        error: ConnectError,
    },
    /// Bytes read from a connection, split anywhere.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: &'a [u8],
    },
    /// The peer closed the connection or an I/O error happened. The client
    /// considers the handle dead and emits no [`Output::Close`] for it.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The [`Output::Listen`] succeeded.
    Bound {
        /// The bound address; for port 0 (`dynamic`) the port the OS chose.
        local: SocketAddr,
    },
    /// The [`Output::Listen`] failed.
    BindFailed {
        /// The address of the `Listen`.
        addr: SocketAddr,
        /// Why ([`BindError::from_io`] maps an `io::Error`).
        error: BindError,
    },
}

/// Something the adapter must do, taken from [`Client::poll_output`](super::Client::poll_output).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Output {
    /// Dial `addr`; report [`Input::Connected`] or [`Input::ConnectFailed`].
    /// The client enforces its own timeouts (it emits [`Output::Close`]).
    Connect {
        /// The handle for the new connection.
        conn: ConnId,
        /// Where to.
        addr: SocketAddr,
    },
    /// Write these bytes (whole frames; in order per connection).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes. Hand the buffer back with
        /// [`Client::recycle`](super::Client::recycle) once written, to spare an
        /// allocation.
        data: Vec<u8>,
    },
    /// Close the connection after writing everything already transmitted on it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Bind a TCP listener to `addr` (the address [`ListenAddress`] gives,
    /// in the server's family [C-1]; port 0 means any), then report
    /// [`Input::Bound`] or [`Input::BindFailed`]. Report every accepted
    /// connection with [`Client::handle_accept`](super::Client::handle_accept).
    /// For an IPv6 listener, disable `IPV6_V6ONLY` where possible.
    Listen {
        /// The address to bind.
        addr: SocketAddr,
    },
    /// Close the listener (the client stopped or logged out).
    StopListening,
    /// Tell the application.
    Event(Event),
}
