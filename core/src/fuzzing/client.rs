//! The `client` harness: the fuzzer plays the server (and the network) for
//! one [`Client`], through its whole life: binding, dialling, the login with
//! correct or broken proofs and signatures, the callback handshake,
//! notifications on every path, keepalive, BYE, ERROR, raw bytes, closes,
//! time steps and the application's logout.
//!
//! "Valid frame" operations compute what a real server would send from what
//! the client sent (the LOGIN_OK signature over the AuthMessage, CB_HELLO's
//! proof over the client's nonce), so the fuzzer reaches the delivery states
//! behind the login. PBKDF2 runs once per process: the client is handed the
//! keys for the harness's salt ([`Client::fuzz_prime_login_keys`]), and its
//! iteration cap is the protocol minimum, so no input can make it derive for
//! long.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::{Result, Unstructured};

use super::bytes::{self, Writer};
use super::{Conns, decode_transmit};
use crate::ConnId;
use crate::auth::{
    AuthMessage, ClientSecrets, MIN_ITERATIONS, SessionKey, cb_hello_proof, server_signature,
    session_key,
};
use crate::client::{
    BindError, Client, ClientConfig, ConnectError, Event, Input, InputError, ListenPolicy,
    NetworkSettings, Output,
};
use crate::io::CloseKind;
use crate::wire::{
    ByeReason, CallbackState, CallbackStatus, Caps, CbHello, ErrorCode, Frame, LoginChallenge,
    LoginOk, Nonce, Notify, Role, ServerHello,
};

const PASSWORD: &str = "correct horse";
const SALT: [u8; 16] = [0x5a; 16];

/// The keys of the harness's user for [`SALT`], derived once per process.
fn secrets() -> &'static ClientSecrets {
    static SECRETS: OnceLock<ClientSecrets> = OnceLock::new();
    SECRETS.get_or_init(|| ClientSecrets::derive(PASSWORD, &SALT, MIN_ITERATIONS))
}

fn server_addr(v6: bool) -> SocketAddr {
    if v6 {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            4580,
        )
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4580)
    }
}

/// How the client is configured (the first bytes of an input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientSetup {
    /// 0 dynamic, 1 range 6000-6002, 2 fixed 6000.
    pub(crate) policy: u8,
    /// Offer BACKCHANNEL.
    pub(crate) backchannel: bool,
    /// The server has an IPv6 address.
    pub(crate) v6: bool,
}

impl ClientSetup {
    fn read(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(Self {
            policy: bytes::u8(u)?,
            backchannel: bytes::bool(u)?,
            v6: bytes::bool(u)?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.u8(self.policy).bool(self.backchannel).bool(self.v6);
    }
}

/// One step of the fuzzer-played server. `path` 0 is the control
/// connection, `n` the `n`-th open callback connection (modulo how many).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientOp {
    /// Answer the pending Listen: 0 bound, 1 in use, 2 denied, 3 other.
    Bind { outcome: u8 },
    /// Answer the pending dial of the server.
    Dial { ok: bool },
    /// SERVER_HELLO: version range and caps from small tables.
    Hello { versions: u8, caps: u8 },
    /// LOGIN_CHALLENGE: salt 0 is the harness's (whose keys the client
    /// has); iterations from a table around the client's cap.
    Challenge { salt: u8, iterations: u8 },
    /// LOGIN_OK signed over the AuthMessage (unless `tamper`): session id 0,
    /// the previous one (a resume), a new one, or u64::MAX; lease from a table.
    LoginOk {
        session: u8,
        lease: u8,
        caps: u8,
        tamper: bool,
    },
    /// ADVERTISE_OK.
    AdvertiseOk { v6: bool },
    /// CALLBACK_STATUS.
    Status { state: u8 },
    /// NOTIFY on a path: seq next, repeated, skipping, 0 or u64::MAX; any kind.
    Notify {
        path: u8,
        seq: u8,
        kind: u8,
        len: u8,
    },
    /// PING on a path.
    Ping { path: u8 },
    /// PONG on a path.
    Pong { path: u8 },
    /// BYE on a path.
    Bye { path: u8, reason: u8 },
    /// ERROR on a path.
    Error { path: u8, code: u8 },
    /// The server connects to the callback listener.
    Accept,
    /// CB_HELLO on a callback: valid, wrong session, wrong proof, or made
    /// with the first session key the harness handed out.
    CbHello { path: u8, mode: u8 },
    /// Raw bytes on any connection the client ever issued.
    Raw { conn: u8, bytes: Vec<u8> },
    /// A connection closes (EOF or reset).
    Close { conn: u8 },
    /// Time passes; due timers run.
    Advance { ms: u16 },
    /// Time jumps to the client's next deadline, which runs.
    Timeout,
    /// The application logs out.
    Logout,
    /// Frames sent from now on are cut at this byte.
    Split { at: u8 },
}

const OPS: u8 = 20;

impl ClientOp {
    fn read(u: &mut Unstructured<'_>) -> Result<Self> {
        use bytes::{blob, bool as b, u8 as byte, u16 as short};
        Ok(match byte(u)? % OPS {
            0 => Self::Bind { outcome: byte(u)? },
            1 => Self::Dial { ok: b(u)? },
            2 => Self::Hello {
                versions: byte(u)?,
                caps: byte(u)?,
            },
            3 => Self::Challenge {
                salt: byte(u)?,
                iterations: byte(u)?,
            },
            4 => Self::LoginOk {
                session: byte(u)?,
                lease: byte(u)?,
                caps: byte(u)?,
                tamper: b(u)?,
            },
            5 => Self::AdvertiseOk { v6: b(u)? },
            6 => Self::Status { state: byte(u)? },
            7 => Self::Notify {
                path: byte(u)?,
                seq: byte(u)?,
                kind: byte(u)?,
                len: byte(u)?,
            },
            8 => Self::Ping { path: byte(u)? },
            9 => Self::Pong { path: byte(u)? },
            10 => Self::Bye {
                path: byte(u)?,
                reason: byte(u)?,
            },
            11 => Self::Error {
                path: byte(u)?,
                code: byte(u)?,
            },
            12 => Self::Accept,
            13 => Self::CbHello {
                path: byte(u)?,
                mode: byte(u)?,
            },
            14 => Self::Raw {
                conn: byte(u)?,
                bytes: blob(u)?,
            },
            15 => Self::Close { conn: byte(u)? },
            16 => Self::Advance { ms: short(u)? },
            17 => Self::Timeout,
            18 => Self::Logout,
            _ => Self::Split { at: byte(u)? },
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        match self {
            Self::Bind { outcome } => w.u8(0).u8(*outcome),
            Self::Dial { ok } => w.u8(1).bool(*ok),
            Self::Hello { versions, caps } => w.u8(2).u8(*versions).u8(*caps),
            Self::Challenge { salt, iterations } => w.u8(3).u8(*salt).u8(*iterations),
            Self::LoginOk {
                session,
                lease,
                caps,
                tamper,
            } => w.u8(4).u8(*session).u8(*lease).u8(*caps).bool(*tamper),
            Self::AdvertiseOk { v6 } => w.u8(5).bool(*v6),
            Self::Status { state } => w.u8(6).u8(*state),
            Self::Notify {
                path,
                seq,
                kind,
                len,
            } => w.u8(7).u8(*path).u8(*seq).u8(*kind).u8(*len),
            Self::Ping { path } => w.u8(8).u8(*path),
            Self::Pong { path } => w.u8(9).u8(*path),
            Self::Bye { path, reason } => w.u8(10).u8(*path).u8(*reason),
            Self::Error { path, code } => w.u8(11).u8(*path).u8(*code),
            Self::Accept => w.u8(12),
            Self::CbHello { path, mode } => w.u8(13).u8(*path).u8(*mode),
            Self::Raw { conn, bytes } => w.u8(14).u8(*conn).blob(bytes),
            Self::Close { conn } => w.u8(15).u8(*conn),
            Self::Advance { ms } => w.u8(16).u16(*ms),
            Self::Timeout => w.u8(17),
            Self::Logout => w.u8(18),
            Self::Split { at } => w.u8(19).u8(*at),
        };
    }
}

/// Decodes a whole input: the setup, then operations until the bytes run out.
pub(crate) fn parse(data: &[u8]) -> Option<(ClientSetup, Vec<ClientOp>)> {
    let mut u = Unstructured::new(data);
    let setup = ClientSetup::read(&mut u).ok()?;
    let mut ops = Vec::new();
    while let Ok(op) = ClientOp::read(&mut u) {
        ops.push(op);
    }
    Some((setup, ops))
}

/// Encodes a setup and operations (the inverse of [`parse`]).
pub(crate) fn encode(setup: &ClientSetup, ops: &[ClientOp]) -> Vec<u8> {
    let mut w = Writer::default();
    setup.write(&mut w);
    for op in ops {
        op.write(&mut w);
    }
    w.0
}

/// What the harness remembers of one control connection's login.
#[derive(Debug, Default)]
struct LoginTrace {
    hello: Option<Vec<u8>>,
    login: Option<Vec<u8>>,
    challenge: Option<Vec<u8>>,
}

/// How deep an input got (for checking that the seeds reach the states
/// they are meant to).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClientStats {
    /// Logins completed (ADVERTISE_OK).
    pub(crate) logins: u64,
    /// Of which resumed the session.
    pub(crate) resumed: u64,
    /// Callback handshakes completed.
    pub(crate) callbacks: u64,
    /// Notifications handed to the application.
    pub(crate) notifications: u64,
}

#[derive(Debug)]
struct Harness {
    stats: ClientStats,
    client: Client,
    now: Instant,
    server: SocketAddr,
    /// Every connection the client issued: `true` for control ones.
    conns: Conns<bool>,
    /// Login traces, per control connection.
    traces: Vec<(ConnId, LoginTrace)>,
    /// CB_CHALLENGE nonces, per callback connection.
    nonces: Vec<(ConnId, Nonce)>,
    /// Callback connections that proved to be the server's
    /// (`CallbackEstablished`): the only ones closed gracefully.
    established: Vec<ConnId>,
    /// The pending Listen.
    listen: Option<SocketAddr>,
    /// The bound listener's port.
    listening: Option<u16>,
    /// Session keys the harness granted, oldest first.
    keys: Vec<(u64, SessionKey)>,
    next_session: u64,
    /// The seq the next Notification event must have [B-3].
    expect_seq: u64,
    split: usize,
    limit_callbacks: usize,
}

/// Runs one input. Panics when the client breaks an invariant.
pub fn client(data: &[u8]) {
    run(data);
}

/// Runs one input and says how deep it got.
pub(crate) fn run(data: &[u8]) -> ClientStats {
    let Some((setup, ops)) = parse(data) else {
        return ClientStats::default();
    };
    let mut h = Harness::new(setup);
    for op in ops {
        h.apply(op);
    }
    h.finish();
    h.stats
}

impl Harness {
    fn new(setup: ClientSetup) -> Self {
        let server = server_addr(setup.v6);
        let policy = match setup.policy % 3 {
            0 => ListenPolicy::Dynamic,
            1 => ListenPolicy::Range { lo: 6000, hi: 6002 },
            _ => ListenPolicy::Fixed { port: 6000 },
        };
        let mut config = ClientConfig::new(server, "alice", PASSWORD, NetworkSettings::new(policy));
        config.caps = if setup.backchannel {
            Caps::BACKCHANNEL
        } else {
            Caps::NONE
        };
        config.iteration_cap = MIN_ITERATIONS;
        config.max_pending_callbacks = 3;
        config.max_callbacks = 2;
        let limit_callbacks = config.max_pending_callbacks + config.max_callbacks;
        let now = Instant::now();
        let mut client = match Client::new(config, [7; 32], now) {
            Ok(client) => client,
            Err(err) => panic!("the harness's configuration is refused: {err}"),
        };
        client.fuzz_prime_login_keys(&SALT, MIN_ITERATIONS, secrets().clone());
        let mut h = Self {
            stats: ClientStats::default(),
            client,
            now,
            server,
            conns: Conns::default(),
            established: Vec::new(),
            traces: Vec::new(),
            nonces: Vec::new(),
            listen: None,
            listening: None,
            keys: Vec::new(),
            next_session: 0x1000,
            expect_seq: 1,
            split: usize::MAX,
            limit_callbacks,
        };
        h.drain();
        h
    }

    /// Handles every output and checks the adapter contract.
    fn drain(&mut self) {
        while let Some(out) = self.client.poll_output() {
            match out {
                Output::Listen { addr } => self.listen = Some(addr),
                Output::StopListening => self.listening = None,
                Output::Connect { conn, addr } => {
                    assert_eq!(addr, self.server, "the client dials only its server");
                    self.conns.issued(conn, true);
                    self.traces.push((conn, LoginTrace::default()));
                }
                Output::Transmit { conn, data } => {
                    assert!(self.conns.is_live(conn), "Transmit on {conn}, not open");
                    for frame in decode_transmit(&data) {
                        self.observe(conn, &frame);
                    }
                    self.client.recycle(data);
                }
                Output::Close { conn, kind } => {
                    assert!(self.conns.is_live(conn), "Close of {conn}, not open");
                    // Its server's connections may have frames in flight:
                    // gracefully. A callback that never authenticated is
                    // anyone's: at once, so strangers hold no descriptor.
                    let control = self.conns.tag_mut(conn).is_some_and(|control| *control);
                    let from_server = control || self.established.contains(&conn);
                    let expected = if from_server {
                        CloseKind::Graceful
                    } else {
                        CloseKind::Prompt
                    };
                    assert_eq!(kind, expected, "the close of {conn} (control: {control})");
                    self.conns.close(conn);
                }
                Output::Event(event) => self.event(event),
            }
        }
        assert_eq!(
            self.expect_seq - 1,
            self.client.last_delivered_seq(),
            "the last delivered seq is the last one handed over"
        );
        let held = self.client.fuzz_callbacks();
        let live = self.conns.live_where(|control| !control);
        assert_eq!(
            held, live,
            "the client holds {held} callbacks, {live} are open"
        );
        assert!(
            held <= self.limit_callbacks,
            "{held} callbacks held, above the limits [B-7]"
        );
    }

    fn observe(&mut self, conn: ConnId, frame: &Frame<'_>) {
        match frame {
            Frame::Login(_) => {
                let body = body_of(frame);
                if let Some((_, t)) = self.traces.iter_mut().find(|(c, _)| *c == conn) {
                    t.login = Some(body);
                }
            }
            Frame::CbChallenge { client_nonce } => self.nonces.push((conn, *client_nonce)),
            _ => {}
        }
    }

    fn event(&mut self, event: Event) {
        // Every event reads as one line a log may hold: what the peer sent
        // (names, details, ERROR texts, notification texts) is escaped.
        let line = event.to_string();
        assert!(
            !line.chars().any(crate::peer_text::is_unsafe),
            "an event's text holds an unescaped character from the peer: {line:?}"
        );
        match event {
            Event::Notification { seq, .. } => {
                assert_eq!(
                    seq, self.expect_seq,
                    "each seq handed over exactly once and in order [B-3]"
                );
                self.expect_seq += 1;
                self.stats.notifications += 1;
            }
            Event::SessionEnded { .. } => self.expect_seq = 1,
            Event::LoggedIn { resumed, .. } => {
                self.stats.logins += 1;
                self.stats.resumed += u64::from(resumed);
            }
            Event::CallbackEstablished { conn, .. } => {
                self.stats.callbacks += 1;
                self.established.push(conn);
            }
            _ => {}
        }
    }

    fn trace(&mut self) -> Option<&mut LoginTrace> {
        let control = self.conns.last_where(|control| *control)?;
        self.traces
            .iter_mut()
            .find(|(c, _)| *c == control)
            .map(|(_, t)| t)
    }

    /// The connection for `path`: 0 the newest control one, else a callback.
    fn path(&self, path: u8) -> Option<ConnId> {
        if path == 0 {
            self.conns.last_where(|control| *control)
        } else {
            self.conns
                .nth_live_where(usize::from(path - 1), |control| !control)
        }
    }

    /// Feeds `frame` on `conn`, cut where the last Split said.
    fn send(&mut self, conn: Option<ConnId>, frame: &Frame<'_>) {
        let Some(conn) = conn else { return };
        let Ok(bytes) = frame.to_vec() else { return };
        self.feed(conn, &bytes);
    }

    fn feed(&mut self, conn: ConnId, bytes: &[u8]) {
        let at = self.split.min(bytes.len());
        for chunk in [&bytes[..at], &bytes[at..]] {
            if chunk.is_empty() {
                continue;
            }
            let result = self
                .client
                .handle_input(self.now, Input::Received { conn, data: chunk });
            match result {
                Ok(()) => {}
                Err(InputError::NotConnected { .. } | InputError::UnknownConnection { .. }) => {}
                Err(err) => panic!("Received on {conn} refused: {err}"),
            }
            self.drain();
        }
    }

    fn run_timers(&mut self) {
        if self.client.poll_timeout().is_some_and(|at| at <= self.now) {
            self.client.handle_timeout(self.now);
            self.drain();
            if let Some(at) = self.client.poll_timeout() {
                assert!(
                    at > self.now,
                    "handle_timeout(now) left a deadline at or before now"
                );
            }
        }
    }

    fn apply(&mut self, op: ClientOp) {
        match op {
            ClientOp::Bind { outcome } => {
                let Some(addr) = self.listen.take() else {
                    let local = SocketAddr::new(self.server.ip(), 6000);
                    let result = self.client.handle_input(self.now, Input::Bound { local });
                    assert!(result.is_err(), "Bound without a Listen must be refused");
                    return;
                };
                let input = match outcome % 4 {
                    0 => {
                        let port = if addr.port() == 0 { 40000 } else { addr.port() };
                        self.listening = Some(port);
                        Input::Bound {
                            local: SocketAddr::new(addr.ip(), port),
                        }
                    }
                    1 => Input::BindFailed {
                        addr,
                        error: BindError::AddrInUse,
                    },
                    2 => Input::BindFailed {
                        addr,
                        error: BindError::PermissionDenied,
                    },
                    _ => Input::BindFailed {
                        addr,
                        error: BindError::Other("no".into()),
                    },
                };
                if let Err(err) = self.client.handle_input(self.now, input) {
                    panic!("bind result for the pending Listen refused: {err}");
                }
                self.drain();
            }
            ClientOp::Dial { ok } => {
                let Some(conn) = self.conns.last_where(|control| *control) else {
                    return;
                };
                let input = if ok {
                    Input::Connected { conn }
                } else {
                    Input::ConnectFailed {
                        conn,
                        error: ConnectError::Refused,
                    }
                };
                let live = self.conns.is_live(conn);
                if self.client.handle_input(self.now, input).is_ok() && live && !ok {
                    self.conns.close(conn);
                }
                self.drain();
            }
            ClientOp::Hello { versions, caps } => {
                let (version_min, version_max) =
                    [(1, 1), (2, 3), (0, 5), (1, 2)][usize::from(versions % 4)];
                let frame = Frame::ServerHello(ServerHello {
                    version_min,
                    version_max,
                    caps: Caps::from_bits([1, 0, 3, u32::MAX][usize::from(caps % 4)]),
                    server_name: "fuzz".into(),
                });
                let body = body_of(&frame);
                if let Some(t) = self.trace() {
                    *t = LoginTrace {
                        hello: Some(body),
                        ..LoginTrace::default()
                    };
                }
                self.send(self.path(0), &frame);
            }
            ClientOp::Challenge { salt, iterations } => {
                let salt = if salt == 0 {
                    SALT.to_vec()
                } else {
                    vec![salt; 16 + usize::from(salt % 49)]
                };
                let frame = Frame::LoginChallenge(LoginChallenge {
                    server_nonce: [iterations; 32],
                    salt: salt.into(),
                    iterations: [
                        MIN_ITERATIONS,
                        MIN_ITERATIONS - 1,
                        MIN_ITERATIONS + 1,
                        1_000_000,
                    ][usize::from(iterations % 4)],
                });
                let body = body_of(&frame);
                if let Some(t) = self.trace() {
                    t.challenge = Some(body);
                }
                self.send(self.path(0), &frame);
            }
            ClientOp::LoginOk {
                session,
                lease,
                caps,
                tamper,
            } => {
                let session_id = match session % 4 {
                    0 => 0,
                    1 => self.keys.last().map_or(1, |(id, _)| *id),
                    2 => {
                        self.next_session += 1;
                        self.next_session
                    }
                    _ => u64::MAX,
                };
                let auth = self.trace().and_then(|t| {
                    Some(AuthMessage::from_bodies(
                        t.hello.as_deref()?,
                        t.login.as_deref()?,
                        t.challenge.as_deref()?,
                    ))
                });
                let mut ok = LoginOk {
                    session_id,
                    role: Role::User,
                    lease_ms: [30_000, 2_999, 3_000, 60_000][usize::from(lease % 4)],
                    caps: Caps::from_bits(u32::from(caps % 2)),
                    server_signature: [0; 32],
                };
                if let (Some(auth), false) = (&auth, tamper) {
                    ok.server_signature = server_signature(&secrets().server_key, auth, &ok);
                    self.keys
                        .push((session_id, session_key(&secrets().client_key, auth)));
                }
                self.send(self.path(0), &Frame::LoginOk(ok));
            }
            ClientOp::AdvertiseOk { v6 } => {
                let port = self.listening.unwrap_or(0);
                let ip = if v6 {
                    IpAddr::V6(Ipv6Addr::LOCALHOST)
                } else {
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
                };
                let callback = SocketAddr::new(ip, port);
                self.send(self.path(0), &Frame::AdvertiseOk { callback });
            }
            ClientOp::Status { state } => {
                let state = CallbackState::ALL[usize::from(state) % CallbackState::ALL.len()];
                let frame = Frame::CallbackStatus(CallbackStatus {
                    state,
                    detail: "fuzz".into(),
                });
                self.send(self.path(0), &frame);
            }
            ClientOp::Notify {
                path,
                seq,
                kind,
                len,
            } => {
                let last = self.client.last_delivered_seq();
                let seq = match seq % 5 {
                    0 => last + 1,
                    1 => last,
                    2 => last + 2,
                    3 => 0,
                    _ => u64::MAX,
                };
                let kind = kind % 8;
                let payload = if kind == 3 && len % 2 == 0 {
                    vec![0, 2, b'h', b'i']
                } else {
                    vec![len; usize::from(len)]
                };
                let frame = Frame::Notify(Notify {
                    seq,
                    kind,
                    payload: payload.into(),
                });
                self.send(self.path(path), &frame);
            }
            ClientOp::Ping { path } => {
                let nonce = u64::from(path);
                self.send(self.path(path), &Frame::Ping { nonce });
            }
            ClientOp::Pong { path } => {
                let nonce = u64::from(path);
                self.send(self.path(path), &Frame::Pong { nonce });
            }
            ClientOp::Bye { path, reason } => {
                let reason = ByeReason::ALL[usize::from(reason) % ByeReason::ALL.len()];
                self.send(self.path(path), &Frame::Bye { reason });
            }
            ClientOp::Error { path, code } => {
                let code = ErrorCode::ALL[usize::from(code) % ErrorCode::ALL.len()];
                self.send(self.path(path), &Frame::error(code, "fuzz"));
            }
            ClientOp::Accept => {
                let peer = SocketAddr::new(self.server.ip(), 50_000);
                let conn = self.client.handle_accept(self.now, peer);
                self.conns.issued(conn, false);
                self.drain();
            }
            ClientOp::CbHello { path, mode } => {
                let Some(conn) = self.path(path.max(1)) else {
                    return;
                };
                let Some(&(_, client_nonce)) = self.nonces.iter().find(|(c, _)| *c == conn) else {
                    return;
                };
                let session = self.client.session().map_or(0, |s| s.get());
                let key = match mode % 4 {
                    3 => self.keys.first(),
                    _ => self.keys.iter().rev().find(|(id, _)| *id == session),
                };
                let Some((_, key)) = key else { return };
                let server_nonce = [mode; 32];
                let session_id = if mode % 4 == 1 { session ^ 1 } else { session };
                let mut proof = cb_hello_proof(key, &client_nonce, &server_nonce, session_id);
                if mode % 4 == 2 {
                    proof[0] ^= 1;
                }
                let frame = Frame::CbHello(CbHello {
                    session_id,
                    server_nonce,
                    proof,
                });
                self.send(Some(conn), &frame);
            }
            ClientOp::Raw { conn, bytes } => {
                let Some(conn) = self.conns.any(conn) else {
                    return;
                };
                self.feed(conn, &bytes);
            }
            ClientOp::Close { conn } => {
                let Some(conn) = self.conns.any(conn) else {
                    return;
                };
                let live = self.conns.is_live(conn);
                let result = self.client.handle_input(self.now, Input::Closed { conn });
                if result.is_ok() && live {
                    self.conns.close(conn);
                }
                self.drain();
            }
            ClientOp::Advance { ms } => {
                self.now += Duration::from_millis(u64::from(ms));
                self.run_timers();
            }
            ClientOp::Timeout => {
                if let Some(at) = self.client.poll_timeout() {
                    self.now = self.now.max(at);
                    self.run_timers();
                }
            }
            ClientOp::Logout => {
                let _ = self.client.logout(self.now); // refused once finished
                self.drain();
            }
            ClientOp::Split { at } => self.split = usize::from(at),
        }
    }

    /// After the input: time runs on with a silent server; nothing may
    /// panic, and the client must keep its limits.
    fn finish(&mut self) {
        for _ in 0..32 {
            let Some(at) = self.client.poll_timeout() else {
                break;
            };
            self.now = self.now.max(at);
            self.run_timers();
        }
    }
}

fn body_of(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    // A frame the harness built or decoded always encodes.
    let _ = frame.encode_body(&mut out);
    out
}
