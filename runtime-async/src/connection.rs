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
//! room in the driver's queue is boxed, the close timer exists only
//! while closing, the chunk being written stays in the write queue, the
//! limits and the sender to the driver are behind one shared pointer, and
//! everything but plain reading (a report waiting for room, closing, a
//! failed write) is boxed: an open connection's task is 24 bytes, which
//! puts tokio's task in 128 bytes instead of 256 (its header and trailer
//! take 104 and it aligns to 128).
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
use std::time::Instant;

use crate::conns::{Link, QueueState, Shared};
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

/// What the task is doing when it is not simply reading: rare or short
/// states, boxed, so that the task of an open connection is three
/// pointers (24 bytes: tokio then fits the task in 128 bytes instead of
/// 256; its header and trailer take 104).
enum Rare<T> {
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
    /// Closing: flushing, by the deadline.
    Closing { deadline: T },
    /// Flushed and the write side shut down: draining until the peer
    /// closes, by the deadline.
    ShutDown { deadline: T },
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

/// A connection's task (see the module docs). While it reads (nearly
/// always) it is its link, the driver's shared state and an empty slot:
/// the read gate's flags are in the link's queue state, the chunk being
/// written in its queue, and the connection's id in the link.
pub(crate) struct Connection<R: Runtime> {
    link: Arc<Link<R::Tcp>>,
    /// The limits and the way to the driver, shared by every connection.
    shared: Arc<Shared<R::Tcp>>,
    /// `None`: open and reading (or waiting to).
    rare: Option<Box<Rare<R::Timer>>>,
}

impl<R: Runtime> Connection<R> {
    pub(crate) fn new(link: Arc<Link<R::Tcp>>, shared: Arc<Shared<R::Tcp>>) -> Self {
        Self {
            link,
            shared,
            rare: None,
        }
    }

    /// Enters a rare state (reusing the box of the last one).
    fn enter(&mut self, rare: Rare<R::Timer>) {
        match &mut self.rare {
            Some(slot) => **slot = rare,
            None => self.rare = Some(Box::new(rare)),
        }
    }

    /// Whether the connection is open (reading, reporting or stopped):
    /// closing has not begun and no write has failed.
    fn is_open(&self) -> bool {
        matches!(
            self.rare.as_deref(),
            None | Some(Rare::Reporting { .. } | Rare::Stopped)
        )
    }

    /// Does what can be done now: writes, reads, closes.
    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        let conn = self.link.conn;
        let (closing, promptly) = {
            let state = self.link.queue.lock();
            if state.cancelled {
                return Step::Done;
            }
            (state.closing, state.close_promptly)
        };
        if closing && self.is_open() {
            // Closing has begun: nothing more is read (a report waiting for
            // room is dropped), the write half flushes by the deadline.
            let deadline = Instant::now() + self.shared.limits.close_timeout;
            self.enter(Rare::Closing {
                deadline: R::timer(deadline),
            });
        }
        if let Some(Rare::Failing(send)) = self.rare.as_deref_mut() {
            return match send.as_mut().poll(cx) {
                Poll::Ready(_) => Step::Done,
                Poll::Pending => Step::Wait,
            };
        }
        let wrote = self.write(cx);
        if let Wrote::Failed(error) = &wrote {
            tracing::debug!(%conn, %error, "write failed");
            if !self.is_open() {
                return Step::Done;
            }
            return match self.shared.net.start_send(NetMsg::Closed { conn }) {
                Ok(_) => Step::Done,
                Err(send) => {
                    self.enter(Rare::Failing(send));
                    self.step(cx)
                }
            };
        }
        if self.is_open() {
            return self.read(cx);
        }
        if matches!(wrote, Wrote::Idle) {
            // Closing, and everything is written. (`promptly`: the queue's
            // `close_promptly`, set with `closing` and never changed.)
            self.shut_down();
            // Drain until the peer closes: closing with unread data would
            // reset the connection and could destroy what the peer has not
            // read yet. Closing promptly, only what is there now: the
            // kernel sends our last bytes and FIN without our descriptor.
            if drain(&self.link.stream, cx).is_ready() || promptly {
                return Step::Done;
            }
        }
        match self.rare.as_deref_mut() {
            Some(Rare::Closing { deadline } | Rare::ShutDown { deadline }) => {
                match deadline.poll_fire(cx) {
                    Poll::Ready(()) => Step::Done,
                    Poll::Pending => Step::Wait,
                }
            }
            _ => Step::Wait,
        }
    }

    /// Shuts the write side down, once: from [`Rare::Closing`] to
    /// [`Rare::ShutDown`] (any other state stays as it is).
    fn shut_down(&mut self) {
        let Some(rare) = self.rare.as_deref_mut() else {
            return;
        };
        *rare = match std::mem::replace(rare, Rare::Stopped) {
            Rare::Closing { deadline } => {
                let _ = self.link.stream.shutdown_write();
                Rare::ShutDown { deadline }
            }
            other => other,
        };
    }

    /// Writes what the driver queued until the socket is full.
    fn write(&mut self, cx: &mut Context<'_>) -> Wrote {
        match self.link.queue.write_backlog(&self.link.stream, cx) {
            Poll::Ready(Ok(())) => Wrote::Idle,
            Poll::Pending => Wrote::Blocked,
            Poll::Ready(Err(error)) => Wrote::Failed(error),
        }
    }

    /// Reads and reports until the socket is empty, the gate shuts or the
    /// driver's queue is full.
    fn read(&mut self, cx: &mut Context<'_>) -> Step {
        // The last read was short: the socket is empty, so wait for it
        // instead of trying a read that would only say `WouldBlock` (a
        // system call per read of ACKs). Kept in the queue state between
        // polls; `None`: take it from there.
        let mut emptied = None;
        if let Some(rare) = self.rare.as_deref_mut() {
            let Rare::Reporting {
                send,
                emptied: was_emptied,
                then_stop,
            } = rare
            else {
                return Step::Wait; // stopped
            };
            match send.as_mut().poll(cx) {
                Poll::Pending => return Step::Wait,
                Poll::Ready(true) if !*then_stop => emptied = Some(*was_emptied),
                Poll::Ready(_) => {
                    *rare = Rare::Stopped;
                    return Step::Wait;
                }
            }
            self.rare = None;
        }
        match read_and_report(&self.link, &self.shared, emptied, cx) {
            ReadEnd::Wait => Step::Wait,
            ReadEnd::Stop => {
                self.enter(Rare::Stopped);
                Step::Wait
            }
            ReadEnd::Report {
                send,
                emptied,
                then_stop,
            } => {
                self.enter(Rare::Reporting {
                    send,
                    emptied,
                    then_stop,
                });
                // Polls the send, which registers its waker.
                self.read(cx)
            }
        }
    }

    /// Whether something the task waits for on its queue happened since
    /// [`Connection::step`] looked (the driver changes it under the lock
    /// the task parks under, so nothing is missed).
    fn changed(&self, state: &QueueState) -> bool {
        if state.cancelled {
            return true;
        }
        let writable = state.writable();
        match self.rare.as_deref() {
            None => {
                state.closing
                    || writable
                    || state.read_paused && !state.pauses_reading(&self.shared.limits)
            }
            Some(Rare::Reporting { .. } | Rare::Stopped) => state.closing || writable,
            Some(Rare::Closing { .. } | Rare::ShutDown { .. }) => writable,
            Some(Rare::Failing(_)) => false,
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
        self.link.queue.finished(&self.shared);
        tracing::trace!(conn = %self.link.conn, "connection released");
    }
}

/// How [`read_and_report`] ended.
enum ReadEnd {
    /// Waiting for the socket or the read gate (the waker is registered).
    Wait,
    /// The end of the stream or a read error was reported, or the driver
    /// is gone: nothing more is read.
    Stop,
    /// A report waits for room in the driver's queue.
    Report {
        send: Sending,
        emptied: bool,
        then_stop: bool,
    },
}

/// Reads and reports until the socket is empty, the gate shuts or the
/// driver's queue is full. `emptied`: whether the last read was short
/// (`None`: as the queue state keeps it).
fn read_and_report<S: AsyncTcp + Send + 'static>(
    link: &Link<S>,
    shared: &Shared<S>,
    mut emptied: Option<bool>,
    cx: &mut Context<'_>,
) -> ReadEnd {
    let (conn, stream, queue) = (link.conn, &link.stream, &link.queue);
    let (limits, net) = (&shared.limits, &shared.net);
    let chunk = limits.read_chunk;
    loop {
        let was_emptied = {
            let mut state = queue.lock();
            let was_emptied = *emptied.get_or_insert(state.read_emptied);
            if state.pauses_reading(limits) {
                if !state.read_paused {
                    tracing::trace!(%conn, "reading paused: peer is not reading");
                    state.read_paused = true;
                }
                state.read_emptied = was_emptied;
                return ReadEnd::Wait;
            }
            state.read_paused = false;
            was_emptied
        };
        let ready = if was_emptied {
            // The peer's FIN makes the socket ready too (async-io re-arms
            // level-triggered; tokio keeps the read-closed readiness).
            match stream.poll_readable(cx) {
                Poll::Pending => {
                    queue.lock().read_emptied = true;
                    return ReadEnd::Wait;
                }
                Poll::Ready(ready) => ready,
            }
        } else {
            Ok(())
        };
        emptied = Some(false);
        let (msg, now_emptied) = match ready.and_then(|()| read_once(stream, chunk, net)) {
            Ok(None) => (NetMsg::Closed { conn }, false),
            Ok(Some(data)) => {
                let short = data.len() < chunk;
                (NetMsg::Received { conn, data }, short)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match stream.poll_readable(cx) {
                Poll::Pending => {
                    // The wake-up will be this wait's readiness: look at it
                    // before reading. A read first would leave it over, and
                    // the next wait would return at once into a read that
                    // finds nothing (on async-io, two reads per ACK).
                    queue.lock().read_emptied = true;
                    return ReadEnd::Wait;
                }
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%conn, %error, "read failed");
                    (NetMsg::Closed { conn }, false)
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::debug!(%conn, %error, "read failed");
                (NetMsg::Closed { conn }, false)
            }
        };
        emptied = Some(now_emptied);
        let then_stop = matches!(msg, NetMsg::Closed { .. });
        match net.start_send(msg) {
            Ok(true) if !then_stop => {}
            Ok(_) => return ReadEnd::Stop,
            Err(send) => {
                return ReadEnd::Report {
                    send,
                    emptied: now_emptied,
                    then_stop,
                };
            }
        }
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

#[cfg(test)]
mod tests {
    //! The task through the driver's side of it ([`Conns`]), on a minimal
    //! runtime over async-io (a thread per task), against a blocking peer.

    use std::io::{Read as _, Write as _};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use async_io::{Async, Timer};
    use futures_lite::future;

    use faxnotify_core::ConnId;
    use faxnotify_core::io::CloseKind;

    use super::*;
    use crate::conns::{Conns, Limits};
    use crate::net::{self, NetRx};
    use crate::runtime::{AsyncListener, Spawn};

    /// Bounds every wait of these tests.
    const WAIT: Duration = Duration::from_secs(10);

    #[derive(Clone, Debug, Default)]
    struct Threads;

    impl Spawn for Threads {
        fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
            std::thread::spawn(move || async_io::block_on(task));
        }
    }

    /// A socket on async-io; with `events`, the test says when it becomes
    /// readable (see [`Events`]).
    struct Tcp {
        io: Async<TcpStream>,
        events: Option<Arc<Events>>,
    }

    /// Readiness as an executor's thread that drives async-io's reactor
    /// sees it: one per event, kept until a wait looks at it, whether or
    /// not a read came first. And the reads that found nothing.
    #[derive(Default)]
    struct Events {
        /// An event not yet looked at, and the task that waits for one.
        state: Mutex<(bool, Option<std::task::Waker>)>,
        empty_reads: AtomicUsize,
    }

    impl Events {
        fn lock(&self) -> std::sync::MutexGuard<'_, (bool, Option<std::task::Waker>)> {
            self.state.lock().expect("events")
        }

        fn deliver(&self) {
            let mut state = self.lock();
            state.0 = true;
            if let Some(task) = state.1.take() {
                task.wake();
            }
        }

        fn poll(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
            let mut state = self.lock();
            if std::mem::take(&mut state.0) {
                return Poll::Ready(Ok(()));
            }
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl AsyncTcp for Tcp {
        fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
            let read = self.io.get_ref().read(buf);
            if let (Some(events), Err(e)) = (&self.events, &read)
                && e.kind() == io::ErrorKind::WouldBlock
            {
                events.empty_reads.fetch_add(1, Ordering::Relaxed);
            }
            read
        }
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            self.io.get_ref().write(buf)
        }
        fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match &self.events {
                Some(events) => events.poll(cx),
                None => self.io.poll_readable(cx),
            }
        }
        fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.io.poll_writable(cx)
        }
        fn shutdown_write(&self) -> io::Result<()> {
            self.io.get_ref().shutdown(std::net::Shutdown::Write)
        }
        fn set_nodelay(&self) -> io::Result<()> {
            self.io.get_ref().set_nodelay(true)
        }
    }

    struct Listener;

    impl AsyncListener for Listener {
        type Tcp = Tcp;
        fn poll_accept(&self, _: &mut Context<'_>) -> Poll<io::Result<(Tcp, SocketAddr)>> {
            Poll::Pending
        }
        fn socket(&self) -> socket2::SockRef<'_> {
            unreachable!("these tests do not listen")
        }
    }

    struct Deadline(Timer);

    impl AsyncTimer for Deadline {
        fn reset(&mut self, at: Instant) {
            self.0.set_at(at);
        }
        fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            Pin::new(&mut self.0).poll(cx).map(drop)
        }
    }

    impl Runtime for Threads {
        type Tcp = Tcp;
        type Listener = Listener;
        type Timer = Deadline;
        type Spawner = Threads;

        fn launch<F>(&self, _: &str, make: impl FnOnce(Threads) -> F) -> io::Result<()>
        where
            F: Future<Output = ()> + Send + 'static,
        {
            Threads.spawn(make(Threads));
            Ok(())
        }
        fn listener(_: TcpListener) -> io::Result<Listener> {
            Ok(Listener)
        }
        async fn connect(addr: SocketAddr) -> io::Result<Tcp> {
            let io = Async::<TcpStream>::connect(addr).await?;
            Ok(Tcp { io, events: None })
        }
        fn timer(at: Instant) -> Deadline {
            Deadline(Timer::at(at))
        }
    }

    const CONN: ConnId = ConnId::from_raw(7);

    /// A driver's connections with one adopted connection, and its peer
    /// (blocking, reads bounded by [`WAIT`]).
    fn adopted(pause_reading_above: usize) -> (Conns<Threads>, NetRx<Tcp>, TcpStream) {
        adopted_with(pause_reading_above, None)
    }

    /// [`adopted`], its readiness from `events` if given.
    fn adopted_with(
        pause_reading_above: usize,
        events: Option<Arc<Events>>,
    ) -> (Conns<Threads>, NetRx<Tcp>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        peer.set_read_timeout(Some(WAIT)).expect("timeout");
        let (ours, addr) = listener.accept().expect("accept");
        let (tx, rx) = net::channel(16);
        let limits = Limits {
            read_chunk: 1024,
            pause_reading_above,
            max_write_backlog: 64 << 20,
            close_timeout: WAIT,
        };
        let mut conns = Conns::<Threads>::new(Threads, tx, limits);
        let io = Async::new(ours).expect("async");
        conns.adopt(CONN, Tcp { io, events }, addr);
        (conns, rx, peer)
    }

    /// The next message from the connection's task, within [`WAIT`].
    fn next(rx: &NetRx<Tcp>) -> NetMsg<Tcp> {
        async_io::block_on(future::or(
            async {
                loop {
                    if let Some(msg) = rx.try_recv() {
                        return msg;
                    }
                    rx.ready().await;
                }
            },
            async {
                Timer::after(WAIT).await;
                panic!("no message from the connection's task");
            },
        ))
    }

    #[test]
    fn reads_are_reported_and_the_end_of_the_stream_too() {
        let (_conns, rx, mut peer) = adopted(64 * 1024);
        peer.write_all(b"hello").expect("send");
        match next(&rx) {
            NetMsg::Received { conn, data } => {
                assert_eq!(conn, CONN);
                assert_eq!(data, b"hello");
            }
            _ => panic!("expected the bytes"),
        }
        peer.shutdown(std::net::Shutdown::Write).expect("FIN");
        assert!(matches!(next(&rx), NetMsg::Closed { conn } if conn == CONN));
    }

    /// A read that found nothing ends in a wait, and the wake-up is that
    /// wait's readiness: the task looks at it before it reads, so the
    /// readiness is not left over for after the read (where it made the
    /// next read one that found nothing: on async-io, two reads per ACK).
    #[test]
    fn every_wake_up_costs_one_read() {
        let events = Arc::new(Events::default());
        let (_conns, rx, mut peer) = adopted_with(64 * 1024, Some(Arc::clone(&events)));
        // The task's first read finds nothing (the peer has sent nothing
        // yet), and it waits: where every accepted connection starts.
        let deadline = Instant::now() + WAIT;
        while events.lock().1.is_none() {
            assert!(Instant::now() < deadline, "the task never waited");
            std::thread::yield_now();
        }
        assert_eq!(events.empty_reads.load(Ordering::Relaxed), 1);
        for round in 0..20u8 {
            peer.write_all(&[round; 9]).expect("send");
            events.deliver();
            match next(&rx) {
                NetMsg::Received { data, .. } => assert_eq!(data, [round; 9]),
                _ => panic!("expected the bytes"),
            }
        }
        let empty = events.empty_reads.load(Ordering::Relaxed) - 1;
        assert_eq!(empty, 0, "{empty} reads found nothing in 20 round trips");
    }

    #[test]
    fn closing_flushes_shuts_down_and_ends_when_the_peer_closes() {
        let (mut conns, _rx, mut peer) = adopted(64 * 1024);
        // More than the socket takes at once, so the task writes the rest.
        let data: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        conns.transmit(CONN, data.clone());
        conns.flush();
        conns.close(CONN, CloseKind::Graceful);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("everything, then FIN");
        assert!(
            got == data,
            "{} of {} bytes arrived intact",
            got.len(),
            data.len()
        );
        drop(peer);
        // The task ends once the peer has closed, well before the deadline.
        let started = Instant::now();
        async_io::block_on(conns.finish());
        assert!(started.elapsed() < WAIT, "the task waited for its deadline");
    }

    #[test]
    fn closing_promptly_writes_shuts_down_and_ends_without_the_peer() {
        let (mut conns, _rx, mut peer) = adopted(64 * 1024);
        peer.write_all(b"unread by the server").expect("send");
        conns.transmit(CONN, b"refused".to_vec());
        conns.flush();
        conns.close(CONN, CloseKind::Prompt);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("the bytes, then FIN");
        assert_eq!(got, b"refused");
        // The peer stays open: the task ends all the same, long before its
        // close deadline (`WAIT`), which a graceful close would wait for.
        let started = Instant::now();
        async_io::block_on(conns.finish());
        assert!(started.elapsed() < WAIT, "the task waited for the peer");
        drop(peer);
    }

    #[test]
    fn a_dropped_connection_ends_its_task_and_closes_the_socket() {
        let (mut conns, rx, mut peer) = adopted(64 * 1024);
        assert!(conns.forget(CONN));
        // The task held the last reference: the socket closes without a FIN
        // of the task's (it never shut down), and nothing is read again.
        let mut buf = [0u8; 16];
        assert_eq!(peer.read(&mut buf).expect("the end"), 0);
        let _ = peer.write_all(b"unread");
        assert!(rx.try_recv().is_none(), "a dropped connection read again");
    }

    #[test]
    fn a_peer_that_does_not_read_pauses_reading() {
        let (mut conns, rx, mut peer) = adopted(1024);
        // The peer does not read: the task keeps far more than the
        // threshold queued, and stops reading.
        conns.transmit(CONN, vec![0; 16 << 20]);
        conns.flush();
        peer.write_all(b"ignored while paused").expect("send");
        let reported = async_io::block_on(future::or(
            async {
                rx.ready().await;
                true
            },
            async {
                Timer::after(Duration::from_millis(200)).await;
                false
            },
        ));
        assert!(!reported, "read while the peer does not read");
        // Once the peer reads everything, reading goes on.
        let mut sink = vec![0u8; 16 << 20];
        peer.read_exact(&mut sink).expect("the backlog");
        assert!(matches!(next(&rx), NetMsg::Received { .. }));
    }
}
