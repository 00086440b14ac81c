//! The connections a driver owns: one task each that reads and writes,
//! the bounded write queue between the driver and that task, and the read
//! gate that pauses reading while too much output waits.
//!
//! Bounds per connection (see the crate docs, "Backpressure"):
//! - reading: at most one chunk (`read_chunk` bytes) held by the task
//!   while it waits for room in the driver's bounded input queue;
//! - writing: the task stops reading while more than `pause_reading_above`
//!   bytes wait to be written, so a peer that sends without reading cannot
//!   make the core produce more replies; whatever the application produces
//!   (the server's NOTIFY window) is bounded by the core; and above
//!   `max_write_backlog` the connection is treated as dead.
//!
//! What an idle connection holds: its task (a [`Connection`], a small
//! struct: the socket keeps its wakers), the shared stream and queue state
//! (which also cancels the task), and its map entry; no read buffer (reads
//! go through a per-thread scratch space into buffers that circulate
//! through the driver) and no write buffer (the turn's bytes go out in a
//! buffer that returns to a pool once written; what the socket does not
//! take at once waits in a backlog that exists only while it does).

use std::collections::VecDeque;
use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::io::CloseKind;
use futures_lite::future;
use tracing::Instrument as _;

use crate::connection::Connection;
use crate::net::{self, NetTx};
use crate::options::Options;
use crate::runtime::{self, AsyncListener, AsyncTcp, Runtime, Spawn as _};
use crate::task::Task;

/// Written buffers kept for the core's next transmissions.
const SPARE_BUFFERS: usize = 16;

/// The I/O limits a connection runs with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) read_chunk: usize,
    pub(crate) pause_reading_above: usize,
    pub(crate) max_write_backlog: usize,
    pub(crate) close_timeout: std::time::Duration,
}

impl<R> From<&Options<R>> for Limits {
    fn from(o: &Options<R>) -> Self {
        Self {
            read_chunk: o.read_chunk,
            pause_reading_above: o.pause_reading_above,
            max_write_backlog: o.max_write_backlog,
            close_timeout: o.close_timeout,
        }
    }
}

/// What the driver and a connection's task share, under one lock.
#[derive(Default)]
pub(crate) struct QueueState {
    /// What waits to be written, while anything does. Boxed: an idle
    /// connection (nearly all of them, nearly always) keeps one pointer,
    /// not a 32-byte queue and the task a 24-byte chunk beside it.
    backlog: Option<Box<Backlog>>,
    /// Close after flushing, within `close_timeout` of the task seeing
    /// this. (Not the deadline itself: 16 bytes more put the shared state
    /// of a connection on async-io into the allocator's next size class,
    /// 160 bytes instead of 128, for every connection.)
    pub(crate) closing: bool,
    /// With `closing`: the core's [`CloseKind::Prompt`], release the socket
    /// once flushed, without waiting for the peer.
    pub(crate) close_promptly: bool,
    /// The driver dropped the connection: the task ends without another
    /// read or write.
    pub(crate) cancelled: bool,
    /// The task has ended (or was dropped).
    finished: bool,
    /// The task's last write found the socket full: the socket wakes the
    /// task (what the driver queues meanwhile goes out behind it). Here,
    /// not in the task, where one flag more put its future past 56 bytes
    /// (the same for the two read flags below; only the task uses them).
    write_blocked: bool,
    /// The task's last read was short: the socket is empty, so the task
    /// waits for it before reading again.
    pub(crate) read_emptied: bool,
    /// The task's reading is paused by the read gate (logged once per pause).
    pub(crate) read_paused: bool,
    /// The connection's task, while it waits on this state (one task reads
    /// and writes, so one slot: no event listener to allocate per wait).
    task: Option<Waker>,
    // Who waits for the task's end is in [`Shared`]: a slot here was 16
    // bytes in every connection for the one wait of a shutdown.
}

/// The chunks a connection could not write at once, oldest first, and how
/// much of the first one is written. The task writes them from here, under
/// the queue's lock (as the driver's own first try does), so it holds no
/// chunk of its own.
#[derive(Default)]
struct Backlog {
    chunks: VecDeque<Vec<u8>>,
    written: usize,
    /// Bytes waiting to be written (the chunks', less what of the first
    /// one is written). Here, not in [`QueueState`]: it is 0 whenever there
    /// is no backlog, and 8 bytes less in every connection's shared state
    /// put it in the allocator's next smaller size class (96 bytes instead
    /// of 112 on tokio, 80 instead of 96 on async-io).
    bytes: usize,
}

impl QueueState {
    /// Whether reading waits for the peer to read what was written: the
    /// backlog is above the threshold.
    pub(crate) fn pauses_reading(&self, limits: &Limits) -> bool {
        self.queued() > limits.pause_reading_above
    }

    /// Bytes waiting to be written.
    fn queued(&self) -> usize {
        self.backlog.as_ref().map_or(0, |b| b.bytes)
    }

    /// Whether something waits to be written that the task has not tried
    /// since (it is not waiting for the socket to take more).
    pub(crate) fn writable(&self) -> bool {
        self.backlog.is_some() && !self.write_blocked
    }

    /// Wakes the task (call after a change it may wait for).
    fn wake(&mut self) {
        if let Some(task) = self.task.take() {
            task.wake();
        }
    }

    /// `Pending`, with the task's waker kept for [`QueueState::wake`].
    pub(crate) fn park<T>(&mut self, cx: &Context<'_>) -> Poll<T> {
        keep(&mut self.task, cx);
        Poll::Pending
    }
}

/// Keeps `cx`'s waker in `slot` (cloned only if another is there).
fn keep(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// What every connection's task of a driver shares (one pointer each, not
/// 40 bytes of copies of the limits and a 16-byte sender beside it; and
/// not a pointer in every connection's [`Link`] as well).
pub(crate) struct Shared<S> {
    pub(crate) limits: Limits,
    /// The tasks' way to the driver.
    pub(crate) net: NetTx<S>,
    /// Who waits for a task's end (the driver's shutdown, which joins one
    /// task at a time), while it waits. Any task's end wakes it; it looks
    /// again at the task it waits for.
    joiner: Mutex<Option<Waker>>,
}

impl<S> Shared<S> {
    pub(crate) fn new(limits: Limits, net: NetTx<S>) -> Self {
        Self {
            limits,
            net,
            joiner: Mutex::new(None),
        }
    }

    fn joiner(&self) -> MutexGuard<'_, Option<Waker>> {
        // A single update under the lock: a poisoned lock is still consistent.
        self.joiner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the driver hands a connection's task. (The limits it works with
/// come from the caller: the driver and the task each have them.)
pub(crate) struct WriteQueue {
    state: Mutex<QueueState>,
}

/// What became of bytes handed to a connection.
pub(crate) enum Written {
    /// All written at once; the buffer can be reused.
    Done(Vec<u8>),
    /// Queued for the connection's task.
    Queued,
    /// The connection is dead (write error, or backlog above the cap).
    Dead,
}

impl WriteQueue {
    fn new() -> Self {
        Self {
            state: Mutex::new(QueueState::default()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Critical sections are single updates; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `data` at once if nothing is waiting ahead of it, else queues it.
    fn push(&self, stream: &impl AsyncTcp, mut data: Vec<u8>, limits: &Limits) -> Written {
        let mut state = self.lock();
        if state.backlog.is_none() {
            match stream.try_write(&data) {
                Ok(n) if n == data.len() => return Written::Done(data),
                Ok(n) => {
                    data.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::debug!(%error, "write failed");
                    return Written::Dead;
                }
            }
        }
        let backlog = state.backlog.get_or_insert_with(Box::default);
        // Counted even when refused: the read gate stays shut until the
        // driver, told `Dead`, drops the connection.
        backlog.bytes += data.len();
        if backlog.bytes > limits.max_write_backlog {
            tracing::debug!(
                backlog = backlog.bytes,
                cap = limits.max_write_backlog,
                "peer does not read: write backlog above the cap"
            );
            return Written::Dead;
        }
        backlog.chunks.push_back(data);
        state.wake();
        Written::Queued
    }

    /// Writes the backlog until it is gone (`Ready(Ok)`; the connection
    /// then holds no buffer) or the socket is full (`Pending`, the waker
    /// registered with the socket); `Ready(Err)`: the connection is broken.
    /// (The task looks at the read gate next: no wake-up.)
    pub(crate) fn write_backlog(
        &self,
        stream: &impl AsyncTcp,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        let state = &mut *state;
        state.write_blocked = false;
        while let Some(backlog) = &mut state.backlog {
            let Some(chunk) = backlog.chunks.front() else {
                state.backlog = None;
                break;
            };
            match stream.try_write(&chunk[backlog.written..]) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    backlog.bytes -= n;
                    backlog.written += n;
                    if backlog.written == chunk.len() {
                        backlog.chunks.pop_front();
                        backlog.written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if stream.poll_writable(cx)?.is_pending() {
                        state.write_blocked = true;
                        return Poll::Pending;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// [`QueueState::pauses_reading`], taking the lock (for the tests).
    #[cfg(test)]
    pub(crate) fn reading_paused(&self, limits: &Limits) -> bool {
        self.lock().pauses_reading(limits)
    }

    fn close(&self, kind: CloseKind) {
        let mut state = self.lock();
        state.closing = true;
        state.close_promptly = kind == CloseKind::Prompt;
        state.wake();
    }

    /// Ends the task without another read or write.
    fn cancel(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        state.wake();
    }

    /// [`WriteQueue::cancel`], unless closing has begun: a closing task
    /// ends by itself, by its close deadline.
    fn cancel_unless_closing(&self) {
        let mut state = self.lock();
        if !state.closing {
            state.cancelled = true;
            state.wake();
        }
    }

    /// The task has ended: called by the task, as it is dropped.
    pub(crate) fn finished<S>(&self, shared: &Shared<S>) {
        self.lock().finished = true;
        // After the flag: a joiner that stores its waker first is woken
        // here, one that comes later sees the flag.
        if let Some(joiner) = shared.joiner().take() {
            joiner.wake();
        }
    }

    /// Waits until the task has ended.
    async fn join<S>(&self, shared: &Shared<S>) {
        future::poll_fn(|cx| {
            if self.lock().finished {
                return Poll::Ready(());
            }
            keep(&mut shared.joiner(), cx);
            // The task may have ended before the waker was stored.
            if self.lock().finished {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// A connection's stream and write queue, shared by the driver and the
/// connection's task (one allocation).
pub(crate) struct Link<S> {
    /// The connection's id (here rather than in the task: see
    /// [`Connection`]).
    pub(crate) conn: ConnId,
    pub(crate) stream: S,
    pub(crate) queue: WriteQueue,
}

/// The driver's hold on a connection's task: dropping it cancels the task,
/// unless the connection is closing (a [`Task`] without an allocation of
/// its own: the link is shared anyway).
struct Handle<S>(Arc<Link<S>>);

impl<S> std::ops::Deref for Handle<S> {
    type Target = Link<S>;

    fn deref(&self) -> &Link<S> {
        &self.0
    }
}

impl<S> Drop for Handle<S> {
    fn drop(&mut self) {
        self.0.queue.cancel_unless_closing();
    }
}

/// Bytes of a connection's task as spawned, without the executor's own
/// task header.
#[cfg(feature = "adapter-tests")]
pub(crate) fn connection_task_size<R: Runtime>() -> usize {
    std::mem::size_of::<Connection<R>>()
}

/// Bytes of a connection's shared state (its [`Link`]: the runtime's
/// stream and the write queue), without the reference counts of its `Arc`.
#[cfg(feature = "adapter-tests")]
pub(crate) fn connection_link_size<R: Runtime>() -> usize {
    std::mem::size_of::<Link<R::Tcp>>()
}

/// A connection's place in the map: 16 bytes, so that with its id a map
/// slot is 24 (the map of 19 000 connections has 32 768 slots). What a
/// turn transmits waits in [`Conns::unflushed`], not here: a buffer in
/// every entry was 24 bytes more per slot, empty between turns.
enum Entry<S> {
    /// Dropping the task abandons the dial.
    Dialling(#[allow(dead_code)] Task),
    Open {
        /// Dropping it cancels the connection's task.
        link: Handle<S>,
        /// Where this turn's bytes for it wait in [`Conns::unflushed`]
        /// ([`NOT_PENDING`]: nothing transmitted this turn).
        pending: u32,
        /// Accepted on our listener (a callback, on the client).
        #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
        accepted: bool,
    },
    // No peer address: the accept and the dial log it with the connection's
    // id, and 32 bytes in every entry would be kept for the close's log line.
}

/// [`Entry::Open::pending`] when the connection has nothing in
/// [`Conns::unflushed`].
const NOT_PENDING: u32 = u32::MAX;

/// Entries of [`Conns::unflushed`] whose room is kept between turns (a
/// broadcast's 10 000 would be 320 KiB).
const KEPT_UNFLUSHED: usize = 256;

/// The listener. The driver accepts on it in its own loop (no task), so
/// closing it releases the port at once: a restarted server or a resumed
/// callback listener can bind the same port right away.
struct Listening<L> {
    listener: L,
    local: SocketAddr,
    /// After an accept error that would repeat at once, accept again at this time.
    retry_at: Option<Instant>,
}

/// Every connection and listener of one driver.
pub(crate) struct Conns<R: Runtime> {
    spawner: R::Spawner,
    /// The limits, and the tasks' sender (the dials' too).
    shared: Arc<Shared<R::Tcp>>,
    map: HashMap<ConnId, Entry<R::Tcp>>,
    /// Tasks still flushing closed connections, held weakly: a task that
    /// ends releases its socket at once. (Held strongly, every finished
    /// close kept its descriptor until the next prune, which only another
    /// close could bring: a server at its descriptor limit could then
    /// accept nothing, so close nothing, and never got them back.)
    closing: Vec<Weak<Link<R::Tcp>>>,
    prune_at: usize,
    listener: Option<Listening<R::Listener>>,
    /// Connections found dead while writing; the driver reports them closed.
    dead: Vec<ConnId>,
    /// What each connection was transmitted this turn, not written yet,
    /// in the order of its first bytes.
    unflushed: Vec<(ConnId, Vec<u8>)>,
    /// Written buffers, for the core's next transmissions.
    spare: Vec<Vec<u8>>,
}

impl<R: Runtime> Conns<R> {
    pub(crate) fn new(spawner: R::Spawner, tx: NetTx<R::Tcp>, limits: Limits) -> Self {
        Self {
            spawner,
            shared: Arc::new(Shared::new(limits, tx)),
            map: HashMap::new(),
            closing: Vec::new(),
            prune_at: 64,
            listener: None,
            dead: Vec::new(),
            unflushed: Vec::new(),
            spare: Vec::new(),
        }
    }

    // ----- listener ---------------------------------------------------------

    /// Starts accepting on `listener` (bound by [`net::bind_listener`]),
    /// replacing any previous one.
    pub(crate) fn listen(&mut self, listener: TcpListener) -> io::Result<SocketAddr> {
        let local = listener.local_addr()?;
        let listener = R::listener(listener)?;
        tracing::debug!(%local, "listening");
        self.listener = Some(Listening {
            listener,
            local,
            retry_at: None,
        });
        Ok(local)
    }

    /// Closes the listener now (queued connections are refused by the OS).
    pub(crate) fn stop_listening(&mut self) {
        if let Some(l) = self.listener.take() {
            tracing::debug!(local = %l.local, "listener closed");
        }
    }

    /// Test hook: closes the listener but keeps its port bound (see
    /// `faxnotify_runtime::PortHold`); `None` when not listening.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn suspend_listening(&mut self) -> io::Result<Option<faxnotify_runtime::PortHold>> {
        let Some(l) = &self.listener else {
            return Ok(None);
        };
        let socket = l.listener.socket();
        let hold = faxnotify_runtime::PortHold::take_over(&*socket, l.local)?;
        self.stop_listening();
        Ok(Some(hold))
    }

    /// The next accepted connection; pending forever while not listening.
    pub(crate) async fn accept(&self) -> io::Result<(R::Tcp, SocketAddr)> {
        let Some(l) = &self.listener else {
            return future::pending().await;
        };
        if let Some(at) = l.retry_at {
            runtime::sleep_until::<R>(at).await;
        }
        // Polled (not a future per call): the driver rebuilds this future on
        // every wake-up, and the listener keeps its waker registered.
        future::poll_fn(|cx| l.listener.poll_accept(cx)).await
    }

    /// An accept failed with an error that would repeat at once: pause.
    pub(crate) fn accept_failed(&mut self, error: &io::Error) {
        if let Some(l) = &mut self.listener {
            tracing::warn!(%error, "accept failed; pausing 100 ms");
            l.retry_at = Some(Instant::now() + std::time::Duration::from_millis(100));
        }
    }

    /// An accept succeeded: no more pause.
    fn accepted(&mut self) {
        if let Some(l) = &mut self.listener {
            l.retry_at = None;
        }
    }

    // ----- connections ------------------------------------------------------

    /// Dials `addr` for `conn`.
    pub(crate) fn dial(&mut self, conn: ConnId, addr: SocketAddr) {
        tracing::debug!(%conn, %addr, "dialling");
        let span = tracing::debug_span!("dial", %conn, %addr);
        let dial = net::dial::<R>(conn, addr, self.shared.net.clone()).instrument(span);
        let task = Task::spawn(&self.spawner, dial);
        self.map.insert(conn, Entry::Dialling(task));
    }

    /// A dial finished; returns whether the connection is still wanted (if
    /// not, the stream is dropped).
    pub(crate) fn dialled(&mut self, conn: ConnId, stream: R::Tcp) -> bool {
        match self.map.get(&conn) {
            Some(Entry::Dialling(_)) => {
                self.open(conn, stream, false);
                true
            }
            _ => false,
        }
    }

    /// A dial failed; returns whether the core is still waiting for it.
    pub(crate) fn dial_failed(&mut self, conn: ConnId) -> bool {
        match self.map.entry(conn) {
            MapEntry::Occupied(e) if matches!(e.get(), Entry::Dialling(_)) => {
                e.remove();
                true
            }
            _ => false,
        }
    }

    /// Takes over an accepted connection.
    pub(crate) fn adopt(&mut self, conn: ConnId, stream: R::Tcp, peer: SocketAddr) {
        tracing::debug!(%conn, %peer, "connection accepted");
        self.accepted();
        self.open(conn, stream, true);
    }

    fn open(&mut self, conn: ConnId, stream: R::Tcp, accepted: bool) {
        let link = Arc::new(Link {
            conn,
            stream,
            queue: WriteQueue::new(),
        });
        // Not instrumented: a span would be kept in every idle task; what
        // the task logs names its connection (`conn`), and the driver logs
        // the peer's address with it when the connection opens.
        let task = Connection::<R>::new(Arc::clone(&link), Arc::clone(&self.shared));
        self.spawner.spawn(task);
        self.map.insert(
            conn,
            Entry::Open {
                link: Handle(link),
                pending: NOT_PENDING,
                accepted,
            },
        );
    }

    /// Whether input from `conn` should reach the core.
    pub(crate) fn is_open(&self, conn: ConnId) -> bool {
        matches!(self.map.get(&conn), Some(Entry::Open { .. }))
    }

    /// Queues `data` for `conn`, to be written with everything else the
    /// turn transmits to it ([`Conns::flush`]). Returns a buffer the core
    /// can reuse (`data` itself once copied, or a spare one).
    pub(crate) fn transmit(&mut self, conn: ConnId, data: Vec<u8>) -> Option<Vec<u8>> {
        let Some(Entry::Open { pending, .. }) = self.map.get_mut(&conn) else {
            tracing::debug!(%conn, "transmit for a connection that is not open; dropped");
            return None;
        };
        if let Some((_, out)) = self.unflushed.get_mut(*pending as usize) {
            out.extend_from_slice(&data);
            return Some(data);
        }
        // The turn's first bytes for it: take the buffer as it is, and
        // hand the core a written one instead, if there is one. (Past
        // u32::MAX entries in one turn, bytes go in entries of their own,
        // written in order all the same.)
        *pending = u32::try_from(self.unflushed.len()).unwrap_or(NOT_PENDING);
        self.unflushed.push((conn, data));
        self.spare.pop()
    }

    /// Whether some connection has bytes transmitted and not yet written.
    pub(crate) fn has_unflushed(&self) -> bool {
        !self.unflushed.is_empty()
    }

    /// Writes (or queues for its writer) what each connection was sent
    /// this turn: one write per connection. A connection found dead is
    /// dropped and remembered for [`Conns::take_dead`].
    pub(crate) fn flush(&mut self) {
        let mut unflushed = std::mem::take(&mut self.unflushed);
        for (conn, out) in unflushed.drain(..) {
            if !self.write_out(conn, out) {
                self.forget(conn);
                self.dead.push(conn);
            }
        }
        // Keep the list's room for the next turn, up to a point.
        unflushed.shrink_to(KEPT_UNFLUSHED);
        self.unflushed = unflushed;
    }

    /// Hands `out`, `conn`'s unwritten bytes, to its write queue; false if
    /// the connection turned out dead.
    fn write_out(&mut self, conn: ConnId, out: Vec<u8>) -> bool {
        let Some(Entry::Open { link, pending, .. }) = self.map.get_mut(&conn) else {
            return true; // gone meanwhile: nothing to write
        };
        *pending = NOT_PENDING;
        if out.is_empty() {
            return true;
        }
        match link.queue.push(&link.stream, out, &self.shared.limits) {
            Written::Done(mut buf) => {
                // Written at once: the buffer goes back round, and the idle
                // connection holds none.
                if self.spare.len() < SPARE_BUFFERS {
                    buf.clear();
                    self.spare.push(buf);
                }
                true
            }
            Written::Queued => true,
            Written::Dead => false,
        }
    }

    /// Closes `conn` once what was transmitted is written (bounded by
    /// `close_timeout`), then as `kind` says ([`CloseKind`]); abandons a
    /// dial in progress.
    pub(crate) fn close(&mut self, conn: ConnId, kind: CloseKind) {
        let Some(entry) = self.map.remove(&conn) else {
            return;
        };
        tracing::debug!(%conn, ?kind, "closing connection");
        match entry {
            Entry::Dialling(task) => drop(task),
            Entry::Open { link, pending, .. } => {
                // What this turn sent before the close goes first; a dead
                // connection is being closed anyway. (Its place in
                // `unflushed` stays, empty: the flush skips it.)
                let out = self
                    .unflushed
                    .get_mut(pending as usize)
                    .map(|(_, out)| std::mem::take(out))
                    .unwrap_or_default();
                if !out.is_empty() {
                    let _ = link.queue.push(&link.stream, out, &self.shared.limits);
                }
                // Stops the reading at once; the task flushes, then ends
                // (dropping the handle of a closing task leaves it running).
                link.queue.close(kind);
                self.closing.push(Arc::downgrade(&link.0));
                drop(link);
                if self.closing.len() >= self.prune_at {
                    self.closing.retain(|link| link.strong_count() > 0);
                    self.prune_at = (self.closing.len() * 2).max(64);
                }
            }
        }
    }

    /// Drops `conn` at once (the peer closed it, or it is dead); returns
    /// whether it was known.
    pub(crate) fn forget(&mut self, conn: ConnId) -> bool {
        // Dropping the entry cancels the connection's task.
        let known = self.map.remove(&conn).is_some();
        if known {
            tracing::debug!(%conn, "connection gone");
        }
        known
    }

    /// Connections found dead since the last call.
    pub(crate) fn take_dead(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.dead)
    }

    /// Drops every accepted connection at once (test hook: a listener that
    /// dies takes its connections with it); returns them.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn drop_accepted(&mut self) -> Vec<ConnId> {
        let mut gone: Vec<ConnId> = self
            .map
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Open { accepted: true, .. }))
            .map(|(c, _)| *c)
            .collect();
        gone.sort_unstable();
        for conn in &gone {
            self.map.remove(conn);
        }
        gone
    }

    /// Drops everything at once, as a crash would: nothing more is written.
    pub(crate) fn abort(mut self) {
        self.stop_listening();
        self.map.clear();
        for link in self.closing.drain(..) {
            if let Some(link) = link.upgrade() {
                link.queue.cancel();
            }
        }
    }

    /// Stops everything: the listener, dials and readers at once; writers
    /// get until their close deadline to flush. Resolves when all are done.
    pub(crate) async fn finish(mut self) {
        self.stop_listening();
        let conns: Vec<ConnId> = self.map.keys().copied().collect();
        for conn in conns {
            self.close(conn, CloseKind::Graceful);
        }
        for link in self.closing.drain(..) {
            if let Some(link) = link.upgrade() {
                link.queue.join(&self.shared).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::Duration;

    fn limits(pause: usize, cap: usize) -> Limits {
        Limits {
            read_chunk: 1024,
            pause_reading_above: pause,
            max_write_backlog: cap,
            close_timeout: Duration::from_secs(1),
        }
    }

    /// A non-blocking stream for [`WriteQueue::push`], which only tries.
    struct Tries(TcpStream);

    impl AsyncTcp for Tries {
        fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
            (&self.0).read(buf)
        }
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            (&self.0).write(buf)
        }
        fn poll_readable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
        fn poll_writable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
        fn shutdown_write(&self) -> io::Result<()> {
            self.0.shutdown(std::net::Shutdown::Write)
        }
        fn set_nodelay(&self) -> io::Result<()> {
            self.0.set_nodelay(true)
        }
    }

    /// A connected pair: (our side, non-blocking; the peer's blocking side).
    fn pair() -> (Tries, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        client.set_nonblocking(true).expect("non-blocking");
        (Tries(client), server)
    }

    /// A map slot is a connection's id and its entry: 24 bytes, however
    /// large the runtime's stream (see [`Entry`]).
    #[test]
    fn a_map_slot_is_24_bytes() {
        assert_eq!(std::mem::size_of::<(ConnId, Entry<Tries>)>(), 24);
    }

    /// The state a connection's task shares with the driver: 32 bytes,
    /// which with the stream and the connection's id puts the shared
    /// allocation at 80 bytes on async-io and 96 on tokio (an allocator's
    /// size classes: every 16 bytes more can cost 16 or 32 per
    /// connection). It was 64 while it held the write queue inline (and
    /// the link had a pointer to the limits: 112 and 128 bytes), then 40
    /// while it counted the backlog's bytes itself (88 and 104).
    #[test]
    fn the_shared_queue_state_is_32_bytes() {
        assert_eq!(std::mem::size_of::<QueueState>(), 32);
    }

    #[test]
    fn writes_directly_when_nothing_waits() {
        let (ours, mut peer) = pair();
        let (q, limits) = (WriteQueue::new(), limits(1024, 4096));
        assert!(matches!(
            q.push(&ours, b"hello".to_vec(), &limits),
            Written::Done(_)
        ));
        let mut buf = [0u8; 5];
        peer.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"hello");
    }

    #[test]
    fn a_peer_that_does_not_read_pauses_reading_then_is_dropped() {
        let (ours, _peer) = pair();
        let (q, limits) = (WriteQueue::new(), limits(64 * 1024, 256 * 1024));
        let chunk = vec![0u8; 16 * 1024];
        // Fill the kernel buffers until writes start queueing.
        let mut queued = 0usize;
        let mut dead = false;
        for _ in 0..10_000 {
            match q.push(&ours, chunk.clone(), &limits) {
                Written::Done(_) => {}
                Written::Queued => queued += chunk.len(),
                Written::Dead => {
                    dead = true;
                    break;
                }
            }
        }
        assert!(dead, "the backlog cap must end a peer that never reads");
        assert!(queued <= 256 * 1024, "queued {queued} bytes, above the cap");
        assert!(q.lock().queued() > 64 * 1024);
        // Reading is paused while the backlog is above the threshold.
        assert!(q.reading_paused(&limits), "the read gate must stay shut");
    }

    #[test]
    fn the_gate_opens_when_the_writer_catches_up() {
        let (ours, mut peer) = pair();
        let (q, limits) = (WriteQueue::new(), limits(10, 100));
        {
            let mut s = q.lock();
            s.backlog = Some(Box::new(Backlog {
                chunks: VecDeque::from([vec![7; 50]]),
                written: 0,
                bytes: 50,
            }));
        }
        assert!(q.reading_paused(&limits));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            q.write_backlog(&ours, &mut cx),
            Poll::Ready(Ok(()))
        ));
        assert!(
            !q.reading_paused(&limits),
            "the gate opens once it is written"
        );
        assert!(
            q.lock().backlog.is_none(),
            "a written backlog is given back"
        );
        let mut got = [0u8; 50];
        peer.read_exact(&mut got).expect("the backlog");
        assert_eq!(got, [7; 50]);
    }

    /// What waits behind a chunk the socket did not take goes out after
    /// it, in order, and the queue holds nothing once it is all written.
    #[test]
    fn a_backlog_is_written_in_order_then_released() {
        let (ours, mut peer) = pair();
        let (q, limits) = (WriteQueue::new(), limits(64 << 20, 64 << 20));
        let data: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let mut queued = false;
        for piece in data.chunks(1 << 20) {
            queued |= matches!(q.push(&ours, piece.to_vec(), &limits), Written::Queued);
        }
        assert!(queued, "the socket took 8 MiB at once");
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; 8 << 20];
            peer.read_exact(&mut got).expect("everything");
            got
        });
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match q.write_backlog(&ours, &mut cx) {
                Poll::Ready(result) => break result.expect("written"),
                // The test's socket never registers a waker: try again.
                Poll::Pending => std::thread::yield_now(),
            }
        }
        assert!(reader.join().expect("reader") == data, "bytes out of order");
        assert!(q.lock().backlog.is_none());
        assert_eq!(q.lock().queued(), 0);
    }
}
