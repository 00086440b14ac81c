//! What the server hands the adapter, and the queue that orders it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
/// Entries the output queue keeps room for when it gives back its buffer
/// (8 KiB): what a few connections' worth of inputs produce between two
/// drains, so ordinary traffic never regrows it.
const QUEUE_KEEP: usize = 64;

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
    /// The most entries held since the last [`Outbox::trim_if_idle`] check:
    /// a broadcast grows the queue to one entry per recipient, and the
    /// check keeps that room only while bursts that size recur.
    peak: usize,
    /// When the queue's size was last checked.
    checked_at: Option<Instant>,
}

impl Outbox {
    pub(crate) fn flush_later(&mut self, conn: ConnId) {
        self.enqueue(Pending::Flush(conn));
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.enqueue(Pending::Ready(output));
    }

    pub(crate) fn event(&mut self, event: Event) {
        tracing::debug!(%event, "server event");
        self.enqueue(Pending::Ready(Output::Event(event)));
    }

    // Inlined: once per output, on the hottest paths.
    #[inline]
    fn enqueue(&mut self, pending: Pending) {
        self.queue.push_back(pending);
        self.peak = self.peak.max(self.queue.len());
    }

    /// Once per `period` of `now`: when the queue is empty and no burst
    /// since the previous check needed more than a quarter of its room,
    /// gives the room back down to what that period needed (at least
    /// [`QUEUE_KEEP`] entries). A broadcast to N sessions grows the queue
    /// to N entries of 128 B; a server that broadcasts again within a
    /// period keeps them, so steady traffic does not regrow the queue.
    pub(crate) fn trim_if_idle(&mut self, now: Instant, period: Duration) {
        if self
            .checked_at
            .and_then(|at| at.checked_add(period))
            .is_some_and(|next| now < next)
        {
            return;
        }
        self.checked_at = Some(now);
        let keep = self.peak.max(QUEUE_KEEP);
        if self.queue.is_empty() && self.queue.capacity() > 4 * keep {
            self.queue.shrink_to(keep);
        }
        self.peak = self.queue.len();
    }

    /// The queue's room, in entries.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.queue.capacity()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(outbox: &mut Outbox, n: u64) {
        for i in 0..n {
            outbox.push(Output::Close {
                conn: ConnId::from_raw(i + 1),
                kind: crate::io::CloseKind::Graceful,
            });
        }
        while outbox.pop().is_some() {}
    }

    #[test]
    fn a_big_burst_keeps_its_room_while_it_recurs_and_gives_it_back_after() {
        let period = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        burst(&mut outbox, 1_000);
        let grown = outbox.capacity();
        assert!(grown >= 1_000);
        outbox.trim_if_idle(t0, period);
        assert_eq!(outbox.capacity(), grown, "needed in this period");
        // The same burst again within the next period: the room stays.
        burst(&mut outbox, 1_000);
        outbox.trim_if_idle(t0 + period, period);
        assert_eq!(outbox.capacity(), grown);
        // Small bursts only; checks within a period change nothing.
        burst(&mut outbox, 10);
        outbox.trim_if_idle(t0 + period + Duration::from_secs(1), period);
        assert_eq!(outbox.capacity(), grown);
        outbox.trim_if_idle(t0 + 2 * period, period);
        assert!(outbox.capacity() >= QUEUE_KEEP);
        assert!(outbox.capacity() < grown / 4, "{}", outbox.capacity());
    }

    #[test]
    fn a_queue_holding_outputs_is_not_trimmed() {
        let period = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut outbox = Outbox::default();
        burst(&mut outbox, 1_000);
        outbox.trim_if_idle(t0, period);
        outbox.push(Output::Close {
            conn: ConnId::from_raw(1),
            kind: crate::io::CloseKind::Graceful,
        });
        let grown = outbox.capacity();
        outbox.trim_if_idle(t0 + period, period);
        assert_eq!(outbox.capacity(), grown);
        assert!(matches!(
            outbox.pop(),
            Some(Pending::Ready(Output::Close { .. }))
        ));
    }
}
