//! The event loop shared by the server and the client: one mio `Poll`, a
//! slab of listeners and connections addressed by `Token`, and the
//! translation between what the OS reports and a core's inputs and outputs.
//!
//! One turn: apply the core's outputs and flush (one write per connection
//! with new output), sleep in `poll` until
//! I/O, a wake from the application or the core's next timer, note what
//! became ready, run the application's commands and due timers, then serve
//! the ready queue — accepts, and reads of at most `read_budget` bytes per
//! connection per turn so that one busy peer cannot starve the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::io::{BindError, CloseKind, ConnectError, Input, Output};
use mio::net::TcpListener;
use mio::{Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use crate::conn::{Conn, Flush, Phase};
use crate::events::EventSink;
use crate::machine::Machine;
use crate::options::LoopOptions;
use crate::socket;
use crate::stats::LoopStats;

/// The token of the waker the application's handles use.
const WAKER: Token = Token(usize::MAX);
/// The size of one read.
const READ_CHUNK: usize = 64 * 1024;
/// Connections accepted from one listener per turn.
const ACCEPTS_PER_TURN: usize = 64;
/// How long to wait before accepting again after the process ran out of
/// file descriptors (or memory): the listener stays readable, and retrying
/// at once would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Bytes a closing connection may still send us before it is dropped.
const MAX_DISCARD: usize = 256 * 1024;

/// Something the application's side of the loop (a controller) decides.
pub(crate) trait Controller<M: Machine> {
    /// Runs the application's commands (called after a wake).
    fn commands(&mut self, reactor: &mut Reactor<M>, now: Instant);
    /// Whether the loop should end now.
    fn done(&mut self, reactor: &Reactor<M>, now: Instant) -> bool;
    /// A deadline of the controller's own (e.g. the end of a shutdown grace).
    fn deadline(&self) -> Option<Instant>;
}

#[derive(Debug)]
struct ListenerEntry {
    listener: TcpListener,
    addr: SocketAddr,
    /// Accepting may yield more connections.
    ready: bool,
    queued: bool,
    /// Accepting failed for lack of resources: try again then.
    retry_at: Option<Instant>,
}

#[derive(Debug)]
enum Entry {
    Listener(ListenerEntry),
    Conn(Conn),
}

/// The client's callback listener, as the core asked for it.
#[derive(Debug)]
enum ListenSlot {
    None,
    Active(usize),
    /// Closed by a test hook, its port still held; re-opened on resume.
    #[cfg(feature = "test-hooks")]
    Suspended(faxnotify_runtime::PortHold),
}

/// A readiness noted from one poll event.
#[derive(Clone, Copy, Debug)]
struct Readiness {
    key: usize,
    readable: bool,
    /// The peer closed its side, or the socket has an error.
    hup: bool,
    writable: bool,
}

/// The loop: sockets, the core, and the application's event channel.
pub(crate) struct Reactor<M: Machine> {
    poll: Poll,
    waker: Arc<Waker>,
    entries: Slab<Entry>,
    by_conn: HashMap<ConnId, usize>,
    /// Entries with work to do: a listener to accept on, a connection to read.
    ready: VecDeque<usize>,
    /// Connections not read because the application's events back up.
    parked: Vec<usize>,
    /// Connections with new output.
    dirty: Vec<usize>,
    /// Inputs to feed the core once the current outputs are applied.
    deferred: VecDeque<Input<'static>>,
    /// Closing connections by deadline.
    lingering: BinaryHeap<Reverse<(Instant, ConnId)>>,
    listen: ListenSlot,
    read_buf: Vec<u8>,
    noted: Vec<Readiness>,
    pub(crate) machine: M,
    pub(crate) sink: EventSink<M::Event>,
    opts: LoopOptions,
    peak_backlog: usize,
    wakeups: u64,
}

impl<M: Machine> std::fmt::Debug for Reactor<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("entries", &self.entries.len())
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl<M: Machine> Reactor<M> {
    /// A loop around `machine`. The poll and waker come from
    /// [`Reactor::make_poll`], so that the event channel can share the waker.
    pub(crate) fn new(
        poll: Poll,
        waker: Arc<Waker>,
        machine: M,
        sink: EventSink<M::Event>,
        opts: LoopOptions,
    ) -> Self {
        Self {
            poll,
            waker,
            entries: Slab::new(),
            by_conn: HashMap::new(),
            ready: VecDeque::new(),
            parked: Vec::new(),
            dirty: Vec::new(),
            deferred: VecDeque::new(),
            lingering: BinaryHeap::new(),
            listen: ListenSlot::None,
            read_buf: vec![0; READ_CHUNK],
            noted: Vec::new(),
            machine,
            sink,
            opts,
            peak_backlog: 0,
            wakeups: 0,
        }
    }

    /// A poll and the waker of its [`WAKER`] token.
    pub(crate) fn make_poll() -> io::Result<(Poll, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok((poll, waker))
    }

    /// The waker handles use to interrupt `poll`.
    pub(crate) fn waker(&self) -> &Arc<Waker> {
        &self.waker
    }

    fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    // ----- running -----------------------------------------------------------

    /// Runs until the controller says it is done, or `poll` fails.
    pub(crate) fn run(&mut self, ctl: &mut impl Controller<M>) -> io::Result<()> {
        let mut events = mio::Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            self.finish_turn(now);
            if ctl.done(self, now) {
                return Ok(());
            }
            let timeout = self.next_timeout(now, ctl.deadline());
            // One wake-up of the application for the turn's events.
            self.sink.wake_receiver();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            self.wakeups += 1;
            let now = Instant::now();
            let mut woken = false;
            self.noted.clear();
            for event in events.iter() {
                if event.token() == WAKER {
                    woken = true;
                } else {
                    self.noted.push(Readiness {
                        key: event.token().0,
                        readable: event.is_readable() || event.is_read_closed() || event.is_error(),
                        hup: event.is_read_closed() || event.is_error(),
                        writable: event.is_writable()
                            || event.is_write_closed()
                            || event.is_error(),
                    });
                }
            }
            for i in 0..self.noted.len() {
                let r = self.noted[i];
                self.on_ready(r);
            }
            self.settle(now);
            if woken {
                ctl.commands(self, now);
                self.settle(now);
            }
            self.sink.pump();
            if !self.sink.is_congested() && !self.parked.is_empty() {
                for key in std::mem::take(&mut self.parked) {
                    self.enqueue(key);
                }
            }
            if self.machine.poll_timeout().is_some_and(|at| at <= now) {
                self.machine.timeout(now);
                self.settle(now);
            }
            self.expire_lingering(now);
            self.retry_listeners(now);
            self.serve_ready(now);
        }
    }

    /// How long `poll` may sleep.
    fn next_timeout(&self, now: Instant, extra: Option<Instant>) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut next = self.machine.poll_timeout();
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
            }
        };
        consider(self.lingering.peek().map(|Reverse((at, _))| *at));
        consider(extra);
        for (_, entry) in &self.entries {
            if let Entry::Listener(l) = entry {
                consider(l.retry_at);
            }
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    /// Applies every output of the core and feeds the inputs that this
    /// produced, until nothing is left. What the outputs queue for writing
    /// waits for the end of the turn ([`Reactor::finish_turn`]).
    pub(crate) fn settle(&mut self, now: Instant) {
        loop {
            while let Some(output) = self.machine.poll_output() {
                self.apply(output, now);
            }
            match self.deferred.pop_front() {
                Some(input) => self.feed(input, now),
                None => return,
            }
        }
    }

    /// Ends a turn: settles, then writes each connection's new output with
    /// one (vectored) write, however many requests, reads and timers of
    /// the turn produced it — a turn's NOTIFYs for one connection leave in
    /// one system call. Failed writes become inputs, so it settles again.
    fn finish_turn(&mut self, now: Instant) {
        loop {
            self.settle(now);
            if self.dirty.is_empty() {
                return;
            }
            self.flush_dirty(now);
        }
    }

    fn feed(&mut self, input: Input<'_>, now: Instant) {
        self.machine.input(now, input);
    }

    // ----- the core's outputs ------------------------------------------------

    fn apply(&mut self, output: Output<M::Event>, now: Instant) {
        match output {
            Output::Connect { conn, addr } => self.connect(conn, addr),
            Output::Transmit { conn, data } => {
                let Some(&key) = self.by_conn.get(&conn) else {
                    return; // closed already (the close raced with this output)
                };
                if let Some(Entry::Conn(c)) = self.entries.get_mut(key)
                    && matches!(c.phase, Phase::Open | Phase::Connecting)
                {
                    c.push(data);
                    self.peak_backlog = self.peak_backlog.max(c.backlog);
                    if !c.dirty {
                        c.dirty = true;
                        self.dirty.push(key);
                    }
                }
            }
            Output::Close { conn, kind } => self.close(conn, kind, now),
            Output::Listen { addr } => self.listen(addr),
            Output::StopListening => self.stop_listening(),
            Output::Event(event) => {
                if let Some(event) = self.machine.on_event(now, event) {
                    self.sink.push(event);
                }
            }
            // A newer core's output this loop does not know yet.
            _ => tracing::warn!("an output this runtime does not know; ignored"),
        }
    }

    fn connect(&mut self, conn: ConnId, addr: SocketAddr) {
        let stream = match socket::start_connect(addr) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(%conn, %addr, %err, "dial failed at once");
                self.deferred.push_back(connect_failed(conn, &err));
                return;
            }
        };
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        let mut c = Conn::new(conn, stream, Phase::Connecting, false);
        if let Err(err) = self.poll.registry().register(
            &mut c.stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::debug!(%conn, %addr, %err, "cannot register a dial");
            self.deferred.push_back(connect_failed(conn, &err));
            return;
        }
        c.want_write = true;
        tracing::debug!(%conn, %addr, "dialling");
        entry.insert(Entry::Conn(c));
        self.by_conn.insert(conn, key);
    }

    fn close(&mut self, conn: ConnId, kind: CloseKind, now: Instant) {
        let Some(&key) = self.by_conn.get(&conn) else {
            return;
        };
        let Some(Entry::Conn(c)) = self.entries.get_mut(key) else {
            return;
        };
        match c.phase {
            Phase::Connecting => {
                tracing::debug!(%conn, "dial abandoned");
                self.remove(key);
            }
            Phase::Open => {
                tracing::debug!(%conn, backlog = c.backlog, ?kind, "closing");
                let deadline = now + self.opts.close_linger;
                c.phase = Phase::Flushing { deadline, kind };
                self.lingering.push(Reverse((deadline, conn)));
                if !c.dirty {
                    c.dirty = true;
                    self.dirty.push(key);
                }
            }
            Phase::Flushing { .. } | Phase::Draining { .. } => {}
        }
    }

    fn listen(&mut self, addr: SocketAddr) {
        match self.open_listener(addr) {
            Ok(key) => {
                let local = match &self.entries[key] {
                    Entry::Listener(l) => l.addr,
                    Entry::Conn(_) => addr,
                };
                self.listen = ListenSlot::Active(key);
                self.deferred.push_back(Input::Bound { local });
            }
            Err(err) => {
                tracing::debug!(%addr, %err, "cannot bind the callback listener");
                self.deferred.push_back(Input::BindFailed {
                    addr,
                    error: BindError::from_io(&err),
                });
            }
        }
    }

    fn stop_listening(&mut self) {
        if let ListenSlot::Active(key) = self.listen {
            self.remove_listener(key);
        }
        self.listen = ListenSlot::None;
    }

    /// Binds and registers a listener; returns its key.
    pub(crate) fn open_listener(&mut self, addr: SocketAddr) -> io::Result<usize> {
        self.register_listener(socket::bind_listener(addr)?)
    }

    /// Registers a bound listener; returns its key.
    fn register_listener(&mut self, mut listener: mio::net::TcpListener) -> io::Result<usize> {
        let local = listener.local_addr()?;
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        self.poll
            .registry()
            .register(&mut listener, Token(key), Interest::READABLE)?;
        tracing::debug!(%local, "listening");
        entry.insert(Entry::Listener(ListenerEntry {
            listener,
            addr: local,
            ready: true,
            queued: false,
            retry_at: None,
        }));
        self.enqueue(key);
        Ok(key)
    }

    fn remove_listener(&mut self, key: usize) {
        if let Some(Entry::Listener(mut l)) = self.entries.try_remove(key) {
            let _ = self.registry().deregister(&mut l.listener);
            tracing::debug!(addr = %l.addr, "listener closed");
        }
    }

    /// Closes every listener (a server shutting down frees its port at once).
    pub(crate) fn close_listeners(&mut self) {
        let keys: Vec<usize> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Listener(_)))
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.remove_listener(key);
        }
        self.listen = ListenSlot::None;
    }

    /// The addresses of the open listeners.
    pub(crate) fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Listener(l) => Some(l.addr),
                Entry::Conn(_) => None,
            })
            .collect()
    }

    // ----- writing -----------------------------------------------------------

    fn flush_dirty(&mut self, now: Instant) {
        while let Some(key) = self.dirty.pop() {
            if let Some(Entry::Conn(c)) = self.entries.get_mut(key) {
                c.dirty = false;
                self.flush(key, now);
            }
        }
    }

    /// Writes what the connection has queued and updates its interest.
    fn flush(&mut self, key: usize, now: Instant) {
        let Some(Entry::Conn(c)) = self.entries.get_mut(key) else {
            return;
        };
        if c.phase == Phase::Connecting || matches!(c.phase, Phase::Draining { .. }) {
            return;
        }
        let machine = &mut self.machine;
        match c.flush(|buf| machine.recycle(buf)) {
            Flush::Done => {}
            Flush::Blocked => {}
            Flush::Failed(err) => {
                tracing::debug!(conn = %c.id, %err, "write failed");
                self.fail(key);
                return;
            }
        }
        if let Phase::Flushing { deadline, kind } = c.phase
            && c.backlog == 0
        {
            // Everything is written: send our FIN, then wait for the peer's.
            let _ = c.stream.shutdown(Shutdown::Write);
            if kind == CloseKind::Prompt {
                // Or not: what has arrived is thrown away so that closing
                // sends no reset, and the kernel sends the rest and the FIN
                // without a descriptor of ours (see `CloseKind::Prompt`).
                c.discard_received(&mut self.read_buf, MAX_DISCARD);
                tracing::debug!(conn = %c.id, "written out; closed at once");
                self.remove(key);
                return;
            }
            c.phase = Phase::Draining {
                deadline: deadline.max(now),
            };
            tracing::debug!(conn = %c.id, "written out; draining");
        }
        let want_write = c.backlog > 0;
        if want_write != c.want_write {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(err) = self
                .poll
                .registry()
                .reregister(&mut c.stream, Token(key), interest)
            {
                tracing::debug!(conn = %c.id, %err, "cannot change interest");
                self.fail(key);
                return;
            }
            c.want_write = want_write;
        }
        let resume = c.readable && !c.queued && c.backlog <= self.opts.max_output_backlog;
        if resume {
            self.enqueue(key);
        }
    }

    // ----- readiness ---------------------------------------------------------

    fn on_ready(&mut self, r: Readiness) {
        match self.entries.get_mut(r.key) {
            Some(Entry::Listener(l)) => {
                l.ready = true;
                if l.retry_at.is_none() {
                    self.enqueue(r.key);
                }
            }
            Some(Entry::Conn(c)) => {
                if c.phase == Phase::Connecting {
                    if r.readable || r.writable {
                        self.check_connect(r.key, r.readable, r.hup);
                    }
                    return;
                }
                if r.writable && c.backlog > 0 && !c.dirty {
                    c.dirty = true;
                    self.dirty.push(r.key);
                }
                if r.readable {
                    c.readable = true;
                    c.hup |= r.hup;
                    self.enqueue(r.key);
                }
            }
            None => {}
        }
    }

    /// A dial's socket became ready: did it connect?
    fn check_connect(&mut self, key: usize, readable: bool, hup: bool) {
        let Some(Entry::Conn(c)) = self.entries.get_mut(key) else {
            return;
        };
        let outcome = match c.stream.take_error() {
            Ok(Some(err)) | Err(err) => Err(err),
            Ok(None) => match c.stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(err) => Err(err),
            },
        };
        match outcome {
            Ok(false) => {} // a spurious wake-up: still connecting
            Ok(true) => {
                tracing::debug!(conn = %c.id, "connected");
                c.phase = Phase::Open;
                c.readable = readable;
                c.hup = hup;
                let conn = c.id;
                self.deferred.push_back(Input::Connected { conn });
                // Bytes the core transmits after Connected make it dirty; a
                // connection with nothing to write drops WRITABLE interest.
                if !c.dirty {
                    c.dirty = true;
                    self.dirty.push(key);
                }
                if readable {
                    self.enqueue(key);
                }
            }
            Err(err) => {
                tracing::debug!(conn = %c.id, %err, "dial failed");
                let conn = c.id;
                // The OS's reason goes to the core: the user is told it.
                self.deferred.push_back(connect_failed(conn, &err));
                self.remove(key);
            }
        }
    }

    fn enqueue(&mut self, key: usize) {
        let queued = match self.entries.get_mut(key) {
            Some(Entry::Conn(c)) => std::mem::replace(&mut c.queued, true),
            Some(Entry::Listener(l)) => std::mem::replace(&mut l.queued, true),
            None => return,
        };
        if !queued {
            self.ready.push_back(key);
        }
    }

    // ----- serving the ready queue -------------------------------------------

    fn serve_ready(&mut self, now: Instant) {
        for _ in 0..self.ready.len() {
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            match self.entries.get_mut(key) {
                Some(Entry::Listener(l)) => {
                    l.queued = false;
                    self.accept_some(key, now);
                }
                Some(Entry::Conn(c)) => {
                    c.queued = false;
                    self.read_some(key, now);
                }
                None => {}
            }
        }
    }

    fn accept_some(&mut self, key: usize, now: Instant) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(Entry::Listener(l)) = self.entries.get_mut(key) else {
                return;
            };
            if !l.ready || l.retry_at.is_some() {
                return;
            }
            if self.sink.is_congested() {
                // An accept can produce an event (a refused connection):
                // while the application's events back up, peers add none.
                self.parked.push(key);
                return;
            }
            match l.listener.accept() {
                Ok((stream, peer)) => self.accepted(stream, peer, now),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    l.ready = false;
                    return;
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(err) => {
                    // Out of descriptors or memory: the listener stays
                    // readable, so wait a little instead of spinning.
                    tracing::warn!(addr = %l.addr, %err, "accept failed; retrying shortly");
                    l.retry_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
        self.enqueue(key); // more may be waiting: after the others' turn
    }

    fn accepted(&mut self, mut stream: mio::net::TcpStream, peer: SocketAddr, now: Instant) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %err, "cannot set TCP_NODELAY; dropping the connection");
            return;
        }
        let key = self.entries.vacant_entry().key();
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE)
        {
            tracing::debug!(%peer, %err, "cannot register an accepted connection");
            return;
        }
        let conn = self.machine.accept(now, peer);
        tracing::debug!(%conn, %peer, "accepted");
        let mut c = Conn::new(conn, stream, Phase::Open, true);
        // Data may have arrived before registration: look once.
        c.readable = true;
        self.entries.insert(Entry::Conn(c));
        self.by_conn.insert(conn, key);
        self.enqueue(key);
        self.settle(now);
    }

    fn retry_listeners(&mut self, now: Instant) {
        let due: Vec<usize> = self
            .entries
            .iter_mut()
            .filter_map(|(k, e)| match e {
                Entry::Listener(l) if l.retry_at.is_some_and(|at| at <= now) => {
                    l.retry_at = None;
                    l.ready = true;
                    Some(k)
                }
                _ => None,
            })
            .collect();
        for key in due {
            self.enqueue(key);
        }
    }

    /// Reads from one connection: at most `read_budget` bytes, and not at
    /// all while its output backlog is over the limit or the application's
    /// events back up.
    fn read_some(&mut self, key: usize, now: Instant) {
        let mut budget = self.opts.read_budget;
        loop {
            let Some(Entry::Conn(c)) = self.entries.get_mut(key) else {
                return;
            };
            if !c.readable {
                return;
            }
            match c.phase {
                Phase::Connecting => return,
                Phase::Open => {
                    if self.sink.is_congested() {
                        self.parked.push(key);
                        return;
                    }
                    if c.backlog > self.opts.max_output_backlog {
                        return; // resumed when a flush brings it under the limit
                    }
                }
                Phase::Flushing { .. } | Phase::Draining { .. } => {}
            }
            if budget == 0 {
                self.enqueue(key);
                return;
            }
            let want = budget.min(self.read_buf.len());
            match c.stream.read(&mut self.read_buf[..want]) {
                Ok(0) => {
                    tracing::debug!(conn = %c.id, "peer closed");
                    match c.phase {
                        Phase::Flushing { .. } if c.backlog > 0 => {
                            // The peer may still read what we owe it.
                            c.readable = false;
                        }
                        _ => self.fail(key),
                    }
                    return;
                }
                Ok(n) => {
                    budget -= n;
                    // A short read emptied the socket: more data (or the
                    // peer's FIN) raises a new edge, so the read that would
                    // only say WouldBlock is spared — one read per turn for
                    // a batch of ACKs. Not once the peer's FIN was seen
                    // (no new edge will come for it: read to the end).
                    if n < want && !c.hup {
                        c.readable = false;
                    }
                    if c.phase == Phase::Open {
                        let conn = c.id;
                        self.machine.input(
                            now,
                            Input::Received {
                                conn,
                                data: &self.read_buf[..n],
                            },
                        );
                        self.settle(now);
                    } else {
                        c.discarded += n;
                        if c.discarded > MAX_DISCARD {
                            tracing::debug!(conn = %c.id, "closing peer keeps sending; dropped");
                            self.remove(key);
                            return;
                        }
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    c.readable = false;
                    return;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::debug!(conn = %c.id, %err, "read failed");
                    self.fail(key);
                    return;
                }
            }
        }
    }

    // ----- ending connections ------------------------------------------------

    /// The connection broke (or the peer closed it): tell the core if it
    /// still owns it, and drop it.
    fn fail(&mut self, key: usize) {
        let Some(Entry::Conn(c)) = self.entries.get(key) else {
            return;
        };
        let conn = c.id;
        match c.phase {
            Phase::Connecting => self.deferred.push_back(connect_failed(
                conn,
                &io::Error::other("the connection broke while dialling"),
            )),
            Phase::Open => self.deferred.push_back(Input::Closed { conn }),
            Phase::Flushing { .. } | Phase::Draining { .. } => {}
        }
        self.remove(key);
    }

    fn remove(&mut self, key: usize) {
        if let Some(Entry::Conn(mut c)) = self.entries.try_remove(key) {
            let _ = self.registry().deregister(&mut c.stream);
            c.clear();
            self.by_conn.remove(&c.id);
            tracing::debug!(conn = %c.id, "connection dropped");
        }
    }

    fn expire_lingering(&mut self, now: Instant) {
        while let Some(Reverse((at, conn))) = self.lingering.peek().copied() {
            if at > now {
                return;
            }
            self.lingering.pop();
            if let Some(&key) = self.by_conn.get(&conn)
                && let Some(Entry::Conn(c)) = self.entries.get(key)
                && matches!(c.phase, Phase::Flushing { .. } | Phase::Draining { .. })
            {
                tracing::debug!(%conn, backlog = c.backlog, "close linger over; dropped");
                self.remove(key);
            }
        }
    }

    // ----- for the controllers -----------------------------------------------

    /// The loop's options.
    pub(crate) fn options(&self) -> &LoopOptions {
        &self.opts
    }

    /// Connections (open, dialling or closing).
    pub(crate) fn connection_count(&self) -> usize {
        self.by_conn.len()
    }

    /// A snapshot of the loop's counters.
    pub(crate) fn stats(&self) -> LoopStats {
        let mut stats = LoopStats {
            wakeups: self.wakeups,
            peak_backlog: self.peak_backlog,
            pending_events: self.sink.backlog(),
            ..LoopStats::default()
        };
        for (_, entry) in &self.entries {
            match entry {
                Entry::Listener(_) => stats.listeners += 1,
                Entry::Conn(c) => {
                    stats.connections += 1;
                    stats.buffered_bytes += c.backlog;
                    if c.phase == Phase::Open
                        && c.readable
                        && (c.backlog > self.opts.max_output_backlog || self.sink.is_congested())
                    {
                        stats.paused_reads += 1;
                    }
                }
            }
        }
        stats
    }

    /// Closes the callback listener and drops the connections accepted on
    /// it, as if the listening process had died (a test fault).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn suspend_listener(&mut self, now: Instant) {
        let ListenSlot::Active(key) = self.listen else {
            return;
        };
        let hold = match &self.entries[key] {
            Entry::Listener(l) => faxnotify_runtime::PortHold::take_over(&l.listener, l.addr),
            Entry::Conn(_) => return,
        };
        let hold = match hold {
            Ok(hold) => hold,
            Err(err) => {
                // Not suspending is visible to the test (connections still
                // succeed); giving the port away would be a flake.
                tracing::error!(%err, "test hook: cannot hold the listener's port; not suspended");
                return;
            }
        };
        let addr = hold.addr();
        self.remove_listener(key);
        self.listen = ListenSlot::Suspended(hold);
        let accepted: Vec<usize> = self
            .entries
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Conn(c) if c.accepted => Some(k),
                _ => None,
            })
            .collect();
        tracing::debug!(%addr, dropped = accepted.len(), "test hook: listener suspended");
        for key in accepted {
            self.fail(key);
        }
        self.settle(now);
    }

    /// Re-opens a listener closed by [`Reactor::suspend_listener`] on the
    /// port it held.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn resume_listener(&mut self) -> io::Result<()> {
        let hold = match std::mem::replace(&mut self.listen, ListenSlot::None) {
            ListenSlot::Suspended(hold) => hold,
            other => {
                self.listen = other;
                return Ok(());
            }
        };
        let addr = hold.addr();
        // On failure the hold is gone with the error: the test fails on it.
        let listener = mio::net::TcpListener::from_std(hold.reopen()?);
        let key = self.register_listener(listener)?;
        self.listen = ListenSlot::Active(key);
        tracing::debug!(%addr, "test hook: listener resumed");
        Ok(())
    }
}

/// The core's report of a failed dial.
fn connect_failed(conn: ConnId, err: &io::Error) -> Input<'static> {
    Input::ConnectFailed {
        conn,
        error: ConnectError::from_io(err),
    }
}
