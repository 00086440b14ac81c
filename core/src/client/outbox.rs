//! The queue of outputs, with frame encoding into pooled buffers.

use std::collections::VecDeque;

use crate::ConnId;
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
}

impl Outbox {
    /// Appends `frame` for `conn`: to the last queued transmit when that is
    /// for the same connection (one write for several frames), else to a
    /// new one.
    pub(crate) fn frame(&mut self, conn: ConnId, frame: &Frame<'_>) {
        if let Some(Output::Transmit { conn: last, data }) = self.queue.back_mut()
            && *last == conn
        {
            encode(frame, data);
            return;
        }
        let mut data = self.pool.pop().unwrap_or_default();
        encode(frame, &mut data);
        self.queue.push_back(Output::Transmit { conn, data });
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.queue.push_back(Output::Event(event));
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.queue.push_back(output);
    }

    pub(crate) fn pop(&mut self) -> Option<Output> {
        let out = self.queue.pop_front();
        if self.queue.is_empty() && self.queue.capacity() > KEEP_QUEUE_CAPACITY {
            // An unusual burst grew the queue; an idle client does not keep it.
            self.queue.shrink_to(16);
        }
        out
    }

    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_LEN && buf.capacity() <= POOL_BUF_CAPACITY {
            buf.clear();
            self.pool.push(buf);
        }
    }
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

/// An ERROR frame whose message fits the 4 096-byte limit of `str`.
pub(crate) fn error_frame(code: crate::wire::ErrorCode, message: &str) -> Frame<'_> {
    let mut end = message.len().min(crate::wire::MAX_STR_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Frame::error(code, &message[..end])
}
