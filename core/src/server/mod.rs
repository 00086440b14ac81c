//! The server side of FNP/1 as a sans-IO state machine.
//!
//! A [`Server`] owns every session and connection of one fax server. It does
//! no I/O: an adapter (a runtime such as `faxnotify-mio`, or a test) accepts
//! TCP connections, dials, reads and writes on its behalf, and feeds it the
//! current time. It is built to hold tens of thousands of sessions: every
//! input, timer and notification costs O(1) or O(log n) in the number of
//! sessions, all deadlines live in one heap, and an idle session costs well
//! under 2 KiB of memory (see `benches/server_memory.rs`).
//!
//! # Run loop
//!
//! ```text
//! loop {
//!     1. feed one thing in:
//!        - an accepted TCP connection:  let conn = server.handle_accept(now, peer);
//!        - a dial outcome, bytes read, or a close:
//!                                       server.handle_input(now, Input::Received { conn, data })?;
//!        - the application's work:      server.notify(now, target, &notification)?; end_session, shutdown
//!        - a timer that expired:        server.handle_timeout(now);
//!     2. drain the outputs:             while let Some(output) = server.poll_output() { match output { .. } }
//!        - Output::Connect   { conn, addr }  dial addr; report Connected / ConnectFailed for conn
//!        - Output::Transmit  { conn, data }  write data (whole frames, in order)
//!        - Output::Close     { conn }        close after writing what was transmitted before
//!        - Output::Event(event)              hand to the application
//!     3. sleep until server.poll_timeout() (or until I/O or the application wakes you),
//!        then call handle_timeout(now) if that time has come.
//! }
//! ```
//!
//! Always drain [`Server::poll_output`] after any `handle_*` or application
//! call, before calling [`Server::poll_timeout`]: new outputs can move the
//! next deadline. Time comes only from the `now` arguments; randomness
//! (session ids, nonces, dial jitter) only from the seed given to
//! [`Server::new`], so the same inputs always produce the same outputs.
//!
//! # Errors
//!
//! A misbehaving peer never makes a method fail or panic: it gets an ERROR
//! frame, its connection is closed, and an [`Event`] tells the application.
//! `Err` results are reserved for API misuse ([`InputError`]) and
//! application-level refusals ([`Refused`], [`NotifyError`], [`UnknownSession`]).
//! Inputs for a connection the server has already closed are ignored (they
//! race with [`Output::Close`]).
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use faxnotify_core::server::{MemoryUserStore, Output, Server, ServerConfig};
//! use faxnotify_core::wire::Role;
//!
//! let mut users = MemoryUserStore::new();
//! users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User).unwrap();
//! let now = Instant::now();
//! let mut server = Server::new(ServerConfig::new([1; 32]), Box::new(users), [2; 32], now).unwrap();
//!
//! let peer: SocketAddr = "192.0.2.10:50000".parse().unwrap();
//! let conn = server.handle_accept(now, peer);
//! // The server greets first: SERVER_HELLO.
//! assert!(matches!(server.poll_output(), Some(Output::Transmit { conn: c, .. }) if c == conn));
//! assert_eq!(server.poll_output(), None);
//! // Nothing else happens until the handshake timeout.
//! assert!(server.poll_timeout().is_some());
//! ```

mod callback;
mod config;
mod conn;
mod control;
mod delivery;
mod dialer;
mod errors;
mod events;
mod ids;
mod limits;
mod login;
mod notify;
mod outbox;
mod session;
mod target;
mod timers;
mod users;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

pub use config::{BackoffConfig, LoginLimiterConfig, MIN_LEASE, ServerConfig};
pub use errors::{ConfigError, InputError, NotifyError, Refused, UnknownSession};
pub use events::{CloseReason, Event, LoginFailure, PeerError, Refusal, Undelivered};
pub use outbox::{Input, Output};
pub use session::{DeliveryPath, SessionInfo};
pub use target::{Accepted, NotifyReport, Target};
pub use users::{AddUserError, MemoryUserStore, UserStore};

use self::conn::{CallbackPhase, Conn, ConnKind};
use self::ids::SessionIds;
use self::limits::{IpTable, LoginLimiter};
use self::outbox::{Outbox, Pending};
use self::session::{Dial, Session};
use self::timers::{TimerHeap, TimerKey};
use crate::conn::ConnIdAllocator;
use crate::rng::CoreRng;
use crate::wire::{ByeReason, ErrorCode, Frame, PROTOCOL_VERSION, ServerHello};
use crate::{ConnId, SessionId};

/// The FNP/1 server state machine. See the [module documentation](self) for
/// the run loop.
pub struct Server {
    config: ServerConfig,
    /// `config.lease / 3`: the callback keepalive interval [D-4].
    ping_interval: Duration,
    users: Box<dyn UserStore + Send>,
    rng: CoreRng,
    session_ids: SessionIds,
    conn_ids: ConnIdAllocator,
    /// The highest ConnId issued: anything above was never issued.
    last_conn: u64,
    conns: HashMap<ConnId, Conn>,
    /// Sessions in a slab (dense, and iterated in a deterministic order),
    /// indexed by id.
    sessions: Slab<Session>,
    session_index: HashMap<SessionId, usize>,
    /// Sessions per prepared user name, for targeting and [C-7].
    by_user: HashMap<Arc<str>, Vec<SessionId>>,
    ips: IpTable,
    limiter: LoginLimiter,
    /// Which session holds each callback endpoint [C-4].
    endpoints: HashMap<SocketAddr, SessionId>,
    timers: TimerHeap,
    out: Outbox,
    /// The SERVER_HELLO frame, encoded once (its body is the start of every AuthMessage).
    hello: Vec<u8>,
    next_ping_nonce: u64,
    shutting_down: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("sessions", &self.sessions.len())
            .field("connections", &self.conns.len())
            .field("addresses", &self.ips.len())
            .field("timers", &self.timers.len())
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

/// IPv4-mapped IPv6 addresses become IPv4 [C-1].
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Keeps ERROR messages within a `str` field, on a character boundary.
fn bounded(mut message: String) -> String {
    const LIMIT: usize = 512;
    if message.len() > LIMIT {
        let mut end = LIMIT;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}

impl Server {
    /// A server with no connections and no sessions.
    ///
    /// `seed` drives every random choice (session ids, nonces, dial jitter):
    /// production adapters pass 32 bytes from the OS's CSPRNG; tests pass a
    /// constant to make runs reproducible. `now` is the adapter's clock.
    pub fn new(
        config: ServerConfig,
        users: Box<dyn UserStore + Send>,
        seed: [u8; 32],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let _ = now; // no deadlines exist before the first connection
        let mut rng = CoreRng::from_seed(seed);
        let session_ids = SessionIds::new(&mut rng);
        let hello = Frame::ServerHello(ServerHello {
            version_min: PROTOCOL_VERSION,
            version_max: PROTOCOL_VERSION,
            caps: config.caps,
            server_name: config.server_name.as_str().into(),
        })
        .to_vec()
        .map_err(|_| ConfigError::ServerNameTooLong {
            len: config.server_name.len(),
        })?;
        Ok(Self {
            ping_interval: config.lease / 3,
            limiter: LoginLimiter::new(&config.login_limiter),
            config,
            users,
            rng,
            session_ids,
            conn_ids: ConnIdAllocator::default(),
            last_conn: 0,
            conns: HashMap::new(),
            sessions: Slab::new(),
            session_index: HashMap::new(),
            by_user: HashMap::new(),
            ips: IpTable::default(),
            endpoints: HashMap::new(),
            timers: TimerHeap::default(),
            out: Outbox::default(),
            hello,
            next_ping_nonce: 0,
            shutting_down: false,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    // ----- adapter surface -------------------------------------------------

    /// Registers a control connection the adapter accepted from `peer` and
    /// returns its handle. The server greets with SERVER_HELLO, or refuses
    /// the connection at once (ERROR + close + [`Event::ConnectionRefused`])
    /// when its address failed too many logins or has too many connections
    /// that have not logged in [A-5], or the server is shutting down.
    pub fn handle_accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        let conn = self.allocate_conn();
        let peer = canonical(peer);
        let ip = peer.ip();
        let entry = self.ips.get(&ip);
        let refusal = if self.shutting_down {
            Some(Refusal::ShuttingDown)
        } else if !self
            .limiter
            .allows(entry.and_then(|e| e.failures_until), now)
        {
            Some(Refusal::TooManyFailedLogins)
        } else if entry.map_or(0, |e| e.unauthenticated) >= self.config.max_unauthenticated_per_ip {
            Some(Refusal::TooManyUnauthenticated)
        } else {
            None
        };
        if let Some(reason) = refusal {
            let (code, message) = match reason {
                Refusal::ShuttingDown => (ErrorCode::ShuttingDown, "the server is shutting down"),
                Refusal::TooManyFailedLogins => (
                    ErrorCode::LimitExceeded,
                    "too many failed logins from this address; try again later",
                ),
                _ => (
                    ErrorCode::LimitExceeded,
                    "too many connections from this address have not logged in",
                ),
            };
            tracing::debug!(%conn, %peer, %reason, "refusing connection");
            if let Ok(data) = Frame::error(code, message).to_vec() {
                self.out.push(Output::Transmit { conn, data });
            }
            self.out.push(Output::Close { conn });
            self.out
                .event(Event::ConnectionRefused { conn, peer, reason });
            return conn;
        }
        tracing::debug!(%conn, %peer, "control connection accepted");
        self.ips.entry(ip).unauthenticated += 1;
        let mut c = Conn::control(peer, now + self.config.handshake_timeout);
        c.write_raw(conn, &self.hello, &mut self.out);
        self.conns.insert(conn, c);
        self.arm_conn(conn);
        conn
    }

    /// Feeds one input from the adapter. See [`Input`].
    ///
    /// Inputs for a connection the server already closed are ignored;
    /// `Err` means the adapter broke the contract (a handle this server never
    /// issued, or an input that cannot happen in the connection's state).
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), InputError> {
        let conn = match input {
            Input::Connected { conn }
            | Input::ConnectFailed { conn }
            | Input::Received { conn, .. }
            | Input::Closed { conn } => conn,
        };
        if conn.into_raw() == 0 || conn.into_raw() > self.last_conn {
            return Err(InputError::UnknownConnection(conn));
        }
        let Some(c) = self.conns.get(&conn) else {
            return Ok(()); // closed by us; the input raced with Close
        };
        let connecting = matches!(
            &c.kind,
            ConnKind::Callback(cb) if matches!(cb.phase, CallbackPhase::Connecting)
        );
        match input {
            Input::Connected { .. } if !connecting => return Err(InputError::NotADial(conn)),
            Input::ConnectFailed { .. } if !connecting => return Err(InputError::NotADial(conn)),
            Input::Received { .. } if connecting => return Err(InputError::NotConnected(conn)),
            _ => {}
        }
        match input {
            Input::Connected { .. } => self.on_connected(now, conn),
            Input::ConnectFailed { .. } => self.on_connect_failed(now, conn),
            Input::Received { data, .. } => self.on_received(now, conn, data),
            Input::Closed { .. } => self.on_closed(now, conn),
        }
        self.prune_timers();
        Ok(())
    }

    /// The next thing for the adapter to do, or `None` when there is
    /// nothing. Drain it after every call that feeds the server.
    pub fn poll_output(&mut self) -> Option<Output> {
        while let Some(pending) = self.out.pop() {
            match pending {
                Pending::Ready(output) => return Some(output),
                Pending::Flush(conn) => {
                    if let Some(c) = self.conns.get_mut(&conn)
                        && !c.out.is_empty()
                    {
                        let data = std::mem::take(&mut c.out);
                        return Some(Output::Transmit { conn, data });
                    }
                    // Closed since: its bytes left with its Close.
                }
            }
        }
        None
    }

    /// When [`Server::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|(at, _)| at)
    }

    /// Runs everything that is due at `now`: handshake timeouts [C-9] [B-7],
    /// lease expiry [C-5], dial retries [B-5], callback keepalives and dead
    /// callbacks [D-4].
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Conn(id) => {
                    let Some(c) = self.conns.get_mut(&id) else {
                        continue;
                    };
                    if c.timer != Some(at) {
                        continue; // superseded by an earlier entry
                    }
                    c.timer = None;
                    self.on_conn_timer(now, id);
                    self.arm_conn(id);
                }
                TimerKey::Session(sid) => {
                    let Some(s) = self.session_mut(sid) else {
                        continue;
                    };
                    if s.timer != Some(at) {
                        continue;
                    }
                    s.timer = None;
                    self.on_session_timer(now, sid);
                    self.arm_session(sid);
                }
                TimerKey::Ip(ip) => self.on_ip_timer(now, ip, at),
            }
        }
        self.prune_timers();
    }

    // ----- application surface ---------------------------------------------

    /// A snapshot of every live session (attached or detached), in a stable order.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.iter().map(|(_, s)| s.info())
    }

    /// A snapshot of one session.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        self.session_ref(id).map(Session::info)
    }

    /// The number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The number of open connections (control and callback, dials included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Ends a session: BYE "ended by server" on its connections, its
    /// unacknowledged notifications reported as [`Event::Undelivered`] [C-10].
    pub fn end_session(&mut self, now: Instant, id: SessionId) -> Result<(), UnknownSession> {
        if !self.session_index.contains_key(&id) {
            return Err(UnknownSession(id));
        }
        self.end_session_with(now, id, CloseReason::EndedByServer);
        self.prune_timers();
        Ok(())
    }

    /// Shuts down: every session ends with BYE shutdown (undelivered
    /// notifications reported), connections that have not logged in get
    /// ERROR SHUTTING_DOWN, and later connections are refused. Calling it
    /// again does nothing.
    pub fn shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        tracing::debug!(sessions = self.sessions.len(), "server shutting down");
        self.shutting_down = true;
        let ids: Vec<SessionId> = self.sessions.iter().map(|(_, s)| s.id).collect();
        for id in ids {
            self.end_session_with(now, id, CloseReason::Shutdown);
        }
        let mut rest: Vec<ConnId> = self.conns.keys().copied().collect();
        rest.sort_unstable();
        for conn in rest {
            if matches!(
                self.conns.get(&conn).map(|c| &c.kind),
                Some(ConnKind::Control(_))
            ) {
                self.send(
                    now,
                    conn,
                    &Frame::error(ErrorCode::ShuttingDown, "the server is shutting down"),
                );
            }
            self.remove_conn(now, conn, true);
        }
        self.timers.clear();
        self.ips.clear();
    }

    /// Whether [`Server::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Whether the server was shut down and has nothing left to do: every
    /// connection is closed and every output has been polled.
    pub fn is_shut_down(&self) -> bool {
        self.shutting_down && self.conns.is_empty() && self.out.is_empty()
    }

    /// Whether the server holds no session, no connection and no pending output.
    pub fn is_idle(&self) -> bool {
        self.sessions.is_empty() && self.conns.is_empty() && self.out.is_empty()
    }

    // ----- shared internals ------------------------------------------------

    fn allocate_conn(&mut self) -> ConnId {
        let conn = self.conn_ids.allocate();
        self.last_conn = conn.into_raw();
        conn
    }

    fn session_ref(&self, id: SessionId) -> Option<&Session> {
        self.session_index.get(&id).map(|&k| &self.sessions[k])
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.session_index.get(&id).map(|&k| &mut self.sessions[k])
    }

    /// Writes a frame to a connection (nothing if it is closed).
    fn send(&mut self, now: Instant, conn: ConnId, frame: &Frame<'_>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.write(conn, frame, now, &mut self.out);
        }
    }

    /// Forgets a connection and undoes what was counted for it; with `emit`,
    /// tells the adapter to close it after its pending bytes. Consequences
    /// for its session are the caller's business.
    fn remove_conn(&mut self, now: Instant, conn: ConnId, emit: bool) -> Option<Conn> {
        let mut c = self.conns.remove(&conn)?;
        if emit {
            if !c.out.is_empty() {
                let data = std::mem::take(&mut c.out);
                self.out.push(Output::Transmit { conn, data });
            }
            self.out.push(Output::Close { conn });
        }
        match &c.kind {
            ConnKind::Control(ctl) if !ctl.is_authenticated() => {
                let ip = ctl.peer.ip();
                if let Some(e) = self.ips.get_mut(&ip) {
                    e.unauthenticated = e.unauthenticated.saturating_sub(1);
                }
                self.ips.release(&ip, now);
            }
            ConnKind::Callback(cb) if matches!(cb.phase, CallbackPhase::Connecting) => {
                self.release_dial_slot(now, cb.endpoint.ip());
            }
            _ => {}
        }
        Some(c)
    }

    /// Writes an ERROR (if the server is the sender), reports it, and closes
    /// the connection [F-6]. Returns the connection for the caller to deal
    /// with the consequences.
    fn close_with_error(
        &mut self,
        now: Instant,
        conn: ConnId,
        error: &PeerError,
        report: bool,
    ) -> Option<Conn> {
        let c = self.conns.get(&conn)?;
        let (peer, session) = (c.peer(), c.session());
        if let PeerError::Sent { code, message } = error {
            tracing::debug!(%conn, %peer, %code, message, "closing with ERROR");
            self.send(now, conn, &Frame::error(*code, message.as_str()));
        } else {
            tracing::debug!(%conn, %peer, %error, "peer sent ERROR");
        }
        if report {
            self.out.event(Event::ProtocolError {
                conn,
                peer,
                session,
                error: error.clone(),
            });
        }
        self.remove_conn(now, conn, true)
    }

    /// The peer broke a rule (or sent ERROR): ERROR, close, event, and the
    /// consequences — the session ends if this was its control connection
    /// after LOGIN_OK [F-6]; a callback is dialled again later [B-5].
    fn abort_conn(&mut self, now: Instant, conn: ConnId, error: PeerError) {
        let Some(c) = self.close_with_error(now, conn, &error, true) else {
            return;
        };
        match c.kind {
            ConnKind::Control(ctl) => {
                if let Some(sid) = ctl.session() {
                    self.end_session_with(now, sid, CloseReason::ProtocolError(error));
                }
            }
            ConnKind::Callback(cb) => self.callback_lost(now, cb.session, conn, true),
        }
    }

    /// A rule broken by the peer, with the ERROR the server sends.
    fn violation(code: ErrorCode, message: impl Into<String>) -> PeerError {
        PeerError::Sent {
            code,
            message: bounded(message.into()),
        }
    }

    /// Ends a session [C-10]: BYE with the matching reason on whichever of
    /// its connections are open (an ERROR on the control connection when the
    /// session dies of a protocol error elsewhere), every unacknowledged
    /// notification reported, then [`Event::SessionClosed`].
    fn end_session_with(&mut self, now: Instant, sid: SessionId, reason: CloseReason) {
        let Some(key) = self.session_index.remove(&sid) else {
            return;
        };
        let mut s = self.sessions.remove(key);
        tracing::debug!(session = %sid, user = %s.user, %reason, "session ends");
        if let Some(list) = self.by_user.get_mut(&s.user) {
            list.retain(|&id| id != sid);
            if list.is_empty() {
                self.by_user.remove(&s.user);
            }
        }
        let ip = s.peer.ip();
        if let Some(e) = self.ips.get_mut(&ip) {
            e.sessions = e.sessions.saturating_sub(1);
        }
        self.ips.release(&ip, now);
        if let Some(endpoint) = s.held_endpoint
            && self.endpoints.get(&endpoint) == Some(&sid)
        {
            self.endpoints.remove(&endpoint);
        }

        let bye = |reason: ByeReason| Frame::Bye { reason };
        let (control_frame, callback_frame) = match &reason {
            CloseReason::Logout => (bye(ByeReason::Logout), bye(ByeReason::Logout)),
            CloseReason::LeaseExpired => {
                (bye(ByeReason::LeaseExpired), bye(ByeReason::LeaseExpired))
            }
            CloseReason::Replaced { .. } => (bye(ByeReason::Replaced), bye(ByeReason::Replaced)),
            CloseReason::EndedByServer => {
                (bye(ByeReason::EndedByServer), bye(ByeReason::EndedByServer))
            }
            CloseReason::Shutdown => (bye(ByeReason::Shutdown), bye(ByeReason::Shutdown)),
            // [F-6]: "ends the session exactly as LOGOUT does".
            CloseReason::ProtocolError(e) => (
                Frame::error(e.code(), e.message().to_owned()),
                bye(ByeReason::Logout),
            ),
        };
        let in_progress = match s.dial {
            Dial::InProgress(conn) => Some(conn),
            _ => None,
        };
        let active = match s.path {
            DeliveryPath::Callback(conn) => Some(conn),
            _ => None,
        };
        for cb in active.into_iter().chain(in_progress) {
            let after_hello = matches!(
                self.conns.get(&cb).map(|c| &c.kind),
                Some(ConnKind::Callback(c)) if c.after_hello()
            );
            if after_hello {
                self.send(now, cb, &callback_frame);
            }
            self.remove_conn(now, cb, true);
        }
        let dial = std::mem::replace(&mut s.dial, Dial::Idle);
        self.cancel_dial(now, sid, dial, s.callback_endpoint());
        if let Some(control) = s.control {
            self.send(now, control, &control_frame);
            self.remove_conn(now, control, true);
        }
        let notifications = s.delivery.take_undelivered();
        if !notifications.is_empty() {
            self.out.event(Event::Undelivered {
                session: sid,
                user: Arc::clone(&s.user),
                notifications,
            });
        }
        self.out.event(Event::SessionClosed {
            session: sid,
            user: s.user,
            reason,
        });
    }

    /// Closes a dial or handshake in progress (no BYE: the session goes on,
    /// or its caller sends one) or leaves the destination's dial queue.
    fn cancel_dial(
        &mut self,
        now: Instant,
        sid: SessionId,
        dial: Dial,
        endpoint: Option<SocketAddr>,
    ) {
        match dial {
            Dial::InProgress(conn) => {
                self.remove_conn(now, conn, true);
            }
            Dial::Waiting => {
                if let Some(endpoint) = endpoint {
                    let ip = endpoint.ip();
                    if let Some(e) = self.ips.get_mut(&ip) {
                        e.dials_waiting.retain(|&id| id != sid);
                    }
                    self.ips.release(&ip, now);
                }
            }
            Dial::Idle | Dial::Backoff(_) => {}
        }
    }

    /// Closes the session's callback connections and stops dialling; the
    /// path is gone until a new ADVERTISE or handshake.
    fn drop_callbacks(&mut self, now: Instant, key: usize) {
        let s = &mut self.sessions[key];
        let (sid, endpoint) = (s.id, s.callback_endpoint());
        let dial = std::mem::replace(&mut s.dial, Dial::Idle);
        let path = std::mem::replace(&mut s.path, DeliveryPath::None);
        s.dial_failures = 0;
        if let DeliveryPath::Callback(cb) = path {
            self.remove_conn(now, cb, true);
        }
        self.cancel_dial(now, sid, dial, endpoint);
    }

    /// The control connection closed: the session stays, detached, until it
    /// is resumed or its lease runs out [C-5]. Its callback is closed and
    /// delivery stops.
    fn detach(&mut self, now: Instant, sid: SessionId) {
        let Some(&key) = self.session_index.get(&sid) else {
            return;
        };
        self.drop_callbacks(now, key);
        let s = &mut self.sessions[key];
        s.control = None;
        s.reported = None;
        let user = Arc::clone(&s.user);
        tracing::debug!(session = %sid, "session detached");
        self.out
            .event(Event::SessionDetached { session: sid, user });
    }

    fn on_closed(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.remove_conn(now, conn, false) else {
            return;
        };
        match c.kind {
            ConnKind::Control(ctl) => {
                if let Some(sid) = ctl.session()
                    && self
                        .session_ref(sid)
                        .is_some_and(|s| s.control == Some(conn))
                {
                    self.detach(now, sid);
                }
            }
            ConnKind::Callback(cb) => {
                // A working callback that dies is dialled again at once [D-8];
                // a dial or handshake that dies is a failure [B-5].
                let failed = !matches!(cb.phase, CallbackPhase::Ready);
                self.callback_lost(now, cb.session, conn, failed);
            }
        }
    }

    fn on_received(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // The frames borrow the decoder, and handling them needs `self`.
        let mut decoder = std::mem::take(&mut c.decoder);
        let mut input = data;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    tracing::trace!(%conn, %frame, "received");
                    self.on_frame(now, conn, frame);
                    match self.conns.get(&conn) {
                        // The limit may have changed with LOGIN_OK [F-1].
                        Some(c) => decoder.set_max_frame_len(c.frame_limit()),
                        None => return, // closed by that frame; the rest is moot
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    let error = Self::violation(err.code(), err.to_string());
                    self.abort_conn(now, conn, error);
                    return;
                }
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.decoder = decoder;
        }
    }

    fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame<'_>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        match &c.kind {
            ConnKind::Control(ctl) => match ctl.session() {
                None => self.on_login_frame(now, conn, frame),
                Some(sid) => {
                    self.on_control_frame(now, conn, sid, frame);
                    self.arm_session(sid);
                }
            },
            ConnKind::Callback(cb) => {
                let sid = cb.session;
                self.on_callback_frame(now, conn, frame);
                self.arm_session(sid);
            }
        }
        self.arm_conn(conn);
    }

    // ----- timers ----------------------------------------------------------

    fn arm_conn(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let wanted = match &c.kind {
            ConnKind::Control(ctl) => ctl.handshake_deadline,
            ConnKind::Callback(cb) => cb.next_deadline(self.config.lease, self.ping_interval),
        };
        self.timers.arm(&mut c.timer, wanted, TimerKey::Conn(id));
    }

    fn arm_session(&mut self, sid: SessionId) {
        let Some(&key) = self.session_index.get(&sid) else {
            return;
        };
        let s = &mut self.sessions[key];
        let wanted = s.next_deadline();
        self.timers
            .arm(&mut s.timer, Some(wanted), TimerKey::Session(sid));
    }

    fn arm_ip(&mut self, ip: IpAddr) {
        let Some(e) = self.ips.get_mut(&ip) else {
            return;
        };
        let wanted = e.failures_until;
        self.timers.arm(&mut e.timer, wanted, TimerKey::Ip(ip));
    }

    /// Drops stale entries from the top of the heap so that
    /// [`Server::poll_timeout`] names a time when something may be due.
    fn prune_timers(&mut self) {
        while let Some((at, key)) = self.timers.peek() {
            let live = match key {
                TimerKey::Conn(id) => self.conns.get(&id).is_some_and(|c| c.timer == Some(at)),
                TimerKey::Session(sid) => {
                    self.session_ref(sid).is_some_and(|s| s.timer == Some(at))
                }
                TimerKey::Ip(ip) => self.ips.get(&ip).is_some_and(|e| e.timer == Some(at)),
            };
            if live {
                break;
            }
            self.timers.pop();
        }
    }

    fn on_conn_timer(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match &mut c.kind {
            ConnKind::Control(ctl) => {
                if ctl.handshake_deadline.is_some_and(|d| d <= now) {
                    let secs = self.config.handshake_timeout.as_secs_f64();
                    let error = Self::violation(
                        ErrorCode::Timeout,
                        format!("handshake not completed within {secs} s"),
                    );
                    self.abort_conn(now, id, error);
                }
            }
            ConnKind::Callback(cb) => match cb.phase {
                CallbackPhase::Connecting => {
                    if cb.deadline.is_some_and(|d| d <= now) {
                        let sid = cb.session;
                        tracing::debug!(conn = %id, "callback dial timed out");
                        self.remove_conn(now, id, true);
                        self.callback_lost(now, sid, id, true);
                    }
                }
                CallbackPhase::AwaitChallenge | CallbackPhase::AwaitReady(_) => {
                    if cb.deadline.is_some_and(|d| d <= now) {
                        let secs = self.config.callback_handshake_timeout.as_secs_f64();
                        let error = Self::violation(
                            ErrorCode::Timeout,
                            format!("callback handshake not completed within {secs} s"),
                        );
                        self.abort_conn(now, id, error);
                    }
                }
                CallbackPhase::Ready => {
                    if cb.last_received + self.config.lease <= now {
                        // A dead callback [D-4]: close it and dial again [D-8].
                        let sid = cb.session;
                        tracing::debug!(conn = %id, "callback silent for a lease; redialling");
                        self.remove_conn(now, id, true);
                        self.callback_lost(now, sid, id, false);
                    } else if cb.last_sent + self.ping_interval <= now {
                        self.next_ping_nonce = self.next_ping_nonce.wrapping_add(1);
                        let nonce = self.next_ping_nonce;
                        self.send(now, id, &Frame::Ping { nonce });
                    }
                }
            },
        }
    }

    fn on_session_timer(&mut self, now: Instant, sid: SessionId) {
        let Some(s) = self.session_mut(sid) else {
            return;
        };
        if s.lease_deadline <= now {
            self.end_session_with(now, sid, CloseReason::LeaseExpired);
            return;
        }
        if let Dial::Backoff(at) = s.dial
            && at <= now
        {
            s.dial = Dial::Idle;
            self.start_dial(now, sid);
        }
    }

    fn on_ip_timer(&mut self, now: Instant, ip: IpAddr, at: Instant) {
        let Some(e) = self.ips.get_mut(&ip) else {
            return;
        };
        if e.timer != Some(at) {
            return;
        }
        e.timer = None;
        if e.failures_until.is_some_and(|t| t <= now) {
            e.failures_until = None;
        }
        self.ips.release(&ip, now);
        self.arm_ip(ip);
    }
}
