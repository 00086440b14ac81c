//! What the server hands the adapter, and the queue that orders it.

use std::collections::VecDeque;

use super::events::Event;
use crate::ConnId;

/// Something that happened on the network, reported by the adapter with
/// [`Server::handle_input`](super::Server::handle_input); see
/// [`crate::io::Input`]. The server never asks for a listener, so
/// `Bound` and `BindFailed` are refused as misuse.
pub use crate::io::Input;

/// Work for the adapter, from [`Server::poll_output`](super::Server::poll_output);
/// see [`crate::io::Output`]. The server never emits `Listen` or
/// `StopListening`. Written [`Output::Transmit`] buffers go back with
/// [`Server::recycle`](super::Server::recycle).
pub type Output = crate::io::Output<Event>;

/// Buffers kept for reuse. A busy server writes to many connections
/// between two `poll_output` drains, so a few more than the client keeps.
const POOL_LEN: usize = 16;
/// Recycled buffers larger than this are dropped, so an idle server holds
/// no big buffers.
const POOL_BUF_CAPACITY: usize = 4096;

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
    /// Written transmit buffers the adapter handed back, for the next
    /// connection that writes.
    pool: Vec<Vec<u8>>,
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

    /// An empty buffer to write frames into: a recycled one if there is one.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_default()
    }

    /// Keeps `buf` for [`Outbox::buffer`], unless the pool is full or the
    /// buffer is large.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_LEN && buf.capacity() <= POOL_BUF_CAPACITY && buf.capacity() > 0 {
            buf.clear();
            self.pool.push(buf);
        }
    }
}
