//! What the server hands the adapter, and the queue that orders it.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::events::Event;
use crate::ConnId;

/// Inputs from the adapter, passed to [`Server::handle_input`](super::Server::handle_input).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// A [`Output::Connect`] the server asked for succeeded.
    Connected {
        /// The dial.
        conn: ConnId,
    },
    /// A [`Output::Connect`] failed (refused, unreachable, ...: not distinguished).
    ConnectFailed {
        /// The dial.
        conn: ConnId,
    },
    /// Bytes read from a connection, split anywhere.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: &'a [u8],
    },
    /// The peer closed the connection, or an I/O error happened on it.
    Closed {
        /// The connection.
        conn: ConnId,
    },
}

/// Work for the adapter, from [`Server::poll_output`](super::Server::poll_output).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Output {
    /// Open a TCP connection to `addr` (a callback) and report the outcome
    /// with [`Input::Connected`] or [`Input::ConnectFailed`]. The server
    /// enforces its own timeout: it sends [`Output::Close`] for a dial that
    /// takes too long, and the adapter then abandons it.
    Connect {
        /// The handle the outcome is reported with.
        conn: ConnId,
        /// The endpoint: the client's control IP and its advertised port [C-1].
        addr: SocketAddr,
    },
    /// Write these bytes (whole frames; in order per connection).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Close the connection once everything already transmitted is written.
    /// Nothing more will be sent on it, and inputs for it are ignored.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Something for the application.
    Event(Event),
}

#[derive(Debug)]
pub(crate) enum Pending {
    /// Emit the connection's buffered bytes as one `Transmit`.
    Flush(ConnId),
    Ready(Output),
}

/// Outputs in the order they were produced. Bytes for a connection stay in
/// the connection's buffer until its `Flush` comes up, so all frames written
/// to it in between leave as one `Transmit`.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Pending>,
}

impl Outbox {
    pub(crate) fn flush_later(&mut self, conn: ConnId) {
        self.queue.push_back(Pending::Flush(conn));
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.queue.push_back(Pending::Ready(output));
    }

    pub(crate) fn event(&mut self, event: Event) {
        tracing::debug!(%event, "server event");
        self.queue.push_back(Pending::Ready(Output::Event(event)));
    }

    pub(crate) fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
