//! One TCP connection of the loop: its socket, its output queue and where
//! it is in its life.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::io::CloseKind;
use mio::net::TcpStream;

/// How many buffers one `write_vectored` call takes at most.
const MAX_IOVECS: usize = 32;

/// Where a connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// A dial in progress; the first writable event tells the outcome.
    Connecting,
    /// Open: bytes read go to the core.
    Open,
    /// The core closed it: writing what is queued, until `deadline`; then
    /// draining ([`CloseKind::Graceful`]) or dropped ([`CloseKind::Prompt`]).
    Flushing { deadline: Instant, kind: CloseKind },
    /// Everything is written and our FIN sent: reading (and discarding)
    /// until the peer's FIN, so that closing does not reset the connection
    /// and destroy our last frames in flight; dropped at `deadline`.
    Draining { deadline: Instant },
}

/// The outcome of a write attempt.
#[derive(Debug)]
pub(crate) enum Flush {
    /// Everything is written.
    Done,
    /// The socket is full; bytes remain.
    Blocked,
    /// The connection broke.
    Failed(io::Error),
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) stream: TcpStream,
    pub(crate) phase: Phase,
    /// The oldest buffer to write (empty: none), `head` bytes of it
    /// written. Held inline: most turns queue a single buffer (a NOTIFY, an
    /// answer), which then needs no queue allocation at all.
    front: Vec<u8>,
    head: usize,
    /// Buffers queued behind `front`, oldest first. Its allocation is given
    /// back once everything is written, so that of 10 000 idle sessions
    /// none keeps one (it was 96 B per connection).
    rest: VecDeque<Vec<u8>>,
    /// Bytes queued and not yet written.
    pub(crate) backlog: usize,
    /// A readable event was seen and the socket not yet read to WouldBlock.
    pub(crate) readable: bool,
    /// The peer's FIN (or an error) was seen: read until the end, since no
    /// new readiness edge will come for it.
    pub(crate) hup: bool,
    /// The connection sits in the loop's ready queue.
    pub(crate) queued: bool,
    /// New output waits to be flushed.
    pub(crate) dirty: bool,
    /// WRITABLE interest is registered (only while bytes are pending).
    pub(crate) want_write: bool,
    /// Accepted on a listener (on the client: a callback connection).
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub(crate) accepted: bool,
    /// Bytes read and thrown away while draining.
    pub(crate) discarded: usize,
}

impl Conn {
    pub(crate) fn new(id: ConnId, stream: TcpStream, phase: Phase, accepted: bool) -> Self {
        Self {
            id,
            stream,
            phase,
            front: Vec::new(),
            head: 0,
            rest: VecDeque::new(),
            backlog: 0,
            readable: false,
            hup: false,
            queued: false,
            dirty: false,
            want_write: false,
            accepted,
            discarded: 0,
        }
    }

    /// Reads and throws away what has arrived, at most `max` bytes into
    /// `buf`, until the socket is empty or the peer's FIN: closing a socket
    /// with unread data would reset the connection instead of ending it
    /// with our FIN after our last bytes.
    pub(crate) fn discard_received(&mut self, buf: &mut [u8], max: usize) {
        let mut left = max;
        while left > 0 {
            let want = left.min(buf.len());
            match self.stream.read(&mut buf[..want]) {
                Ok(0) => return,
                Ok(n) => left -= n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return, // WouldBlock: nothing more; else broken
            }
        }
    }

    /// Queues bytes to write.
    pub(crate) fn push(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.backlog += data.len();
        if self.front.is_empty() {
            self.front = data;
            self.head = 0;
        } else {
            self.rest.push_back(data);
        }
    }

    /// Writes as much as the socket takes. Fully written buffers go to
    /// `recycle`.
    pub(crate) fn flush(&mut self, mut recycle: impl FnMut(Vec<u8>)) -> Flush {
        while self.backlog > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            slices[0] = IoSlice::new(&self.front[self.head..]);
            let mut count = 1;
            for buf in self.rest.iter().take(MAX_IOVECS - 1) {
                slices[count] = IoSlice::new(buf);
                count += 1;
            }
            match self.stream.write_vectored(&slices[..count]) {
                Ok(0) => return Flush::Failed(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    self.backlog -= n;
                    while n > 0 {
                        let left = self.front.len() - self.head;
                        if n >= left {
                            n -= left;
                            self.head = 0;
                            let next = self.rest.pop_front().unwrap_or_default();
                            recycle(std::mem::replace(&mut self.front, next));
                        } else {
                            self.head += n;
                            n = 0;
                        }
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Flush::Blocked,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Flush::Failed(err),
            }
        }
        self.release_queue();
        Flush::Done
    }

    /// Drops what is queued (the connection is gone).
    pub(crate) fn clear(&mut self) {
        self.front = Vec::new();
        self.rest.clear();
        self.head = 0;
        self.backlog = 0;
        self.release_queue();
    }

    /// Gives the queue's allocation back once it is empty: a turn that
    /// queued several buffers allocated it, and an idle connection should
    /// not keep it (the steady state of a busy one costs an allocation per
    /// turn of several buffers, none per notification at window 1).
    fn release_queue(&mut self) {
        if self.rest.capacity() > 0 && self.rest.is_empty() {
            self.rest = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    /// Partial writes (a small socket buffer and a slow reader) keep every
    /// byte, in order, and hand each buffer back once.
    #[test]
    fn flush_keeps_order_across_partial_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let std_stream =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut peer, _) = listener.accept().expect("accept");
        // Small kernel buffers, so that the writer blocks often.
        socket2::SockRef::from(&std_stream)
            .set_send_buffer_size(4096)
            .expect("sndbuf");
        socket2::SockRef::from(&peer)
            .set_recv_buffer_size(16 * 1024)
            .expect("rcvbuf");
        std_stream.set_nodelay(true).expect("nodelay");
        std_stream.set_nonblocking(true).expect("nonblocking");
        let mut conn = Conn::new(
            ConnId::from_raw(1),
            TcpStream::from_std(std_stream),
            Phase::Open,
            false,
        );
        let mut expected = Vec::new();
        for i in 0..300u32 {
            let len = 1 + (i as usize * 7919) % 2_000;
            let buf: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
            expected.extend_from_slice(&buf);
            conn.push(buf);
        }
        assert_eq!(conn.backlog, expected.len());
        let total = expected.len();
        // Nobody reads yet, so the kernel's ~20 KiB of buffers cannot take the
        // ~300 KiB queued: this first flush must stop part-way. Only then does
        // the reader start, so the test always exercises partial writes.
        let mut recycled = 0;
        let first = conn.flush(|_| recycled += 1);
        assert!(
            matches!(first, Flush::Blocked),
            "the first flush must block on full kernel buffers"
        );
        assert!(conn.backlog > 0 && conn.backlog < total);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::with_capacity(total);
            let mut buf = [0u8; 4096];
            while got.len() < total {
                let n = peer.read(&mut buf).expect("read");
                assert!(n > 0, "closed early");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let mut blocked = 1;
        loop {
            match conn.flush(|_| recycled += 1) {
                Flush::Done => break,
                Flush::Blocked => {
                    blocked += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Flush::Failed(e) => panic!("write failed: {e}"),
            }
        }
        assert_eq!(conn.backlog, 0);
        assert_eq!(recycled, 300);
        assert!(blocked > 0, "the test should exercise partial writes");
        assert!(reader.join().expect("reader") == expected);
    }
}
