//! Drives a `Client` through scripted exchanges and records a transcript
//! (every input and output, frames decoded, with virtual time).

#![allow(dead_code)] // each test binary uses a different subset

pub(crate) mod server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::client::{
    BindError, Client, ClientConfig, Event, Input, ListenPolicy, NetworkSettings, Output,
};
use faxnotify_core::io::CloseKind;
use faxnotify_core::wire::Frame;
use faxnotify_testkit::Endpoint;

use crate::support::transcript::Transcript;
use server::ScriptedServer;

pub(crate) const SERVER: &str = "192.0.2.1:4580";
pub(crate) const SEED: [u8; 32] = [7; 32];
pub(crate) const SESSION: u64 = 0x0123_4567_89ab_cdef;
pub(crate) const LEASE_MS: u32 = 30_000;

pub(crate) fn config(listen: ListenPolicy) -> ClientConfig {
    ClientConfig::new(
        SERVER.parse().expect("valid"),
        server::USER,
        server::PASSWORD,
        NetworkSettings::new(listen),
    )
}

pub(crate) fn server_peer(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

/// A client under test (with its pending outputs) and the transcript.
pub(crate) struct Harness {
    /// The client; its own API through `Deref`.
    pub(crate) client: Endpoint<Client>,
    pub(crate) now: Instant,
    transcript: Transcript,
    /// Every event emitted, in order (also pending in `client` until taken).
    pub(crate) events: Vec<Event>,
}

impl Harness {
    pub(crate) fn new(config: ClientConfig) -> Self {
        Self::with_seed(config, SEED)
    }

    pub(crate) fn with_seed(config: ClientConfig, seed: [u8; 32]) -> Self {
        let now = Instant::now();
        let client = Client::new(config, seed, now).expect("valid config");
        let mut h = Self {
            // Nothing is taken from the client before the transcript starts.
            client: Endpoint::new_undrained(client),
            now,
            transcript: Transcript::new(now),
            events: Vec::new(),
        };
        h.note("client created");
        h.drain();
        h
    }

    pub(crate) fn note(&mut self, text: impl std::fmt::Display) {
        self.transcript.line(self.now, format!("--  {text}"));
    }

    pub(crate) fn transcript(self) -> String {
        assert!(
            self.client.pending().is_empty(),
            "outputs left unchecked: {:?}",
            self.client.pending()
        );
        self.transcript.finish()
    }

    /// The transcript even with outputs left unchecked.
    pub(crate) fn transcript_unchecked(self) -> String {
        self.transcript.finish()
    }

    /// Takes the client's new outputs into its pending queue, logging each.
    fn drain(&mut self) {
        let old = self.client.pending().len();
        self.client.drain();
        for out in self.client.pending().range(old..) {
            match out {
                Output::Transmit { conn, data } => {
                    self.transcript.frames(self.now, "C->S", *conn, data);
                }
                Output::Event(event) => {
                    self.events.push(event.clone());
                    self.transcript.line(self.now, format!("ev  {event:?}"));
                    if let Event::Stopped { reason } = event {
                        self.transcript.line(self.now, format!("    = {reason}"));
                    }
                }
                Output::Connect { conn, addr } => self
                    .transcript
                    .line(self.now, format!("out Connect {conn} {addr}")),
                Output::Close { conn, kind } => {
                    // Only a callback that never authenticated is released
                    // at once.
                    let how = match kind {
                        CloseKind::Prompt => " at once",
                        _ => "",
                    };
                    self.transcript
                        .line(self.now, format!("out Close {conn}{how}"))
                }
                Output::Listen { addr } => {
                    self.transcript.line(self.now, format!("out Listen {addr}"))
                }
                Output::StopListening => self.transcript.line(self.now, "out StopListening"),
                other => self.transcript.line(self.now, format!("out {other:?}")),
            }
        }
    }

    pub(crate) fn input(&mut self, input: Input<'_>) {
        match &input {
            Input::Received { conn, data } => self.transcript.frames(self.now, "S->C", *conn, data),
            other => self.transcript.line(self.now, format!("in  {other:?}")),
        }
        self.client
            .core
            .handle_input(self.now, input)
            .expect("the harness feeds only valid inputs");
        self.drain();
    }

    pub(crate) fn send(&mut self, conn: ConnId, frames: &[Frame<'_>]) {
        let mut data = Vec::new();
        for f in frames {
            f.encode(&mut data).expect("encodable");
        }
        self.input(Input::Received { conn, data: &data });
    }

    pub(crate) fn send_bytes(&mut self, conn: ConnId, data: &[u8]) {
        self.input(Input::Received { conn, data });
    }

    pub(crate) fn accept(&mut self, peer: SocketAddr) -> ConnId {
        let conn = self.client.core.handle_accept(self.now, peer);
        self.transcript
            .line(self.now, format!("in  accept {conn} from {peer}"));
        self.drain();
        conn
    }

    pub(crate) fn logout(&mut self) {
        self.transcript.line(self.now, "in  logout()");
        self.client.logout(self.now).expect("logout accepted");
        self.drain();
    }

    /// Advances virtual time by `d`, running the timer if it is due.
    pub(crate) fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
            self.transcript.line(self.now, "in  timeout");
            self.client.handle_timeout(self.now);
            self.drain();
        }
    }

    /// Jumps to the next timer and runs it.
    pub(crate) fn fire_timer(&mut self) {
        let at = self.client.poll_timeout().expect("a timer is armed");
        assert!(at >= self.now, "timer in the past");
        self.now = at;
        self.transcript.line(self.now, "in  timeout");
        self.client.handle_timeout(self.now);
        self.drain();
    }

    pub(crate) fn next(&mut self) -> Output {
        self.client.next_output().expect("an output is pending")
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.client.pending().is_empty()
    }

    pub(crate) fn take_all(&mut self) -> Vec<Output> {
        self.client.take_pending()
    }

    pub(crate) fn expect_listen(&mut self) -> SocketAddr {
        match self.next() {
            Output::Listen { addr } => addr,
            other => panic!("expected Listen, got {other:?}"),
        }
    }

    pub(crate) fn expect_connect(&mut self) -> ConnId {
        self.expect_connect_to(SERVER.parse().expect("valid"))
    }

    /// The next output must be a dial of `server`.
    pub(crate) fn expect_connect_to(&mut self, server: SocketAddr) -> ConnId {
        match self.next() {
            Output::Connect { conn, addr } => {
                assert_eq!(addr, server, "dialled the wrong server");
                conn
            }
            other => panic!("expected Connect, got {other:?}"),
        }
    }

    pub(crate) fn expect_close(&mut self, expected: ConnId) {
        match self.next() {
            Output::Close { conn, .. } => assert_eq!(conn, expected),
            other => panic!("expected Close {expected}, got {other:?}"),
        }
    }

    pub(crate) fn expect_stop_listening(&mut self) {
        match self.next() {
            Output::StopListening => {}
            other => panic!("expected StopListening, got {other:?}"),
        }
    }

    /// The frames of the next output, which must be a transmit on `conn`.
    pub(crate) fn expect_frames(&mut self, conn: ConnId) -> Vec<Frame<'static>> {
        match self.next() {
            Output::Transmit { conn: c, data } => {
                assert_eq!(c, conn, "transmit on the wrong connection");
                decode_all(&data)
            }
            other => panic!("expected a transmit on {conn}, got {other:?}"),
        }
    }

    /// The next output must be a transmit of exactly one frame on `conn`.
    pub(crate) fn expect_frame(&mut self, conn: ConnId) -> Frame<'static> {
        let mut frames = self.expect_frames(conn);
        assert_eq!(frames.len(), 1, "expected one frame, got {frames:?}");
        frames.remove(0)
    }

    pub(crate) fn expect_event(&mut self) -> Event {
        match self.next() {
            Output::Event(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    pub(crate) fn expect_no_output(&mut self) {
        assert!(
            self.client.pending().is_empty(),
            "unexpected outputs: {:?}",
            self.client.pending()
        );
    }

    /// Binds the listener at `port` (the first Listen must be pending).
    pub(crate) fn bind(&mut self, port: u16) {
        let addr = self.expect_listen();
        let local = SocketAddr::new(addr.ip(), if addr.port() == 0 { port } else { addr.port() });
        self.input(Input::Bound { local });
        match self.expect_event() {
            Event::Listening { local: l, .. } => assert_eq!(l, local),
            other => panic!("expected Listening, got {other:?}"),
        }
    }

    pub(crate) fn bind_fail(&mut self, error: BindError) -> SocketAddr {
        let addr = self.expect_listen();
        self.input(Input::BindFailed { addr, error });
        addr
    }

    /// Dials and runs a whole login against `server` up to LoggedIn.
    /// Returns the control connection.
    pub(crate) fn login(&mut self, server: &mut ScriptedServer, session: u64) -> ConnId {
        let ctl = self.expect_connect();
        self.input(Input::Connected { conn: ctl });
        self.login_on(ctl, server, session);
        ctl
    }

    /// Runs the login on an already connected control connection.
    pub(crate) fn login_on(&mut self, ctl: ConnId, server: &mut ScriptedServer, session: u64) {
        self.send(ctl, &[server.hello()]);
        let login = self.expect_frame(ctl);
        let challenge = server.challenge_for(&login);
        self.send(ctl, &[challenge]);
        let proof = self.expect_frame(ctl);
        let ok = server.login_ok(&proof, session, LEASE_MS);
        self.send(ctl, &[ok]);
        let advertise = self.expect_frame(ctl);
        let Frame::Advertise(a) = &advertise else {
            panic!("expected ADVERTISE, got {advertise}");
        };
        let callback = SocketAddr::from(([192, 0, 2, 10], a.port));
        self.send(ctl, &[Frame::AdvertiseOk { callback }]);
        match self.expect_event() {
            Event::LoggedIn { session: s, .. } => assert_eq!(s.get(), session),
            other => panic!("expected LoggedIn, got {other:?}"),
        }
    }

    /// Accepts a callback and runs its handshake; returns it and the
    /// last_seq the client reported in CB_READY.
    pub(crate) fn open_callback(
        &mut self,
        server: &mut ScriptedServer,
        peer_port: u16,
    ) -> (ConnId, u64) {
        let cb = self.accept(server_peer(peer_port));
        let challenge = self.expect_frame(cb);
        let (hello, cn, sn) = server.cb_hello(&challenge);
        self.send(cb, &[hello]);
        let ready = self.expect_frame(cb);
        let last = server.check_cb_ready(&ready, &cn, &sn);
        match self.expect_event() {
            Event::CallbackEstablished { conn, .. } => assert_eq!(conn, cb),
            other => panic!("expected CallbackEstablished, got {other:?}"),
        }
        (cb, last)
    }

    /// Takes the next events (asserting each is an event) until a transmit
    /// on `conn`, and returns both.
    pub(crate) fn delivered_then_ack(&mut self, conn: ConnId) -> (Vec<u64>, u64) {
        let mut seqs = Vec::new();
        loop {
            match self.next() {
                Output::Event(Event::Notification { seq, .. }) => seqs.push(seq),
                Output::Transmit { conn: c, data } => {
                    assert_eq!(c, conn);
                    let frames = decode_all(&data);
                    assert_eq!(frames.len(), 1, "one ACK expected, got {frames:?}");
                    let Frame::Ack { seq } = frames[0] else {
                        panic!("expected ACK, got {}", frames[0]);
                    };
                    return (seqs, seq);
                }
                other => panic!("expected notifications then an ACK, got {other:?}"),
            }
        }
    }
}

pub(crate) fn decode_all(data: &[u8]) -> Vec<Frame<'static>> {
    faxnotify_testkit::frames::frames(data)
}
