//! A connection's one task, written by hand as a state machine: it writes
//! what the driver queues and, until closing begins, reads and reports;
//! on close it flushes, shuts the write side down and drains what the peer
//! still sends, by the close deadline.
//!
//! Hand-written rather than an `async fn` so that an idle connection costs
//! this struct and nothing more: an `async fn` keeps every await point's
//! locals (readiness futures, the send to the driver, the close timer) in
//! one future as large as its largest state, for the life of the
//! connection. Here the socket's readiness is polled through
//! [`AsyncTcp::poll_readable`]/[`AsyncTcp::poll_writable`] (the waker
//! stays with the socket, nothing is kept per wait), the rare wait for
//! room in the driver's queue is boxed, and the close timer exists only
//! while closing.
//!
//! The task is cancelled through its link ([`Link`]): the driver flags it
//! and wakes the task, which looks at the flag before anything else, so a
//! dropped connection never reads or writes again.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use faxnotify_core::ConnId;

use crate::conns::{Link, QueueState};
use crate::net::{NetMsg, NetTx, Sending};
use crate::runtime::{AsyncTcp, AsyncTimer, Runtime};

thread_local! {
    /// Read scratch space, shared by the connections of one thread: an idle
    /// connection holds no read buffer.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What the drain reads at a time, and how many reads it makes before it
/// lets other tasks run (a peer that keeps sending while the connection
/// closes must not hold the thread until the deadline).
const DRAIN_CHUNK: usize = 4096;
const DRAIN_READS_PER_POLL: usize = 64;

/// The read half, while the connection is open.
enum Reading {
    /// Reads while the read gate is open.
    Reading {
        /// The last read was short: the socket is empty, so wait for it
        /// instead of trying a read that would only say `WouldBlock` (a
        /// system call per read of ACKs).
        emptied: bool,
        /// Paused by the read gate (logged once per pause).
        paused: bool,
    },
    /// What was read waits for room in the driver's queue (the one chunk
    /// a connection may hold); then reading goes on, or stops after the
    /// end of the stream.
    Reporting {
        send: Sending,
        emptied: bool,
        then_stop: bool,
    },
    /// The end of the stream or a read error was reported (or the driver
    /// is gone): nothing more is read; the driver drops the connection.
    Stopped,
}

/// Where the connection is in its life.
enum Phase<T> {
    Open(Reading),
    /// Flushing, then draining until the peer closes, by the deadline.
    Closing {
        deadline: T,
        shut_down: bool,
    },
    /// A write failed: the report of it waits for room in the driver's
    /// queue, then the task ends.
    Failing(Sending),
}

/// What the write half did in one step.
enum Wrote {
    /// Everything queued is written.
    Idle,
    /// A chunk waits for the socket (the waker is registered with it).
    Blocked,
    /// The connection is broken.
    Failed(io::Error),
}

/// What a step of the task came to.
enum Step {
    /// The task is done.
    Done,
    /// Everything that could be done is; each wait's waker is registered
    /// (the queue's at the end of [`Connection::poll`]).
    Wait,
}

/// A connection's task (see the module docs).
pub(crate) struct Connection<R: Runtime> {
    conn: ConnId,
    link: Arc<Link<R::Tcp>>,
    net: NetTx<R::Tcp>,
    /// The chunk being written and how much of it is; `None` while idle.
    chunk: Option<Vec<u8>>,
    written: usize,
    phase: Phase<R::Timer>,
}

impl<R: Runtime> Connection<R> {
    pub(crate) fn new(conn: ConnId, link: Arc<Link<R::Tcp>>, net: NetTx<R::Tcp>) -> Self {
        Self {
            conn,
            link,
            net,
            chunk: None,
            written: 0,
            phase: Phase::Open(Reading::Reading {
                emptied: false,
                paused: false,
            }),
        }
    }

    /// Does what can be done now: writes, reads, closes.
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        let closing = {
            let state = self.link.queue.lock();
            if state.cancelled {
                return Step::Done;
            }
            state.closing
        };
        if let (Phase::Open(_), Some(deadline)) = (&self.phase, closing) {
            // Closing has begun: nothing more is read (a report waiting for
            // room is dropped), the write half flushes by the deadline.
            self.phase = Phase::Closing {
                deadline: R::timer(deadline),
                shut_down: false,
            };
        }
        if let Phase::Failing(send) = &mut self.phase {
            return match send.as_mut().poll(cx) {
                Poll::Ready(_) => Step::Done,
                Poll::Pending => Step::Wait,
            };
        }
        let wrote = self.write(cx);
        if let Wrote::Failed(error) = &wrote {
            tracing::debug!(conn = %self.conn, %error, "write failed");
            if matches!(self.phase, Phase::Closing { .. }) {
                return Step::Done;
            }
            return match self.net.start_send(NetMsg::Closed { conn: self.conn }) {
                Ok(_) => Step::Done,
                Err(send) => {
                    self.phase = Phase::Failing(send);
                    self.step(cx)
                }
            };
        }
        match &mut self.phase {
            Phase::Open(_) => self.read(cx),
            Phase::Closing {
                deadline,
                shut_down,
            } => {
                if matches!(wrote, Wrote::Idle) {
                    // Closing, and everything is written.
                    if !*shut_down {
                        let _ = self.link.stream.shutdown_write();
                        *shut_down = true;
                    }
                    // Drain until the peer closes: closing with unread data
                    // would reset the connection and could destroy what the
                    // peer has not read yet.
                    if drain(&self.link.stream, cx).is_ready() {
                        return Step::Done;
                    }
                }
                match deadline.poll_fire(cx) {
                    Poll::Ready(()) => Step::Done,
                    Poll::Pending => Step::Wait,
                }
            }
            Phase::Failing(_) => Step::Wait, // handled above
        }
    }

    /// Writes what the driver queued until the socket is full.
    fn write(&mut self, cx: &mut Context<'_>) -> Wrote {
        let stream = &self.link.stream;
        loop {
            let chunk = match &self.chunk {
                Some(chunk) => chunk,
                None => match self.link.queue.next_chunk() {
                    Some(chunk) => {
                        self.written = 0;
                        self.chunk.insert(chunk)
                    }
                    None => return Wrote::Idle,
                },
            };
            match stream.try_write(&chunk[self.written..]) {
                Ok(0) => return Wrote::Failed(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    if self.written == chunk.len() {
                        self.link.queue.written(chunk.len());
                        self.chunk = None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match stream.poll_writable(cx) {
                    Poll::Pending => return Wrote::Blocked,
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => return Wrote::Failed(error),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Wrote::Failed(error),
            }
        }
    }

    /// Reads and reports until the socket is empty, the gate shuts or the
    /// driver's queue is full.
    fn read(&mut self, cx: &mut Context<'_>) -> Step {
        let Phase::Open(reading) = &mut self.phase else {
            return Step::Wait;
        };
        let (conn, stream, queue) = (self.conn, &self.link.stream, &self.link.queue);
        let chunk = queue.limits.read_chunk;
        loop {
            let (msg, emptied) = match reading {
                Reading::Stopped => return Step::Wait,
                Reading::Reporting {
                    send,
                    emptied,
                    then_stop,
                } => {
                    *reading = match send.as_mut().poll(cx) {
                        Poll::Pending => return Step::Wait,
                        Poll::Ready(true) if !*then_stop => Reading::Reading {
                            emptied: *emptied,
                            paused: false,
                        },
                        Poll::Ready(_) => Reading::Stopped,
                    };
                    continue;
                }
                Reading::Reading { emptied, paused } => {
                    if queue.reading_paused() {
                        if !*paused {
                            tracing::trace!(%conn, "reading paused: peer is not reading");
                            *paused = true;
                        }
                        return Step::Wait;
                    }
                    *paused = false;
                    let ready = if *emptied {
                        // The peer's FIN makes the socket ready too
                        // (async-io re-arms level-triggered; tokio keeps
                        // the read-closed readiness).
                        match stream.poll_readable(cx) {
                            Poll::Pending => return Step::Wait,
                            Poll::Ready(ready) => ready,
                        }
                    } else {
                        Ok(())
                    };
                    *emptied = false;
                    match ready.and_then(|()| read_once(stream, chunk, &self.net)) {
                        Ok(None) => (NetMsg::Closed { conn }, false),
                        Ok(Some(data)) => {
                            let emptied = data.len() < chunk;
                            (NetMsg::Received { conn, data }, emptied)
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            match stream.poll_readable(cx) {
                                Poll::Pending => return Step::Wait,
                                Poll::Ready(Ok(())) => continue,
                                Poll::Ready(Err(error)) => {
                                    tracing::debug!(%conn, %error, "read failed");
                                    (NetMsg::Closed { conn }, false)
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(error) => {
                            tracing::debug!(%conn, %error, "read failed");
                            (NetMsg::Closed { conn }, false)
                        }
                    }
                }
            };
            let then_stop = matches!(msg, NetMsg::Closed { .. });
            *reading = match self.net.start_send(msg) {
                Ok(true) if !then_stop => Reading::Reading {
                    emptied,
                    paused: false,
                },
                Ok(_) => Reading::Stopped,
                Err(send) => Reading::Reporting {
                    send,
                    emptied,
                    then_stop,
                },
            };
        }
    }

    /// Whether something the task waits for on its queue happened since
    /// [`Connection::step`] looked (the driver changes it under the lock
    /// the task parks under, so nothing is missed).
    fn changed(&self, state: &QueueState) -> bool {
        if state.cancelled {
            return true;
        }
        let writable = self.chunk.is_none() && !state.chunks.is_empty();
        match &self.phase {
            Phase::Open(reading) => {
                state.closing.is_some()
                    || writable
                    || matches!(reading, Reading::Reading { paused: true, .. })
                        && !self.link.queue.pauses_reading(state)
            }
            Phase::Closing { .. } => writable,
            Phase::Failing(_) => false,
        }
    }
}

impl<R: Runtime> Future for Connection<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Step::Done = this.step(cx) {
                return Poll::Ready(());
            }
            // Going to sleep: leave the waker with the queue for the
            // driver, and look once more under the same lock at what the
            // driver may have changed since the step looked.
            let mut state = this.link.queue.lock();
            if this.changed(&state) {
                continue;
            }
            return state.park(cx);
        }
    }
}

impl<R: Runtime> Drop for Connection<R> {
    fn drop(&mut self) {
        // Finished or dropped by the executor: either way whoever waits
        // for the end (the driver's shutdown) may go on.
        self.link.queue.finished();
        tracing::trace!(conn = %self.conn, "connection released");
    }
}

/// Reads what is there (at most `max` bytes) into a buffer of `net`'s,
/// through the shared scratch space (so a waiting connection holds no
/// buffer). `None` is the end of the stream.
fn read_once<S: AsyncTcp>(stream: &S, max: usize, net: &NetTx<S>) -> io::Result<Option<Vec<u8>>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < max {
            scratch.resize(max, 0);
        }
        let n = stream.try_read(&mut scratch[..max])?;
        Ok((n > 0).then(|| net.buffer(&scratch[..n])))
    })
}

/// Reads and drops what the peer sends; ready when it has closed (or on
/// an error).
fn drain(stream: &impl AsyncTcp, cx: &mut Context<'_>) -> Poll<()> {
    for _ in 0..DRAIN_READS_PER_POLL {
        let read = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() < DRAIN_CHUNK {
                scratch.resize(DRAIN_CHUNK, 0);
            }
            stream.try_read(&mut scratch[..DRAIN_CHUNK])
        });
        match read {
            Ok(0) => return Poll::Ready(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match stream.poll_readable(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Poll::Ready(()),
        }
    }
    // Still sending: let other tasks run, and come back.
    cx.waker().wake_by_ref();
    Poll::Pending
}
