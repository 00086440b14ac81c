//! The `server` harness: the fuzzer plays any number of clients, the network
//! and the server's application around one [`Server`]: connections from
//! four addresses (one IPv4-mapped), logins of known and unknown users with
//! correct or wrong proofs, resumes, advertisements, the outcome of every
//! callback dial, callback handshakes with correct or wrong CB_READY, ACKs
//! of every kind, raw bytes, closes, notifications, ended sessions,
//! shutdown and time steps.
//!
//! An input whose first byte is [`CLUSTER_MODE`] runs the server in cluster
//! mode [D-17], with the operations of the application too (see `cluster`).
//!
//! The users' keys are derived once per process and stored in the server
//! as credentials, so logins cost HMACs only. When the input ends the peers
//! fall silent and time runs on: the server must then let go of everything
//! (no session, connection, address entry or timer left), and every
//! notification it accepted must have been acknowledged or reported
//! undelivered exactly once.

mod cluster;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::{Result, Unstructured};
use bytes::Bytes;

use super::bytes::{self as b, Writer};
use super::tls_peer::{self, TlsMode, TlsPeer};
use super::{Conns, decode_transmit};
use crate::auth::{
    AuthMessage, ChannelBinding, ClientSecrets, Credentials, DEFAULT_ITERATIONS, SessionKey,
    cb_ready_proof_bound, client_proof, session_key,
};
use crate::io::{CloseKind, ConnectError};
use crate::server::{
    Event, Input, InputError, MemoryUserStore, Output, Refused, Server, ServerConfig, Target,
};
use crate::wire::{
    Advertise, CallbackState, Caps, CbReady, ErrorCode, Frame, Login, MAX_PAYLOAD_LEN, Nonce,
    Notification, PolicyKind, Role,
};
use crate::{ConnId, SessionId};

/// The known users: name, password, salt.
const USERS: [(&str, &str, [u8; 16]); 2] = [
    ("alice", "correct horse", [0x5a; 16]),
    ("bob", "battery staple", [0xb0; 16]),
];

/// The keys of the known users, derived once per process.
fn secrets() -> &'static [ClientSecrets; 2] {
    static SECRETS: OnceLock<[ClientSecrets; 2]> = OnceLock::new();
    SECRETS.get_or_init(|| {
        USERS.map(|(_, password, salt)| ClientSecrets::derive(password, &salt, DEFAULT_ITERATIONS))
    })
}

fn users() -> MemoryUserStore {
    let mut store = MemoryUserStore::new();
    for (i, (name, _, salt)) in USERS.iter().enumerate() {
        let s = &secrets()[i];
        let role = if i == 0 { Role::User } else { Role::Admin };
        let credentials = Credentials::from_parts(
            salt.to_vec(),
            DEFAULT_ITERATIONS,
            s.stored_key.clone(),
            s.server_key.clone(),
            role,
        );
        match credentials.map(|c| store.insert(name, c)) {
            Ok(Ok(_)) => {}
            _ => panic!("the harness's users are valid"),
        }
    }
    store
}

/// The peers connections come from; the third is IPv4-mapped [C-1].
fn peer(n: u8, port: u16) -> SocketAddr {
    let ip = match n % 4 {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        1 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        2 => IpAddr::V6(Ipv4Addr::new(10, 0, 0, 3).to_ipv6_mapped()),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 4)),
    };
    SocketAddr::new(ip, port)
}

/// One step of the fuzzer-played clients and application. `conn` picks a
/// connection of the kind the step needs (modulo how many are open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServerOp {
    /// A control connection from one of the peers.
    Accept { peer: u8 },
    /// LOGIN: alice, bob, an unknown user, or an unprepared name; a new
    /// session, the newest one known, or a made-up one; caps; version.
    Login {
        conn: u8,
        user: u8,
        resume: u8,
        caps: u8,
        version: u8,
    },
    /// LOGIN_PROOF computed over the AuthMessage (flipped unless `valid`).
    Proof { conn: u8, valid: bool },
    /// ADVERTISE with a port and policy from small tables.
    Advertise { conn: u8, port: u8, policy: u8 },
    /// The outcome of a pending callback dial.
    Dial { dial: u8, ok: bool },
    /// CB_CHALLENGE on a callback connection.
    CbChallenge { conn: u8 },
    /// CB_READY proven with the session key (flipped unless `valid`);
    /// last_seq from what the session was sent.
    CbReady { conn: u8, valid: bool, seq: u8 },
    /// ACK on any connection, relative to the NOTIFYs seen there.
    Ack { conn: u8, seq: u8 },
    /// PING on any connection.
    Ping { conn: u8 },
    /// PONG on any connection.
    Pong { conn: u8 },
    /// LOGOUT on a control connection.
    Logout { conn: u8 },
    /// ERROR on any connection.
    Error { conn: u8, code: u8 },
    /// Raw bytes on any connection.
    Raw { conn: u8, bytes: Vec<u8> },
    /// A connection closes (EOF or reset).
    Close { conn: u8 },
    /// The application notifies everyone, alice, the newest session or no one.
    Notify { target: u8, count: u8, len: u8 },
    /// The application ends the newest session (or one that does not exist).
    EndSession { which: u8 },
    /// The application shuts the server down.
    Shutdown,
    /// Time passes; due timers run.
    Advance { ms: u16 },
    /// Time jumps to the server's next deadline, which runs.
    Timeout,
    /// Frames sent from now on are cut at this byte.
    Split { at: u8 },
    /// Only valid first (the byte [`CLUSTER_MODE`]): the server runs in
    /// cluster mode [D-17] and the harness plays its application too,
    /// with the operations below besides those above.
    ClusterMode,
    /// (Cluster mode) The application answers a claim it was asked
    /// (pending or not any more, or one never issued): opened, id taken,
    /// restore (the claim's user or another, acked seq from a table), or a
    /// refusal of every kind.
    Claim { which: u8, answer: u8, acked: u8 },
    /// (Cluster mode) The application hands a session notifications from
    /// the log: one (`notify_session_at`) or a run of 0..5
    /// (`notify_session_run_at`), from the session's next seq or off by
    /// one either way, one payload perhaps too large.
    NotifyAt {
        which: u8,
        seq: u8,
        count: u8,
        len: u8,
    },
    /// (Cluster mode) The application releases a session (or one it
    /// does not hold).
    Release { which: u8 },
    /// (Cluster mode) The application says whether the bus is reachable.
    Bus { up: bool },
    /// (Cluster mode) Time passes just beyond the claims' timeout.
    PastClaimTimeout,
}

const OPS: u8 = 20;
/// Operations of cluster mode only (read as `OPS..OPS + CLUSTER_OPS`).
const CLUSTER_OPS: u8 = 5;

/// The first byte of an input that runs in cluster mode. In plain mode it
/// reads as a Shutdown of a server that holds nothing yet, which leaves the
/// rest of the input nothing to do, so no plain input worth keeping
/// starts with it (and no committed one does).
pub(crate) const CLUSTER_MODE: u8 = 0xec;

impl ServerOp {
    fn read(u: &mut Unstructured<'_>, cluster: bool) -> Result<Self> {
        let ops = if cluster { OPS + CLUSTER_OPS } else { OPS };
        Ok(match b::u8(u)? % ops {
            0 => Self::Accept { peer: b::u8(u)? },
            1 => Self::Login {
                conn: b::u8(u)?,
                user: b::u8(u)?,
                resume: b::u8(u)?,
                caps: b::u8(u)?,
                version: b::u8(u)?,
            },
            2 => Self::Proof {
                conn: b::u8(u)?,
                valid: b::bool(u)?,
            },
            3 => Self::Advertise {
                conn: b::u8(u)?,
                port: b::u8(u)?,
                policy: b::u8(u)?,
            },
            4 => Self::Dial {
                dial: b::u8(u)?,
                ok: b::bool(u)?,
            },
            5 => Self::CbChallenge { conn: b::u8(u)? },
            6 => Self::CbReady {
                conn: b::u8(u)?,
                valid: b::bool(u)?,
                seq: b::u8(u)?,
            },
            7 => Self::Ack {
                conn: b::u8(u)?,
                seq: b::u8(u)?,
            },
            8 => Self::Ping { conn: b::u8(u)? },
            9 => Self::Pong { conn: b::u8(u)? },
            10 => Self::Logout { conn: b::u8(u)? },
            11 => Self::Error {
                conn: b::u8(u)?,
                code: b::u8(u)?,
            },
            12 => Self::Raw {
                conn: b::u8(u)?,
                bytes: b::blob(u)?,
            },
            13 => Self::Close { conn: b::u8(u)? },
            14 => Self::Notify {
                target: b::u8(u)?,
                count: b::u8(u)?,
                len: b::u8(u)?,
            },
            15 => Self::EndSession { which: b::u8(u)? },
            16 => Self::Shutdown,
            17 => Self::Advance { ms: b::u16(u)? },
            18 => Self::Timeout,
            19 => Self::Split { at: b::u8(u)? },
            20 => Self::Claim {
                which: b::u8(u)?,
                answer: b::u8(u)?,
                acked: b::u8(u)?,
            },
            21 => Self::NotifyAt {
                which: b::u8(u)?,
                seq: b::u8(u)?,
                count: b::u8(u)?,
                len: b::u8(u)?,
            },
            22 => Self::Release { which: b::u8(u)? },
            23 => Self::Bus { up: b::bool(u)? },
            _ => Self::PastClaimTimeout,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        match self {
            Self::Accept { peer } => w.u8(0).u8(*peer),
            Self::Login {
                conn,
                user,
                resume,
                caps,
                version,
            } => w
                .u8(1)
                .u8(*conn)
                .u8(*user)
                .u8(*resume)
                .u8(*caps)
                .u8(*version),
            Self::Proof { conn, valid } => w.u8(2).u8(*conn).bool(*valid),
            Self::Advertise { conn, port, policy } => w.u8(3).u8(*conn).u8(*port).u8(*policy),
            Self::Dial { dial, ok } => w.u8(4).u8(*dial).bool(*ok),
            Self::CbChallenge { conn } => w.u8(5).u8(*conn),
            Self::CbReady { conn, valid, seq } => w.u8(6).u8(*conn).bool(*valid).u8(*seq),
            Self::Ack { conn, seq } => w.u8(7).u8(*conn).u8(*seq),
            Self::Ping { conn } => w.u8(8).u8(*conn),
            Self::Pong { conn } => w.u8(9).u8(*conn),
            Self::Logout { conn } => w.u8(10).u8(*conn),
            Self::Error { conn, code } => w.u8(11).u8(*conn).u8(*code),
            Self::Raw { conn, bytes } => w.u8(12).u8(*conn).blob(bytes),
            Self::Close { conn } => w.u8(13).u8(*conn),
            Self::Notify { target, count, len } => w.u8(14).u8(*target).u8(*count).u8(*len),
            Self::EndSession { which } => w.u8(15).u8(*which),
            Self::Shutdown => w.u8(16),
            Self::Advance { ms } => w.u8(17).u16(*ms),
            Self::Timeout => w.u8(18),
            Self::Split { at } => w.u8(19).u8(*at),
            Self::ClusterMode => w.u8(CLUSTER_MODE),
            Self::Claim {
                which,
                answer,
                acked,
            } => w.u8(20).u8(*which).u8(*answer).u8(*acked),
            Self::NotifyAt {
                which,
                seq,
                count,
                len,
            } => w.u8(21).u8(*which).u8(*seq).u8(*count).u8(*len),
            Self::Release { which } => w.u8(22).u8(*which),
            Self::Bus { up } => w.u8(23).bool(*up),
            Self::PastClaimTimeout => w.u8(24),
        };
    }
}

/// Decodes a whole input into operations: [`ServerOp::ClusterMode`] first
/// if it starts with [`CLUSTER_MODE`], then the operations of that mode.
pub(crate) fn parse(data: &[u8]) -> Vec<ServerOp> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    let cluster = data.first() == Some(&CLUSTER_MODE);
    if cluster {
        let _ = b::u8(&mut u);
        ops.push(ServerOp::ClusterMode);
    }
    while let Ok(op) = ServerOp::read(&mut u, cluster) {
        ops.push(op);
    }
    ops
}

/// Encodes operations (the inverse of [`parse`]).
pub(crate) fn encode(ops: &[ServerOp]) -> Vec<u8> {
    let mut w = Writer::default();
    for op in ops {
        op.write(&mut w);
    }
    w.0
}

/// What the harness knows about one connection.
#[derive(Debug, Default)]
struct Peer {
    /// A control connection (else a callback the server dialled).
    control: bool,
    /// A dial the harness has answered.
    connected: bool,
    hello: Option<Vec<u8>>,
    /// LOGIN body sent, and which user (index into USERS, or none).
    login: Option<(Vec<u8>, Option<usize>)>,
    challenge: Option<Vec<u8>>,
    /// From LOGIN_OK or CB_HELLO.
    session: Option<u64>,
    client_nonce: Option<Nonce>,
    server_nonce: Option<Nonce>,
    /// Highest NOTIFY seq seen here.
    max_notify: u64,
    /// The harness's TLS client on this connection (`server_tls`).
    tls: Option<TlsPeer>,
    /// The peer's address (control connections), which claims name.
    addr: Option<SocketAddr>,
}

/// The server's accounting as seen from outside, per session [C-10].
#[derive(Debug, Default)]
struct Book {
    accepted: u64,
    acked: u64,
    reported: bool,
    closed: bool,
    /// (Cluster mode) Released by the application [D-17]: it ends without
    /// reporting what it held.
    released: bool,
    /// (Cluster mode) The payloads handed in at seqs not yet acknowledged,
    /// which its NOTIFYs must carry.
    payloads: BTreeMap<u64, Bytes>,
    /// (Cluster mode) The highest seq sent on the wire.
    max_wire: u64,
}

/// How deep an input got (for checking that the seeds reach the states
/// they are meant to).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerStats {
    /// Sessions opened.
    pub(crate) sessions: u64,
    /// Sessions resumed.
    pub(crate) resumed: u64,
    /// Notifications acknowledged.
    pub(crate) delivered: u64,
    /// Notifications reported undelivered.
    pub(crate) undelivered: u64,
    /// CALLBACK_STATUS reachable sent.
    pub(crate) reachable: u64,
    /// CALLBACK_STATUS backchannel sent.
    pub(crate) backchannel: u64,
    /// TLS sessions the server reported failed.
    pub(crate) tls_failed: u64,
    /// (Cluster mode) Claims the server asked the application.
    pub(crate) claims: u64,
    /// (Cluster mode) Answers to claims that returned a typed error (late,
    /// wrong, another user's record, never issued).
    pub(crate) claim_errors: u64,
    /// (Cluster mode) Sessions restored from a record.
    pub(crate) restored: u64,
    /// (Cluster mode) Notifications taken from the log at their seqs.
    pub(crate) taken: u64,
    /// (Cluster mode) Notifications taken that the client had from the
    /// session's previous server (acknowledged on arrival).
    pub(crate) delivered_before: u64,
    /// (Cluster mode) Runs refused after a prefix of one or more was taken.
    pub(crate) partial_runs: u64,
    /// (Cluster mode) Notifications or runs refused (gap, repeat, full
    /// queue, too large, unknown session, bus away).
    pub(crate) seq_refusals: u64,
    /// (Cluster mode) Sessions released.
    pub(crate) released: u64,
    /// (Cluster mode) Notifications held by sessions when they were
    /// released (not reported: the log keeps them).
    pub(crate) released_pending: u64,
    /// (Cluster mode) Logins refused because the bus was away.
    pub(crate) bus_refusals: u64,
}

#[derive(Debug)]
struct Harness {
    stats: ServerStats,
    server: Server,
    now: Instant,
    conns: Conns<Peer>,
    /// Session keys from valid logins, newest last.
    keys: Vec<(u64, SessionKey)>,
    /// Highest NOTIFY seq seen per session, on any connection.
    sent: BTreeMap<u64, u64>,
    books: BTreeMap<u64, Book>,
    split: usize,
    next_port: u16,
    config: ServerConfig,
    /// The server runs TLS (`server_tls`), and how the peers speak it.
    tls: Option<TlsMode>,
    /// Bytes the peers' TLS clients answered while their input was being
    /// drained, sent once it is.
    tls_replies: Vec<(ConnId, Vec<u8>)>,
    /// Cluster mode: the application the harness plays [D-17].
    app: Option<cluster::App>,
}

/// Runs one input. Panics when the server breaks an invariant.
pub fn server(data: &[u8]) {
    run(data);
}

/// Runs one input against a server with a TLS identity: the first byte
/// picks how the peers speak TLS ([`TlsMode`]), the rest are the operations
/// of [`server`]. Panics when the server breaks an invariant.
pub fn server_tls(data: &[u8]) {
    run_tls(data);
}

/// Runs one `server_tls` input and says how deep it got.
pub(crate) fn run_tls(data: &[u8]) -> ServerStats {
    let Some((&mode, ops)) = data.split_first() else {
        return ServerStats::default();
    };
    run_with(Some(TlsMode::from_byte(mode)), ops)
}

/// Runs one input and says how deep it got.
pub(crate) fn run(data: &[u8]) -> ServerStats {
    run_with(None, data)
}

fn run_with(tls: Option<TlsMode>, data: &[u8]) -> ServerStats {
    let ops = parse(data);
    let clustered = ops.first() == Some(&ServerOp::ClusterMode);
    let mut h = Harness::new(tls, clustered);
    for op in ops {
        h.apply(op);
    }
    h.finish();
    h.stats
}

impl Harness {
    fn new(tls: Option<TlsMode>, clustered: bool) -> Self {
        let mut config = ServerConfig::new([3; 32]);
        if clustered {
            config.cluster = Some(cluster::config());
        }
        if tls.is_some() {
            config.tls = Some(tls_peer::identity());
            config.tls_clock = tls_peer::wall_clock();
        }
        config.lease = Duration::from_secs(6);
        config.window = 4;
        config.queue_limit = 8;
        config.max_sessions_per_user = 3;
        config.max_sessions_per_ip = 4;
        config.max_unauthenticated_per_ip = 3;
        config.max_unauthenticated = 5;
        config.login_limiter.max_failures = 3;
        config.login_limiter.window = Duration::from_secs(10);
        config.max_dials_per_ip = 2;
        let now = Instant::now();
        let server = match Server::new(config.clone(), Box::new(users()), [9; 32]) {
            Ok(server) => server,
            Err(err) => panic!("the harness's configuration is refused: {err}"),
        };
        Self {
            stats: ServerStats::default(),
            server,
            now,
            conns: Conns::default(),
            keys: Vec::new(),
            sent: BTreeMap::new(),
            books: BTreeMap::new(),
            split: usize::MAX,
            next_port: 40_000,
            config,
            tls,
            tls_replies: Vec::new(),
            app: clustered.then(cluster::App::default),
        }
    }

    fn book(&mut self, session: SessionId) -> &mut Book {
        self.books.entry(session.get()).or_default()
    }

    /// Handles every output and checks the adapter contract and the bounds.
    fn drain(&mut self) {
        while let Some(out) = self.server.poll_output() {
            match out {
                Output::Connect { conn, addr } => {
                    let ip = addr.ip();
                    assert!(
                        (0..4).any(|n| peer(n, 0).ip().to_canonical() == ip),
                        "the server dials {addr}, not a peer's address [C-1]"
                    );
                    assert!(addr.port() >= 1024, "the server dials port {}", addr.port());
                    self.conns.issued(conn, Peer::default());
                }
                Output::Transmit { conn, data } => {
                    assert!(self.conns.is_live(conn), "Transmit on {conn}, not open");
                    let opened;
                    let plaintext: &[u8] = match self.tls {
                        None => &data,
                        Some(_) => {
                            opened = self.open_records(conn, &data);
                            &opened
                        }
                    };
                    if !plaintext.is_empty() {
                        for frame in decode_transmit(plaintext) {
                            self.observe(conn, &frame);
                        }
                    }
                    // Reused buffers must come back empty-handed: exercise it.
                    self.server.recycle(data);
                }
                Output::Close { conn, kind } => {
                    assert!(self.conns.is_live(conn), "Close of {conn}, not open");
                    if kind == CloseKind::Prompt {
                        // Cutting a session's close short could lose its
                        // last frames: only strangers are closed at once.
                        let p = self.conns.tag_mut(conn).expect("a live connection");
                        assert!(
                            p.control && p.session.is_none(),
                            "{conn} closed promptly, but it has a session"
                        );
                    }
                    self.conns.close(conn);
                }
                Output::Event(event) => self.event(event),
                Output::Listen { .. } | Output::StopListening => {
                    panic!("the server asked for a listener, which it never does")
                }
            }
        }
        self.check_footprint();
        // Now that the outputs are handled, the peers' TLS answers go out.
        while !self.tls_replies.is_empty() {
            for (conn, bytes) in std::mem::take(&mut self.tls_replies) {
                self.feed_raw(conn, &bytes);
            }
        }
    }

    /// What the server's TLS records carry, as the peer's TLS client reads
    /// them (nothing when the peer has none). Each `Transmit` must be whole
    /// records, and what it seals whole frames.
    fn open_records(&mut self, conn: ConnId, data: &[u8]) -> Vec<u8> {
        tls_peer::check_records(data);
        let sealed = self.tls == Some(TlsMode::Sealed);
        let Some(peer) = self.conns.tag_mut(conn).and_then(|p| p.tls.as_mut()) else {
            return Vec::new();
        };
        let (plaintext, reply) = peer.open(data);
        if let Some(failure) = &peer.failed {
            // With every byte sealed, nothing can break the stream: the
            // server's own TLS output must be readable.
            assert!(
                !sealed,
                "an honest TLS client refuses the server's records: {failure}"
            );
        }
        if !reply.is_empty() {
            self.tls_replies.push((conn, reply));
        }
        plaintext
    }

    fn check_footprint(&mut self) {
        self.server.fuzz_assert_consistent();
        let fp = self.server.fuzz_footprint();
        assert_eq!(
            fp.connections,
            self.conns.live(),
            "the server holds connections its outputs closed, or dropped some without Close"
        );
        assert_eq!(
            fp.closing, 0,
            "closing bytes left after the outputs were drained"
        );
        assert!(!fp.pending_outputs);
        // 4 peers, and the IPv6 one's /64 (limits of unauthenticated peers
        // count per /64); they share 2 prefixes (10.0.0.0/24, 2001:db8::/64).
        assert!(
            fp.addresses <= 5 && fp.prefixes <= 2,
            "{} address entries and {} prefixes for 4 peers",
            fp.addresses,
            fp.prefixes
        );
        // The server compacts its heap once stale entries outnumber the
        // owners (connections, sessions, addresses), whatever the churn.
        assert!(
            fp.timers <= 2 * (fp.connections + fp.sessions + fp.addresses) + 64,
            "{fp:?}: the timer heap grows"
        );
        assert!(fp.buffered <= fp.connections * (4 + 65_535), "{fp:?}");
        assert!(
            fp.users <= fp.sessions && fp.endpoints <= fp.sessions,
            "{fp:?}"
        );
        let (limit, window) = (self.config.queue_limit, u64::from(self.config.window));
        for s in self.server.sessions() {
            assert!(s.queue_depth <= limit, "{s:?}: queue above its limit [B-6]");
            assert!(
                s.unacked <= window,
                "{s:?}: more in flight than the window [B-4]"
            );
        }
    }

    fn observe(&mut self, conn: ConnId, frame: &Frame<'_>) {
        if self.app.is_some() {
            self.cluster_observe(conn, frame);
        }
        let mut granted = None;
        let binding = self.binding(conn);
        let Some(p) = self.conns.tag_mut(conn) else {
            return;
        };
        match frame {
            Frame::ServerHello(_) => p.hello = Some(body_of(frame)),
            Frame::LoginChallenge(_) => p.challenge = Some(body_of(frame)),
            Frame::LoginOk(ok) => {
                p.session = Some(ok.session_id);
                if let (Some(hello), Some((login, Some(user))), Some(challenge)) =
                    (&p.hello, &p.login, &p.challenge)
                {
                    let auth = bound(AuthMessage::from_bodies(hello, login, challenge), binding);
                    granted = Some((
                        ok.session_id,
                        session_key(&secrets()[*user].client_key, &auth),
                    ));
                }
            }
            Frame::CbHello(hello) => {
                p.session = Some(hello.session_id);
                p.server_nonce = Some(hello.server_nonce);
            }
            Frame::Notify(n) => {
                p.max_notify = p.max_notify.max(n.seq);
                if let Some(s) = p.session {
                    let max = self.sent.entry(s).or_default();
                    *max = (*max).max(n.seq);
                }
            }
            _ => {}
        }
        if let Some(key) = granted {
            self.keys.push(key);
        }
    }

    fn event(&mut self, event: Event) {
        if self.app.is_some() {
            self.cluster_event(&event);
        }
        match event {
            Event::Delivered {
                session,
                first_seq,
                last_seq,
            } => {
                let book = self.book(session);
                assert!(!book.closed, "Delivered after the session closed");
                assert!(!book.released, "Delivered after the session was released");
                assert_eq!(first_seq, book.acked + 1, "Delivered ranges continue [B-2]");
                assert!(last_seq >= first_seq && last_seq <= book.accepted);
                book.acked = last_seq;
                self.stats.delivered += last_seq - first_seq + 1;
            }
            Event::Undelivered {
                session,
                notifications,
                ..
            } => {
                let book = self.book(session);
                assert!(!book.closed && !book.reported, "Undelivered twice");
                assert!(!book.released, "a released session reports [D-17]");
                let seqs: Vec<u64> = notifications.iter().map(|n| n.seq).collect();
                let expected: Vec<u64> = (book.acked + 1..=book.accepted).collect();
                assert_eq!(seqs, expected, "exactly the unacknowledged seqs [C-10]");
                book.reported = true;
                self.stats.undelivered += seqs.len() as u64;
            }
            Event::SessionOpened { .. } => self.stats.sessions += 1,
            Event::TlsFailed { reason, .. } => {
                self.stats.tls_failed += 1;
                // Honest peers with every byte sealed give the server's TLS
                // nothing to fail on but the clock [T-8].
                assert!(
                    self.tls != Some(TlsMode::Sealed)
                        || matches!(reason, crate::tls::TlsFailure::Timeout { .. }),
                    "TLS failed with honest peers: {reason}"
                );
            }
            Event::SessionResumed { .. } => self.stats.resumed += 1,
            Event::CallbackStatus { state, .. } => match state {
                CallbackState::Reachable => self.stats.reachable += 1,
                CallbackState::Backchannel => self.stats.backchannel += 1,
                _ => {}
            },
            Event::SessionClosed { session, .. } => {
                let book = self.book(session);
                assert!(!book.closed, "a session closed twice");
                assert!(!book.released, "a released session closed");
                assert!(
                    book.reported || book.acked == book.accepted,
                    "a session closed holding unreported notifications [C-10]"
                );
                book.closed = true;
            }
            _ => {}
        }
    }

    /// The `n`-th open connection of a kind.
    fn pick(&self, n: u8, control: bool) -> Option<ConnId> {
        self.conns
            .nth_live_where(usize::from(n), |p| p.control == control)
    }

    /// Any open connection.
    fn pick_any(&self, n: u8) -> Option<ConnId> {
        self.conns.nth_live_where(usize::from(n), |_| true)
    }

    fn peer_mut(&mut self, conn: ConnId) -> Option<&mut Peer> {
        self.conns.tag_mut(conn)
    }

    fn send(&mut self, conn: Option<ConnId>, frame: &Frame<'_>) {
        let Some(conn) = conn else { return };
        let Ok(bytes) = frame.to_vec() else { return };
        self.feed(conn, &bytes);
    }

    /// The connection's TLS channel binding, when its peer runs TLS and the
    /// handshake is over.
    fn binding(&self, conn: ConnId) -> Option<ChannelBinding> {
        let p = self.conns.list.iter().find(|(c, _, _)| *c == conn)?;
        p.1.tls.as_ref()?.binding()
    }

    /// Sends bytes from the peer: sealed by its TLS client if it has one.
    fn feed(&mut self, conn: ConnId, bytes: &[u8]) {
        let sealed = match self.conns.tag_mut(conn).and_then(|p| p.tls.as_mut()) {
            Some(peer) => peer.seal(bytes),
            None => return self.feed_raw(conn, bytes),
        };
        if !sealed.is_empty() {
            self.feed_raw(conn, &sealed);
        }
    }

    /// Starts the peer's TLS client on a new connection (unless the peers
    /// speak no TLS) and sends its ClientHello.
    fn start_tls(&mut self, conn: ConnId) {
        if !matches!(self.tls, Some(TlsMode::Sealed | TlsMode::RawRecords)) {
            return;
        }
        let (peer, hello) = TlsPeer::start(conn);
        if let Some(p) = self.conns.tag_mut(conn) {
            p.tls = Some(peer);
        }
        self.feed_raw(conn, &hello);
    }

    /// Sends bytes as they are, cut at the split point.
    fn feed_raw(&mut self, conn: ConnId, bytes: &[u8]) {
        let at = self.split.min(bytes.len());
        for chunk in [&bytes[..at], &bytes[at..]] {
            if chunk.is_empty() {
                continue;
            }
            let input = Input::Received { conn, data: chunk };
            match self.server.handle_input(self.now, input) {
                Ok(()) => {}
                Err(InputError::NotConnected(_) | InputError::UnknownConnection(_)) => {}
                Err(err) => panic!("Received on {conn} refused: {err}"),
            }
            self.drain();
        }
    }

    fn run_timers(&mut self) {
        if self.server.poll_timeout().is_some_and(|at| at <= self.now) {
            self.server.handle_timeout(self.now);
            self.drain();
            if let Some(at) = self.server.poll_timeout() {
                assert!(
                    at > self.now,
                    "handle_timeout(now) left a deadline at or before now"
                );
            }
        }
    }

    fn apply(&mut self, op: ServerOp) {
        match op {
            ServerOp::Accept { peer: n } => {
                self.next_port = self.next_port.wrapping_add(1).max(1024);
                let addr = peer(n, self.next_port);
                let conn = self.server.handle_accept(self.now, addr);
                self.conns.issued(
                    conn,
                    Peer {
                        control: true,
                        connected: true,
                        addr: Some(addr),
                        ..Peer::default()
                    },
                );
                self.drain();
                self.start_tls(conn);
            }
            ServerOp::Login {
                conn,
                user,
                resume,
                caps,
                version,
            } => {
                let Some(conn) = self.pick(conn, true) else {
                    return;
                };
                let (name, known) = match user % 4 {
                    0 => ("alice", Some(0)),
                    1 => ("bob", Some(1)),
                    2 => ("mallory", None),
                    _ => ("ALICE", None),
                };
                let resume_session = match resume % 3 {
                    0 => 0,
                    1 => self.keys.last().map_or(0, |(id, _)| *id),
                    _ => 0x1234_5678,
                };
                let frame = Frame::Login(Login {
                    version: if version % 8 == 7 { 2 } else { 1 },
                    user: name.into(),
                    client_nonce: [version; 32],
                    caps: Caps::from_bits(u32::from(caps % 4)),
                    resume_session,
                });
                let body = body_of(&frame);
                if let Some(p) = self.peer_mut(conn) {
                    p.login = Some((body, known));
                }
                self.send(Some(conn), &frame);
            }
            ServerOp::Proof { conn, valid } => {
                let Some(conn) = self.pick(conn, true) else {
                    return;
                };
                let mut proof = [0u8; 32];
                let binding = self.binding(conn);
                if let Some(p) = self.peer_mut(conn)
                    && let (Some(hello), Some((login, user)), Some(challenge)) =
                        (&p.hello, &p.login, &p.challenge)
                {
                    let auth = bound(AuthMessage::from_bodies(hello, login, challenge), binding);
                    proof = client_proof(&secrets()[user.unwrap_or(0)], &auth);
                }
                if !valid {
                    proof[31] ^= 0x80;
                }
                self.send(Some(conn), &Frame::LoginProof { proof });
            }
            ServerOp::Advertise { conn, port, policy } => {
                let port = [0, 6000, 1000, 7000, 6001][usize::from(port % 5)];
                let (policy, range_lo, range_hi) = match policy % 5 {
                    0 => (PolicyKind::Dynamic, 0, 0),
                    1 => (PolicyKind::Range, 6000, 6010),
                    2 => (PolicyKind::Fixed, 0, 0),
                    3 => (PolicyKind::Range, 7000, 6000),
                    _ => (PolicyKind::Dynamic, 6000, 6010),
                };
                let frame = Frame::Advertise(Advertise {
                    port,
                    policy,
                    range_lo,
                    range_hi,
                });
                self.send(self.pick(conn, true), &frame);
            }
            ServerOp::Dial { dial, ok } => {
                let pending = self
                    .conns
                    .nth_live_where(usize::from(dial), |p| !p.control && !p.connected);
                let Some(conn) = pending else { return };
                let input = if ok {
                    Input::Connected { conn }
                } else {
                    Input::ConnectFailed {
                        conn,
                        error: ConnectError::Refused,
                    }
                };
                if let Err(err) = self.server.handle_input(self.now, input) {
                    panic!("the outcome of a pending dial is refused: {err}");
                }
                if ok {
                    if let Some(p) = self.peer_mut(conn) {
                        p.connected = true;
                    }
                } else {
                    self.conns.close(conn);
                }
                self.drain();
                if ok {
                    // [T-2]: the fax client is the TLS client on callbacks too.
                    self.start_tls(conn);
                }
            }
            ServerOp::CbChallenge { conn } => {
                let Some(conn) = self
                    .conns
                    .nth_live_where(usize::from(conn), |p| !p.control && p.connected)
                else {
                    return;
                };
                let client_nonce = [conn.into_raw() as u8; 32];
                if let Some(p) = self.peer_mut(conn) {
                    p.client_nonce = Some(client_nonce);
                }
                self.send(Some(conn), &Frame::CbChallenge { client_nonce });
            }
            ServerOp::CbReady { conn, valid, seq } => {
                let Some(conn) = self
                    .conns
                    .nth_live_where(usize::from(conn), |p| !p.control && p.connected)
                else {
                    return;
                };
                let binding = self.binding(conn);
                let Some(p) = self.peer_mut(conn) else { return };
                let (Some(session), Some(cn), Some(sn)) =
                    (p.session, p.client_nonce, p.server_nonce)
                else {
                    return;
                };
                let sent = self.sent.get(&session).copied().unwrap_or(0);
                let last_seq = match seq % 4 {
                    0 => sent,
                    1 => 0,
                    // Restored sessions may start at the end of the seqs.
                    2 => sent.saturating_add(1),
                    _ => sent.saturating_sub(1),
                };
                let key = self.keys.iter().rev().find(|(id, _)| *id == session);
                let mut proof = match key {
                    Some((_, key)) => {
                        cb_ready_proof_bound(key, &cn, &sn, session, last_seq, binding.as_ref())
                    }
                    None => [0; 32],
                };
                if !valid {
                    proof[0] ^= 1;
                }
                self.send(Some(conn), &Frame::CbReady(CbReady { last_seq, proof }));
            }
            ServerOp::Ack { conn, seq } => {
                let Some(conn) = self.pick_any(conn) else {
                    return;
                };
                let Some(p) = self.peer_mut(conn) else { return };
                let (max, session) = (p.max_notify, p.session);
                let seq = match seq % 4 {
                    0 => max,
                    1 => max.saturating_sub(1),
                    2 => max.saturating_add(1),
                    _ => session
                        .and_then(|s| self.sent.get(&s).copied())
                        .unwrap_or(0),
                };
                self.send(Some(conn), &Frame::Ack { seq });
            }
            ServerOp::Ping { conn } => {
                let nonce = u64::from(conn);
                self.send(self.pick_any(conn), &Frame::Ping { nonce });
            }
            ServerOp::Pong { conn } => {
                let nonce = u64::from(conn);
                self.send(self.pick_any(conn), &Frame::Pong { nonce });
            }
            ServerOp::Logout { conn } => self.send(self.pick(conn, true), &Frame::Logout),
            ServerOp::Error { conn, code } => {
                let code = ErrorCode::ALL[usize::from(code) % ErrorCode::ALL.len()];
                self.send(self.pick_any(conn), &Frame::error(code, "fuzz"));
            }
            ServerOp::Raw { conn, bytes } => {
                if let Some(conn) = self.conns.any(conn) {
                    if self.tls == Some(TlsMode::RawRecords) {
                        self.feed_raw(conn, &bytes);
                    } else {
                        self.feed(conn, &bytes);
                    }
                }
            }
            ServerOp::Close { conn } => {
                let Some(conn) = self.conns.any(conn) else {
                    return;
                };
                let live = self.conns.is_live(conn);
                let result = self.server.handle_input(self.now, Input::Closed { conn });
                if result.is_ok() && live {
                    self.conns.close(conn);
                }
                self.drain();
            }
            ServerOp::Notify { target, count, len } => self.notify(target, count, len),
            ServerOp::EndSession { which } => {
                let newest = self.keys.last().map(|(id, _)| *id);
                let id = match (which % 2, newest) {
                    (0, Some(id)) => id,
                    _ => 0xdead,
                };
                if let Some(id) = SessionId::new(id) {
                    let live = self.server.session(id).is_some();
                    let result = self.server.end_session(self.now, id);
                    assert_eq!(
                        result.is_ok(),
                        live,
                        "end_session refuses only unknown sessions"
                    );
                }
                self.drain();
            }
            ServerOp::Shutdown => {
                self.server.shutdown(self.now);
                self.drain();
                assert!(self.server.is_shut_down(), "shutdown left something behind");
            }
            ServerOp::Advance { ms } => {
                self.now += Duration::from_millis(u64::from(ms));
                self.run_timers();
            }
            ServerOp::Timeout => {
                if let Some(at) = self.server.poll_timeout() {
                    self.now = self.now.max(at);
                    self.run_timers();
                }
            }
            ServerOp::Split { at } => self.split = usize::from(at),
            // Taken by `run_with` (only valid first).
            ServerOp::ClusterMode => {}
            ServerOp::Claim { .. }
            | ServerOp::NotifyAt { .. }
            | ServerOp::Release { .. }
            | ServerOp::Bus { .. }
            | ServerOp::PastClaimTimeout => self.apply_cluster(op),
        }
    }

    fn notify(&mut self, target: u8, count: u8, len: u8) {
        let newest = self.keys.last().and_then(|(id, _)| SessionId::new(*id));
        for i in 0..=count % 8 {
            let depths: Vec<(SessionId, usize)> = self
                .server
                .sessions()
                .map(|s| (s.id, s.queue_depth))
                .collect();
            let report = if len == 255 && i == 0 {
                // Too large for a NOTIFY: refused, never queued.
                let Some(id) = newest else { continue };
                let payload = Bytes::from(vec![0u8; MAX_PAYLOAD_LEN + 1]);
                let result = self.server.notify_session(self.now, id, 3, payload);
                assert!(
                    matches!(
                        result,
                        Err(Refused::PayloadTooLarge { .. } | Refused::NoSuchSession)
                    ),
                    "an oversized payload: {result:?}"
                );
                continue;
            } else {
                let target = match target % 4 {
                    0 => Target::All,
                    1 => Target::User("alice".into()),
                    2 => match newest {
                        Some(id) => Target::Session(id),
                        None => continue,
                    },
                    _ => match SessionId::new(0xdead) {
                        Some(id) => Target::Session(id),
                        None => continue,
                    },
                };
                let text = "x".repeat(usize::from(len));
                match self
                    .server
                    .notify(self.now, target, &Notification::server_message(text))
                {
                    Ok(report) => report,
                    Err(err) => panic!("a valid notification cannot be encoded: {err}"),
                }
            };
            for a in &report.accepted {
                // [D-17]: in cluster mode only the log numbers notifications.
                assert!(self.app.is_none(), "notify accepted in cluster mode");
                let book = self.book(a.session);
                assert!(!book.closed, "accepted for a closed session");
                assert_eq!(a.seq, book.accepted + 1, "seqs grow by 1 [B-2]");
                book.accepted = a.seq;
            }
            for (sid, refused) in &report.refused {
                let depth = depths.iter().find(|(s, _)| s == sid).map(|(_, d)| *d);
                match refused {
                    Refused::QueueFull { limit } => {
                        assert_eq!(depth, Some(*limit), "refused with room in the queue [B-6]")
                    }
                    Refused::NoSuchSession => assert_eq!(depth, None),
                    Refused::Clustered if self.app.is_some() => {}
                    other => panic!("unexpected refusal {other}"),
                }
            }
            self.drain();
        }
    }

    /// The peers fall silent and time runs on: the server must end up idle,
    /// holding nothing, with every notification accounted for.
    fn finish(&mut self) {
        for _ in 0..10_000 {
            let Some(at) = self.server.poll_timeout() else {
                break;
            };
            self.now = self.now.max(at);
            self.run_timers();
        }
        let fp = self.server.fuzz_footprint();
        assert!(
            self.server.is_idle()
                && fp.timers == 0
                && fp.addresses == 0
                && fp.prefixes == 0
                && fp.users == 0
                && fp.endpoints == 0,
            "after the peers fell silent the server still holds {fp:?}"
        );
        let retired = self.app.iter().flat_map(|app| app.retired.iter());
        let retired = retired.map(|(id, book)| (id, book));
        for (id, book) in self.books.iter().chain(retired) {
            // Released sessions [D-17] end without a report: the log keeps
            // what they held for the session's next owner.
            assert!(
                book.released || (book.closed && (book.reported || book.acked == book.accepted)),
                "session {id:#x}: {book:?} at the end"
            );
        }
        self.finish_cluster();
    }
}

/// The AuthMessage bound to the connection's TLS session, if it has one [T-6].
fn bound(auth: AuthMessage, binding: Option<ChannelBinding>) -> AuthMessage {
    match binding {
        Some(binding) => auth.bind(&binding),
        None => auth,
    }
}

fn body_of(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    // A frame the harness built or decoded always encodes.
    let _ = frame.encode_body(&mut out);
    out
}
