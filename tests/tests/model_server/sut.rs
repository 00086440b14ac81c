//! The system under test: a real `Server`, driven by scripted clients that
//! follow FNP/1 (or break it where a step says so), and compared with the
//! reference model after every step.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, Credentials, SessionKey, cb_ready_proof, client_proof, session_key,
};
use faxnotify_core::io::{CloseKind, ConnectError};
use faxnotify_core::server::{
    CloseReason, DeliveryPath, Event, Input, LoginFailure, MemoryUserStore, Output, Refused,
    Server, ServerConfig, Target,
};
use faxnotify_core::wire::{
    Advertise, CallbackState, Caps, CbReady, Decoder, Frame, Login, Nonce, PolicyKind, Role,
};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_testkit::Endpoint;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::reference::{
    BACKOFF_INITIAL, BACKOFF_MAX, CALLBACK_TIMEOUT, Ended, Expect, HANDSHAKE, LEASE, LoginResult,
    Obs, Path, QUEUE_LIMIT, Refusal, SESSIONS_PER_USER, ServerModel, Status, WINDOW, ip_of,
};
use super::transition::{AckOn, AdvPort, NotifyTo, Resume, SeqChoice, Transition};

const USERS: [(&str, &str); 3] = [
    ("alice", "correct horse"),
    ("bob", "battery staple"),
    ("carol", "hunter2"),
];

fn secrets() -> &'static Vec<ClientSecrets> {
    static SECRETS: OnceLock<Vec<ClientSecrets>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        USERS
            .iter()
            .enumerate()
            .map(|(i, (_, pw))| ClientSecrets::derive(pw, &[i as u8 + 1; 16], 4096))
            .collect()
    })
}

fn ip(index: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, index))
}

fn peer_addr(peer: u8, port: u16) -> SocketAddr {
    let v4 = Ipv4Addr::new(10, 0, 0, ip_of(peer));
    match peer % 3 {
        2 => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
        _ => SocketAddr::new(IpAddr::V4(v4), port),
    }
}

#[derive(Debug, Default)]
struct ConnInfo {
    control: bool,
    live: bool,
    hello: Vec<u8>,
    login: Option<(Vec<u8>, usize)>,
    challenge: Option<Vec<u8>>,
    session: Option<SessionId>,
    client_nonce: Nonce,
    server_nonce: Option<Nonce>,
    ready: bool,
}

/// A notify report, per session (model index).
type Report = BTreeMap<usize, Vec<Result<u64, Refusal>>>;

/// What one step produced.
#[derive(Debug, Default)]
struct Observed {
    events: BTreeMap<usize, Vec<Obs>>,
    notifies: BTreeMap<usize, Vec<(Path, u64)>>,
    login: Option<LoginResult>,
}

pub struct ServerSut {
    /// The server and the outputs it produced, taken one by one by
    /// [`ServerSut::drain`] as the scripted clients' adapter would.
    server: Endpoint<Server>,
    base: Instant,
    /// The model's time, in ms.
    now: u64,
    /// The server's clock: the model's time, or a server deadline between
    /// two of its milliseconds while an Advance runs (a third of the lease).
    clock: Instant,
    controls: Vec<ConnId>,
    ids: Vec<SessionId>,
    index: HashMap<SessionId, usize>,
    conns: HashMap<ConnId, ConnInfo>,
    order: Vec<ConnId>,
    dials: Vec<(ConnId, SocketAddr)>,
    keys: HashMap<SessionId, SessionKey>,
    /// Per session: the highest NOTIFY seq seen and the highest acknowledged.
    seen: HashMap<SessionId, (u64, u64)>,
    next_port: u16,
    obs: Observed,
    pongs: Vec<(ConnId, u64)>,
}

impl ServerSut {
    fn new() -> Self {
        let mut users = MemoryUserStore::new();
        for (i, (name, _)) in USERS.iter().enumerate() {
            let s = &secrets()[i];
            let c = Credentials::from_parts(
                vec![i as u8 + 1; 16],
                4096,
                s.stored_key.clone(),
                s.server_key.clone(),
                Role::User,
            )
            .expect("valid credentials");
            users.insert(name, c).expect("valid name");
        }
        let mut config = ServerConfig::new([4; 32]);
        config.lease = Duration::from_millis(LEASE);
        config.handshake_timeout = Duration::from_millis(HANDSHAKE);
        config.callback_handshake_timeout = Duration::from_millis(CALLBACK_TIMEOUT);
        config.window = WINDOW as u32;
        config.queue_limit = QUEUE_LIMIT as usize;
        config.max_sessions_per_user = SESSIONS_PER_USER;
        config.max_dials_per_ip = 64;
        config.login_limiter.max_failures = 10_000;
        config.login_limiter.max_failures_per_address = 10_000;
        // The reference model ends a detached session at its lease [C-5].
        config.detached_grace = Duration::ZERO;
        config.dial_backoff.initial = Duration::from_millis(BACKOFF_INITIAL);
        config.dial_backoff.max = Duration::from_millis(BACKOFF_MAX);
        config.dial_backoff.jitter_percent = 0;
        let base = Instant::now();
        let server =
            Endpoint::new(Server::new(config, Box::new(users), [5; 32]).expect("valid config"));
        Self {
            server,
            base,
            now: 0,
            clock: base,
            controls: Vec::new(),
            ids: Vec::new(),
            index: HashMap::new(),
            conns: HashMap::new(),
            order: Vec::new(),
            dials: Vec::new(),
            keys: HashMap::new(),
            seen: HashMap::new(),
            next_port: 40_000,
            obs: Observed::default(),
            pongs: Vec::new(),
        }
    }

    fn at(&self) -> Instant {
        self.clock
    }

    fn event(&mut self, s: usize, o: Obs) {
        self.obs.events.entry(s).or_default().push(o);
    }

    fn session_index(&mut self, id: SessionId) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.ids.len();
        self.ids.push(id);
        self.index.insert(id, i);
        i
    }

    /// Takes every output the server produced, in order, and answers the
    /// callback keepalives among them.
    fn drain(&mut self) {
        loop {
            self.server.drain();
            while let Some(out) = self.server.next_output() {
                match out {
                    Output::Connect { conn, addr } => {
                        self.conns.insert(
                            conn,
                            ConnInfo {
                                live: true,
                                ..ConnInfo::default()
                            },
                        );
                        self.order.push(conn);
                        self.dials.push((conn, addr));
                    }
                    Output::Transmit { conn, data } => self.frames(conn, &data),
                    Output::Close { conn, kind } => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            // Only a connection that never got a session is
                            // released without waiting for its peer.
                            let expected = if c.control && c.session.is_none() {
                                CloseKind::Prompt
                            } else {
                                CloseKind::Graceful
                            };
                            assert_eq!(kind, expected, "how {conn} is closed");
                            c.live = false;
                        }
                        self.dials.retain(|(c, _)| *c != conn);
                    }
                    Output::Event(e) => self.server_event(e),
                    other => panic!("unexpected output {other:?}"),
                }
            }
            // Answer the callback keepalive as a client does [D-4].
            let pongs = std::mem::take(&mut self.pongs);
            if pongs.is_empty() {
                break;
            }
            for (conn, nonce) in pongs {
                self.send(conn, &Frame::Pong { nonce });
            }
        }
    }

    fn frames(&mut self, conn: ConnId, data: &[u8]) {
        let mut decoder = Decoder::default();
        let mut input = data;
        while let Ok(Some(frame)) = decoder.decode(&mut input) {
            let Some(info) = self.conns.get_mut(&conn) else {
                return;
            };
            let mut body = Vec::new();
            frame.encode_body(&mut body).expect("decoded frames encode");
            match frame {
                Frame::ServerHello(_) => info.hello = body,
                Frame::LoginChallenge(_) => info.challenge = Some(body),
                Frame::LoginOk(ok) => {
                    let id = SessionId::new(ok.session_id).expect("non-zero");
                    info.session = Some(id);
                    if let (Some((login, user)), Some(challenge)) = (&info.login, &info.challenge) {
                        let auth = AuthMessage::from_bodies(&info.hello, login, challenge);
                        let key = session_key(&secrets()[*user].client_key, &auth);
                        self.keys.insert(id, key);
                    }
                }
                Frame::CbHello(h) => {
                    info.session = SessionId::new(h.session_id);
                    info.server_nonce = Some(h.server_nonce);
                }
                Frame::Ping { nonce } if !info.control => self.pongs.push((conn, nonce)),
                Frame::Notify(n) => {
                    let path = if info.control {
                        Path::Backchannel
                    } else {
                        Path::Callback
                    };
                    let id = info.session.expect("NOTIFY on a connection with a session");
                    let seen = self.seen.entry(id).or_default();
                    seen.0 = seen.0.max(n.seq);
                    let s = self.session_index(id);
                    self.obs.notifies.entry(s).or_default().push((path, n.seq));
                }
                _ => {}
            }
        }
    }

    fn server_event(&mut self, e: Event) {
        match e {
            Event::SessionOpened { session, .. } => {
                let s = self.session_index(session);
                self.obs.login = Some(LoginResult::Opened(s));
                self.event(s, Obs::Opened);
            }
            Event::SessionResumed { session, .. } => {
                let s = self.session_index(session);
                self.obs.login = Some(LoginResult::Resumed(s));
                self.event(s, Obs::Resumed);
            }
            Event::SessionDetached { session, .. } => {
                let s = self.session_index(session);
                self.event(s, Obs::Detached);
            }
            Event::SessionClosed {
                session, reason, ..
            } => {
                let s = self.session_index(session);
                let why = match reason {
                    CloseReason::Logout => Ended::Logout,
                    CloseReason::LeaseExpired => Ended::LeaseExpired,
                    CloseReason::Replaced { .. } => Ended::Replaced,
                    CloseReason::EndedByServer => Ended::ByServer,
                    CloseReason::ProtocolError(e) => Ended::Error(e.code()),
                    other => panic!("unexpected close reason {other}"),
                };
                self.event(s, Obs::Closed(why));
            }
            Event::Delivered {
                session,
                first_seq,
                last_seq,
            } => {
                self.seen.entry(session).or_default().1 = last_seq;
                let s = self.session_index(session);
                self.event(s, Obs::Delivered(first_seq, last_seq));
            }
            Event::Undelivered {
                session,
                notifications,
                ..
            } => {
                let s = self.session_index(session);
                let seqs = notifications.iter().map(|n| n.seq).collect();
                self.event(s, Obs::Undelivered(seqs));
            }
            Event::CallbackStatus { session, state, .. } => {
                let s = self.session_index(session);
                let status = match state {
                    CallbackState::Reachable => Status::Reachable,
                    CallbackState::Unreachable => Status::Unreachable,
                    _ => Status::Backchannel,
                };
                self.event(s, Obs::Status(status));
            }
            Event::LoginFailed { reason, .. } => {
                self.obs.login = Some(match reason {
                    LoginFailure::BadCredentials => LoginResult::BadCredentials,
                    LoginFailure::UnsupportedVersion { .. } => LoginResult::UnsupportedVersion,
                    LoginFailure::UnknownSession { .. } => LoginResult::UnknownSession,
                    LoginFailure::TooManySessionsForUser => LoginResult::TooManySessions,
                    other => panic!("unexpected login failure {other}"),
                });
            }
            _ => {}
        }
    }

    fn send(&mut self, conn: ConnId, frame: &Frame<'_>) {
        let now = self.at();
        self.server
            .receive_frames(now, conn, std::slice::from_ref(frame));
        self.drain();
    }

    fn close(&mut self, conn: ConnId) {
        let now = self.at();
        self.server.input(now, Input::Closed { conn });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.live = false;
        }
        self.drain();
    }

    /// The session's newest open connection of a kind.
    fn conn_of(&self, s: usize, control: bool) -> ConnId {
        let id = self.ids[s];
        *self
            .order
            .iter()
            .rev()
            .find(|c| {
                let i = &self.conns[c];
                i.live && i.control == control && i.session == Some(id) && (control || i.ready)
            })
            .unwrap_or_else(|| panic!("session {s} has no open connection of that kind"))
    }

    fn seq(&self, s: usize, choice: SeqChoice) -> u64 {
        let (max, acked) = self.seen.get(&self.ids[s]).copied().unwrap_or_default();
        match choice {
            SeqChoice::Latest => max,
            SeqChoice::Acked => acked,
            SeqChoice::Middle => acked + (max - acked) / 2,
            SeqChoice::Zero => 0,
            SeqChoice::AboveSent => max + 1,
            SeqChoice::BelowAcked => acked.saturating_sub(1),
        }
    }

    fn run(&mut self, t: &Transition, model: &ServerModel) -> (Option<Report>, bool) {
        let mut report = None;
        let mut end_refused = false;
        match *t {
            Transition::Connect { peer } => {
                self.next_port += 1;
                let addr = peer_addr(peer, self.next_port);
                let now = self.at();
                let conn = self.server.accept(now, addr);
                self.controls.push(conn);
                self.order.push(conn);
                self.conns.insert(
                    conn,
                    ConnInfo {
                        control: true,
                        live: true,
                        ..ConnInfo::default()
                    },
                );
                self.drain();
            }
            Transition::Login {
                conn,
                user,
                password_ok,
                version_ok,
                backchannel,
                resume,
            } => {
                let c = self.controls[conn];
                let resume_session = match resume {
                    Resume::New => 0,
                    Resume::Session(r) => self.ids[r].get(),
                    Resume::Unknown => 0xdead_beef_0bad_cafe,
                };
                let user = usize::from(user);
                let login = Frame::Login(Login {
                    version: if version_ok { 1 } else { 2 },
                    user: USERS[user].0.into(),
                    client_nonce: [conn as u8; 32],
                    caps: if backchannel {
                        Caps::BACKCHANNEL
                    } else {
                        Caps::NONE
                    },
                    resume_session,
                });
                let mut body = Vec::new();
                login.encode_body(&mut body).expect("valid");
                if let Some(i) = self.conns.get_mut(&c) {
                    i.login = Some((body.clone(), user));
                }
                self.send(c, &login);
                let info = &self.conns[&c];
                if let Some(challenge) = info.challenge.clone() {
                    let auth = AuthMessage::from_bodies(&info.hello, &body, &challenge);
                    let mut proof = client_proof(&secrets()[user], &auth);
                    if !password_ok {
                        proof[0] ^= 1;
                    }
                    self.send(c, &Frame::LoginProof { proof });
                }
            }
            Transition::Advertise { conn, port } => {
                let (port, policy) = match port {
                    AdvPort::Zero => (0, PolicyKind::Dynamic),
                    AdvPort::Port(p) => (p, PolicyKind::Fixed),
                    AdvPort::Privileged => (80, PolicyKind::Fixed),
                };
                let frame = Frame::Advertise(Advertise {
                    port,
                    policy,
                    range_lo: 0,
                    range_hi: 0,
                });
                self.send(self.controls[conn], &frame);
            }
            Transition::DialOk { session, last_seq } => {
                let conn = self.pending_dial(session, model);
                let now = self.at();
                self.server.input(now, Input::Connected { conn });
                self.dials.retain(|(c, _)| *c != conn);
                self.drain();
                let client_nonce = [0xc0 ^ session as u8; 32];
                if let Some(i) = self.conns.get_mut(&conn) {
                    i.client_nonce = client_nonce;
                }
                self.send(conn, &Frame::CbChallenge { client_nonce });
                let info = &self.conns[&conn];
                let id = info.session.expect("CB_HELLO names the session");
                assert_eq!(id, self.ids[session], "the dial belongs to another session");
                let server_nonce = info.server_nonce.expect("CB_HELLO");
                let last_seq = self.seq(session, last_seq);
                let proof = cb_ready_proof(
                    &self.keys[&id],
                    &client_nonce,
                    &server_nonce,
                    id.get(),
                    last_seq,
                );
                if let Some(i) = self.conns.get_mut(&conn) {
                    i.ready = true;
                }
                self.send(conn, &Frame::CbReady(CbReady { last_seq, proof }));
            }
            Transition::DialFail { session } => {
                let conn = self.pending_dial(session, model);
                let now = self.at();
                let error = ConnectError::Refused;
                self.server.input(now, Input::ConnectFailed { conn, error });
                self.dials.retain(|(c, _)| *c != conn);
                if let Some(i) = self.conns.get_mut(&conn) {
                    i.live = false;
                }
                self.drain();
            }
            Transition::Notify { to, count } => {
                let target = match to {
                    NotifyTo::All => Target::All,
                    NotifyTo::User(u) => Target::User(USERS[usize::from(u)].0.to_owned()),
                    NotifyTo::Session(s) => Target::Session(self.ids[s]),
                };
                let mut out = Report::new();
                for i in 0..count {
                    let now = self.at();
                    let n = faxnotify_core::wire::Notification::server_message(format!("m{i}"));
                    let r = self
                        .server
                        .notify(now, target.clone(), &n)
                        .expect("encodable");
                    for a in r.accepted {
                        let s = self.session_index(a.session);
                        out.entry(s).or_default().push(Ok(a.seq));
                    }
                    for (id, why) in r.refused {
                        let s = self.session_index(id);
                        let why = match why {
                            Refused::QueueFull { .. } => Refusal::QueueFull,
                            Refused::NoSuchSession => Refusal::NoSuchSession,
                            other => panic!("unexpected refusal {other}"),
                        };
                        out.entry(s).or_default().push(Err(why));
                    }
                    self.drain();
                }
                report = Some(out);
            }
            Transition::Ack { session, on, seq } => {
                let conn = self.conn_of(session, on == AckOn::Control);
                let seq = self.seq(session, seq);
                self.send(conn, &Frame::Ack { seq });
            }
            Transition::Ping { session } => {
                let conn = self.conn_of(session, true);
                self.send(conn, &Frame::Ping { nonce: 7 });
            }
            Transition::CloseControl { session } => {
                let conn = self.conn_of(session, true);
                self.close(conn);
            }
            Transition::CloseCallback { session } => {
                let conn = self.conn_of(session, false);
                self.close(conn);
            }
            Transition::Logout { session } => {
                let conn = self.conn_of(session, true);
                self.send(conn, &Frame::Logout);
            }
            Transition::EndSession { session } => {
                let now = self.at();
                end_refused = self.server.end_session(now, self.ids[session]).is_err();
                self.drain();
            }
            Transition::Advance { ms } => {
                // As a runtime does: wake at each deadline, run it, answer.
                self.now += ms;
                let until = self.base + Duration::from_millis(self.now);
                while let Some(at) = self.server.poll_timeout() {
                    if at > until {
                        break;
                    }
                    self.clock = self.clock.max(at);
                    self.server.fire_due(self.clock);
                    self.drain();
                    if let Some(next) = self.server.poll_timeout() {
                        assert!(
                            next > self.clock,
                            "handle_timeout(now) left a deadline at or before now"
                        );
                    }
                }
                self.clock = until;
            }
        }
        (report, end_refused)
    }

    /// The connection of the session's pending dial.
    fn pending_dial(&self, s: usize, model: &ServerModel) -> ConnId {
        let (ipi, port) = model.sessions[s]
            .endpoint()
            .expect("a dialled session has an endpoint");
        let addr = SocketAddr::new(ip(ipi), port);
        let matching: Vec<ConnId> = self
            .dials
            .iter()
            .filter(|(_, a)| *a == addr)
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(matching.len(), 1, "pending dials to {addr}: {matching:?}");
        matching[0]
    }

    fn compare(&self, model: &ServerModel, observed: &Observed) {
        let e: &Expect = &model.expect;
        assert_eq!(observed.events, e.events, "events per session");
        assert_eq!(observed.notifies, e.notifies, "NOTIFYs per session");
        if e.login.is_some() || observed.login.is_some() {
            assert_eq!(observed.login, e.login, "login outcome");
        }
        let live = model.sessions.iter().filter(|s| s.live).count();
        assert_eq!(self.server.session_count(), live, "live sessions");
        for (s, m) in model.sessions.iter().enumerate() {
            let info = self.server.session(self.ids[s]);
            if !m.live {
                assert!(info.is_none(), "session {s} ended in the model only");
                continue;
            }
            let info = info.unwrap_or_else(|| panic!("session {s} ended on the server only"));
            let path = match info.path {
                DeliveryPath::None => Path::None,
                DeliveryPath::Callback(_) => Path::Callback,
                DeliveryPath::Backchannel(_) => Path::Backchannel,
                other => panic!("unexpected path {other:?}"),
            };
            let reported = info.callback_state.map(|c| match c {
                CallbackState::Reachable => Status::Reachable,
                CallbackState::Unreachable => Status::Unreachable,
                _ => Status::Backchannel,
            });
            assert_eq!(
                (
                    info.attached,
                    path,
                    reported,
                    info.last_seq,
                    info.acked_seq,
                    info.unacked
                ),
                (
                    m.control.is_some(),
                    m.path,
                    m.reported,
                    m.last_seq,
                    m.acked,
                    m.sent - m.acked
                ),
                "session {s}: (attached, path, status, last_seq, acked, in flight)"
            );
            assert_eq!(info.queue_depth as u64, m.last_seq - m.acked);
        }
        let mut dials: BTreeMap<(u8, u16), usize> = BTreeMap::new();
        for (_, addr) in &self.dials {
            let IpAddr::V4(v4) = addr.ip() else {
                panic!("the server dials {addr}: IPv4-mapped peers are dialled as IPv4 [C-1]");
            };
            *dials.entry((v4.octets()[3], addr.port())).or_default() += 1;
        }
        assert_eq!(dials, model.pending_dials(), "pending dials per endpoint");
    }
}

impl StateMachineTest for ServerSut {
    type SystemUnderTest = Self;
    type Reference = ServerModel;

    fn init_test(_: &<Self::Reference as ReferenceStateMachine>::State) -> Self::SystemUnderTest {
        ServerSut::new()
    }

    fn apply(
        mut sut: Self::SystemUnderTest,
        model: &<Self::Reference as ReferenceStateMachine>::State,
        t: <Self::Reference as ReferenceStateMachine>::Transition,
    ) -> Self::SystemUnderTest {
        sut.obs = Observed::default();
        if std::env::var_os("MODEL_TRACE").is_some() {
            eprintln!("{t:?}");
        }
        let (report, end_refused) = sut.run(&t, model);
        let observed = std::mem::take(&mut sut.obs);
        sut.compare(model, &observed);
        if let Some(expected) = &model.expect.report {
            let mut want = Report::new();
            for (s, r) in expected {
                want.entry(*s).or_default().push(*r);
            }
            assert_eq!(report.as_ref(), Some(&want), "notify reports per session");
        }
        assert_eq!(end_refused, model.expect.end_refused, "end_session refusal");
        sut
    }
}
