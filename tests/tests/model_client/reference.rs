//! The reference model of the client: the protocol's client-side rules,
//! written as plainly as possible, predicting every output of each step in
//! order (connections, frames sent, events).

use std::net::SocketAddr;

use faxnotify_core::SessionId;
use faxnotify_core::client::{
    BindError, CallbackClosure, CallbackRejection, ConnectError, DisconnectReason,
    SessionEndReason, StopReason,
};
use faxnotify_core::wire::{ByeReason, ErrorCode};
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

use super::strategies;
use super::transition::{FirstSeq, Grant, Hello, LoginError, On, Transition};

/// The lease the scripted server grants (ms); PING after a third of it [C-5].
pub const LEASE: u64 = 9_000;
pub const PING_AFTER: u64 = LEASE / 3;
/// The client's configuration the model describes (the SUT is built with it).
pub const HANDSHAKE: u64 = 10_000;
pub const CALLBACK_TIMEOUT: u64 = 5_000;
pub const LOGOUT_TIMEOUT: u64 = 5_000;
pub const MAX_PENDING: usize = 2;
pub const MAX_READY: usize = 2;
pub const BACKOFF_INITIAL: u64 = 500;
pub const BACKOFF_MAX: u64 = 30_000;
/// Where the harness's "OS" puts a dynamic listener.
pub const DYNAMIC_PORT: u16 = 40_000;
/// The first session id the scripted server hands out.
pub const FIRST_SESSION: u64 = 100;
/// The most server addresses a model client has (the SUT's list is that
/// long; a case uses the first 1 to `MAX_SERVERS`).
pub const MAX_SERVERS: usize = 3;

/// The listen policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Dynamic,
    Range(u16, u16),
    Fixed(u16),
}

/// Who a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Control,
    Callback(usize),
}

/// A frame the client sends, abstracted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum F {
    Login { resume: Option<u64> },
    Proof,
    Advertise { port: u16 },
    Ping,
    Pong,
    Ack(u64),
    CbChallenge,
    CbReady(u64),
    Logout,
    Error(ErrorCode),
}

/// An event for the application, abstracted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum E {
    Listening(u16),
    /// `server`: the index of the server logged in to.
    LoggedIn {
        session: u64,
        resumed: bool,
        server: usize,
    },
    Status(u8),
    CallbackEstablished(usize),
    CallbackRejected(usize, CallbackRejection),
    CallbackClosed(usize, CallbackClosure),
    Notification(u64),
    Missed {
        session: u64,
        last: u64,
    },
    SessionEnded {
        session: u64,
        why: SessionEndReason,
    },
    /// `server` lost, `next` dialled next (indices) [D-17].
    Lost {
        why: DisconnectReason,
        attempt: u32,
        retry_in: u64,
        server: usize,
        next: usize,
    },
    ProtocolError(Role),
    ErrorReceived(Role, ErrorCode),
    LoggedOut(bool),
    Stopped(StopReason),
}

/// An output of the client, in the order it comes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Listen(u16),
    StopListening,
    /// A dial of the server with this index.
    Connect(usize),
    Close(Role),
    Frame(Role, F),
    Event(E),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    Pending(u16),
    Bound(u16),
    /// The client finished while a bind was under way.
    Abandoned,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Running,
    LoggingOut(u64),
    LoggedOut,
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtlState {
    Dialling,
    AwaitHello,
    Established,
}

#[derive(Clone, Debug)]
pub struct Ctl {
    pub state: CtlState,
    pub since: u64,
    pub last_sent: u64,
    pub last_received: u64,
    /// When the client's last PING went out: unanswered while nothing has
    /// been received since (strictly later) [D-18].
    pub last_ping: Option<u64>,
    pub resume: Option<u64>,
    pub status: Option<u8>,
}

impl Ctl {
    /// When the PING nothing has answered yet went out, if one has.
    fn unanswered_ping(&self) -> Option<u64> {
        self.last_ping.filter(|&ping| ping > self.last_received)
    }
}

#[derive(Clone, Debug)]
pub struct Cb {
    pub id: usize,
    pub ready: bool,
    pub deadline: u64,
}

#[derive(Clone, Debug)]
pub struct ClientModel {
    pub policy: Policy,
    pub backchannel: bool,
    /// How many server addresses the client has (1..=[`MAX_SERVERS`]); the
    /// scripted server answers for all of them, like a cluster [D-17].
    pub servers: usize,
    /// The index of the server the client is on (dialled last or next).
    pub server: usize,
    pub now: u64,
    pub listen: Listen,
    pub phase: Phase,
    pub control: Option<Ctl>,
    pub reconnect_at: Option<u64>,
    pub failures: u32,
    pub session: Option<u64>,
    pub delivered: u64,
    pub callbacks: Vec<Cb>,
    /// The server pinged a callback since the last LOGIN_OK [D-16].
    pub pings_callbacks: bool,
    pub next_session: u64,
    pub next_cb: usize,
    pub expect: Vec<Out>,
}

impl ClientModel {
    pub fn new(policy: Policy, backchannel: bool, servers: usize) -> Self {
        let first = match policy {
            Policy::Dynamic => 0,
            Policy::Range(lo, _) => lo,
            Policy::Fixed(p) => p,
        };
        Self {
            policy,
            backchannel,
            servers,
            server: 0,
            now: 0,
            listen: Listen::Pending(first),
            phase: Phase::Running,
            control: None,
            reconnect_at: None,
            failures: 0,
            session: None,
            delivered: 0,
            callbacks: Vec::new(),
            pings_callbacks: false,
            next_session: FIRST_SESSION,
            next_cb: 0,
            expect: vec![Out::Listen(first)],
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::LoggedOut | Phase::Stopped)
    }

    pub fn established(&self) -> bool {
        self.control
            .as_ref()
            .is_some_and(|c| c.state == CtlState::Established)
    }

    fn out(&mut self, o: Out) {
        self.expect.push(o);
    }

    fn ev(&mut self, e: E) {
        self.out(Out::Event(e));
    }

    fn send_control(&mut self, f: F) {
        if let Some(c) = self.control.as_mut() {
            c.last_sent = self.now;
            self.out(Out::Frame(Role::Control, f));
        }
    }

    fn start_control(&mut self) {
        self.control = Some(Ctl {
            state: CtlState::Dialling,
            since: self.now,
            last_sent: self.now,
            last_received: self.now,
            last_ping: None,
            resume: self.session,
            status: None,
        });
        self.out(Out::Connect(self.server));
    }

    fn control_lost(&mut self, why: DisconnectReason, emit_close: bool) {
        if self.control.take().is_some() && emit_close {
            self.out(Out::Close(Role::Control));
        }
        match self.phase {
            Phase::Running => {}
            Phase::LoggingOut(_) => return self.finish_logout(false),
            _ => return,
        }
        // One backoff across the servers: moving on does not reset it.
        self.failures += 1;
        let delay = (BACKOFF_INITIAL << (self.failures - 1).min(20)).min(BACKOFF_MAX);
        self.reconnect_at = Some(self.now + delay);
        // Whatever was lost, the next attempt goes to the next server.
        let lost = self.server;
        self.server = (self.server + 1) % self.servers;
        self.ev(E::Lost {
            why,
            attempt: self.failures,
            retry_in: delay,
            server: lost,
            next: self.server,
        });
    }

    fn close_all_callbacks(&mut self) {
        for cb in std::mem::take(&mut self.callbacks) {
            self.out(Out::Close(Role::Callback(cb.id)));
        }
    }

    fn end_session(&mut self, why: SessionEndReason) {
        let Some(session) = self.session.take() else {
            return;
        };
        self.ev(E::SessionEnded { session, why });
        self.ev(E::Missed {
            session,
            last: self.delivered,
        });
        self.delivered = 0;
        self.close_all_callbacks();
    }

    fn shut_down(&mut self, phase: Phase) {
        if self.control.take().is_some() {
            self.out(Out::Close(Role::Control));
        }
        self.close_all_callbacks();
        self.reconnect_at = None;
        match self.listen {
            Listen::Bound(_) => {
                self.listen = Listen::Closed;
                self.out(Out::StopListening);
            }
            Listen::Pending(_) => self.listen = Listen::Abandoned,
            _ => {}
        }
        self.session = None;
        self.phase = phase;
    }

    fn stop(&mut self, why: StopReason) {
        self.shut_down(Phase::Stopped);
        self.ev(E::Stopped(why));
    }

    fn finish_logout(&mut self, confirmed: bool) {
        self.session = None;
        self.shut_down(Phase::LoggedOut);
        self.ev(E::LoggedOut(confirmed));
    }

    fn session_id(&self) -> SessionId {
        SessionId::new(self.session.unwrap_or(1)).unwrap_or_else(|| unreachable!())
    }

    /// The server broke the protocol on control: ERROR, close, and the
    /// session is over [F-6].
    fn control_protocol_error(&mut self) {
        self.send_control(F::Error(ErrorCode::UnexpectedFrame));
        self.control = None;
        self.out(Out::Close(Role::Control));
        self.ev(E::ProtocolError(Role::Control));
        if !matches!(self.phase, Phase::LoggingOut(_)) {
            self.end_session(SessionEndReason::ControlError {
                code: ErrorCode::UnexpectedFrame,
            });
        }
        self.control_lost(DisconnectReason::ProtocolError, false);
    }

    fn bind(&mut self, free: bool) {
        match self.listen {
            Listen::Abandoned => {
                if free {
                    self.out(Out::StopListening);
                }
                self.listen = Listen::Closed;
            }
            Listen::Pending(port) => {
                if free {
                    let port = if port == 0 { DYNAMIC_PORT } else { port };
                    self.listen = Listen::Bound(port);
                    self.ev(E::Listening(port));
                    self.start_control();
                    return;
                }
                self.listen = Listen::Closed;
                let why = match self.policy {
                    Policy::Range(_, hi) if port < hi => {
                        self.listen = Listen::Pending(port + 1);
                        return self.out(Out::Listen(port + 1));
                    }
                    Policy::Range(lo, hi) => StopReason::RangeExhausted { lo, hi },
                    Policy::Fixed(port) => StopReason::FixedPortInUse { port },
                    Policy::Dynamic => StopReason::ListenFailed {
                        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                        error: BindError::AddrInUse,
                    },
                };
                self.stop(why);
            }
            _ => {}
        }
    }

    fn login(&mut self, grant: Grant) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        c.last_received = self.now;
        let resume = c.resume;
        self.send_control(F::Login { resume });
        self.send_control(F::Proof);
        let id = match (grant, resume) {
            (Grant::Resumed, Some(id)) => id,
            _ => {
                self.next_session += 1;
                self.next_session - 1
            }
        };
        let resumed = resume == Some(id);
        if !resumed {
            self.end_session(SessionEndReason::ResumeRefused);
        }
        self.session = Some(id);
        self.pings_callbacks = false;
        let port = match self.listen {
            Listen::Bound(p) => p,
            _ => 0,
        };
        self.send_control(F::Advertise { port });
        if let Some(c) = self.control.as_mut() {
            c.state = CtlState::Established;
        }
        self.failures = 0;
        self.ev(E::LoggedIn {
            session: id,
            resumed,
            server: self.server,
        });
    }

    fn login_refused(&mut self, error: LoginError) {
        let Some(c) = self.control.as_mut() else {
            return;
        };
        c.last_received = self.now;
        let resume = c.resume;
        self.send_control(F::Login { resume });
        let code = match error {
            LoginError::UnknownSession => ErrorCode::UnknownSession,
            LoginError::LimitExceeded => ErrorCode::LimitExceeded,
            LoginError::ShuttingDown => ErrorCode::ShuttingDown,
        };
        self.ev(E::ErrorReceived(Role::Control, code));
        if code == ErrorCode::UnknownSession && resume.is_some() {
            // [C-6]: log in anew at once.
            self.control = None;
            self.out(Out::Close(Role::Control));
            self.end_session(SessionEndReason::ResumeRefused);
            self.start_control();
        } else {
            self.control_lost(DisconnectReason::ErrorReceived { code }, true);
        }
    }

    fn callback_idle(&self) -> u64 {
        if self.session.is_some() {
            LEASE
        } else {
            30_000
        }
    }

    fn accept(&mut self) {
        let id = self.next_cb;
        self.next_cb += 1;
        if self.finished() || !matches!(self.listen, Listen::Bound(_)) {
            self.out(Out::Close(Role::Callback(id)));
            self.ev(E::CallbackRejected(id, CallbackRejection::NotListening));
            return;
        }
        // [B-7]: full, the oldest awaiting its handshake makes room.
        while self.callbacks.iter().filter(|c| !c.ready).count() >= MAX_PENDING {
            let Some(oldest) = self.callbacks.iter().find(|c| !c.ready).map(|c| c.id) else {
                break;
            };
            self.callbacks.retain(|c| c.id != oldest);
            self.out(Out::Close(Role::Callback(oldest)));
            self.ev(E::CallbackRejected(
                oldest,
                CallbackRejection::TooManyPending,
            ));
        }
        self.callbacks.push(Cb {
            id,
            ready: false,
            deadline: self.now + CALLBACK_TIMEOUT,
        });
        self.out(Out::Frame(Role::Callback(id), F::CbChallenge));
    }

    fn reject(&mut self, id: usize, code: ErrorCode, why: CallbackRejection) {
        self.out(Out::Frame(Role::Callback(id), F::Error(code)));
        self.callbacks.retain(|c| c.id != id);
        self.out(Out::Close(Role::Callback(id)));
        self.ev(E::CallbackRejected(id, why));
    }

    fn cb_hello(&mut self, id: usize, hello: Hello) {
        let why = match (self.session, hello) {
            (None, _) => Some(CallbackRejection::NoSession),
            (Some(s), Hello::WrongSession) => {
                Some(CallbackRejection::WrongSession { received: s ^ 1 })
            }
            (Some(_), Hello::BadProof) => Some(CallbackRejection::BadProof),
            (Some(_), Hello::Valid) => None,
        };
        if let Some(why) = why {
            return self.reject(id, ErrorCode::AuthFailed, why);
        }
        let deadline = self.now + self.callback_idle();
        if let Some(cb) = self.callbacks.iter_mut().find(|c| c.id == id) {
            cb.ready = true;
            cb.deadline = deadline;
        }
        self.out(Out::Frame(Role::Callback(id), F::CbReady(self.delivered)));
        self.ev(E::CallbackEstablished(id));
        // At most MAX_READY authenticated callbacks: the oldest goes.
        while self.callbacks.iter().filter(|c| c.ready).count() > MAX_READY {
            let Some(oldest) = self
                .callbacks
                .iter()
                .filter(|c| c.ready && c.id != id)
                .map(|c| c.id)
                .min()
            else {
                break;
            };
            self.callbacks.retain(|c| c.id != oldest);
            self.out(Out::Close(Role::Callback(oldest)));
            self.ev(E::CallbackClosed(oldest, CallbackClosure::Superseded));
        }
    }

    pub fn first_seq(&self, first: FirstSeq) -> u64 {
        match first {
            FirstSeq::Next => self.delivered + 1,
            FirstSeq::Repeat => self.delivered.max(1),
            FirstSeq::Gap => self.delivered + 2,
        }
    }

    fn notify(&mut self, on: On, first: FirstSeq, count: u8) {
        let first = self.first_seq(first);
        let mut ack = None;
        for seq in first..first + u64::from(count) {
            match on {
                On::Control => {
                    let Some(c) = self.control.as_mut() else {
                        return;
                    };
                    c.last_received = self.now;
                    if c.status != Some(2) {
                        // NOTIFY on control only on the backchannel [D-2].
                        return self.control_protocol_error();
                    }
                }
                On::Callback(id) => {
                    let idle = self.callback_idle();
                    let now = self.now;
                    if let Some(cb) = self.callbacks.iter_mut().find(|c| c.id == id) {
                        cb.deadline = now + idle;
                    }
                }
            }
            if seq == self.delivered + 1 {
                self.delivered = seq;
                self.ev(E::Notification(seq));
            } else if seq > self.delivered + 1 {
                // A gap [B-3]: what was delivered is acknowledged first.
                if let Some(a) = ack.take() {
                    self.flush(on, a);
                }
                return match on {
                    On::Control => self.control_protocol_error(),
                    On::Callback(id) => {
                        self.out(Out::Frame(
                            Role::Callback(id),
                            F::Error(ErrorCode::UnexpectedFrame),
                        ));
                        self.callbacks.retain(|c| c.id != id);
                        self.out(Out::Close(Role::Callback(id)));
                        self.ev(E::ProtocolError(Role::Callback(id)));
                    }
                };
            }
            ack = Some(self.delivered);
        }
        if let Some(a) = ack {
            self.flush(on, a);
        }
    }

    fn flush(&mut self, on: On, seq: u64) {
        match on {
            On::Control => self.send_control(F::Ack(seq)),
            On::Callback(id) => self.out(Out::Frame(Role::Callback(id), F::Ack(seq))),
        }
    }

    fn bye(&mut self, reason: ByeReason) {
        if let Some(c) = self.control.as_mut() {
            c.last_received = self.now;
        }
        if let Phase::LoggingOut(_) = self.phase {
            return self.finish_logout(true);
        }
        let why = match reason {
            ByeReason::LeaseExpired => SessionEndReason::LeaseExpired,
            ByeReason::Replaced => SessionEndReason::Replaced,
            ByeReason::Shutdown => SessionEndReason::Shutdown,
            ByeReason::EndedByServer => SessionEndReason::EndedByServer,
            _ => SessionEndReason::LoggedOutByServer,
        };
        let session = self.session_id();
        self.end_session(why);
        match reason {
            ByeReason::LeaseExpired | ByeReason::Shutdown => {
                self.control_lost(DisconnectReason::SessionEnded, true)
            }
            _ => self.stop(StopReason::SessionEnded {
                session,
                reason: why,
            }),
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        if self.finished() {
            return None;
        }
        let mut next = self.reconnect_at;
        let mut consider = |t: u64| next = Some(next.map_or(t, |n: u64| n.min(t)));
        if let Phase::LoggingOut(d) = self.phase {
            consider(d);
        }
        if let (Phase::Running, Some(c)) = (self.phase, &self.control) {
            if c.state == CtlState::Established {
                consider(c.last_received + LEASE);
                consider(c.last_sent + PING_AFTER);
                if let Some(ping) = c.unanswered_ping() {
                    consider(ping + PING_AFTER);
                }
            } else {
                consider(c.since + HANDSHAKE);
            }
        }
        for cb in &self.callbacks {
            consider(cb.deadline);
        }
        next
    }

    /// What `handle_timeout(now)` does.
    fn fire(&mut self) {
        let now = self.now;
        if let Phase::LoggingOut(d) = self.phase
            && now >= d
        {
            return self.finish_logout(false);
        }
        if let (Phase::Running, Some(c)) = (self.phase, &self.control) {
            if c.state != CtlState::Established {
                if now >= c.since + HANDSHAKE {
                    let why = if c.state == CtlState::Dialling {
                        DisconnectReason::ConnectFailed {
                            error: ConnectError::TimedOut,
                        }
                    } else {
                        DisconnectReason::HandshakeTimeout
                    };
                    self.control_lost(why, true);
                }
            } else if now >= c.last_received + LEASE
                || c.unanswered_ping()
                    .is_some_and(|ping| now >= ping + PING_AFTER)
            {
                self.control_lost(DisconnectReason::ServerSilent, true);
            } else if now >= c.last_sent + PING_AFTER {
                if let Some(c) = self.control.as_mut() {
                    c.last_ping = Some(now);
                }
                self.send_control(F::Ping);
            }
        }
        if let Some(at) = self.reconnect_at
            && now >= at
            && !self.finished()
        {
            self.reconnect_at = None;
            self.start_control();
        }
        while let Some(cb) = self.callbacks.iter().find(|c| now >= c.deadline).cloned() {
            if cb.ready && self.session.is_some() && self.pings_callbacks {
                let after = std::time::Duration::from_millis(self.callback_idle());
                self.callbacks.retain(|c| c.id != cb.id);
                self.out(Out::Close(Role::Callback(cb.id)));
                self.ev(E::CallbackClosed(cb.id, CallbackClosure::Silent { after }));
            } else if cb.ready {
                // [D-16]: quiet, but this server never pinged: kept open.
                let deadline = now + self.callback_idle();
                if let Some(c) = self.callbacks.iter_mut().find(|c| c.id == cb.id) {
                    c.deadline = deadline;
                }
            } else {
                self.reject(
                    cb.id,
                    ErrorCode::Timeout,
                    CallbackRejection::HandshakeTimeout,
                );
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        let until = self.now + ms;
        while let Some(at) = self.next_deadline() {
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            self.fire();
        }
        self.now = until;
    }
}

impl ReferenceStateMachine for ClientModel {
    type State = ClientModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Self::State> {
        (
            prop_oneof![
                Just(Policy::Dynamic),
                Just(Policy::Range(6000, 6001)),
                Just(Policy::Fixed(7000)),
            ],
            prop::bool::weighted(0.7),
            1..=MAX_SERVERS,
        )
            .prop_map(|(policy, backchannel, servers)| {
                ClientModel::new(policy, backchannel, servers)
            })
            .boxed()
    }

    fn transitions(state: &Self::State) -> BoxedStrategy<Self::Transition> {
        strategies::transition(state)
    }

    fn preconditions(state: &Self::State, t: &Self::Transition) -> bool {
        let running = state.phase == Phase::Running;
        let ctl = state.control.as_ref().map(|c| c.state);
        let ready = |id: usize| state.callbacks.iter().any(|c| c.id == id && c.ready);
        match *t {
            Transition::Bind { .. } => {
                matches!(state.listen, Listen::Pending(_) | Listen::Abandoned)
            }
            Transition::Dial { .. } => ctl == Some(CtlState::Dialling),
            Transition::Login { grant } => {
                running
                    && ctl == Some(CtlState::AwaitHello)
                    && (grant == Grant::New
                        || state.control.as_ref().is_some_and(|c| c.resume.is_some()))
            }
            Transition::LoginRefused { .. } => running && ctl == Some(CtlState::AwaitHello),
            Transition::Status { state: s } => running && state.established() && s < 3,
            Transition::Accept => true,
            Transition::CbHello { cb, .. } => {
                state.callbacks.iter().any(|c| c.id == cb && !c.ready)
            }
            Transition::Notify { on, .. } | Transition::Ping { on } => match on {
                On::Control => running && state.established(),
                On::Callback(id) => ready(id),
            },
            Transition::Bye { .. } => state.established(),
            Transition::CloseControl => ctl.is_some_and(|c| c != CtlState::Dialling),
            Transition::CloseCallback { cb } => state.callbacks.iter().any(|c| c.id == cb),
            Transition::Advance { .. } => true,
            Transition::Logout => running,
        }
    }

    fn apply(mut state: Self::State, t: &Self::Transition) -> Self::State {
        state.expect.clear();
        match *t {
            Transition::Bind { free } => state.bind(free),
            Transition::Dial { ok } => {
                if ok {
                    if let Some(c) = state.control.as_mut() {
                        c.state = CtlState::AwaitHello;
                        c.last_sent = state.now;
                        c.last_received = state.now;
                    }
                } else {
                    state.control_lost(
                        DisconnectReason::ConnectFailed {
                            error: ConnectError::Refused,
                        },
                        false,
                    );
                }
            }
            Transition::Login { grant } => state.login(grant),
            Transition::LoginRefused { error } => state.login_refused(error),
            Transition::Status { state: s } => {
                if let Some(c) = state.control.as_mut() {
                    c.last_received = state.now;
                    c.status = Some(s);
                }
                state.ev(E::Status(s));
            }
            Transition::Accept => state.accept(),
            Transition::CbHello { cb, hello } => state.cb_hello(cb, hello),
            Transition::Notify { on, first, count } => state.notify(on, first, count),
            Transition::Ping { on } => match on {
                On::Control => {
                    if let Some(c) = state.control.as_mut() {
                        c.last_received = state.now;
                    }
                    state.send_control(F::Pong);
                }
                On::Callback(id) => {
                    let deadline = state.now + state.callback_idle();
                    if let Some(cb) = state.callbacks.iter_mut().find(|c| c.id == id) {
                        cb.deadline = deadline;
                    }
                    state.pings_callbacks = true;
                    state.out(Out::Frame(Role::Callback(id), F::Pong));
                }
            },
            Transition::Bye { reason } => state.bye(reason),
            Transition::CloseControl => state.control_lost(DisconnectReason::Closed, false),
            Transition::CloseCallback { cb } => {
                let ready = state.callbacks.iter().any(|c| c.id == cb && c.ready);
                state.callbacks.retain(|c| c.id != cb);
                if ready {
                    state.ev(E::CallbackClosed(cb, CallbackClosure::ClosedByServer));
                }
            }
            Transition::Advance { ms } => state.advance(ms),
            Transition::Logout => {
                if state.established() {
                    state.send_control(F::Logout);
                    state.phase = Phase::LoggingOut(state.now + LOGOUT_TIMEOUT);
                } else {
                    state.finish_logout(false);
                }
            }
        }
        state
    }
}
