//! The cost of a login (SCRAM-SHA-256 with 4 096 iterations, the protocol
//! minimum and the project's default), on each side:
//!
//! - `client_whole_login`: a new client from `Client::new` to
//!   `Event::LoggedIn` — RFC 8265 preparation, listener, SERVER_HELLO →
//!   LOGIN → LOGIN_CHALLENGE → PBKDF2 → LOGIN_PROOF → LOGIN_OK (signature
//!   verified) → ADVERTISE → ADVERTISE_OK. The server's frames are computed
//!   once beforehand (same seed, same nonces, same frames), so only the
//!   client's work is timed.
//! - `client_pbkdf2_4096`: the key derivation alone, to show its share.
//! - `server_side_of_login`: the server from accepting the control
//!   connection to ADVERTISE_OK and the callback dial — SERVER_HELLO, user
//!   lookup (with the unknown-user fake keys computed for every login
//!   ), LOGIN_CHALLENGE, proof verification, LOGIN_OK signed,
//!   ADVERTISE checked. The server does no PBKDF2 (it stores StoredKey and
//!   ServerKey). The client's proof is computed outside the timed part, and
//!   each session is ended (untimed) after its login.
//!
//! Run: `cargo bench -p faxnotify-core --bench login` (under `cargo test`
//! each runs once, as a smoke test).

#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub)]

#[allow(dead_code)] // the benchmark uses a subset of the scripted server
#[path = "../tests/client_harness/server.rs"]
mod scripted;

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, Credentials, DEFAULT_ITERATIONS, client_proof, prepare_password,
};
use faxnotify_core::client::{Client, ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_core::io::{Input, Output};
use faxnotify_core::server::{MemoryUserStore, Server, ServerConfig};
use faxnotify_core::wire::{Advertise, Caps, Frame, Login, PolicyKind, Role};
use faxnotify_core::{ConnId, SessionId};
use faxnotify_testkit::Endpoint;
use faxnotify_testkit::frames::first_frame;

const SEED: [u8; 32] = [7; 32];
const SESSION: u64 = 0x0123_4567_89ab_cdef;

// ---- the client's side ------------------------------------------------------

/// The server's frames of one login, as bytes, for a client with [`SEED`].
struct ServerScript {
    hello: Vec<u8>,
    challenge: Vec<u8>,
    login_ok: Vec<u8>,
    advertise_ok: Vec<u8>,
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        "192.0.2.1:4580".parse().unwrap(),
        scripted::USER,
        scripted::PASSWORD,
        NetworkSettings::new(ListenPolicy::Fixed { port: 6003 }),
    )
}

/// Runs one client login against `script` and returns whether it logged
/// in. With `record`, the scripted server answers live and its frames are
/// kept in `script`.
fn client_login(
    script: &mut ServerScript,
    mut record: Option<&mut scripted::ScriptedServer>,
) -> bool {
    let now = Instant::now();
    let mut client = Endpoint::new(Client::new(client_config(), SEED, now).unwrap());
    let Some(Output::Listen { addr }) = client.next_output() else {
        panic!("the client listens first");
    };
    client.input(now, Input::Bound { local: addr });
    let (conn, _) = client.take_connects()[0];
    client.discard_outputs();
    client.input(now, Input::Connected { conn });
    if let Some(server) = record.as_deref_mut() {
        script.hello = server.hello().to_vec().unwrap();
    }
    let mut logged_in = false;
    // One read in; the first frame the client sent back.
    let mut step = |client: &mut Endpoint<Client>, data: &[u8]| -> Option<Frame<'static>> {
        client.receive(now, conn, data);
        let mut sent = None;
        client.drain_into(|client, output| match output {
            Output::Transmit { data, .. } => {
                if sent.is_none() {
                    sent = Some(first_frame(&data));
                }
                client.recycle(data);
            }
            Output::Event(Event::LoggedIn { .. }) => logged_in = true,
            _ => {}
        });
        sent
    };
    let login = step(&mut client, &script.hello).unwrap();
    if let Some(server) = record.as_deref_mut() {
        script.challenge = server.challenge_for(&login).to_vec().unwrap();
    }
    let proof = step(&mut client, &script.challenge).unwrap();
    if let Some(server) = record.as_deref_mut() {
        script.login_ok = server.login_ok(&proof, SESSION, 30_000).to_vec().unwrap();
    }
    let advertise = step(&mut client, &script.login_ok).unwrap();
    assert!(matches!(advertise, Frame::Advertise(_)), "{advertise}");
    if record.is_some() {
        let callback = SocketAddr::from(([192, 0, 2, 10], 6003));
        script.advertise_ok = Frame::AdvertiseOk { callback }.to_vec().unwrap();
    }
    step(&mut client, &script.advertise_ok);
    black_box(client);
    logged_in
}

fn server_script() -> ServerScript {
    let mut script = ServerScript {
        hello: Vec::new(),
        challenge: Vec::new(),
        login_ok: Vec::new(),
        advertise_ok: Vec::new(),
    };
    let mut server = scripted::ScriptedServer::new();
    assert!(client_login(&mut script, Some(&mut server)));
    // Replayed: the same seed gives the same nonces, so the same frames verify.
    assert!(client_login(&mut script, None));
    script
}

// ---- the server's side ------------------------------------------------------

const USERS: usize = 16;

struct ServerSide {
    server: Endpoint<Server>,
    now: Instant,
    secrets: ClientSecrets,
    logins: usize,
}

/// Takes the server's outputs: the bytes it transmitted and the dial it asked for.
fn take_transmit(server: &mut Endpoint<Server>) -> (Vec<u8>, Option<ConnId>) {
    let mut bytes = Vec::new();
    let mut dial = None;
    server.drain_into(|_, output| match output {
        Output::Transmit { data, .. } => bytes.extend_from_slice(&data),
        Output::Connect { conn, .. } => dial = Some(conn),
        _ => {}
    });
    (bytes, dial)
}

impl ServerSide {
    fn new() -> Self {
        let password = "bench password";
        let salt = [0x5a; 16];
        let credentials =
            Credentials::from_password(password, &salt, DEFAULT_ITERATIONS, Role::User).unwrap();
        let mut users = MemoryUserStore::new();
        for i in 0..USERS {
            users
                .insert(&format!("user{i}"), credentials.clone())
                .unwrap();
        }
        let mut config = ServerConfig::new([3; 32]);
        // Every login comes from one address, many times a second.
        config.max_unauthenticated_per_ip = usize::MAX;
        config.max_sessions_per_ip = usize::MAX;
        config.max_dials_per_ip = usize::MAX;
        let now = Instant::now();
        let server = Server::new(config, Box::new(users), [4; 32]).unwrap();
        let secrets = ClientSecrets::derive(
            &prepare_password(password).unwrap(),
            &salt,
            DEFAULT_ITERATIONS,
        );
        Self {
            server: Endpoint::new(server),
            now,
            secrets,
            logins: 0,
        }
    }

    /// One login; returns the time the server spent and the session.
    fn login(&mut self) -> (Duration, SessionId) {
        let user = format!("user{}", self.logins % USERS);
        self.logins += 1;
        let peer = SocketAddr::from(([192, 0, 2, 10], 40_000 + (self.logins % 20_000) as u16));
        let login = Frame::Login(Login {
            version: 1,
            user: user.into(),
            client_nonce: [9; 32],
            caps: Caps::BACKCHANNEL,
            resume_session: 0,
        })
        .to_vec()
        .unwrap();
        let advertise = Frame::Advertise(Advertise {
            port: 6003,
            policy: PolicyKind::Dynamic,
            range_lo: 0,
            range_hi: 0,
        })
        .to_vec()
        .unwrap();
        let now = self.now;
        let server = &mut self.server;
        let mut spent = Duration::ZERO;

        let t = Instant::now();
        let conn = server.accept(now, peer);
        let (hello, _) = take_transmit(server);
        server.receive(now, conn, &login);
        let (challenge, _) = take_transmit(server);
        spent += t.elapsed();

        // The client's part, not timed.
        let auth = AuthMessage::from_bodies(&hello[5..], &login[5..], &challenge[5..]);
        let proof = Frame::LoginProof {
            proof: client_proof(&self.secrets, &auth),
        }
        .to_vec()
        .unwrap();

        let t = Instant::now();
        server.receive(now, conn, &proof);
        let (ok, _) = take_transmit(server);
        server.receive(now, conn, &advertise);
        let (_, dial) = take_transmit(server);
        spent += t.elapsed();

        let Frame::LoginOk(ok) = first_frame(&ok) else {
            panic!("login refused");
        };
        assert!(
            dial.is_some(),
            "the server dials the callback after ADVERTISE"
        );
        (spent, SessionId::new(ok.session_id).unwrap())
    }

    /// Ends a session and forgets its connections (not timed).
    fn end(&mut self, session: SessionId) {
        self.server.end_session(self.now, session).unwrap();
        let mut closed = Vec::new();
        self.server.drain_into(|_, output| {
            if let Output::Close { conn, .. } = output {
                closed.push(conn);
            }
        });
        for conn in closed {
            let _ = self.server.try_input(self.now, Input::Closed { conn });
        }
        self.server.discard_outputs();
    }
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` everything runs once.
    let full = std::env::args().any(|a| a == "--bench");
    let mut script = server_script();
    let mut side = ServerSide::new();
    let (spent, session) = side.login();
    side.end(session);
    assert_eq!(side.server.session_count(), 0);
    if !full {
        println!("server side of one login: {spent:?}");
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("login_4096_iterations");
    group.bench_function("client_whole_login", |b| {
        b.iter(|| assert!(client_login(&mut script, None)))
    });
    let password = prepare_password(scripted::PASSWORD).unwrap();
    group.bench_function("client_pbkdf2_4096", |b| {
        b.iter(|| {
            black_box(ClientSecrets::derive(
                black_box(&password),
                &scripted::SALT,
                scripted::ITERATIONS,
            ))
        })
    });
    group.bench_function("server_side_of_login", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (spent, session) = side.login();
                total += spent;
                side.end(session);
            }
            total
        })
    });
    group.finish();
    c.final_summary();
}
