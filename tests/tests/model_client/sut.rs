//! The system under test: a real `Client`, with the test playing its server
//! and its adapter, compared with the reference model after every step.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, SessionKey, cb_hello_proof, server_signature, session_key,
};
use faxnotify_core::client::{
    Backoff, BindError, Client, ClientConfig, ClientState, ConnectError, Event, Input,
    ListenPolicy, NetworkSettings, Output,
};
use faxnotify_core::wire::{
    CallbackState, CallbackStatus, Caps, CbHello, Decoder, ErrorCode, Frame, LoginChallenge,
    LoginOk, Nonce, Notify, Role as WireRole, ServerHello,
};
use faxnotify_testkit::Endpoint;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::reference::{
    BACKOFF_INITIAL, BACKOFF_MAX, CALLBACK_TIMEOUT, ClientModel, CtlState, DYNAMIC_PORT, E, F,
    FIRST_SESSION, HANDSHAKE, LEASE, LOGOUT_TIMEOUT, Listen, MAX_PENDING, MAX_READY, MAX_SERVERS,
    Out, Phase, Policy, Role,
};
use super::transition::{Grant, Hello, LoginError, On, Transition};

const PASSWORD: &str = "pw of the model";
const SALT: [u8; 16] = [9; 16];

fn secrets() -> &'static ClientSecrets {
    static SECRETS: OnceLock<ClientSecrets> = OnceLock::new();
    SECRETS.get_or_init(|| ClientSecrets::derive(PASSWORD, &SALT, 4096))
}

/// The server addresses; a case's client has the first `model.servers`.
const SERVERS: [SocketAddr; MAX_SERVERS] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4580),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 4580),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 4580),
];

/// The index of a server address in [`SERVERS`].
fn server_index(addr: SocketAddr) -> usize {
    SERVERS
        .iter()
        .position(|s| *s == addr)
        .unwrap_or_else(|| panic!("{addr} is not a configured server"))
}

pub struct ClientSut {
    /// The client and the outputs it produced, taken one by one by
    /// [`ClientSut::drain`] as the test's adapter would.
    client: Endpoint<Client>,
    base: Instant,
    now: u64,
    clock: Instant,
    roles: HashMap<ConnId, Role>,
    control: Option<ConnId>,
    callbacks: Vec<ConnId>,
    nonces: HashMap<ConnId, Nonce>,
    listen: Option<SocketAddr>,
    /// The current control connection's login: hello, login, challenge bodies.
    hello: Vec<u8>,
    login: Option<(Vec<u8>, u64)>,
    keys: HashMap<u64, SessionKey>,
    next_session: u64,
    outs: Vec<Out>,
}

impl ClientSut {
    fn new(model: &ClientModel) -> Self {
        let policy = match model.policy {
            Policy::Dynamic => ListenPolicy::Dynamic,
            Policy::Range(lo, hi) => ListenPolicy::Range { lo, hi },
            Policy::Fixed(port) => ListenPolicy::Fixed { port },
        };
        let mut config = ClientConfig::new(
            SERVERS[0],
            "modeller",
            PASSWORD,
            NetworkSettings::new(policy),
        );
        config.servers = SERVERS[..model.servers].to_vec();
        config.caps = if model.backchannel {
            Caps::BACKCHANNEL
        } else {
            Caps::NONE
        };
        config.handshake_timeout = Duration::from_millis(HANDSHAKE);
        config.callback_handshake_timeout = Duration::from_millis(CALLBACK_TIMEOUT);
        config.logout_timeout = Duration::from_millis(LOGOUT_TIMEOUT);
        config.max_pending_callbacks = MAX_PENDING;
        config.max_callbacks = MAX_READY;
        config.reconnect = Backoff::new(
            Duration::from_millis(BACKOFF_INITIAL),
            Duration::from_millis(BACKOFF_MAX),
            0,
        );
        let base = Instant::now();
        let client = Endpoint::new(Client::new(config, [3; 32], base).expect("valid config"));
        let mut sut = Self {
            client,
            base,
            now: 0,
            clock: base,
            roles: HashMap::new(),
            control: None,
            callbacks: Vec::new(),
            nonces: HashMap::new(),
            listen: None,
            hello: Vec::new(),
            login: None,
            keys: HashMap::new(),
            next_session: FIRST_SESSION,
            outs: Vec::new(),
        };
        sut.drain();
        sut
    }

    /// Takes every output the client produced, in order, into `outs`.
    fn drain(&mut self) {
        self.client.drain();
        while let Some(out) = self.client.next_output() {
            let o = match out {
                Output::Listen { addr } => {
                    self.listen = Some(addr);
                    Out::Listen(addr.port())
                }
                Output::StopListening => Out::StopListening,
                Output::Connect { conn, addr } => {
                    self.roles.insert(conn, Role::Control);
                    self.control = Some(conn);
                    self.login = None;
                    Out::Connect(server_index(addr))
                }
                Output::Close { conn, .. } => Out::Close(self.roles[&conn]),
                Output::Transmit { conn, data } => {
                    let role = self.roles[&conn];
                    let mut decoder = Decoder::default();
                    let mut input = data.as_slice();
                    while let Ok(Some(frame)) = decoder.decode(&mut input) {
                        let f = match frame {
                            Frame::Login(l) => {
                                let mut body = Vec::new();
                                Frame::Login(l.clone())
                                    .encode_body(&mut body)
                                    .expect("valid");
                                self.login = Some((body, l.resume_session));
                                F::Login {
                                    resume: (l.resume_session != 0).then_some(l.resume_session),
                                }
                            }
                            Frame::LoginProof { .. } => F::Proof,
                            Frame::Advertise(a) => F::Advertise { port: a.port },
                            Frame::Ping { .. } => F::Ping,
                            Frame::Pong { .. } => F::Pong,
                            Frame::Ack { seq } => F::Ack(seq),
                            Frame::CbChallenge { client_nonce } => {
                                self.nonces.insert(conn, client_nonce);
                                F::CbChallenge
                            }
                            Frame::CbReady(r) => F::CbReady(r.last_seq),
                            Frame::Logout => F::Logout,
                            Frame::Error(e) => F::Error(e.code),
                            other => panic!("the client sent {other}"),
                        };
                        self.outs.push(Out::Frame(role, f));
                    }
                    continue;
                }
                Output::Event(e) => Out::Event(self.event(e)),
                other => panic!("unexpected output {other:?}"),
            };
            self.outs.push(o);
        }
    }

    fn event(&mut self, e: Event) -> E {
        match e {
            Event::Listening { local, .. } => E::Listening(local.port()),
            Event::LoggedIn {
                session,
                resumed,
                server,
                ..
            } => E::LoggedIn {
                session: session.get(),
                resumed,
                server: server_index(server),
            },
            Event::CallbackStatus { state, .. } => E::Status(state.to_wire()),
            Event::CallbackEstablished { conn, .. } => match self.roles[&conn] {
                Role::Callback(id) => E::CallbackEstablished(id),
                Role::Control => panic!("a control connection as a callback"),
            },
            Event::CallbackRejected { conn, reason, .. } => match self.roles[&conn] {
                Role::Callback(id) => E::CallbackRejected(id, reason),
                Role::Control => panic!("a control connection as a callback"),
            },
            Event::CallbackClosed { conn, reason, .. } => match self.roles[&conn] {
                Role::Callback(id) => E::CallbackClosed(id, reason),
                Role::Control => panic!("a control connection as a callback"),
            },
            Event::Notification { seq, .. } => E::Notification(seq),
            Event::NotificationsMayHaveBeenMissed {
                session,
                last_delivered_seq,
            } => E::Missed {
                session: session.get(),
                last: last_delivered_seq,
            },
            Event::SessionEnded { session, reason } => E::SessionEnded {
                session: session.get(),
                why: reason,
            },
            Event::ConnectionLost {
                reason,
                attempt,
                retry_in,
                server,
                next_server,
            } => E::Lost {
                why: reason,
                attempt,
                retry_in: retry_in.as_millis() as u64,
                server: server_index(server),
                next: server_index(next_server),
            },
            Event::ProtocolError { conn, .. } => E::ProtocolError(self.roles[&conn]),
            Event::ErrorReceived { conn, code, .. } => E::ErrorReceived(self.roles[&conn], code),
            Event::LoggedOut { confirmed } => E::LoggedOut(confirmed),
            Event::Stopped { reason } => E::Stopped(reason),
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn input(&mut self, input: Input<'_>) {
        self.client.input(self.clock, input);
        self.drain();
    }

    fn send(&mut self, conn: ConnId, frames: &[Frame<'_>]) {
        self.client.receive_frames(self.clock, conn, frames);
        self.drain();
    }

    fn control(&self) -> ConnId {
        self.control.expect("a control connection")
    }

    fn on(&self, on: On) -> ConnId {
        match on {
            On::Control => self.control(),
            On::Callback(id) => self.callbacks[id],
        }
    }

    fn hello(&mut self) {
        let hello = Frame::ServerHello(ServerHello {
            version_min: 1,
            version_max: 1,
            caps: Caps::BACKCHANNEL,
            server_name: "model".into(),
        });
        self.hello.clear();
        hello.encode_body(&mut self.hello).expect("valid");
        let conn = self.control();
        self.send(conn, &[hello]);
    }

    fn login(&mut self, grant: Grant) {
        self.hello();
        let conn = self.control();
        let challenge = Frame::LoginChallenge(LoginChallenge {
            server_nonce: [2; 32],
            salt: SALT.to_vec().into(),
            iterations: 4096,
        });
        let mut challenge_body = Vec::new();
        challenge.encode_body(&mut challenge_body).expect("valid");
        self.send(conn, &[challenge]);
        let (login, resume) = self.login.clone().expect("the client sent LOGIN");
        let session_id = match grant {
            Grant::Resumed => resume,
            Grant::New => {
                self.next_session += 1;
                self.next_session - 1
            }
        };
        let auth = AuthMessage::from_bodies(&self.hello, &login, &challenge_body);
        let caps = if login[login.len() - 12..login.len() - 8] == [0, 0, 0, 1] {
            Caps::BACKCHANNEL
        } else {
            Caps::NONE
        };
        let mut ok = LoginOk {
            session_id,
            role: WireRole::User,
            lease_ms: LEASE as u32,
            caps,
            server_signature: [0; 32],
        };
        ok.server_signature = server_signature(&secrets().server_key, &auth, &ok);
        self.keys
            .insert(session_id, session_key(&secrets().client_key, &auth));
        self.send(conn, &[Frame::LoginOk(ok)]);
        let callback = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 7000);
        self.send(conn, &[Frame::AdvertiseOk { callback }]);
    }

    fn run(&mut self, t: &Transition) {
        match *t {
            Transition::Bind { free } => {
                let addr = self.listen.take().expect("a pending Listen");
                let input = if free {
                    let port = if addr.port() == 0 {
                        DYNAMIC_PORT
                    } else {
                        addr.port()
                    };
                    Input::Bound {
                        local: SocketAddr::new(addr.ip(), port),
                    }
                } else {
                    Input::BindFailed {
                        addr,
                        error: BindError::AddrInUse,
                    }
                };
                self.input(input);
            }
            Transition::Dial { ok } => {
                let conn = self.control();
                self.input(if ok {
                    Input::Connected { conn }
                } else {
                    Input::ConnectFailed {
                        conn,
                        error: ConnectError::Refused,
                    }
                });
            }
            Transition::Login { grant } => self.login(grant),
            Transition::LoginRefused { error } => {
                self.hello();
                let code = match error {
                    LoginError::UnknownSession => ErrorCode::UnknownSession,
                    LoginError::LimitExceeded => ErrorCode::LimitExceeded,
                    LoginError::ShuttingDown => ErrorCode::ShuttingDown,
                };
                let conn = self.control();
                self.send(conn, &[Frame::error(code, "no")]);
            }
            Transition::Status { state } => {
                let frame = Frame::CallbackStatus(CallbackStatus {
                    state: CallbackState::from_wire(state).expect("0..3"),
                    detail: "model".into(),
                });
                let conn = self.control();
                self.send(conn, &[frame]);
            }
            Transition::Accept => {
                let peer = SocketAddr::new(self.client.server().ip(), 50_000);
                let conn = self.client.accept(self.clock, peer);
                self.roles
                    .insert(conn, Role::Callback(self.callbacks.len()));
                self.callbacks.push(conn);
                self.drain();
            }
            Transition::CbHello { cb, hello } => {
                let conn = self.callbacks[cb];
                let client_nonce = self.nonces[&conn];
                let server_nonce = [4; 32];
                let session = self.client.session().map_or(1, |s| s.get());
                let session_id = if hello == Hello::WrongSession {
                    session ^ 1
                } else {
                    session
                };
                let mut proof = match self.keys.get(&session) {
                    Some(key) => cb_hello_proof(key, &client_nonce, &server_nonce, session_id),
                    None => [0; 32],
                };
                if hello == Hello::BadProof {
                    proof[5] ^= 1;
                }
                let frame = Frame::CbHello(CbHello {
                    session_id,
                    server_nonce,
                    proof,
                });
                self.send(conn, &[frame]);
            }
            Transition::Notify { on, first, count } => {
                let model_first = match first {
                    super::transition::FirstSeq::Next => self.client.last_delivered_seq() + 1,
                    super::transition::FirstSeq::Repeat => self.client.last_delivered_seq().max(1),
                    super::transition::FirstSeq::Gap => self.client.last_delivered_seq() + 2,
                };
                let frames: Vec<Frame<'static>> = (model_first..model_first + u64::from(count))
                    .map(|seq| {
                        Frame::Notify(Notify {
                            seq,
                            kind: 3,
                            payload: vec![0, 1, b'x'].into(),
                        })
                    })
                    .collect();
                let conn = self.on(on);
                self.send(conn, &frames);
            }
            Transition::Ping { on } => {
                let conn = self.on(on);
                self.send(conn, &[Frame::Ping { nonce: 9 }]);
            }
            Transition::Bye { reason } => {
                let conn = self.control();
                self.send(conn, &[Frame::Bye { reason }]);
            }
            Transition::CloseControl => {
                let conn = self.control();
                self.input(Input::Closed { conn });
            }
            Transition::CloseCallback { cb } => {
                let conn = self.callbacks[cb];
                self.input(Input::Closed { conn });
            }
            Transition::Advance { ms } => {
                self.now += ms;
                let until = self.base + Duration::from_millis(self.now);
                while let Some(at) = self.client.poll_timeout() {
                    if at > until {
                        break;
                    }
                    self.clock = self.clock.max(at);
                    self.client.fire_due(self.clock);
                    self.drain();
                    if let Some(next) = self.client.poll_timeout() {
                        assert!(
                            next > self.clock,
                            "handle_timeout(now) left a deadline at or before now"
                        );
                    }
                }
                self.clock = until;
                // Harmless when nothing is due; keeps the client's "now" for state().
                self.client.handle_timeout(self.clock);
                self.drain();
            }
            Transition::Logout => {
                self.client
                    .logout(self.clock)
                    .expect("a running client logs out");
                self.drain();
            }
        }
    }

    /// The state a user interface would show, as the model predicts it.
    fn expected_state(m: &ClientModel) -> ClientState {
        use faxnotify_core::SessionId;
        let sid = |s: Option<u64>| s.and_then(SessionId::new);
        match m.phase {
            Phase::LoggedOut => return ClientState::LoggedOut,
            Phase::Stopped => return ClientState::Stopped,
            Phase::LoggingOut(_) => return ClientState::LoggingOut,
            Phase::Running => {}
        }
        if matches!(m.listen, Listen::Pending(_)) {
            return ClientState::Starting;
        }
        if let Some(at) = m.reconnect_at {
            return ClientState::WaitingToReconnect {
                session: sid(m.session),
                attempt: m.failures,
                retry_in: Duration::from_millis(at - m.now),
            };
        }
        match &m.control {
            Some(c) if c.state == CtlState::Established => ClientState::LoggedIn {
                session: sid(m.session).expect("a session"),
                callback: c.status.and_then(CallbackState::from_wire),
            },
            Some(c) => ClientState::Connecting {
                resuming: sid(c.resume),
                attempt: m.failures,
            },
            None => ClientState::Connecting {
                resuming: None,
                attempt: m.failures,
            },
        }
    }
}

impl StateMachineTest for ClientSut {
    type SystemUnderTest = Self;
    type Reference = ClientModel;

    fn init_test(
        model: &<Self::Reference as ReferenceStateMachine>::State,
    ) -> Self::SystemUnderTest {
        let sut = ClientSut::new(model);
        assert_eq!(sut.outs, model.expect, "outputs of Client::new");
        sut
    }

    fn apply(
        mut sut: Self::SystemUnderTest,
        model: &<Self::Reference as ReferenceStateMachine>::State,
        t: <Self::Reference as ReferenceStateMachine>::Transition,
    ) -> Self::SystemUnderTest {
        if std::env::var_os("MODEL_TRACE").is_some() {
            eprintln!("{t:?}");
        }
        sut.outs.clear();
        sut.run(&t);
        assert_eq!(sut.outs, model.expect, "outputs of {t:?}");
        assert_eq!(
            sut.client.state(),
            Self::expected_state(model),
            "state after {t:?}"
        );
        assert_eq!(sut.client.last_delivered_seq(), model.delivered);
        assert_eq!(sut.client.session().map(|s| s.get()), model.session);
        assert_eq!(
            sut.client.server(),
            SERVERS[model.server],
            "the server the client is on [D-17]"
        );
        assert_eq!(sut.client.is_finished(), model.finished());
        sut
    }
}
