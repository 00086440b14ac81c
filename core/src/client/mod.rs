//! The FNP/1 client as a sans-IO state machine.
//!
//! A [`Client`] logs in to a fax server over a *control* connection,
//! advertises a callback port, accepts the server's *callback* connections on
//! it, and hands every notification to the application exactly once and in
//! order. It does no I/O and reads no clock: an *adapter* (a runtime such as
//! `faxnotify-mio`, or a test) owns the sockets and timers, feeds what
//! happens into the client and carries out what the client asks for.
//!
//! [`Client`] documents the run loop an adapter follows.
//!
//! # Life of a client
//!
//! 1. **Listen.** The client first asks for its callback listener
//!    ([`Output::Listen`]) on the address its [`ListenAddress`] gives (by
//!    default the local address of the route to the server, which the
//!    server dials [C-1]; [`ClientConfig::local_ip`] carries it), with the
//!    port its [`ListenPolicy`] gives: 0 for
//!    `dynamic`, each port of a `range` in turn until one is free, or the
//!    `fixed` port. A fixed port in use, or a range with no free port,
//!    stops the client before any network traffic ([`StopReason`]). The
//!    listener stays for the client's whole life, across reconnects. With
//!    the `none` policy there is no listener: the client dials the server
//!    at once, advertises port 0 and takes delivery over the backchannel.
//! 2. **Log in.** It dials the server and runs SERVER_HELLO → LOGIN →
//!    LOGIN_CHALLENGE → LOGIN_PROOF → LOGIN_OK, verifying the server's
//!    signature over the whole handshake [A-2], then ADVERTISE →
//!    ADVERTISE_OK, and emits [`Event::LoggedIn`].
//! 3. **Deliver.** The server dials the callback port; the client sends
//!    CB_CHALLENGE, verifies CB_HELLO [B-1], answers CB_READY with the last
//!    seq it delivered, then delivers NOTIFYs ([`Event::Notification`]) and
//!    acknowledges them, one cumulative ACK per read. NOTIFY on the control
//!    connection is accepted while the server announces the backchannel [D-2].
//! 4. **Stay alive.** It sends PING after a third of the lease without
//!    sending on control [D-4], and considers the connection gone when that
//!    PING is unanswered a third of a lease later [D-18] (or after a lease
//!    of silence [C-5]), early enough to resume before the server's lease
//!    ends. When the control connection is lost it reconnects
//!    with backoff and resumes the session [C-6]; if the resume is refused
//!    it logs in anew and emits [`Event::NotificationsMayHaveBeenMissed`].
//!    With several [`ClientConfig::servers`] every failed or lost connection
//!    moves it to the next one, round robin, under the same backoff (never
//!    reset by the move, only by a completed login), so the session resumes
//!    on another server of a cluster [D-17]; [`Event::LoggedIn`] and
//!    [`Event::ConnectionLost`] name the servers.
//! 5. **End.** [`Client::logout`] sends LOGOUT and finishes on the server's
//!    BYE ([`Event::LoggedOut`]); fatal errors finish with
//!    [`Event::Stopped`]. Either way every connection is closed and
//!    [`Output::StopListening`] is emitted.
//!
//! # What ends what
//!
//! | what happens | the client |
//! |---|---|
//! | control connection closed, a PING unanswered for a third of the lease, server silent for a lease, handshake timeout | reconnects with backoff (to the next server, if there are several), resumes the session |
//! | BYE lease expired, BYE shutdown, an ERROR on control after LOGIN_OK | the session is over [C-10] [F-6]: reconnects with backoff, logs in anew, reports notifications may have been missed |
//! | ERROR UNKNOWN_SESSION on resume | logs in anew at once on the same server, reports notifications may have been missed |
//! | ERROR LIMIT_EXCEEDED, SHUTTING_DOWN, TIMEOUT, ... before LOGIN_OK | reconnects with backoff (to the next server), keeping the session to resume |
//! | BYE replaced, BYE ended by server, unsolicited BYE logout | stops ([`StopReason::SessionEnded`]) |
//! | ERROR AUTH_FAILED, bad server signature, iterations out of bounds, unsupported version, lease below 3 s, ERROR BAD_PORT | stops (fatal, typed [`StopReason`]) |
//! | a callback connection misbehaves (bad proof, gap, malformed frame) | ERROR to it, closes it; the session goes on |
//! | BYE on a callback connection | closes that callback only (the control connection speaks for the session) |
//!
//! # Determinism
//!
//! Every nonce and every jitter comes from the seed given to
//! [`Client::new`]: the same seed and the same inputs at the same instants
//! give the same outputs.

mod callback;
mod config;
mod control;
mod delivery;
mod errors;
mod event_text;
mod events;
#[cfg(feature = "fuzzing")]
mod fuzz_hooks;
mod hints;
mod io;
mod listener;
mod login;
mod outbox;
mod reason_text;
mod servers;
mod settings;
mod state;
mod timers;
mod tls;
mod tls_settings;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use crate::io::{BindError, CloseKind, ConnectError};
pub use config::{Backoff, ClientConfig};
pub use errors::{ConfigError, InputError, LogoutError};
pub use events::{
    CallbackClosure, CallbackRejection, ConnectionKind, DisconnectReason, Event, Peer,
    ProtocolError, SessionEndReason, StopReason,
};
pub use io::{Input, Output};
pub use settings::{
    ChangeSettingsError, ListenAddress, ListenPolicy, MIN_LISTEN_PORT, NetworkSettings,
    SettingsChange, SettingsError,
};
pub use state::ClientState;
pub use tls_settings::{TlsSettingError, TlsSettings, TlsTrust, check_server_name};

use crate::auth::{SessionKey, prepare_password, prepare_username};
use crate::conn::ConnIdAllocator;
use crate::rng::CoreRng;
use crate::wire::{Caps, MAX_STR_LEN, Role};
use crate::{ConnId, SessionId};

use callback::Callback;
use control::Control;
use delivery::Delivery;
use listener::{BindStep, Listener};
use login::LoginCredentials;
use outbox::Outbox;
use servers::ServerList;
use timers::{Lease, earliest};

/// The FNP/1 client state machine. The [module documentation](self)
/// describes its behaviour; this is how to drive it.
///
/// # Run loop
///
/// ```text
/// let mut client = Client::new(config, seed, now)?;     // queues Output::Listen (or Connect)
/// loop {
///     // 1. Drain outputs after creating the client and after *every* handle_* call.
///     while let Some(output) = client.poll_output() {
///         match output {
///             Output::Listen { addr }           => bind; handle_input(now, Input::Bound{..} | Input::BindFailed{..}),
///             Output::StopListening             => close the listener,
///             Output::Connect { conn, addr }    => dial; later Input::Connected / Input::ConnectFailed,
///             Output::Transmit { conn, data }   => write data on conn (then client.recycle(data)),
///             Output::Close { conn, .. }        => close conn once everything before it is written
///                                                  (CloseKind::Prompt: a callback that never
///                                                  authenticated; don't wait for its peer),
///             Output::Event(event)              => tell the application,
///         }
///     }
///     if client.is_finished() { break; }
///     // 2. Sleep until the next I/O event or client.poll_timeout(), whichever is first.
///     // 3. Feed what happened:
///     //    a read          -> client.handle_input(now, Input::Received { conn, data })
///     //    EOF / I/O error -> client.handle_input(now, Input::Closed { conn })
///     //    an accept       -> let conn = client.handle_accept(now, peer)
///     //    the timeout     -> client.handle_timeout(now)
/// }
/// ```
///
/// `poll_timeout` may change after any call, so read it again before each
/// sleep. Calling `handle_timeout` early is harmless. Inputs for a connection
/// the client already closed are ignored (they race with `Close`); a
/// [`ConnId`] the client never issued is refused with
/// [`InputError::UnknownConnection`]. Once [`Client::is_finished`] (and the
/// outputs drained), the adapter can close everything and drop the client.
///
/// # Example
///
/// ```
/// use std::time::Instant;
/// use faxnotify_core::client::{
///     BindError, Client, ClientConfig, Event, Input, ListenPolicy, NetworkSettings, Output,
/// };
///
/// let config = ClientConfig::new(
///     "192.0.2.1:4580".parse()?,
///     "alice",
///     "correct horse",
///     NetworkSettings::new(ListenPolicy::Range { lo: 6000, hi: 6010 }),
/// );
/// let now = Instant::now();
/// let mut client = Client::new(config, [0; 32], now)?;
///
/// // First the client asks for its callback listener, in the server's family.
/// let Some(Output::Listen { addr }) = client.poll_output() else { unreachable!() };
/// assert_eq!(addr, "0.0.0.0:6000".parse()?);
/// // Port 6000 is taken: it moves on to the next port of the range.
/// client.handle_input(now, Input::BindFailed { addr, error: BindError::AddrInUse })?;
/// let Some(Output::Listen { addr }) = client.poll_output() else { unreachable!() };
/// assert_eq!(addr.port(), 6001);
/// client.handle_input(now, Input::Bound { local: addr })?;
/// assert!(matches!(client.poll_output(), Some(Output::Event(Event::Listening { .. }))));
/// // Only now does it dial the server.
/// assert!(matches!(client.poll_output(), Some(Output::Connect { .. })));
/// assert!(client.poll_output().is_none());
/// // The handshake timeout is armed.
/// assert!(client.poll_timeout().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    /// The servers, and the one the client is on [D-17].
    servers: ServerList,
    tunables: Tunables,
    settings: NetworkSettings,
    pending_settings: Option<NetworkSettings>,
    creds: LoginCredentials,
    rng: CoreRng,
    ids: ConnIdAllocator,
    /// The highest handle issued, to tell stale handles from foreign ones.
    last_issued: Option<ConnId>,
    out: Outbox,
    listener: Listener,
    control: Option<Control>,
    /// When to dial again, if waiting.
    reconnect_at: Option<Instant>,
    /// Failed connection attempts since the last completed login.
    failures: u32,
    session: Option<Session>,
    delivery: Delivery,
    callbacks: Vec<Callback>,
    phase: Phase,
    /// The latest `now` seen, for [`Client::state`].
    last_now: Instant,
    /// FNP/1 over TLS on every connection [T-1], when configured.
    tls: Option<crate::tls::ClientTlsConfig>,
}

/// Configuration the client keeps after start.
#[derive(Debug, Clone)]
struct Tunables {
    caps: Caps,
    iteration_cap: u32,
    handshake_timeout: Duration,
    callback_handshake_timeout: Duration,
    max_pending_callbacks: usize,
    max_callbacks: usize,
    logout_timeout: Duration,
    backoff: Backoff,
}

/// The session the client holds (from LOGIN_OK until it ends).
#[derive(Debug)]
struct Session {
    id: SessionId,
    key: SessionKey,
    role: Role,
    caps: Caps,
    lease: Lease,
    /// Whether the server has sent PING on a callback since LOGIN_OK: only
    /// then does a callback's silence mean it is dead ([D-4]; a server
    /// written from the design alone may never ping, see [D-16]).
    pings_callbacks: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    LoggingOut { deadline: Instant },
    LoggedOut,
    Stopped,
}

impl Client {
    /// Validates `config`, prepares the credentials (RFC 8265) and queues
    /// the first output, [`Output::Listen`] (with [`ListenPolicy::None`],
    /// [`Output::Connect`] to the server). `seed` feeds every nonce and
    /// jitter: use 32 bytes from the OS in production, a constant in tests.
    pub fn new(config: ClientConfig, seed: [u8; 32], now: Instant) -> Result<Client, ConfigError> {
        config.validate_without_tls()?;
        let user = prepare_username(&config.user)?;
        if user.len() > MAX_STR_LEN {
            return Err(ConfigError::UserTooLong { len: user.len() });
        }
        let password = prepare_password(&config.password)?;
        let tls = match &config.tls {
            Some(tls) => Some(crate::tls::ClientTlsConfig::new(
                tls,
                std::sync::Arc::clone(&config.tls_clock),
            )?),
            None => None,
        };
        let mut listener = Listener::new(&config);
        let mut out = Outbox::default();
        if tls.is_none() && config.servers.iter().any(|s| !s.ip().is_loopback()) {
            // [T-11]: say it once, before anything is sent. (A log line,
            // not an event: the event stream of plain clients is unchanged;
            // applications can also ask `Client::unencrypted_remote`.)
            tracing::warn!(
                servers = ?config.servers,
                "FNP/1 without TLS to a server that is not on this machine: the connection is not encrypted"
            );
        }
        let first_bind = listener.start();
        if let Some(addr) = first_bind {
            tracing::debug!(%addr, policy = %config.settings.listen, "binding the callback listener");
            out.push(Output::Listen { addr });
        }
        let mut client = Client {
            servers: ServerList::new(config.servers),
            tunables: Tunables {
                caps: config.caps,
                iteration_cap: config.iteration_cap,
                handshake_timeout: config.handshake_timeout,
                callback_handshake_timeout: config.callback_handshake_timeout,
                max_pending_callbacks: config.max_pending_callbacks,
                max_callbacks: config.max_callbacks,
                logout_timeout: config.logout_timeout,
                backoff: config.reconnect,
            },
            settings: config.settings,
            pending_settings: None,
            creds: LoginCredentials::new(user, password),
            rng: CoreRng::from_seed(seed),
            ids: ConnIdAllocator::default(),
            last_issued: None,
            out,
            listener,
            control: None,
            reconnect_at: None,
            failures: 0,
            session: None,
            delivery: Delivery::default(),
            callbacks: Vec::new(),
            phase: Phase::Running,
            last_now: now,
            tls,
        };
        if first_bind.is_none() {
            // The `none` policy: no listener to wait for [D-7].
            tracing::debug!("no callback listener (backchannel only)");
            client.start_control(now);
        }
        Ok(client)
    }

    /// Feeds one network event. Peer misbehaviour is never an error here
    /// (it becomes an ERROR frame, a close and an [`Event`]); an error means
    /// the adapter misused the API, and leaves the client unchanged.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), InputError> {
        self.touch(now);
        match input {
            Input::Bound { local } => self.on_bound(now, local),
            Input::BindFailed { addr, error } => self.on_bind_failed(addr, error),
            Input::Connected { conn } => {
                self.check_issued(conn)?;
                if self.is_control(conn) {
                    self.on_control_connected(now)
                } else if self.callback_index(conn).is_some() {
                    Err(InputError::NotDialled { conn })
                } else {
                    Ok(())
                }
            }
            Input::ConnectFailed { conn, error } => {
                self.check_issued(conn)?;
                if self.is_control(conn) {
                    self.on_control_connect_failed(now, error)
                } else if self.callback_index(conn).is_some() {
                    Err(InputError::NotDialled { conn })
                } else {
                    Ok(())
                }
            }
            Input::Received { conn, data } => {
                self.check_issued(conn)?;
                let plaintext;
                let data = match self.tls_receive(now, conn, data) {
                    tls::Decrypted::Plain => data,
                    tls::Decrypted::Text(text) => {
                        plaintext = text;
                        &plaintext[..]
                    }
                    tls::Decrypted::Failed => return Ok(()),
                };
                if self.is_control(conn) {
                    self.on_control_received(now, data)
                } else {
                    self.on_callback_received(now, conn, data);
                    Ok(())
                }
            }
            Input::Closed { conn } => {
                self.check_issued(conn)?;
                self.out.forget_tls(conn);
                if self.is_control(conn) {
                    self.on_control_closed(now);
                } else {
                    self.on_callback_closed(conn);
                }
                Ok(())
            }
        }
    }

    /// Reports a connection accepted on the callback listener and returns
    /// its handle. The client speaks first (CB_CHALLENGE). Beyond
    /// `max_pending_callbacks` connections awaiting their handshake, or once
    /// the client has stopped, the connection is closed at once [B-7].
    pub fn handle_accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        self.touch(now);
        let conn = self.allocate_conn();
        self.on_accept(now, conn, peer);
        conn
    }

    /// Whether this client talks plain TCP to a server that is not on this
    /// machine, so that notifications can be read and altered on the way
    /// [T-11]; an application shows it once (the client logs it once).
    pub fn unencrypted_remote(&self) -> bool {
        self.tls.is_none() && self.servers.all().iter().any(|s| !s.ip().is_loopback())
    }

    /// The server the client is on: the address of its control connection,
    /// or, between attempts, the one it dials next (one of
    /// [`ClientConfig::servers`]; it moves on after every failed or lost
    /// connection, [D-17]).
    pub fn server(&self) -> SocketAddr {
        self.servers.current()
    }

    /// The next thing for the adapter to do. Call until `None` after every
    /// `handle_*` call (and after [`Client::new`]).
    #[inline]
    pub fn poll_output(&mut self) -> Option<Output> {
        // Inlined for the last call of a drain, which finds nothing.
        if self.out.is_empty() {
            return None;
        }
        self.out.pop()
    }

    /// Hands back a [`Output::Transmit`] buffer once written, so the client
    /// can reuse it instead of allocating (optional).
    #[inline]
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.out.recycle(buf);
    }

    /// When [`Client::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        let mut next = self.reconnect_at;
        if let Phase::LoggingOut { deadline } = self.phase {
            next = earliest(next, Some(deadline));
        }
        if let Some(control) = &self.control {
            next = earliest(
                next,
                control.next_deadline(self.session_lease(), self.phase),
            );
        }
        for cb in &self.callbacks {
            next = earliest(next, Some(cb.deadline()));
        }
        next
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        if self.is_finished() {
            return;
        }
        if let Phase::LoggingOut { deadline } = self.phase
            && now >= deadline
        {
            tracing::debug!("no BYE after LOGOUT in time; closing");
            self.finish_logout(false);
            return;
        }
        self.control_timers(now);
        if let Some(at) = self.reconnect_at
            && now >= at
            && !self.is_finished()
        {
            self.reconnect_at = None;
            self.start_control(now);
        }
        self.callback_timers(now);
    }

    /// Ends the session: sends LOGOUT and finishes on the server's BYE
    /// (or after `logout_timeout`) with [`Event::LoggedOut`]. If the client
    /// is not logged in at this moment (still logging in, or between
    /// reconnects) it finishes at once; a detached session then expires on
    /// the server with its lease.
    pub fn logout(&mut self, now: Instant) -> Result<(), LogoutError> {
        self.touch(now);
        match self.phase {
            Phase::LoggedOut | Phase::Stopped => return Err(LogoutError::Finished),
            Phase::LoggingOut { .. } => return Err(LogoutError::AlreadyLoggingOut),
            Phase::Running => {}
        }
        if self.control.as_ref().is_some_and(Control::is_logged_in) {
            tracing::debug!("logging out");
            self.send_control(now, &crate::wire::Frame::Logout);
            self.phase = Phase::LoggingOut {
                deadline: now + self.tunables.logout_timeout,
            };
        } else {
            tracing::debug!("logout while not logged in: finishing at once");
            self.finish_logout(false);
        }
        Ok(())
    }

    /// Asks to change the network settings of the running client.
    ///
    /// While the client is logged in (it holds a session, even while
    /// reconnecting to resume it) the change is refused with
    /// [`ChangeSettingsError::SettingsLocked`]: the session advertised its
    /// callback once [C-3]. Otherwise valid settings are accepted as
    /// [`SettingsChange::RestartRequired`]: the client keeps running with
    /// its old settings ([`Client::settings`]) and remembers the new ones
    /// ([`Client::pending_settings`]) for the application to save and apply
    /// at the next start.
    pub fn change_settings(
        &mut self,
        new: NetworkSettings,
    ) -> Result<SettingsChange, ChangeSettingsError> {
        new.validate()?;
        if new == self.settings {
            self.pending_settings = None;
            return Ok(SettingsChange::Unchanged);
        }
        if let Some(session) = &self.session {
            return Err(ChangeSettingsError::SettingsLocked {
                session: session.id,
            });
        }
        self.pending_settings = Some(new);
        Ok(SettingsChange::RestartRequired)
    }

    /// The settings in force (those the client was created with).
    pub fn settings(&self) -> &NetworkSettings {
        &self.settings
    }

    /// Settings accepted by [`Client::change_settings`] that take effect at
    /// the next start.
    pub fn pending_settings(&self) -> Option<&NetworkSettings> {
        self.pending_settings.as_ref()
    }

    /// Where the client is, for user interfaces.
    pub fn state(&self) -> ClientState {
        match self.phase {
            Phase::LoggedOut => return ClientState::LoggedOut,
            Phase::Stopped => return ClientState::Stopped,
            Phase::LoggingOut { .. } => return ClientState::LoggingOut,
            Phase::Running => {}
        }
        if self.listener.is_pending() {
            return ClientState::Starting;
        }
        if let Some(at) = self.reconnect_at {
            return ClientState::WaitingToReconnect {
                session: self.session.as_ref().map(|s| s.id),
                attempt: self.failures,
                retry_in: at.saturating_duration_since(self.last_now),
            };
        }
        match &self.control {
            Some(control) if control.is_established() => ClientState::LoggedIn {
                session: match &self.session {
                    Some(s) => s.id,
                    None => {
                        return ClientState::Connecting {
                            resuming: None,
                            attempt: self.failures,
                        };
                    }
                },
                callback: control.callback_state(),
            },
            Some(control) => ClientState::Connecting {
                resuming: control.resuming(),
                attempt: self.failures,
            },
            None => ClientState::Connecting {
                resuming: None,
                attempt: self.failures,
            },
        }
    }

    /// Whether the client has stopped for good (logged out or fatal). A
    /// finished client emits nothing more except closes for late inputs.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::LoggedOut | Phase::Stopped)
    }

    /// The session the client holds, if any.
    pub fn session(&self) -> Option<SessionId> {
        self.session.as_ref().map(|s| s.id)
    }

    /// The last sequence number handed to the application in the current
    /// session (0 before the first).
    pub fn last_delivered_seq(&self) -> u64 {
        self.delivery.last()
    }

    /// The bound callback listener address, once bound.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listener.local()
    }

    // ---- internals shared by the submodules ----

    fn touch(&mut self, now: Instant) {
        if now > self.last_now {
            self.last_now = now;
        }
    }

    fn allocate_conn(&mut self) -> ConnId {
        let conn = self.ids.allocate();
        self.last_issued = Some(conn);
        conn
    }

    fn check_issued(&self, conn: ConnId) -> Result<(), InputError> {
        match self.last_issued {
            Some(last) if conn.into_raw() >= 1 && conn <= last => Ok(()),
            _ => Err(InputError::UnknownConnection { conn }),
        }
    }

    fn session_lease(&self) -> Option<Lease> {
        self.session.as_ref().map(|s| s.lease)
    }

    fn on_bound(&mut self, now: Instant, local: SocketAddr) -> Result<(), InputError> {
        if !self.listener.on_bound(local)? {
            // The client stopped while the bind was under way.
            self.out.push(Output::StopListening);
            return Ok(());
        }
        tracing::debug!(%local, "callback listener bound");
        self.out.event(Event::Listening {
            local,
            policy: self.listener.policy(),
        });
        self.start_control(now);
        Ok(())
    }

    fn on_bind_failed(&mut self, addr: SocketAddr, error: BindError) -> Result<(), InputError> {
        match self.listener.on_bind_failed(addr, error)? {
            BindStep::Retry(next) => {
                tracing::debug!(%addr, %next, "callback port taken; trying the next of the range");
                self.out.push(Output::Listen { addr: next });
            }
            BindStep::Stop(reason) => self.stop(reason),
            BindStep::Ignore => {}
        }
        Ok(())
    }

    /// Ends the current session (if any) on the client's side: tells the
    /// application, forgets the key and the last delivered seq [B-2], and
    /// closes the callbacks that belonged to it.
    fn end_session(&mut self, reason: SessionEndReason) {
        let Some(session) = self.session.take() else {
            return;
        };
        tracing::debug!(session = %session.id, ?reason, "session ended");
        self.out.event(Event::SessionEnded {
            session: session.id,
            reason,
        });
        self.out.event(Event::NotificationsMayHaveBeenMissed {
            session: session.id,
            last_delivered_seq: self.delivery.last(),
        });
        self.delivery.reset();
        self.close_all_callbacks();
    }

    /// Stops for good after a fatal error.
    fn stop(&mut self, reason: StopReason) {
        tracing::debug!(%reason, "client stopped");
        self.shut_down(Phase::Stopped);
        self.out.event(Event::Stopped { reason });
    }

    /// Finishes a logout.
    fn finish_logout(&mut self, confirmed: bool) {
        self.session = None;
        self.shut_down(Phase::LoggedOut);
        self.out.event(Event::LoggedOut { confirmed });
    }

    /// Closes every connection and the listener.
    fn shut_down(&mut self, phase: Phase) {
        if let Some(control) = self.control.take() {
            self.out.close(control.conn());
        }
        self.close_all_callbacks();
        self.reconnect_at = None;
        if self.listener.close() {
            self.out.push(Output::StopListening);
        }
        self.session = None;
        self.phase = phase;
    }
}
