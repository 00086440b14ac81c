//! Property: whatever the interleaving of callback connections, their
//! closes, control-connection losses and resumes, backchannel switches,
//! redeliveries and TCP segmentation, the application sees every seq
//! exactly once and in order [B-3], and the client never reports a protocol
//! error against a server that follows the spec.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod client_harness;
#[allow(unreachable_pub)] // the shared support module is written with `pub`
mod support;

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use client_harness::server::{ScriptedServer, notify};
use client_harness::{LEASE_MS, SESSION, config, decode_all, server_peer};
use faxnotify_core::ConnId;
use faxnotify_core::client::{Client, Event, Input, ListenPolicy, Output};
use faxnotify_core::wire::{CallbackState, CallbackStatus, Frame};
use faxnotify_testkit::Endpoint;
use proptest::prelude::*;

/// What the scripted server does next.
#[derive(Clone, Debug)]
enum Op {
    /// Dial the callback and complete its handshake.
    OpenCallback,
    /// Queue `count` NOTIFYs on path `path` (they go out when flushed).
    Queue { path: usize, count: u64 },
    /// Write up to `bytes` queued bytes of path `path` to the client.
    Flush { path: usize, bytes: usize },
    /// Resend path `path` from the lowest unacknowledged seq [B-4].
    Rewind { path: usize },
    /// Close callback `path`, dropping what was queued on it.
    Close { path: usize },
    /// Move delivery to the control connection [D-2], or back.
    ToggleBackchannel,
    /// The control connection breaks; the client resumes. `close_callbacks`:
    /// whether the server closes the callbacks meanwhile [C-5].
    DropControl { close_callbacks: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::OpenCallback),
        6 => (0..4usize, 1..6u64).prop_map(|(path, count)| Op::Queue { path, count }),
        8 => (0..4usize, 1..160usize).prop_map(|(path, bytes)| Op::Flush { path, bytes }),
        2 => (0..4usize).prop_map(|path| Op::Rewind { path }),
        1 => (0..4usize).prop_map(|path| Op::Close { path }),
        1 => Just(Op::ToggleBackchannel),
        1 => any::<bool>().prop_map(|close_callbacks| Op::DropControl { close_callbacks }),
    ]
}

/// The server's view of one delivery path.
struct Path {
    conn: ConnId,
    /// The next seq this path sends.
    next: u64,
    /// Bytes written by the server but not yet read by the client.
    unread: VecDeque<u8>,
}

struct Sim {
    /// The client and its outputs, taken one by one by [`Sim::pump`].
    client: Endpoint<Client>,
    now: Instant,
    server: ScriptedServer,
    total: u64,
    /// Highest ACK the server has seen.
    acked: u64,
    /// Highest seq the server has sent.
    sent: u64,
    ctl: ConnId,
    /// The control path while the backchannel is active.
    backchannel: Option<Path>,
    callbacks: Vec<Path>,
    delivered: Vec<u64>,
    /// Non-ACK frames the client sent, per connection.
    frames: HashMap<ConnId, VecDeque<Frame<'static>>>,
    connects: VecDeque<ConnId>,
    /// Connections the client closed.
    closed: Vec<ConnId>,
    complaints: Vec<String>,
}

impl Sim {
    fn new(seed: [u8; 32], total: u64) -> Self {
        let now = Instant::now();
        let client = Client::new(config(ListenPolicy::Fixed { port: 6003 }), seed, now).unwrap();
        let client = Endpoint::new(client);
        let mut sim = Self {
            client,
            now,
            server: ScriptedServer::new(),
            total,
            acked: 0,
            sent: 0,
            ctl: ConnId::from_raw(0),
            backchannel: None,
            callbacks: Vec::new(),
            delivered: Vec::new(),
            frames: HashMap::new(),
            connects: VecDeque::new(),
            closed: Vec::new(),
            complaints: Vec::new(),
        };
        sim.pump();
        sim.input(Input::Bound {
            local: "0.0.0.0:6003".parse().unwrap(),
        });
        let ctl = sim.connects.pop_front().expect("dial");
        sim.login(ctl);
        sim
    }

    fn input(&mut self, input: Input<'_>) {
        self.client.input(self.now, input);
        self.pump();
    }

    /// Takes every output of the client, in order, checking each.
    fn pump(&mut self) {
        self.client.drain();
        while let Some(out) = self.client.next_output() {
            match out {
                Output::Event(Event::Notification { seq, notification }) => {
                    let expected = self.delivered.last().map_or(1, |l| l + 1);
                    if seq != expected {
                        self.complaints
                            .push(format!("delivered {seq}, expected {expected}"));
                    }
                    if notification
                        != faxnotify_core::wire::Notification::server_message(format!("n{seq}"))
                    {
                        self.complaints
                            .push(format!("seq {seq} carried {notification:?}"));
                    }
                    self.delivered.push(seq);
                }
                Output::Event(
                    e @ (Event::ProtocolError { .. }
                    | Event::ErrorReceived { .. }
                    | Event::Stopped { .. }
                    | Event::SessionEnded { .. }
                    | Event::NotificationsMayHaveBeenMissed { .. }
                    | Event::CallbackRejected { .. }),
                ) => {
                    if let Event::SessionEnded { .. } = e {
                        // A new session numbers from 1 again [B-2]: mark the boundary.
                        self.delivered.push(0);
                    }
                    self.complaints.push(format!("{e:?}"));
                }
                Output::Event(_) => {}
                Output::Transmit { conn, data } => {
                    for frame in decode_all(&data) {
                        match frame {
                            Frame::Ack { seq } => {
                                if seq > self.sent {
                                    self.complaints.push(format!(
                                        "ACK {seq} above highest sent {}",
                                        self.sent
                                    ));
                                }
                                self.acked = self.acked.max(seq);
                            }
                            Frame::Error(e) => self.complaints.push(format!("client sent {e:?}")),
                            other => self.frames.entry(conn).or_default().push_back(other),
                        }
                    }
                    self.client.recycle(data);
                }
                Output::Connect { conn, .. } => self.connects.push_back(conn),
                Output::Close { conn, .. } => {
                    self.callbacks.retain(|p| p.conn != conn);
                    self.closed.push(conn);
                }
                _ => {}
            }
        }
    }

    fn take_frame(&mut self, conn: ConnId) -> Frame<'static> {
        self.frames
            .get_mut(&conn)
            .and_then(VecDeque::pop_front)
            .expect("a frame from the client")
    }

    fn send(&mut self, conn: ConnId, frames: &[Frame<'_>]) {
        self.client.receive_frames(self.now, conn, frames);
        self.pump();
    }

    fn login(&mut self, ctl: ConnId) {
        self.ctl = ctl;
        self.input(Input::Connected { conn: ctl });
        let hello = self.server.hello();
        self.send(ctl, &[hello]);
        let login = self.take_frame(ctl);
        let challenge = self.server.challenge_for(&login);
        self.send(ctl, &[challenge]);
        let proof = self.take_frame(ctl);
        let ok = self.server.login_ok(&proof, SESSION, LEASE_MS);
        self.send(ctl, &[ok]);
        let _advertise = self.take_frame(ctl);
        self.send(
            ctl,
            &[Frame::AdvertiseOk {
                callback: "192.0.2.10:6003".parse().unwrap(),
            }],
        );
    }

    fn open_callback(&mut self) {
        let conn = self.client.accept(self.now, server_peer(50_000));
        self.pump();
        let challenge = self.take_frame(conn);
        let (hello, cn, sn) = self.server.cb_hello(&challenge);
        self.send(conn, &[hello]);
        let ready = self.take_frame(conn);
        let last = self.server.check_cb_ready(&ready, &cn, &sn);
        if last < self.acked {
            self.complaints
                .push(format!("CB_READY {last} below acknowledged {}", self.acked));
        }
        // [B-4]: discard what the client has, resend the rest.
        self.callbacks.push(Path {
            conn,
            next: last + 1,
            unread: VecDeque::new(),
        });
    }

    fn path(&mut self, i: usize) -> Option<&mut Path> {
        let n = self.callbacks.len() + usize::from(self.backchannel.is_some());
        if n == 0 {
            return None;
        }
        let i = i % n;
        if i < self.callbacks.len() {
            self.callbacks.get_mut(i)
        } else {
            self.backchannel.as_mut()
        }
    }

    fn queue(&mut self, i: usize, count: u64) {
        let total = self.total;
        let Some(p) = self.path(i) else { return };
        let last = (p.next + count - 1).min(total);
        let mut data = Vec::new();
        while p.next <= last {
            notify(p.next).encode(&mut data).unwrap();
            p.next += 1;
        }
        p.unread.extend(data);
        self.sent = self.sent.max(last);
    }

    fn flush(&mut self, i: usize, bytes: usize) {
        let Some(p) = self.path(i) else { return };
        let n = bytes.min(p.unread.len());
        if n == 0 {
            return;
        }
        let conn = p.conn;
        let data: Vec<u8> = p.unread.drain(..n).collect();
        self.input(Input::Received { conn, data: &data });
    }

    fn flush_all(&mut self, conn: ConnId) {
        let data: Vec<u8> = if conn == self.ctl {
            match &mut self.backchannel {
                Some(p) => p.unread.drain(..).collect(),
                None => return,
            }
        } else {
            match self.callbacks.iter_mut().find(|p| p.conn == conn) {
                Some(p) => p.unread.drain(..).collect(),
                None => return,
            }
        };
        if !data.is_empty() {
            self.input(Input::Received { conn, data: &data });
        }
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::OpenCallback => self.open_callback(),
            Op::Queue { path, count } => self.queue(path, count),
            Op::Flush { path, bytes } => self.flush(path, bytes),
            Op::Rewind { path } => {
                let from = self.acked + 1;
                if let Some(p) = self.path(path) {
                    p.next = p.next.min(from);
                }
            }
            Op::Close { path } => {
                if !self.callbacks.is_empty() {
                    let p = self.callbacks.remove(path % self.callbacks.len());
                    self.input(Input::Closed { conn: p.conn });
                }
            }
            Op::ToggleBackchannel => {
                let ctl = self.ctl;
                if self.backchannel.is_some() {
                    self.flush_all(ctl);
                    self.backchannel = None;
                    self.send(ctl, &[status(CallbackState::Reachable)]);
                } else {
                    self.send(ctl, &[status(CallbackState::Backchannel)]);
                    self.backchannel = Some(Path {
                        conn: ctl,
                        next: self.acked + 1,
                        unread: VecDeque::new(),
                    });
                }
            }
            Op::DropControl { close_callbacks } => {
                let ctl = self.ctl;
                self.backchannel = None;
                self.input(Input::Closed { conn: ctl });
                if close_callbacks {
                    for p in std::mem::take(&mut self.callbacks) {
                        self.input(Input::Closed { conn: p.conn });
                    }
                }
                // Run timers until the client dials again (a silent
                // callback may time out on the way).
                while self.connects.is_empty() {
                    let at = self
                        .client
                        .poll_timeout()
                        .expect("a reconnect is scheduled");
                    self.now = at;
                    self.client.handle_timeout(at);
                    self.pump();
                }
                let ctl = self.connects.pop_front().expect("the client dials again");
                self.login(ctl);
            }
        }
    }

    /// Lets every path drain, then delivers the rest on a fresh callback.
    fn finish(&mut self) {
        let conns: Vec<ConnId> = self.callbacks.iter().map(|p| p.conn).collect();
        for conn in conns {
            self.flush_all(conn);
        }
        let ctl = self.ctl;
        self.flush_all(ctl);
        self.open_callback();
        let last = self.callbacks.len() - 1;
        self.queue(last, self.total);
        let conn = self.callbacks[last].conn;
        self.flush_all(conn);
    }
}

fn status(state: CallbackState) -> Frame<'static> {
    Frame::CallbackStatus(CallbackStatus {
        state,
        detail: "".into(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_seq_exactly_once_in_order(
        seed in any::<[u8; 32]>(),
        total in 1..40u64,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut sim = Sim::new(seed, total);
        for op in ops {
            sim.run(op);
        }
        sim.finish();
        prop_assert!(sim.complaints.is_empty(), "{:?}", sim.complaints);
        let expected: Vec<u64> = (1..=total).collect();
        prop_assert_eq!(&sim.delivered, &expected);
        prop_assert_eq!(sim.client.last_delivered_seq(), total);
    }
}

/// A frame a hostile or broken server might send.
fn hostile_frame() -> impl Strategy<Value = Frame<'static>> {
    use faxnotify_core::wire::{
        ByeReason, CbHello, ErrorCode, LoginChallenge, LoginOk, Notify, Role,
    };
    prop_oneof![
        (0u16..3, 0u16..3).prop_map(|(a, b)| Frame::ServerHello(
            faxnotify_core::wire::ServerHello {
                version_min: a,
                version_max: b,
                caps: faxnotify_core::wire::Caps::BACKCHANNEL,
                server_name: "x".into(),
            }
        )),
        (
            any::<[u8; 32]>(),
            16usize..65,
            prop_oneof![Just(4096u32), any::<u32>()]
        )
            .prop_map(|(n, s, i)| {
                Frame::LoginChallenge(LoginChallenge {
                    server_nonce: n,
                    salt: vec![0x5a; s].into(),
                    iterations: i,
                })
            }),
        (
            prop_oneof![Just(SESSION), any::<u64>()],
            any::<u32>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(id, lease, sig)| {
                Frame::LoginOk(LoginOk {
                    session_id: id,
                    role: Role::User,
                    lease_ms: lease,
                    caps: faxnotify_core::wire::Caps::BACKCHANNEL,
                    server_signature: sig,
                })
            }),
        Just(Frame::AdvertiseOk {
            callback: "192.0.2.10:6003".parse().unwrap()
        }),
        prop_oneof![
            Just(CallbackState::Reachable),
            Just(CallbackState::Unreachable),
            Just(CallbackState::Backchannel)
        ]
        .prop_map(status),
        any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Frame::Pong { nonce }),
        prop_oneof![
            Just(ByeReason::Logout),
            Just(ByeReason::LeaseExpired),
            Just(ByeReason::Replaced),
            Just(ByeReason::Shutdown),
            Just(ByeReason::EndedByServer)
        ]
        .prop_map(|reason| Frame::Bye { reason }),
        (
            prop_oneof![Just(SESSION), any::<u64>()],
            any::<[u8; 32]>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(s, n, p)| {
                Frame::CbHello(CbHello {
                    session_id: s,
                    server_nonce: n,
                    proof: p,
                })
            }),
        (
            0u64..5,
            0u8..8,
            proptest::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(seq, kind, payload)| {
                Frame::Notify(Notify {
                    seq,
                    kind,
                    payload: payload.into(),
                })
            }),
        any::<u64>().prop_map(|seq| Frame::Ack { seq }),
        prop_oneof![
            Just(ErrorCode::UnknownSession),
            Just(ErrorCode::LimitExceeded),
            Just(ErrorCode::Timeout),
            Just(ErrorCode::AuthFailed)
        ]
        .prop_map(|code| Frame::error(code, "no")),
        Just(Frame::Logout),
    ]
}

/// What the server does next in the hostile run.
#[derive(Clone, Debug)]
enum Hostile {
    /// Frames on the control connection, fed in pieces of `chunk` bytes.
    Control(Vec<Frame<'static>>, usize),
    /// Frames on callback `i` (accepted and correctly handshaken first if needed).
    Callback(usize, Vec<Frame<'static>>),
    /// Raw bytes on the control connection.
    Garbage(Vec<u8>),
    /// Time passes.
    Wait(u64),
    /// The control connection closes.
    Close,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        2 => (proptest::collection::vec(hostile_frame(), 1..4), 1usize..64).prop_map(|(f, c)| Hostile::Control(f, c)),
        // Frames a live session tolerates, so that sessions live long enough to deliver.
        3 => prop_oneof![
            Just(status(CallbackState::Backchannel)),
            Just(status(CallbackState::Reachable)),
            any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
            (0u64..5).prop_map(notify),
        ]
        .prop_map(|f| Hostile::Control(vec![f], 7)),
        3 => (0usize..3, proptest::collection::vec(hostile_frame(), 1..4)).prop_map(|(i, f)| Hostile::Callback(i, f)),
        8 => (0usize..3, 0u64..5).prop_map(|(i, seq)| Hostile::Callback(i, vec![notify(seq)])),
        1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(Hostile::Garbage),
        1 => (0u64..40_000).prop_map(Hostile::Wait),
        1 => Just(Hostile::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever a server sends, the client does not panic, answers only with
    /// client frames, keeps its bookkeeping bounded, and still hands each
    /// session's notifications over in order and exactly once.
    #[test]
    fn hostile_server_cannot_break_the_client(
        seed in any::<[u8; 32]>(),
        script in proptest::collection::vec(hostile(), 0..40),
    ) {
        let mut sim = Sim::new(seed, 0);
        let mut callbacks: Vec<Option<ConnId>> = vec![None; 3];
        let mut expected_next = 1;
        let mut seen = 0;
        for step in script {
            if sim.client.is_finished() {
                break;
            }
            match step {
                Hostile::Control(frames, chunk) => {
                    let mut data = Vec::new();
                    for f in &frames {
                        f.encode(&mut data).unwrap();
                    }
                    let ctl = sim.ctl;
                    for piece in data.chunks(chunk) {
                        if sim.client.is_finished() { break; }
                        let _ = sim.client.try_input(sim.now, Input::Received { conn: ctl, data: piece });
                        sim.pump();
                    }
                }
                Hostile::Callback(i, frames) => {
                    let conn = match callbacks[i] {
                        Some(c) if !sim.closed.contains(&c) => c,
                        _ => {
                            let c = sim.client.accept(sim.now, server_peer(50_000));
                            sim.pump();
                            callbacks[i] = Some(c);
                            if let Some(challenge) = sim.frames.get_mut(&c).and_then(VecDeque::pop_front)
                                && sim.server.key.is_some()
                            {
                                let (hello, _, _) = sim.server.cb_hello(&challenge);
                                sim.send(c, &[hello]);
                            }
                            c
                        }
                    };
                    let mut data = Vec::new();
                    for f in &frames {
                        f.encode(&mut data).unwrap();
                    }
                    let _ = sim.client.try_input(sim.now, Input::Received { conn, data: &data });
                    sim.pump();
                }
                Hostile::Garbage(bytes) => {
                    let ctl = sim.ctl;
                    let _ = sim.client.try_input(sim.now, Input::Received { conn: ctl, data: &bytes });
                    sim.pump();
                }
                Hostile::Wait(ms) => {
                    sim.now += std::time::Duration::from_millis(ms);
                    sim.client.handle_timeout(sim.now);
                    sim.pump();
                    // A reconnect: the newest dial becomes the control connection.
                    while let Some(c) = sim.connects.pop_front() {
                        sim.ctl = c;
                        let _ = sim.client.try_input(sim.now, Input::Connected { conn: c });
                        sim.pump();
                    }
                }
                Hostile::Close => {
                    let ctl = sim.ctl;
                    let _ = sim.client.try_input(sim.now, Input::Closed { conn: ctl });
                    sim.pump();
                }
            }
            // Deliveries: in order within a session; a new session restarts at 1.
            for &seq in &sim.delivered[seen..] {
                if seq == 0 {
                    expected_next = 1; // a session ended
                    continue;
                }
                prop_assert_eq!(seq, expected_next);
                expected_next += 1;
            }
            seen = sim.delivered.len();
            prop_assert!(sim.client.last_delivered_seq() <= 12);
        }
    }
}
