//! The reference model of the server: the protocol's session and delivery
//! rules, written as plainly as possible, and the observations they predict
//! for each step.

use std::collections::BTreeMap;

use faxnotify_core::wire::ErrorCode;
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

use super::strategies;
use super::transition::{AckOn, AdvPort, NotifyTo, Resume, SeqChoice, Transition};

/// The server configuration the model describes (the SUT is built with it).
pub const LEASE: u64 = 30_011;
pub const HANDSHAKE: u64 = 10_003;
pub const CALLBACK_TIMEOUT: u64 = 5_000;
pub const WINDOW: u64 = 3;
pub const QUEUE_LIMIT: u64 = 6;
pub const SESSIONS_PER_USER: usize = 2;
pub const BACKOFF_INITIAL: u64 = 500;
pub const BACKOFF_MAX: u64 = 30_000;
pub const USERS: u8 = 3;
/// Control connections that may await their login at once (below the
/// server's per-address limit, which the model does not describe).
pub const MAX_PENDING_CONNS: usize = 4;

/// The delivery path of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    None,
    Callback,
    Backchannel,
}

/// A CALLBACK_STATUS state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Reachable,
    Unreachable,
    Backchannel,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Logout,
    LeaseExpired,
    Replaced,
    ByServer,
    Error(ErrorCode),
}

/// An event of the server's application, per session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obs {
    Opened,
    Resumed,
    Detached,
    Closed(Ended),
    Delivered(u64, u64),
    Undelivered(Vec<u64>),
    Status(Status),
}

/// How a login ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    Opened(usize),
    Resumed(usize),
    UnsupportedVersion,
    BadCredentials,
    UnknownSession,
    TooManySessions,
}

/// A refusal in a notify report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    QueueFull,
    NoSuchSession,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Unauth,
    AwaitAdvertise(usize),
    Established(usize),
    Closed,
}

#[derive(Clone, Debug)]
pub struct ConnRef {
    pub peer: u8,
    pub phase: Phase,
    pub accepted_at: u64,
    /// NOTIFYs went out on it (late ACKs are legal [D-1]).
    pub carried_backchannel: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dial {
    Idle,
    Backoff(u64),
    Pending(u64),
}

#[derive(Clone, Debug)]
pub struct SessionRef {
    pub user: u8,
    pub live: bool,
    pub control: Option<usize>,
    pub peer: u8,
    pub backchannel: bool,
    pub advertised: Option<u16>,
    pub path: Path,
    pub reported: Option<Status>,
    pub held: Option<(u8, u16)>,
    pub dial: Dial,
    pub failures: u32,
    pub lease_deadline: u64,
    pub last_seq: u64,
    pub acked: u64,
    pub sent: u64,
    pub max_sent: u64,
}

impl SessionRef {
    /// The callback endpoint [C-1]: the control peer's address, the advertised port.
    pub fn endpoint(&self) -> Option<(u8, u16)> {
        match self.advertised {
            Some(p) if p != 0 => Some((ip_of(self.peer), p)),
            _ => None,
        }
    }
}

/// The address behind a peer index: peer 2 is peer 0's address, IPv4-mapped.
pub fn ip_of(peer: u8) -> u8 {
    match peer % 3 {
        1 => 2,
        _ => 1,
    }
}

/// What one step must produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    pub events: BTreeMap<usize, Vec<Obs>>,
    pub notifies: BTreeMap<usize, Vec<(Path, u64)>>,
    pub login: Option<LoginResult>,
    pub report: Option<Vec<(usize, Result<u64, Refusal>)>>,
    /// `end_session` of an ended session is refused.
    pub end_refused: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ServerModel {
    pub now: u64,
    pub conns: Vec<ConnRef>,
    pub sessions: Vec<SessionRef>,
    pub endpoints: BTreeMap<(u8, u16), usize>,
    pub expect: Expect,
}

impl ServerModel {
    fn event(&mut self, s: usize, obs: Obs) {
        self.expect.events.entry(s).or_default().push(obs);
    }

    /// Sends what the window allows on the path [B-4].
    fn pump(&mut self, s: usize) {
        let path = self.sessions[s].path;
        if path == Path::None {
            return;
        }
        loop {
            let x = &mut self.sessions[s];
            if x.sent >= x.last_seq || x.sent - x.acked >= WINDOW {
                break;
            }
            x.sent += 1;
            x.max_sent = x.max_sent.max(x.sent);
            let seq = x.sent;
            self.expect.notifies.entry(s).or_default().push((path, seq));
        }
    }

    fn report(&mut self, s: usize, status: Status) {
        if self.sessions[s].control.is_none() {
            return;
        }
        self.sessions[s].reported = Some(status);
        self.event(s, Obs::Status(status));
    }

    fn use_backchannel(&mut self, s: usize) {
        let Some(c) = self.sessions[s].control else {
            return;
        };
        let x = &mut self.sessions[s];
        x.path = Path::Backchannel;
        x.sent = x.acked;
        self.conns[c].carried_backchannel = true;
        self.report(s, Status::Backchannel);
        self.pump(s);
    }

    fn start_dial(&mut self, s: usize) {
        let x = &mut self.sessions[s];
        if x.control.is_none() || x.path == Path::Callback || matches!(x.dial, Dial::Pending(_)) {
            return;
        }
        if x.endpoint().is_none() {
            return;
        }
        x.dial = Dial::Pending(self.now);
    }

    fn dial_failed(&mut self, s: usize) {
        let now = self.now;
        let x = &mut self.sessions[s];
        x.failures += 1;
        let delay = (BACKOFF_INITIAL << (x.failures - 1).min(20)).min(BACKOFF_MAX);
        x.dial = Dial::Backoff(now + delay);
        if x.control.is_none()
            || matches!(x.reported, Some(Status::Unreachable | Status::Backchannel))
        {
            return;
        }
        if x.backchannel {
            self.use_backchannel(s);
        } else {
            self.report(s, Status::Unreachable);
        }
    }

    fn drop_callbacks(&mut self, s: usize) {
        let x = &mut self.sessions[s];
        x.dial = Dial::Idle;
        x.path = Path::None;
        x.failures = 0;
    }

    /// [C-10]: every unacknowledged seq reported, then the end.
    fn end_session(&mut self, s: usize, why: Ended) {
        let x = &mut self.sessions[s];
        if !x.live {
            return;
        }
        x.live = false;
        let undelivered: Vec<u64> = (x.acked + 1..=x.last_seq).collect();
        let control = x.control.take();
        if let Some(held) = x.held.take()
            && self.endpoints.get(&held) == Some(&s)
        {
            self.endpoints.remove(&held);
        }
        x.dial = Dial::Idle;
        x.path = Path::None;
        if let Some(c) = control {
            self.conns[c].phase = Phase::Closed;
        }
        if !undelivered.is_empty() {
            self.event(s, Obs::Undelivered(undelivered));
        }
        self.event(s, Obs::Closed(why));
    }

    fn detach(&mut self, s: usize) {
        self.drop_callbacks(s);
        let x = &mut self.sessions[s];
        x.control = None;
        x.reported = None;
        self.event(s, Obs::Detached);
    }

    fn seq(&self, s: usize, choice: SeqChoice) -> u64 {
        let x = &self.sessions[s];
        match choice {
            SeqChoice::Latest => x.max_sent,
            SeqChoice::Acked => x.acked,
            SeqChoice::Middle => x.acked + (x.max_sent - x.acked) / 2,
            SeqChoice::Zero => 0,
            SeqChoice::AboveSent => x.max_sent + 1,
            SeqChoice::BelowAcked => x.acked.saturating_sub(1),
        }
    }

    /// A cumulative ACK [B-2] [D-9].
    fn ack(&mut self, s: usize, seq: u64) {
        let x = &mut self.sessions[s];
        if seq > x.max_sent {
            return self.end_session(s, Ended::Error(ErrorCode::UnexpectedFrame));
        }
        if seq <= x.acked {
            return;
        }
        let first = x.acked + 1;
        x.acked = seq;
        x.sent = x.sent.max(seq);
        self.event(s, Obs::Delivered(first, seq));
        self.pump(s);
    }

    fn live_of_user(&self, user: u8) -> usize {
        self.sessions
            .iter()
            .filter(|x| x.live && x.user == user)
            .count()
    }

    fn login(
        &mut self,
        conn: usize,
        user: u8,
        password_ok: bool,
        version_ok: bool,
        backchannel: bool,
        resume: Resume,
    ) {
        let fail = |m: &mut Self, r: LoginResult| {
            m.conns[conn].phase = Phase::Closed;
            m.expect.login = Some(r);
        };
        if !version_ok {
            return fail(self, LoginResult::UnsupportedVersion);
        }
        if !password_ok {
            return fail(self, LoginResult::BadCredentials);
        }
        let peer = self.conns[conn].peer;
        match resume {
            Resume::Unknown => fail(self, LoginResult::UnknownSession),
            Resume::Session(r) if !(self.sessions[r].live && self.sessions[r].user == user) => {
                fail(self, LoginResult::UnknownSession)
            }
            Resume::Session(r) => {
                // [C-6]: the old control connection is replaced, callbacks closed, queue kept.
                self.drop_callbacks(r);
                if let Some(old) = self.sessions[r].control.take() {
                    self.conns[old].phase = Phase::Closed;
                }
                let x = &mut self.sessions[r];
                x.control = Some(conn);
                x.peer = peer;
                x.backchannel = backchannel;
                x.advertised = None;
                x.reported = None;
                x.lease_deadline = self.now + LEASE;
                self.conns[conn].phase = Phase::AwaitAdvertise(r);
                self.expect.login = Some(LoginResult::Resumed(r));
                self.event(r, Obs::Resumed);
            }
            Resume::New if self.live_of_user(user) >= SESSIONS_PER_USER => {
                fail(self, LoginResult::TooManySessions)
            }
            Resume::New => {
                let s = self.sessions.len();
                self.sessions.push(SessionRef {
                    user,
                    live: true,
                    control: Some(conn),
                    peer,
                    backchannel,
                    advertised: None,
                    path: Path::None,
                    reported: None,
                    held: None,
                    dial: Dial::Idle,
                    failures: 0,
                    lease_deadline: self.now + LEASE,
                    last_seq: 0,
                    acked: 0,
                    sent: 0,
                    max_sent: 0,
                });
                self.conns[conn].phase = Phase::AwaitAdvertise(s);
                self.expect.login = Some(LoginResult::Opened(s));
                self.event(s, Obs::Opened);
            }
        }
    }

    fn advertise(&mut self, conn: usize, port: AdvPort) {
        let s = match self.conns[conn].phase {
            Phase::Unauth => {
                self.conns[conn].phase = Phase::Closed;
                return;
            }
            Phase::Closed => return,
            Phase::Established(s) => {
                self.sessions[s].lease_deadline = self.now + LEASE;
                return self.end_session(s, Ended::Error(ErrorCode::UnexpectedFrame));
            }
            Phase::AwaitAdvertise(s) => s,
        };
        self.sessions[s].lease_deadline = self.now + LEASE;
        let port = match port {
            AdvPort::Privileged => {
                return self.end_session(s, Ended::Error(ErrorCode::BadPort));
            }
            AdvPort::Zero if !self.sessions[s].backchannel => {
                return self.end_session(s, Ended::Error(ErrorCode::BadPort));
            }
            AdvPort::Zero => 0,
            AdvPort::Port(p) => p,
        };
        let x = &mut self.sessions[s];
        x.advertised = Some(port);
        let endpoint = x.endpoint();
        if let Some(held) = x.held
            && endpoint != Some(held)
        {
            x.held = None;
            if self.endpoints.get(&held) == Some(&s) {
                self.endpoints.remove(&held);
            }
        }
        self.conns[conn].phase = Phase::Established(s);
        if port == 0 {
            self.use_backchannel(s);
        } else {
            self.sessions[s].failures = 0;
            self.start_dial(s);
        }
    }

    fn dial_ok(&mut self, s: usize, choice: SeqChoice) {
        let last_seq = self.seq(s, choice);
        let x = &mut self.sessions[s];
        if last_seq < x.acked || last_seq > x.max_sent {
            return self.end_session(s, Ended::Error(ErrorCode::UnexpectedFrame));
        }
        let acked = (last_seq > x.acked).then(|| (x.acked + 1, last_seq));
        x.acked = x.acked.max(last_seq);
        let Some(endpoint) = x.endpoint() else {
            return;
        };
        // [C-4]: the endpoint's older holder is replaced.
        if let Some(&other) = self.endpoints.get(&endpoint)
            && other != s
        {
            self.end_session(other, Ended::Replaced);
        }
        self.endpoints.insert(endpoint, s);
        let x = &mut self.sessions[s];
        if let Some(held) = x.held.replace(endpoint)
            && held != endpoint
            && self.endpoints.get(&held) == Some(&s)
        {
            self.endpoints.remove(&held);
        }
        let x = &mut self.sessions[s];
        x.path = Path::Callback;
        x.dial = Dial::Idle;
        x.failures = 0;
        x.sent = x.acked;
        let reported = x.reported;
        if let Some((first, last)) = acked {
            self.event(s, Obs::Delivered(first, last));
        }
        if reported != Some(Status::Reachable) {
            self.report(s, Status::Reachable);
        }
        self.pump(s);
    }

    fn notify_one(&mut self, s: usize) -> Result<u64, Refusal> {
        if !self.sessions[s].live {
            return Err(Refusal::NoSuchSession);
        }
        let x = &mut self.sessions[s];
        if x.last_seq - x.acked >= QUEUE_LIMIT {
            return Err(Refusal::QueueFull);
        }
        x.last_seq += 1;
        let seq = x.last_seq;
        self.pump(s);
        Ok(seq)
    }

    /// The next deadline: (time, what). At equal times the server runs
    /// connection deadlines before session deadlines (its timer heap orders
    /// them so); nothing else about ties is observable.
    fn next_deadline(&self) -> Option<(u64, Due)> {
        let mut best: Option<(u64, Due)> = None;
        let mut consider = |at: u64, due: Due| {
            let class = |d: &Due| u8::from(matches!(d, Due::Lease(_) | Due::Redial(_)));
            if best.is_none_or(|(b, d)| (at, class(&due)) < (b, class(&d))) {
                best = Some((at, due));
            }
        };
        for (c, conn) in self.conns.iter().enumerate() {
            if matches!(conn.phase, Phase::Unauth | Phase::AwaitAdvertise(_)) {
                consider(conn.accepted_at + HANDSHAKE, Due::Handshake(c));
            }
        }
        for (s, x) in self.sessions.iter().enumerate() {
            if !x.live {
                continue;
            }
            consider(x.lease_deadline, Due::Lease(s));
            match x.dial {
                Dial::Backoff(at) => consider(at, Due::Redial(s)),
                Dial::Pending(since) => consider(since + CALLBACK_TIMEOUT, Due::DialTimeout(s)),
                Dial::Idle => {}
            }
        }
        best
    }

    fn advance(&mut self, ms: u64) {
        let until = self.now + ms;
        let mut steps = 0;
        while let Some((at, due)) = self.next_deadline() {
            if at > until {
                break;
            }
            steps += 1;
            assert!(steps < 100_000, "the model loops on {due:?} at {at}");
            self.now = at;
            match due {
                Due::Handshake(c) => match self.conns[c].phase {
                    Phase::AwaitAdvertise(s) => {
                        self.end_session(s, Ended::Error(ErrorCode::Timeout));
                    }
                    _ => self.conns[c].phase = Phase::Closed,
                },
                Due::Lease(s) => self.end_session(s, Ended::LeaseExpired),
                Due::Redial(s) => {
                    self.sessions[s].dial = Dial::Idle;
                    self.start_dial(s);
                }
                Due::DialTimeout(s) => {
                    self.sessions[s].dial = Dial::Idle;
                    self.dial_failed(s);
                }
            }
        }
        self.now = until;
    }

    /// Whether session `s` has a pending dial that no other session's
    /// pending dial shares its endpoint with (so the harness can tell
    /// which connection it is).
    pub fn dial_answerable(&self, s: usize) -> bool {
        let x = &self.sessions[s];
        if !x.live || !matches!(x.dial, Dial::Pending(_)) {
            return false;
        }
        let endpoint = x.endpoint();
        !self.sessions.iter().enumerate().any(|(o, y)| {
            o != s && y.live && matches!(y.dial, Dial::Pending(_)) && y.endpoint() == endpoint
        })
    }

    /// Control connections still waiting for their login.
    pub fn pending_conns(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| c.phase == Phase::Unauth)
            .count()
    }

    /// Pending dials per endpoint.
    pub fn pending_dials(&self) -> BTreeMap<(u8, u16), usize> {
        let mut out = BTreeMap::new();
        for x in &self.sessions {
            if x.live
                && matches!(x.dial, Dial::Pending(_))
                && let Some(e) = x.endpoint()
            {
                *out.entry(e).or_default() += 1;
            }
        }
        out
    }
}

#[derive(Clone, Copy, Debug)]
enum Due {
    Handshake(usize),
    Lease(usize),
    Redial(usize),
    DialTimeout(usize),
}

impl ReferenceStateMachine for ServerModel {
    type State = ServerModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Self::State> {
        Just(ServerModel::default()).boxed()
    }

    fn transitions(state: &Self::State) -> BoxedStrategy<Self::Transition> {
        strategies::transition(state)
    }

    fn preconditions(state: &Self::State, t: &Self::Transition) -> bool {
        let session_live = |s: usize| state.sessions.get(s).is_some_and(|x| x.live);
        match *t {
            Transition::Connect { .. } => state.pending_conns() < MAX_PENDING_CONNS,
            Transition::Login { conn, resume, .. } => {
                state
                    .conns
                    .get(conn)
                    .is_some_and(|c| c.phase == Phase::Unauth)
                    && match resume {
                        Resume::Session(r) => r < state.sessions.len(),
                        _ => true,
                    }
            }
            Transition::Advertise { conn, .. } => conn < state.conns.len(),
            Transition::DialOk { session, .. } | Transition::DialFail { session } => {
                session < state.sessions.len() && state.dial_answerable(session)
            }
            Transition::Notify { to, .. } => match to {
                NotifyTo::Session(s) => s < state.sessions.len(),
                _ => true,
            },
            Transition::Ack { session, on, .. } => {
                session_live(session)
                    && match on {
                        AckOn::Callback => state.sessions[session].path == Path::Callback,
                        AckOn::Control => state.sessions[session].control.is_some(),
                    }
            }
            Transition::Ping { session } | Transition::Logout { session } => {
                session_live(session) && state.sessions[session].control.is_some()
            }
            Transition::CloseControl { session } => {
                session_live(session) && state.sessions[session].control.is_some()
            }
            Transition::CloseCallback { session } => {
                session_live(session) && state.sessions[session].path == Path::Callback
            }
            Transition::EndSession { session } => session < state.sessions.len(),
            Transition::Advance { .. } => true,
        }
    }

    fn apply(mut state: Self::State, t: &Self::Transition) -> Self::State {
        state.expect = Expect::default();
        match *t {
            Transition::Connect { peer } => state.conns.push(ConnRef {
                peer,
                phase: Phase::Unauth,
                accepted_at: state.now,
                carried_backchannel: false,
            }),
            Transition::Login {
                conn,
                user,
                password_ok,
                version_ok,
                backchannel,
                resume,
            } => state.login(conn, user, password_ok, version_ok, backchannel, resume),
            Transition::Advertise { conn, port } => state.advertise(conn, port),
            Transition::DialOk { session, last_seq } => state.dial_ok(session, last_seq),
            Transition::DialFail { session } => {
                state.sessions[session].dial = Dial::Idle;
                state.dial_failed(session);
            }
            Transition::Notify { to, count } => {
                let mut report = Vec::new();
                for _ in 0..count {
                    let targets: Vec<usize> = match to {
                        NotifyTo::All => (0..state.sessions.len())
                            .filter(|&s| state.sessions[s].live)
                            .collect(),
                        NotifyTo::User(u) => (0..state.sessions.len())
                            .filter(|&s| state.sessions[s].live && state.sessions[s].user == u)
                            .collect(),
                        NotifyTo::Session(s) => vec![s],
                    };
                    for s in targets {
                        let r = state.notify_one(s);
                        report.push((s, r));
                    }
                }
                state.expect.report = Some(report);
            }
            Transition::Ack { session, on, seq } => {
                let seq = state.seq(session, seq);
                match on {
                    AckOn::Callback => state.ack(session, seq),
                    AckOn::Control => {
                        let c = state.sessions[session].control.unwrap_or_default();
                        state.sessions[session].lease_deadline = state.now + LEASE;
                        let established = matches!(state.conns[c].phase, Phase::Established(_));
                        let on_backchannel = state.sessions[session].path == Path::Backchannel;
                        if established && (on_backchannel || state.conns[c].carried_backchannel) {
                            state.ack(session, seq);
                        } else {
                            state.end_session(session, Ended::Error(ErrorCode::UnexpectedFrame));
                        }
                    }
                }
            }
            Transition::Ping { session } => {
                let c = state.sessions[session].control.unwrap_or_default();
                state.sessions[session].lease_deadline = state.now + LEASE;
                if !matches!(state.conns[c].phase, Phase::Established(_)) {
                    state.end_session(session, Ended::Error(ErrorCode::UnexpectedFrame));
                }
            }
            Transition::Logout { session } => {
                let c = state.sessions[session].control.unwrap_or_default();
                let why = if matches!(state.conns[c].phase, Phase::Established(_)) {
                    Ended::Logout
                } else {
                    Ended::Error(ErrorCode::UnexpectedFrame)
                };
                state.end_session(session, why);
            }
            Transition::CloseControl { session } => {
                if let Some(c) = state.sessions[session].control {
                    state.conns[c].phase = Phase::Closed;
                }
                state.detach(session);
            }
            Transition::CloseCallback { session } => {
                let x = &mut state.sessions[session];
                x.path = Path::None;
                x.failures = 0;
                state.start_dial(session);
            }
            Transition::EndSession { session } => {
                if state.sessions[session].live {
                    state.end_session(session, Ended::ByServer);
                } else {
                    state.expect.end_refused = true;
                }
            }
            Transition::Advance { ms } => state.advance(ms),
        }
        state
    }
}
