//! Many FNP/1 client cores on one mio event loop.
//!
//! `faxnotify-mio` runs each [`faxnotify_mio::Client`] on a thread of its
//! own, with its events on a channel of their own; a thousand clients would
//! be a thousand loop threads plus a thousand threads reading events, on a
//! two-core machine: the benchmark would measure the scheduler. So the load
//! tool drives the clients' sans-IO cores itself, many per mio `Poll`, the
//! way the runtime drives one: the same run loop (drain `poll_output`
//! after every `handle_*`, sleep until I/O or the earliest
//! `poll_timeout`), non-blocking sockets with `TCP_NODELAY`, reads until
//! `WouldBlock`, and writes queued only when the socket is full. Its
//! figures are the client *core's* cost on a lean loop; the server side is
//! the real `faxnotify-mio` server.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::client::{
    BindError, Client, ClientConfig, ConnectError, Event, Input, ListenPolicy, NetworkSettings,
    Output,
};
use faxnotify_core::tls::ClientTls;
use faxnotify_core::wire::CallbackState;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use super::payload;
use super::tally::{Recorder, StartFailure, Tally};

const WAKER: Token = Token(usize::MAX);
const READ_CHUNK: usize = 64 * 1024;

/// One client of the fleet.
struct Member {
    core: Client,
    /// The deadline pushed on the timer heap, if any.
    armed: Option<Instant>,
    /// The callback listener's slab key.
    listener: Option<usize>,
    /// Settled: logged in with a delivery path (callback handshake done,
    /// or backchannel), or stopped before it had one.
    settled: bool,
}

enum Sock {
    Listener {
        member: u32,
        listener: TcpListener,
    },
    Stream {
        member: u32,
        conn: ConnId,
        stream: TcpStream,
        connecting: bool,
        out: Vec<u8>,
        /// Close once `out` is written.
        closing: bool,
        writable_interest: bool,
    },
}

/// A thread's share of the clients.
pub struct Fleet {
    poll: Poll,
    members: Vec<Member>,
    socks: Slab<Sock>,
    by_conn: HashMap<(u32, ConnId), usize>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    read_buf: Vec<u8>,
    recorder: Recorder,
    tally: Arc<Tally>,
    /// Clients still to create, as (user index, backchannel).
    to_start: std::vec::IntoIter<(usize, bool)>,
    server: SocketAddr,
    logins_in_flight: usize,
    in_flight: usize,
    password: String,
    /// The clients' TLS settings (`None`: plain TCP).
    tls: Option<ClientTls>,
    /// The listen policy of the clients with a callback listener.
    policy: ListenPolicy,
    /// The local address the clients dial from and listen on (`None`: the
    /// route's).
    local_ip: Option<IpAddr>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

/// The user name of client `i`.
pub fn user_name(i: usize) -> String {
    format!("load{i}")
}

/// The password every load user has.
pub const PASSWORD: &str = "load password";

impl Fleet {
    /// A fleet that will run `clients` (user index, backchannel-only) against
    /// `server`, starting at most `logins_in_flight` logins at once, and
    /// expecting `per_client` notifications each.
    pub fn new(
        server: SocketAddr,
        clients: Vec<(usize, bool)>,
        per_client: u64,
        logins_in_flight: usize,
        tally: &Arc<Tally>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        tally.on_command(move || {
            let _ = waker.wake();
        });
        let expected = clients.len() as u64 * per_client;
        Ok(Self {
            poll,
            members: Vec::with_capacity(clients.len()),
            socks: Slab::with_capacity(clients.len() * 3),
            by_conn: HashMap::with_capacity(clients.len() * 2),
            timers: BinaryHeap::new(),
            read_buf: vec![0; READ_CHUNK],
            recorder: Recorder::new(tally, expected),
            tally: Arc::clone(tally),
            to_start: clients.into_iter(),
            server,
            logins_in_flight: logins_in_flight.max(1),
            in_flight: 0,
            password: PASSWORD.to_owned(),
            tls: None,
            policy: ListenPolicy::Dynamic,
            local_ip: None,
        })
    }

    /// The clients' callback listeners follow `policy` (backchannel-only
    /// clients still have none).
    pub fn listen_policy(mut self, policy: ListenPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clients dial from `ip` and listen on it (`None`: the route's
    /// address): on loopback, every address of 127/8 has a port space of
    /// its own, so fleets on different addresses do not compete for
    /// ephemeral ports.
    pub fn local_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.local_ip = ip;
        self
    }

    /// Runs the clients over TLS with `tls` (`None`: plain TCP).
    pub fn tls(mut self, tls: Option<ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    /// Runs until the parent says "quit".
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.start_more(Instant::now());
        loop {
            if self.tally.quitting() {
                return Ok(());
            }
            let now = Instant::now();
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(now));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let key = event.token().0;
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let hup = event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                self.on_ready(key, readable, hup, writable, now);
            }
            self.run_timers(now);
            self.start_more(now);
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, m))) = self.timers.peek().copied() {
            if self.members[m as usize].armed == Some(at) {
                return Some(at);
            }
            self.timers.pop(); // stale
        }
        None
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, m))) = self.timers.peek().copied() {
            if at > now {
                return;
            }
            self.timers.pop();
            let member = &mut self.members[m as usize];
            if member.armed != Some(at) {
                continue;
            }
            member.armed = None;
            member.core.handle_timeout(now);
            self.drain(m, now);
        }
    }

    /// Creates clients while fewer than `logins_in_flight` are logging in.
    fn start_more(&mut self, now: Instant) {
        while self.in_flight < self.logins_in_flight {
            let Some((i, backchannel)) = self.to_start.next() else {
                return;
            };
            let policy = if backchannel {
                ListenPolicy::None
            } else {
                self.policy
            };
            let mut config = ClientConfig::new(
                self.server,
                user_name(i),
                self.password.clone(),
                NetworkSettings::new(policy),
            );
            config.tls = self.tls.clone();
            // The listener binds the address the control connection
            // comes from (`connect` binds it too) [C-1].
            config.local_ip = self.local_ip;
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[8..16].copy_from_slice(&super::sys::monotonic_ns().to_le_bytes());
            let core = match Client::new(config, seed, now) {
                Ok(core) => core,
                Err(e) => {
                    self.tally
                        .client_failed(StartFailure::other(format!("client {i}: {e}")));
                    continue;
                }
            };
            let m = self.members.len() as u32;
            self.members.push(Member {
                core,
                armed: None,
                listener: None,
                settled: false,
            });
            self.in_flight += 1;
            self.drain(m, now);
        }
    }

    /// Carries out everything member `m` asks for.
    fn drain(&mut self, m: u32, now: Instant) {
        while let Some(output) = self.members[m as usize].core.poll_output() {
            match output {
                Output::Transmit { conn, data } => {
                    self.transmit(m, conn, &data);
                    self.members[m as usize].core.recycle(data);
                }
                Output::Event(event) => self.on_event(m, event),
                Output::Connect { conn, addr } => self.connect(m, conn, addr, now),
                Output::Close { conn, .. } => self.close(m, conn),
                Output::Listen { addr } => self.listen(m, addr, now),
                Output::StopListening => {
                    if let Some(key) = self.members[m as usize].listener.take()
                        && let Some(Sock::Listener { mut listener, .. }) =
                            self.socks.try_remove(key)
                    {
                        let _ = self.poll.registry().deregister(&mut listener);
                    }
                }
                other => self.tally.note(format!("unknown output {other:?}")),
            }
        }
        let member = &mut self.members[m as usize];
        let next = member.core.poll_timeout();
        if next != member.armed {
            member.armed = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, m)));
            }
        }
    }

    fn on_event(&mut self, m: u32, event: Event) {
        match event {
            Event::Notification { notification, .. } => {
                if let Some(sent) = payload::sent_ns(&notification) {
                    self.recorder.record(sent);
                }
            }
            Event::CallbackEstablished { .. }
            | Event::CallbackStatus {
                state: CallbackState::Backchannel,
                ..
            } => {
                if self.settle(m) {
                    self.tally.client_ready();
                }
            }
            // Stopped before its delivery path was up (e.g. no callback
            // port): it never will be. Counted, and its login slot freed
            // so that the other clients go on starting.
            Event::Stopped { reason } if !self.members[m as usize].settled => {
                self.settle(m);
                self.tally.client_failed(StartFailure::stopped(&reason));
            }
            Event::Listening { .. } | Event::LoggedIn { .. } | Event::CallbackStatus { .. } => {}
            other => self.tally.note(format!("client {m}: {other:?}")),
        }
    }

    /// Marks member `m` settled (up, or stopped for good), freeing its
    /// login slot; `false` if it already was.
    fn settle(&mut self, m: u32) -> bool {
        let member = &mut self.members[m as usize];
        if member.settled {
            return false;
        }
        member.settled = true;
        self.in_flight -= 1;
        true
    }

    fn listen(&mut self, m: u32, addr: SocketAddr, now: Instant) {
        let input_result = match TcpListener::bind(addr) {
            Ok(mut listener) => {
                let local = listener.local_addr();
                let key = self.socks.vacant_entry().key();
                let registered =
                    self.poll
                        .registry()
                        .register(&mut listener, Token(key), Interest::READABLE);
                match (local, registered) {
                    (Ok(local), Ok(())) => {
                        self.socks.insert(Sock::Listener {
                            member: m,
                            listener,
                        });
                        self.members[m as usize].listener = Some(key);
                        Input::Bound { local }
                    }
                    (Err(e), _) | (_, Err(e)) => Input::BindFailed {
                        addr,
                        error: BindError::from_io(&e),
                    },
                }
            }
            Err(e) => Input::BindFailed {
                addr,
                error: BindError::from_io(&e),
            },
        };
        self.input(m, input_result, now);
    }

    fn input(&mut self, m: u32, input: Input<'_>, now: Instant) {
        if let Err(e) = self.members[m as usize].core.handle_input(now, input) {
            self.tally.note(format!("client {m}: input refused: {e}"));
        }
        self.drain(m, now);
    }

    fn connect(&mut self, m: u32, conn: ConnId, addr: SocketAddr, now: Instant) {
        let key = self.socks.vacant_entry().key();
        let stream = dial(addr, self.local_ip).and_then(|mut stream| {
            stream.set_nodelay(true)?;
            self.poll.registry().register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match stream {
            Ok(stream) => {
                self.socks.insert(Sock::Stream {
                    member: m,
                    conn,
                    stream,
                    connecting: true,
                    out: Vec::new(),
                    closing: false,
                    writable_interest: true,
                });
                self.by_conn.insert((m, conn), key);
            }
            Err(e) => {
                self.tally.note(format!("client {m}: dial failed: {e}"));
                let error = ConnectError::from_io(&e);
                self.input(m, Input::ConnectFailed { conn, error }, now);
            }
        }
    }

    fn transmit(&mut self, m: u32, conn: ConnId, data: &[u8]) {
        let Some(&key) = self.by_conn.get(&(m, conn)) else {
            return;
        };
        if let Some(Sock::Stream { out, .. }) = self.socks.get_mut(key) {
            out.extend_from_slice(data);
        }
        self.flush(key);
    }

    fn close(&mut self, m: u32, conn: ConnId) {
        let Some(&key) = self.by_conn.get(&(m, conn)) else {
            return;
        };
        if let Some(Sock::Stream { closing, .. }) = self.socks.get_mut(key) {
            *closing = true;
        }
        self.flush(key);
    }

    /// Writes what is queued; drops a closing stream once written out.
    /// Returns false if the stream is gone.
    fn flush(&mut self, key: usize) -> bool {
        let Some(Sock::Stream {
            stream,
            connecting,
            out,
            closing,
            writable_interest,
            member,
            conn,
        }) = self.socks.get_mut(key)
        else {
            return false;
        };
        if *connecting {
            return true;
        }
        let mut written = 0;
        let mut broken = false;
        while written < out.len() {
            match stream.write(&out[written..]) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        out.drain(..written);
        let (m, conn) = (*member, *conn);
        if broken || (*closing && out.is_empty()) {
            let was_closing = *closing;
            self.drop_stream(key);
            if !was_closing {
                self.input(m, Input::Closed { conn }, Instant::now());
            }
            return false;
        }
        let want = !out.is_empty();
        if want != *writable_interest {
            *writable_interest = want;
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self
                .poll
                .registry()
                .reregister(stream, Token(key), interest);
        }
        true
    }

    fn drop_stream(&mut self, key: usize) {
        if let Some(Sock::Stream {
            mut stream,
            member,
            conn,
            ..
        }) = self.socks.try_remove(key)
        {
            let _ = self.poll.registry().deregister(&mut stream);
            self.by_conn.remove(&(member, conn));
        }
    }

    fn on_ready(&mut self, key: usize, readable: bool, hup: bool, writable: bool, now: Instant) {
        match self.socks.get_mut(key) {
            Some(Sock::Listener { .. }) => self.accept(key, now),
            Some(Sock::Stream {
                connecting: true, ..
            }) => self.check_connect(key, now),
            Some(Sock::Stream { .. }) => {
                if writable && !self.flush(key) {
                    return;
                }
                if readable {
                    self.read(key, now, hup);
                }
            }
            None => {}
        }
    }

    fn check_connect(&mut self, key: usize, now: Instant) {
        let Some(Sock::Stream {
            stream,
            connecting,
            member,
            conn,
            ..
        }) = self.socks.get_mut(key)
        else {
            return;
        };
        let (m, conn) = (*member, *conn);
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(false) => {}
            Ok(true) => {
                *connecting = false;
                self.input(m, Input::Connected { conn }, now);
                if self.flush(key) {
                    self.read(key, now, true);
                }
            }
            Err(e) => {
                self.tally.note(format!("client {m}: connect failed: {e}"));
                self.drop_stream(key);
                let error = ConnectError::from_io(&e);
                self.input(m, Input::ConnectFailed { conn, error }, now);
            }
        }
    }

    fn accept(&mut self, key: usize, now: Instant) {
        loop {
            let Some(Sock::Listener { listener, member }) = self.socks.get_mut(key) else {
                return;
            };
            let m = *member;
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let skey = self.socks.vacant_entry().key();
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(skey), Interest::READABLE)
                        .is_err()
                    {
                        continue;
                    }
                    let conn = self.members[m as usize].core.handle_accept(now, peer);
                    self.socks.insert(Sock::Stream {
                        member: m,
                        conn,
                        stream,
                        connecting: false,
                        out: Vec::new(),
                        closing: false,
                        writable_interest: false,
                    });
                    self.by_conn.insert((m, conn), skey);
                    self.drain(m, now);
                    self.read(skey, now, true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.tally.note(format!("client {m}: accept failed: {e}"));
                    return;
                }
            }
        }
    }

    /// Reads what `key` has. A short read empties the socket, and new data
    /// raises a new edge, so the read that would only say `WouldBlock` is
    /// spared — unless `to_the_end` (the peer's FIN was seen, which raises
    /// no new edge; or no event told what is there).
    fn read(&mut self, key: usize, now: Instant, to_the_end: bool) {
        loop {
            let Some(Sock::Stream {
                stream,
                member,
                conn,
                closing,
                ..
            }) = self.socks.get_mut(key)
            else {
                return;
            };
            let (m, conn, closing) = (*member, *conn, *closing);
            match stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.drop_stream(key);
                    if !closing {
                        self.input(m, Input::Closed { conn }, now);
                    }
                    return;
                }
                Ok(n) => {
                    let emptied = n < self.read_buf.len() && !to_the_end;
                    if closing {
                        if emptied {
                            return;
                        }
                        continue;
                    }
                    let core = &mut self.members[m as usize].core;
                    if let Err(e) = core.handle_input(
                        now,
                        Input::Received {
                            conn,
                            data: &self.read_buf[..n],
                        },
                    ) {
                        self.tally.note(format!("client {m}: input refused: {e}"));
                    }
                    self.drain(m, now);
                    if emptied {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_stream(key);
                    if !closing {
                        self.input(m, Input::Closed { conn }, now);
                    }
                    return;
                }
            }
        }
    }

    /// Notifications received by this fleet so far.
    pub fn received(&self) -> u64 {
        self.recorder.received()
    }
}

/// A non-blocking dial of `addr`, from `local` if given (port chosen by the
/// OS), so that the server sees that address and calls back to it [C-1].
fn dial(addr: SocketAddr, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(ip) = local else {
        return TcpStream::connect(addr);
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}
