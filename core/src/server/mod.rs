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
//!          (in cluster mode [D-17]:      handle_claim, notify_session_at, notify_session_run_at,
//!                                        release_session, set_bus_available)
//!        - a timer that expired:        server.handle_timeout(now);
//!     2. drain the outputs:             while let Some(output) = server.poll_output() { match output { .. } }
//!        - Output::Connect   { conn, addr }  dial addr; report Connected / ConnectFailed for conn
//!        - Output::Transmit  { conn, data }  write data (whole frames, in order)
//!        - Output::Close     { conn, kind }  close after writing what was transmitted before;
//!                                            kind: wait for the peer's FIN, or not (CloseKind)
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
//! let mut server = Server::new(ServerConfig::new([1; 32]), Box::new(users), [2; 32]).unwrap();
//!
//! let peer: SocketAddr = "192.0.2.10:50000".parse().unwrap();
//! let conn = server.handle_accept(now, peer);
//! // The server greets first: SERVER_HELLO.
//! assert!(matches!(server.poll_output(), Some(Output::Transmit { conn: c, .. }) if c == conn));
//! assert_eq!(server.poll_output(), None);
//! // Nothing else happens until the handshake timeout.
//! assert!(server.poll_timeout().is_some());
//! ```

mod admission;
mod callback;
mod cluster;
mod config;
mod conn;
mod conn_table;
mod control;
mod deadlines;
mod delivery;
mod dialer;
mod errors;
mod events;
mod failed_logins;
#[cfg(feature = "fuzzing")]
mod fuzz_hooks;
mod idhash;
mod ids;
mod io;
mod lifecycle;
mod limits;
mod login;
mod notify;
mod outbox;
mod session;
mod target;
mod timers;
mod tls;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::io::{BindError, CloseKind, ConnectError};
pub use cluster::{
    ClaimAnswer, ClaimId, ClaimKind, ClaimRefusal, RunSequenced, Sequenced, SessionRecord,
};
pub use config::{
    BackoffConfig, ClusterConfig, LoginLimiterConfig, MAX_HOLD, MIN_LEASE, ServerConfig,
};
pub use errors::{
    ClaimError, ConfigError, InputError, NotifyError, Refused, RunError, SeqError, UnknownSession,
};
pub use events::{CloseReason, Event, LoginFailure, PeerError, Refusal, Undelivered};
pub use outbox::{Input, Output};
pub use session::{DeliveryPath, SessionInfo};
pub use target::{Accepted, NotifyReport, NotifySummary, Target};
pub use users::{AddUserError, MemoryUserStore, UserStore};

use self::admission::Admission;
use self::cluster::ClusterState;
use self::conn::{Conn, ConnKind};
use self::conn_table::ConnTable;
use self::failed_logins::LoginLimiter;
use self::ids::SessionIds;
use self::limits::{IpTable, address_key};
use self::outbox::{Outbox, Pending};
use self::session::{Session, SessionTable};
use self::timers::{TimerHeap, TimerKey};
use crate::rng::CoreRng;
use crate::wire::{ErrorCode, Frame, PROTOCOL_VERSION, ServerHello};
use crate::{ConnId, SessionId};

/// The FNP/1 server state machine. See the [module documentation](self) for
/// the run loop.
//
// Each table keeps its own indexes (`ConnTable`, `SessionTable`, `IpTable`,
// `Admission`, `TimerHeap`). What links one table to another the server's
// methods keep in step, and the fuzzing harness checks after every step
// (`fuzz_assert_consistent`): a control connection that has not logged in is
// counted in `ips` and `admission` (`count_unauthenticated` /
// `forget_unauthenticated`, `remove_conn`); a session is counted in `ips`
// under its peer's IP (opened, resumed from elsewhere, ended); a connection,
// session or address with a deadline has one live heap entry (`arm_*`,
// `prune_timers`).
pub struct Server {
    config: ServerConfig,
    /// `config.lease / 3`: the callback keepalive interval [D-4].
    ping_interval: Duration,
    users: Box<dyn UserStore + Send>,
    rng: CoreRng,
    /// Connections, live and closing, by handle.
    conns: ConnTable,
    /// Sessions by id, by user and by held callback endpoint.
    sessions: SessionTable,
    /// What is counted against each address: sessions, unauthenticated
    /// connections, dials, failed logins [A-5] [B-5] [C-7].
    ips: IpTable,
    limiter: LoginLimiter,
    /// Every deadline of every connection, session and address.
    timers: TimerHeap,
    out: Outbox,
    /// The SERVER_HELLO frame, encoded once (its body is the start of every AuthMessage).
    hello: Vec<u8>,
    /// The rustls configuration for the TLS identity in force [T-1]; new
    /// connections take it, established ones keep theirs.
    tls: Option<Arc<rustls::ServerConfig>>,
    next_ping_nonce: u64,
    /// Control connections before LOGIN_OK, from all addresses, by prefix.
    admission: Admission,
    shutting_down: bool,
    /// `timer_stamp` when `prune_timers` last left the heap's top
    /// live (see `deadlines`).
    timers_pruned_at: Option<u64>,
    /// Cluster mode's state [D-17] (unused without `config.cluster`).
    cluster: ClusterState,
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

impl Server {
    /// A server with no connections and no sessions.
    ///
    /// `seed` drives every random choice (session ids, nonces, dial jitter):
    /// production adapters pass 32 bytes from the OS's CSPRNG; tests pass a
    /// constant to make runs reproducible. It takes no clock: no deadline
    /// exists before the first connection.
    pub fn new(
        config: ServerConfig,
        users: Box<dyn UserStore + Send>,
        seed: [u8; 32],
    ) -> Result<Self, ConfigError> {
        config.validate()?;
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
        let config_tls = config
            .tls
            .as_ref()
            .map(|id| crate::tls::server_config(id, Arc::clone(&config.tls_clock)));
        Ok(Self {
            ping_interval: config.lease / 3,
            limiter: LoginLimiter::new(&config.login_limiter, &config.unknown_user_secret),
            config,
            users,
            rng,
            conns: ConnTable::default(),
            sessions: SessionTable::new(session_ids),
            ips: IpTable::default(),
            timers: TimerHeap::default(),
            out: Outbox::default(),
            hello,
            tls: config_tls,
            next_ping_nonce: 0,
            admission: Admission::default(),
            shutting_down: false,
            timers_pruned_at: None,
            cluster: ClusterState::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Replaces the TLS identity (certificate reload): handshakes that start
    /// from now on present the new identity; established connections keep
    /// the one they were made with [T-2].
    pub fn set_tls_identity(&mut self, identity: crate::tls::ServerIdentity) {
        self.tls = Some(crate::tls::server_config(
            &identity,
            Arc::clone(&self.config.tls_clock),
        ));
        self.config.tls = Some(identity);
    }

    // ----- adapter surface -------------------------------------------------

    /// Registers a control connection the adapter accepted from `peer` and
    /// returns its handle. The server greets with SERVER_HELLO, or refuses
    /// the connection at once (ERROR + close + [`Event::ConnectionRefused`])
    /// when its address failed too many logins or has too many connections
    /// that have not logged in [A-5], or the server is shutting down. When
    /// `max_unauthenticated` is reached, a connection from a prefix holding
    /// fewer than the largest holder gets in, and the largest holder's
    /// oldest is closed to make room [D-15].
    pub fn handle_accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        let conn = self.accept(now, peer);
        // A full admission table makes room by displacing the oldest
        // unauthenticated connection: its timer entry goes stale while the
        // owner count stays the same, so a flood of accepts with no other
        // input would grow the heap without this.
        self.prune_timers();
        conn
    }

    fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        let conn = self.conns.allocate();
        let peer = canonical(peer);
        let ip = peer.ip();
        let key = address_key(ip);
        let entry = self.ips.get(&key);
        let refusal = if self.shutting_down {
            Some(Refusal::ShuttingDown)
        } else if !self.bus_available() {
            Some(Refusal::ClusterUnavailable)
        } else if !self
            .limiter
            .allows_address(entry.and_then(|e| e.failed.as_deref()), now)
        {
            Some(Refusal::TooManyFailedLogins)
        } else if self.ips.unauthenticated_at(key) >= self.config.max_unauthenticated_per_ip {
            Some(Refusal::TooManyUnauthenticated)
        } else if self.admission.total() >= self.config.max_unauthenticated {
            match self.admission.displaceable_for(ip) {
                Some(oldest) => {
                    self.displace(now, oldest);
                    None
                }
                None => Some(Refusal::Busy),
            }
        } else {
            None
        };
        if let Some(reason) = refusal {
            let (code, message) = match reason {
                Refusal::ShuttingDown => (ErrorCode::ShuttingDown, "the server is shutting down"),
                // [D-17]: a temporary refusal; the client tries again.
                Refusal::ClusterUnavailable => (
                    ErrorCode::ShuttingDown,
                    "the cluster bus is unreachable; try again",
                ),
                Refusal::TooManyFailedLogins => (
                    ErrorCode::LimitExceeded,
                    "too many failed logins from this address; try again later",
                ),
                Refusal::Busy => (
                    ErrorCode::LimitExceeded,
                    "too many connections are logging in; try again later",
                ),
                _ => (
                    ErrorCode::LimitExceeded,
                    "too many connections from this address have not logged in",
                ),
            };
            tracing::debug!(%conn, %peer, %reason, "refusing connection");
            // Over TLS a plaintext ERROR would read as "not TLS"; a refused
            // peer is not worth a handshake, so it is just closed [T-10].
            if self.tls.is_none()
                && let Ok(data) = Frame::error(code, message).to_vec()
            {
                self.out.push(Output::Transmit { conn, data });
            }
            // Refused before it had a session: closed at once (see `CloseKind`).
            self.out.push(Output::Close {
                conn,
                kind: CloseKind::Prompt,
            });
            self.out
                .event(Event::ConnectionRefused { conn, peer, reason });
            return conn;
        }
        tracing::debug!(%conn, %peer, "control connection accepted");
        self.count_unauthenticated(ip, conn);
        let mut c = Conn::control(peer, now + self.config.handshake_timeout);
        c.write_raw(conn, &self.hello, &mut self.out);
        self.conns.insert(conn, c);
        if !self.start_tls(now, conn) {
            return conn;
        }
        self.arm_conn(conn);
        conn
    }

    /// Feeds one input from the adapter. See [`Input`].
    ///
    /// Inputs for a connection the server already closed are ignored;
    /// `Err` means the adapter broke the contract (a handle this server never
    /// issued, or an input that cannot happen in the connection's state).
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), InputError> {
        let Some(conn) = input.conn() else {
            // Bound / BindFailed: the server never asks for a listener.
            return Err(InputError::NotAListener);
        };
        if !self.conns.was_issued(conn) {
            return Err(InputError::UnknownConnection(conn));
        }
        if let Input::Received { data, .. } = input {
            // The hottest input: `on_received` looks the connection up once
            // for these checks and the frames.
            let result = self.on_received(now, conn, data);
            self.prune_timers();
            return result;
        }
        let Some(c) = self.conns.get(conn) else {
            return Ok(()); // closed by us; the input raced with Close
        };
        let connecting = c.is_connecting();
        match input {
            Input::Connected { .. } if !connecting => return Err(InputError::NotADial(conn)),
            Input::ConnectFailed { .. } if !connecting => return Err(InputError::NotADial(conn)),
            _ => {}
        }
        match input {
            Input::Connected { .. } => self.on_connected(now, conn),
            Input::ConnectFailed { error, .. } => self.on_connect_failed(now, conn, error),
            Input::Received { .. } => {} // taken above
            Input::Closed { .. } => self.on_closed(now, conn),
            // Answered above: these carry no connection.
            Input::Bound { .. } | Input::BindFailed { .. } => {}
        }
        self.prune_timers();
        Ok(())
    }

    /// The next thing for the adapter to do, or `None` when there is
    /// nothing. Drain it after every call that feeds the server.
    #[inline]
    pub fn poll_output(&mut self) -> Option<Output> {
        // Inlined for the last call of a drain, which finds nothing.
        if self.out.is_empty() {
            return None;
        }
        self.poll_pending()
    }

    fn poll_pending(&mut self) -> Option<Output> {
        while let Some(pending) = self.out.pop() {
            match pending {
                Pending::Ready(output) => return Some(output),
                Pending::Flush(conn) => {
                    let data = self.conns.take_output(conn, &mut self.out);
                    if !data.is_empty() {
                        return Some(Output::Transmit { conn, data });
                    }
                }
            }
        }
        None
    }

    /// Hands back the buffer of a written [`Output::Transmit`], so that the
    /// next frames reuse it instead of allocating. Optional: a dropped
    /// buffer is only a missed saving.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.out.recycle(buf);
    }

    /// When [`Server::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|(at, _)| at)
    }

    /// Runs everything that is due at `now`: handshake timeouts [C-9] [B-7],
    /// lease expiry [C-5], dial retries [B-5], callback keepalives and dead
    /// callbacks [D-4].
    pub fn handle_timeout(&mut self, now: Instant) {
        // Before this call's own outputs, while the queue is (usually)
        // drained: a broadcast's room goes once a lease passes without one.
        self.out.trim_if_idle(now, self.config.lease);
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Conn(id) => {
                    let Some(c) = self.conns.get_mut(id) else {
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
                    let Some(s) = self.sessions.get_mut(sid) else {
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
        self.sessions.iter().map(Session::info)
    }

    /// A snapshot of one session.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        self.sessions.get(id).map(Session::info)
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
        if !self.sessions.contains(id) {
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
    ///
    /// In cluster mode the sessions do not end: each is released
    /// ([`Server::release_session`]: closed without BYE,
    /// [`Event::SessionReleased`]) so that its client resumes on another
    /// server [D-17].
    pub fn shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        tracing::debug!(sessions = self.sessions.len(), "server shutting down");
        self.shutting_down = true;
        let clustered = self.config.cluster.is_some();
        for id in self.sessions.ids() {
            if clustered {
                self.release(now, id);
            } else {
                self.end_session_with(now, id, CloseReason::Shutdown);
            }
        }
        for conn in self.conns.handles_in_order() {
            if matches!(
                self.conns.get(conn).map(|c| &c.kind),
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
        self.admission.clear();
        self.cluster.claims.clear();
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
}
