//! The queue of outputs, with frame encoding into pooled buffers.

use std::collections::VecDeque;

use crate::ConnId;
use crate::io::CloseKind;
use crate::tls::TlsSession;
use crate::wire::Frame;

use super::events::Event;
use super::io::Output;

/// Buffers kept for reuse: enough for a control and a callback connection
/// with a little slack.
const POOL_LEN: usize = 4;
/// Recycled buffers larger than this are dropped, so an idle client holds no
/// big buffers.
const POOL_BUF_CAPACITY: usize = 4096;
/// Outputs the queue keeps room for between bursts (about 12 KiB): a full
/// delivery window (64 NOTIFYs in one read, the default of spec section 7)
/// and their ACK fit without reallocating.
const KEEP_QUEUE_CAPACITY: usize = 128;

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Output>,
    pool: Vec<Vec<u8>>,
    /// The TLS sessions of connections that run FNP/1 over TLS [T-1]: a
    /// control connection and a few callbacks, so a short list. Frames for
    /// them are sealed into records as they are queued, and their closes
    /// are preceded by close_notify.
    tls: Vec<(ConnId, Box<TlsSession>)>,
}

impl Outbox {
    /// Appends `frame` for `conn`: to the last queued transmit when that is
    /// for the same connection (one write for several frames), else to a
    /// new one.
    pub(crate) fn frame(&mut self, conn: ConnId, frame: &Frame<'_>) {
        self.write(conn, |out| encode(frame, out));
    }

    /// Appends an ACK for `conn`, as [`Outbox::frame`] would, without
    /// building a [`Frame`]: the client's most frequent frame, one per read
    /// of NOTIFYs.
    pub(crate) fn ack(&mut self, conn: ConnId, seq: u64) {
        self.write(conn, |out| {
            out.extend_from_slice(&crate::wire::ack_bytes(seq));
        });
    }

    /// Appends what `write` writes for `conn` (see [`Outbox::frame`]).
    fn write(&mut self, conn: ConnId, write: impl FnOnce(&mut Vec<u8>)) {
        if let Some(tls) = tls_of(&mut self.tls, conn) {
            let mut plain = self.pool.pop().unwrap_or_default();
            write(&mut plain);
            tls.send(&plain);
            self.recycle(plain);
            self.flush_tls(conn);
            return;
        }
        if let Some(Output::Transmit { conn: last, data }) = self.queue.back_mut()
            && *last == conn
        {
            write(data);
            return;
        }
        let mut data = self.pool.pop().unwrap_or_default();
        write(&mut data);
        self.queue.push_back(Output::Transmit { conn, data });
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.queue.push_back(Output::Event(event));
    }

    /// Queues a graceful [`Output::Close`] of `conn`: the server at its
    /// other end may still have frames in flight.
    pub(crate) fn close(&mut self, conn: ConnId) {
        self.close_with(conn, CloseKind::Graceful);
    }

    /// Queues a [`Output::Close`] of `conn` of the given kind.
    pub(crate) fn close_with(&mut self, conn: ConnId, kind: CloseKind) {
        self.push(Output::Close { conn, kind });
    }

    pub(crate) fn push(&mut self, output: Output) {
        if let Output::Close { conn, .. } = output
            && let Some(i) = self.tls.iter().position(|(c, _)| *c == conn)
        {
            let (_, mut tls) = self.tls.swap_remove(i);
            tls.close();
            self.append(conn, tls.take_output());
        }
        self.queue.push_back(output);
    }

    /// Runs FNP/1 over `tls` on `conn` from now on, and queues its first
    /// records (a client's ClientHello).
    pub(crate) fn add_tls(&mut self, conn: ConnId, tls: TlsSession) {
        self.tls.push((conn, Box::new(tls)));
        self.flush_tls(conn);
    }

    /// The TLS session of `conn`, if it runs TLS.
    pub(crate) fn tls(&mut self, conn: ConnId) -> Option<&mut TlsSession> {
        tls_of(&mut self.tls, conn)
    }

    /// Forgets the TLS session of a connection that is gone (closed by the
    /// peer, or failed): nothing more is sent on it.
    pub(crate) fn forget_tls(&mut self, conn: ConnId) -> Option<Box<TlsSession>> {
        let i = self.tls.iter().position(|(c, _)| *c == conn)?;
        Some(self.tls.swap_remove(i).1)
    }

    /// Queues the records `conn`'s TLS session has to send, if any.
    pub(crate) fn flush_tls(&mut self, conn: ConnId) {
        if let Some(tls) = tls_of(&mut self.tls, conn)
            && tls.wants_write()
        {
            let bytes = tls.take_output();
            self.append(conn, bytes);
        }
    }

    /// Appends bytes for `conn`: to the last queued transmit when that is
    /// for the same connection, else as a new one.
    pub(crate) fn append(&mut self, conn: ConnId, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Output::Transmit { conn: last, data }) = self.queue.back_mut()
            && *last == conn
        {
            data.extend_from_slice(&bytes);
            return;
        }
        self.queue.push_back(Output::Transmit { conn, data: bytes });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Output> {
        // Decided before the pop, so that the usual pop moves the output
        // straight to the caller (with the shrink after it, the output is
        // moved once more, through a temporary).
        if self.queue.len() == 1 && self.queue.capacity() > KEEP_QUEUE_CAPACITY {
            return self.pop_last_and_shrink();
        }
        self.queue.pop_front()
    }

    /// Pops the last output and gives back the room an unusual burst grew
    /// the queue to: an idle client does not keep it.
    #[cold]
    fn pop_last_and_shrink(&mut self) -> Option<Output> {
        let out = self.queue.pop_front();
        self.queue.shrink_to(16);
        out
    }

    #[inline]
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_LEN && buf.capacity() <= POOL_BUF_CAPACITY {
            buf.clear();
            self.pool.push(buf);
        }
    }
}

fn tls_of(list: &mut [(ConnId, Box<TlsSession>)], conn: ConnId) -> Option<&mut TlsSession> {
    list.iter_mut()
        .find(|(c, _)| *c == conn)
        .map(|(_, tls)| &mut **tls)
}

fn encode(frame: &Frame<'_>, out: &mut Vec<u8>) {
    // Every frame the client builds is within the protocol's limits (the
    // user name is checked at start, messages are short), so this cannot
    // fail; if it ever did, dropping the frame beats panicking.
    if let Err(err) = frame.encode(out) {
        debug_assert!(false, "client built an unencodable frame: {err}");
        tracing::error!(%err, "client built an unencodable frame; dropped");
    }
}

/// An ERROR frame whose message is cut to the bound every sender of this
/// crate keeps ([`MAX_ERROR_MESSAGE_LEN`](crate::wire::MAX_ERROR_MESSAGE_LEN)).
pub(crate) fn error_frame(code: crate::wire::ErrorCode, message: &str) -> Frame<'_> {
    Frame::error(code, crate::wire::bounded_error_message(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closes(outbox: &mut Outbox, n: u64) {
        for raw in 1..=n {
            outbox.close(ConnId::from_raw(raw));
        }
    }

    #[test]
    fn outputs_come_out_in_order_and_a_burst_gives_its_room_back() {
        let mut outbox = Outbox::default();
        closes(&mut outbox, 500);
        assert!(outbox.queue.capacity() > KEEP_QUEUE_CAPACITY);
        for raw in 1..=500 {
            let Some(Output::Close { conn, .. }) = outbox.pop() else {
                panic!("output {raw} missing");
            };
            assert_eq!(conn.into_raw(), raw);
        }
        assert!(outbox.pop().is_none());
        assert!(outbox.queue.capacity() <= KEEP_QUEUE_CAPACITY);

        // Within the kept room, nothing is given back.
        closes(&mut outbox, 3);
        let kept = outbox.queue.capacity();
        while outbox.pop().is_some() {}
        assert_eq!(outbox.queue.capacity(), kept);
    }
}
