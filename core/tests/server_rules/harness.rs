//! A scripted network around one `Server`, with virtual time.
//!
//! The harness plays the adapter and any number of clients: it feeds
//! inputs, drains every output after every call, keeps what the server
//! transmitted per connection for the test to read, and logs everything to
//! a transcript. Scripted clients compute real SCRAM and callback proofs
//! with `faxnotify_core::auth`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, DEFAULT_ITERATIONS, SessionKey, cb_hello_proof, cb_ready_proof,
    client_proof, prepare_password, server_signature, session_key, verify_mac,
};
use faxnotify_core::io::{CloseKind, ConnectError};
use faxnotify_core::server::{
    Event, Input, InputError, MemoryUserStore, Output, Server, ServerConfig,
};
use faxnotify_core::wire::{
    Advertise, CallbackState, Caps, CbHello, CbReady, ErrorCode, Frame, Login, PolicyKind, Role,
    decode_whole_frames,
};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_testkit::Endpoint;

use crate::support::transcript::Transcript;

pub const SECRET: [u8; 32] = [0x5e; 32];
pub const SEED: [u8; 32] = [0x42; 32];
pub const ALICE_PW: &str = "correct horse";
pub const BOB_PW: &str = "battery staple";
pub const SALT_ALICE: [u8; 16] = [0xa1; 16];
pub const SALT_BOB: [u8; 16] = [0xb0; 16];

/// Snapshot a transcript into `core/tests/snapshots/` as `server_rules__<module>__<name>.snap`.
#[macro_export]
macro_rules! assert_transcript {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => true,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

pub fn users() -> MemoryUserStore {
    let mut users = MemoryUserStore::new();
    users
        .add_password(
            "alice",
            ALICE_PW,
            &SALT_ALICE,
            DEFAULT_ITERATIONS,
            Role::User,
        )
        .unwrap();
    users
        .add_password("bob", BOB_PW, &SALT_BOB, DEFAULT_ITERATIONS, Role::Admin)
        .unwrap();
    users
        .add_password(
            "carol",
            "carol pw",
            &[0xc0; 16],
            DEFAULT_ITERATIONS,
            Role::User,
        )
        .unwrap();
    users
}

pub fn config() -> ServerConfig {
    let mut c = ServerConfig::new(SECRET);
    c.server_name = "fax.test".into();
    c
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A client's view of its login.
#[derive(Clone, Debug)]
pub struct Client {
    pub conn: ConnId,
    pub session: SessionId,
    pub key: SessionKey,
    pub caps: Caps,
    pub lease_ms: u32,
    pub role: Role,
}

/// A login whose LOGIN_PROOF was sent, waiting for the server's reply.
pub struct ProvenLogin {
    pub conn: ConnId,
    secrets: ClientSecrets,
    auth: AuthMessage,
}

/// A scripted callback listener's state.
#[derive(Clone, Debug)]
pub struct CallbackConn {
    pub conn: ConnId,
    pub client_nonce: [u8; 32],
    pub server_nonce: [u8; 32],
}

pub struct Harness {
    /// The server; its own API through `Deref`.
    pub server: Endpoint<Server>,
    pub start: Instant,
    pub now: Instant,
    log: Transcript,
    inbox: HashMap<ConnId, Vec<u8>>,
    events: Vec<Event>,
    closed: HashSet<ConnId>,
    dials: Vec<(ConnId, SocketAddr)>,
    secrets: HashMap<(String, Vec<u8>, u32), ClientSecrets>,
    nonce_counter: u8,
    /// Log frames sent by scripted clients too.
    pub log_client_frames: bool,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::with_seed(SEED, tweak)
    }

    pub fn with_seed(seed: [u8; 32], tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut c = config();
        tweak(&mut c);
        let start = Instant::now();
        let server = Server::new(c, Box::new(users()), seed).unwrap();
        Self {
            server: Endpoint::new_undrained(server),
            start,
            now: start,
            log: Transcript::new(start),
            inbox: HashMap::new(),
            events: Vec::new(),
            closed: HashSet::new(),
            dials: Vec::new(),
            secrets: HashMap::new(),
            nonce_counter: 0,
            log_client_frames: true,
        }
    }

    pub fn note(&mut self, text: impl std::fmt::Display) {
        self.log.line(self.now, format!("-- {text}"));
    }

    pub fn transcript(self) -> String {
        self.log.finish()
    }

    /// Drains every output into the inboxes, the event list and the log.
    pub fn drain(&mut self) {
        let Self {
            server,
            now,
            log,
            inbox,
            events,
            closed,
            dials,
            ..
        } = self;
        let now = *now;
        server.drain_into(|_, output| match output {
            Output::Transmit { conn, data } => {
                assert!(!closed.contains(&conn), "{conn} transmitted after Close");
                log.frames(now, "S->C", conn, &data);
                inbox.entry(conn).or_default().extend_from_slice(&data);
            }
            Output::Connect { conn, addr } => {
                log.line(now, format!("S: connect {conn} {addr}"));
                dials.push((conn, addr));
            }
            Output::Close { conn, kind } => {
                // Only a connection without a session is released at once.
                let how = match kind {
                    CloseKind::Prompt => " at once",
                    _ => "",
                };
                log.line(now, format!("S: close {conn}{how}"));
                assert!(closed.insert(conn), "{conn} closed twice");
            }
            Output::Event(event) => {
                log.line(now, format!("event: {event}"));
                events.push(event);
            }
            other => panic!("unexpected output {other:?}"),
        });
    }

    fn input(&mut self, input: Input<'_>) {
        self.server.handle_input(self.now, input).unwrap();
        self.drain();
    }

    // ----- adapter inputs ---------------------------------------------------

    pub fn accept(&mut self, peer: &str) -> ConnId {
        let conn = self.server.core.handle_accept(self.now, addr(peer));
        self.log
            .line(self.now, format!("accept {conn} from {peer}"));
        self.drain();
        conn
    }

    pub fn send(&mut self, conn: ConnId, frame: &Frame<'_>) {
        let bytes = frame.to_vec().unwrap();
        if self.log_client_frames {
            self.log.frames(self.now, "C->S", conn, &bytes);
        }
        self.input(Input::Received { conn, data: &bytes });
    }

    /// Like `send`, for scripts that may misuse the adapter contract.
    pub fn try_send(&mut self, conn: ConnId, frame: &Frame<'_>) -> Result<(), InputError> {
        let bytes = frame.to_vec().unwrap();
        let result = self
            .server
            .handle_input(self.now, Input::Received { conn, data: &bytes });
        self.drain();
        result
    }

    pub fn send_bytes(&mut self, conn: ConnId, bytes: &[u8], what: &str) {
        self.log.line(
            self.now,
            format!("C->S {conn} raw {} bytes: {what}", bytes.len()),
        );
        self.input(Input::Received { conn, data: bytes });
    }

    pub fn connected(&mut self, conn: ConnId) {
        self.log.line(self.now, format!("connected {conn}"));
        self.input(Input::Connected { conn });
    }

    pub fn connect_failed(&mut self, conn: ConnId) {
        self.log.line(self.now, format!("connect failed {conn}"));
        self.input(Input::ConnectFailed {
            conn,
            error: ConnectError::Refused,
        });
    }

    pub fn peer_closed(&mut self, conn: ConnId) {
        self.log.line(self.now, format!("peer closed {conn}"));
        self.input(Input::Closed { conn });
    }

    /// Moves virtual time forward, firing timers at their exact times.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(at) = self.server.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.server.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    pub fn elapsed_ms(&self) -> u128 {
        (self.now - self.start).as_millis()
    }

    // ----- what the server did ------------------------------------------------

    /// The frames the server sent on `conn` since the last call.
    pub fn recv(&mut self, conn: ConnId) -> Vec<Frame<'static>> {
        let bytes = self.inbox.remove(&conn).unwrap_or_default();
        decode_whole_frames(&bytes).unwrap_or_else(|err| panic!("the server's output {err}"))
    }

    /// Exactly one frame was sent on `conn` since the last call.
    pub fn recv_one(&mut self, conn: ConnId) -> Frame<'static> {
        let mut frames = self.recv(conn);
        assert_eq!(
            frames.len(),
            1,
            "expected one frame on {conn}, got {frames:?}"
        );
        frames.pop().unwrap()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }

    /// The dials the server asked for since the last call.
    pub fn take_dials(&mut self) -> Vec<(ConnId, SocketAddr)> {
        std::mem::take(&mut self.dials)
    }

    /// How many dials are pending, without taking them.
    pub fn pending_dials(&self) -> usize {
        self.dials.len()
    }

    pub fn take_dial(&mut self) -> (ConnId, SocketAddr) {
        let mut dials = self.take_dials();
        assert_eq!(dials.len(), 1, "expected one dial, got {dials:?}");
        dials.pop().unwrap()
    }

    // ----- scripted clients ---------------------------------------------------

    pub fn fresh_nonce(&mut self) -> [u8; 32] {
        self.nonce_counter = self.nonce_counter.wrapping_add(1);
        [self.nonce_counter; 32]
    }

    fn secrets(&mut self, password: &str, salt: &[u8], iterations: u32) -> ClientSecrets {
        let key = (password.to_owned(), salt.to_vec(), iterations);
        self.secrets
            .entry(key)
            .or_insert_with(|| {
                ClientSecrets::derive(&prepare_password(password).unwrap(), salt, iterations)
            })
            .clone()
    }

    /// Accepts a connection and runs a login to LOGIN_OK; returns the
    /// client, or the ERROR frame that ended the login.
    pub fn try_login(
        &mut self,
        peer: &str,
        user: &str,
        password: &str,
        resume: u64,
        caps: Caps,
    ) -> Result<Client, (ConnId, Frame<'static>)> {
        let conn = self.accept(peer);
        self.try_login_on(conn, user, password, resume, caps)
    }

    pub fn try_login_on(
        &mut self,
        conn: ConnId,
        user: &str,
        password: &str,
        resume: u64,
        caps: Caps,
    ) -> Result<Client, (ConnId, Frame<'static>)> {
        let proven = self.login_to_proof(conn, user, password, resume, caps)?;
        self.login_reply(&proven)
    }

    /// Runs a login up to and including LOGIN_PROOF; the server's reply
    /// is read by `login_reply` (a clustered server answers only once its
    /// application has answered the claim).
    pub fn login_to_proof(
        &mut self,
        conn: ConnId,
        user: &str,
        password: &str,
        resume: u64,
        caps: Caps,
    ) -> Result<ProvenLogin, (ConnId, Frame<'static>)> {
        let hello = self.recv_one(conn);
        if matches!(hello, Frame::Error(_)) {
            return Err((conn, hello));
        }
        assert!(matches!(hello, Frame::ServerHello(_)), "{hello}");
        let login = Frame::Login(Login {
            version: 1,
            user: user.to_owned().into(),
            client_nonce: self.fresh_nonce(),
            caps,
            resume_session: resume,
        });
        self.send(conn, &login);
        let challenge = self.recv_one(conn);
        let Frame::LoginChallenge(c) = &challenge else {
            return Err((conn, challenge));
        };
        let secrets = self.secrets(password, &c.salt, c.iterations);
        let auth = AuthMessage::from_frames(&hello, &login, &challenge).unwrap();
        let proof = client_proof(&secrets, &auth);
        self.send(conn, &Frame::LoginProof { proof });
        Ok(ProvenLogin {
            conn,
            secrets,
            auth,
        })
    }

    /// The server's reply to a LOGIN_PROOF: LOGIN_OK (checked) or the ERROR.
    pub fn login_reply(
        &mut self,
        proven: &ProvenLogin,
    ) -> Result<Client, (ConnId, Frame<'static>)> {
        let conn = proven.conn;
        let reply = self.recv_one(conn);
        let Frame::LoginOk(ok) = &reply else {
            return Err((conn, reply));
        };
        // the server's signature covers the whole handshake.
        let expected = server_signature(&proven.secrets.server_key, &proven.auth, ok);
        assert!(
            verify_mac(&expected, &ok.server_signature),
            "bad server signature"
        );
        Ok(Client {
            conn,
            session: SessionId::new(ok.session_id).unwrap(),
            key: session_key(&proven.secrets.client_key, &proven.auth),
            caps: ok.caps,
            lease_ms: ok.lease_ms,
            role: ok.role,
        })
    }

    pub fn login(&mut self, peer: &str, user: &str, password: &str) -> Client {
        self.try_login(peer, user, password, 0, Caps::BACKCHANNEL)
            .unwrap_or_else(|(_, f)| panic!("login failed: {f}"))
    }

    pub fn advertise(&mut self, client: &Client, port: u16) -> Vec<Frame<'static>> {
        let policy = if port == 0 {
            PolicyKind::Dynamic
        } else {
            PolicyKind::Fixed
        };
        self.send(
            client.conn,
            &Frame::Advertise(Advertise {
                port,
                policy,
                range_lo: 0,
                range_hi: 0,
            }),
        );
        self.recv(client.conn)
    }

    /// Connects the server's dial and runs the callback handshake up to
    /// (not including) CB_READY; returns the listener's state.
    pub fn callback_hello(&mut self, client: &Client, dial: ConnId) -> CallbackConn {
        self.connected(dial);
        let client_nonce = self.fresh_nonce();
        self.send(dial, &Frame::CbChallenge { client_nonce });
        let hello = self.recv_one(dial);
        let Frame::CbHello(CbHello {
            session_id,
            server_nonce,
            proof,
        }) = hello
        else {
            panic!("expected CB_HELLO, got {hello}");
        };
        // [B-1]: the client checks the server's proof.
        assert_eq!(session_id, client.session.get());
        let expected = cb_hello_proof(&client.key, &client_nonce, &server_nonce, session_id);
        assert!(verify_mac(&expected, &proof), "bad CB_HELLO proof");
        CallbackConn {
            conn: dial,
            client_nonce,
            server_nonce,
        }
    }

    pub fn cb_ready(&mut self, client: &Client, cb: &CallbackConn, last_seq: u64) {
        let proof = cb_ready_proof(
            &client.key,
            &cb.client_nonce,
            &cb.server_nonce,
            client.session.get(),
            last_seq,
        );
        self.send(cb.conn, &Frame::CbReady(CbReady { last_seq, proof }));
    }

    /// The whole callback handshake on `dial`.
    pub fn callback(&mut self, client: &Client, dial: ConnId, last_seq: u64) -> CallbackConn {
        let cb = self.callback_hello(client, dial);
        self.cb_ready(client, &cb, last_seq);
        cb
    }

    /// Login, ADVERTISE `port`, and complete the callback the server dials.
    pub fn online(
        &mut self,
        peer: &str,
        user: &str,
        password: &str,
        port: u16,
    ) -> (Client, ConnId) {
        let client = self.login(peer, user, password);
        let replies = self.advertise(&client, port);
        assert!(
            matches!(replies[0], Frame::AdvertiseOk { .. }),
            "{replies:?}"
        );
        let (dial, _) = self.take_dial();
        self.callback(&client, dial, 0);
        let status = self.recv_one(client.conn);
        assert_eq!(callback_state(&status), Some(CallbackState::Reachable));
        (client, dial)
    }
}

pub fn callback_state(frame: &Frame<'_>) -> Option<CallbackState> {
    match frame {
        Frame::CallbackStatus(s) => Some(s.state),
        _ => None,
    }
}

pub fn error_code(frame: &Frame<'_>) -> Option<ErrorCode> {
    match frame {
        Frame::Error(e) => Some(e.code),
        _ => None,
    }
}

/// The seqs of the NOTIFY frames among `frames`.
pub fn notify_seqs(frames: &[Frame<'_>]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Notify(n) => Some(n.seq),
            _ => None,
        })
        .collect()
}
