//! The I/O vocabulary both cores speak: what an adapter reports
//! ([`Input`]) and what it must do ([`Output`]).
//!
//! The client ([`crate::client`]) and the server ([`crate::server`]) are
//! driven the same way, so one adapter loop can drive either: it feeds
//! [`Input`]s to `handle_input`, carries out every [`Output`] from
//! `poll_output`, and hands written buffers back with `recycle`. The only
//! difference between the sides is the application's event type `E`
//! (`client::Event`, `server::Event`), the way rustls's
//! `ConnectionCommon<Data>` is one connection over a side parameter.
//! `client::Output` and `server::Output` name the two instances.
//!
//! Not every side uses every variant: only the client asks for a listener
//! ([`Output::Listen`], [`Output::StopListening`]) and so only the client
//! takes [`Input::Bound`] and [`Input::BindFailed`]; the server refuses them
//! as misuse.

use std::io;
use std::net::SocketAddr;

use crate::ConnId;

/// Something that happened on the network, reported by the adapter with
/// `handle_input` ([`Client::handle_input`](crate::client::Client::handle_input),
/// [`Server::handle_input`](crate::server::Server::handle_input)).
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
    /// The peer closed the connection or an I/O error happened. The core
    /// considers the handle dead and emits no [`Output::Close`] for it.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The [`Output::Listen`] succeeded (client only).
    Bound {
        /// The bound address; for port 0 (`dynamic`) the port the OS chose.
        local: SocketAddr,
    },
    /// The [`Output::Listen`] failed (client only).
    BindFailed {
        /// The address of the `Listen`.
        addr: SocketAddr,
        /// Why ([`BindError::from_io`] maps an `io::Error`).
        error: BindError,
    },
}

impl Input<'_> {
    /// The connection this input is about; `None` for the listener's
    /// [`Input::Bound`] and [`Input::BindFailed`].
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Input::Connected { conn }
            | Input::ConnectFailed { conn, .. }
            | Input::Received { conn, .. }
            | Input::Closed { conn } => Some(*conn),
            Input::Bound { .. } | Input::BindFailed { .. } => None,
        }
    }
}

/// Something the adapter must do, taken from `poll_output`
/// ([`Client::poll_output`](crate::client::Client::poll_output),
/// [`Server::poll_output`](crate::server::Server::poll_output)); `E` is the
/// side's event type.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Output<E> {
    /// Dial `addr`; report [`Input::Connected`] or [`Input::ConnectFailed`].
    /// The core enforces its own timeouts: it emits [`Output::Close`] for a
    /// dial that takes too long, and the adapter then abandons it.
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
        /// The bytes. Hand the buffer back with `recycle` once written, to
        /// spare an allocation.
        data: Vec<u8>,
    },
    /// Close the connection after writing everything already transmitted on
    /// it. Nothing more will be sent on it, and inputs for it are ignored.
    Close {
        /// The connection.
        conn: ConnId,
        /// Whether to wait for the peer to close too ([`CloseKind`]).
        kind: CloseKind,
    },
    /// Bind a TCP listener to `addr` (client only: the callback listener,
    /// in the server's family [C-1]; port 0 means any), then report
    /// [`Input::Bound`] or [`Input::BindFailed`]. Report every accepted
    /// connection with `handle_accept`. For an IPv6 listener, disable
    /// `IPV6_V6ONLY` where possible.
    Listen {
        /// The address to bind.
        addr: SocketAddr,
    },
    /// Close the listener (client only: it stopped or logged out).
    StopListening,
    /// Tell the application.
    Event(E),
}

/// How an adapter closes a connection on [`Output::Close`]. Either way it
/// first writes what was transmitted before the `Close`, within its close
/// timeout, then shuts the write side down (FIN).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub enum CloseKind {
    /// Then keep reading (and discarding) until the peer closes too,
    /// bounded by the close timeout, and only then release the socket.
    /// Closing a socket that has unread data sends a reset, which can
    /// destroy the last frames before the peer reads them: a connection
    /// with a session may still have an ACK or a notification in flight.
    #[default]
    Graceful,
    /// Then discard what has already arrived (so that closing sends no
    /// reset for it) and release the socket at once, without waiting for
    /// the peer: the kernel still delivers the last bytes and the FIN on
    /// its own, without holding a descriptor of the process. The server
    /// closes this way a connection that never got a session (refused,
    /// timed out or failed in the handshake, TLS or the login), so that
    /// peers who never log in cannot keep its descriptors for the close
    /// timeout each: a flood of them would make `accept` fail for everyone
    /// at the descriptor limit. The client closes this way a callback
    /// connection that never proved to be the server's (refused, timed out
    /// or failed in its handshake), for the same reason: its callback port
    /// is open to whoever can reach it. An adapter may treat it as
    /// `Graceful`.
    Prompt,
}

/// Why binding a listener failed, as the adapter reports it in
/// [`Input::BindFailed`].
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The port is taken (`io::ErrorKind::AddrInUse`).
    #[error("address in use")]
    AddrInUse,
    /// The OS refused the port (`io::ErrorKind::PermissionDenied`, e.g. a
    /// port reserved by the system).
    #[error("permission denied")]
    PermissionDenied,
    /// Any other failure, described.
    #[error("{0}")]
    Other(String),
}

impl BindError {
    /// Maps an I/O error from `bind`/`listen` (no I/O is done here).
    pub fn from_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::AddrInUse => BindError::AddrInUse,
            io::ErrorKind::PermissionDenied => BindError::PermissionDenied,
            _ => BindError::Other(err.to_string()),
        }
    }
}

/// Why a dial failed, as the adapter reports it in
/// [`Input::ConnectFailed`]: what the person at the terminal needs to tell
/// "no server there" from "no route there".
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Nothing listens on the port (`io::ErrorKind::ConnectionRefused`).
    #[error("connection refused")]
    Refused,
    /// No route to the host or its network.
    #[error("host unreachable")]
    Unreachable,
    /// The dial timed out (at the OS, or at the core's handshake timer).
    #[error("timed out")]
    TimedOut,
    /// Any other failure, by its kind.
    #[error("{0}")]
    Other(io::ErrorKind),
}

impl ConnectError {
    /// Maps an I/O error from `connect` (no I/O is done here).
    pub fn from_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => ConnectError::Refused,
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                ConnectError::Unreachable
            }
            io::ErrorKind::TimedOut => ConnectError::TimedOut,
            kind => ConnectError::Other(kind),
        }
    }
}
