//! What an adapter costs that does not depend on the machine's load: heap
//! bytes per idle session on the server, and heap allocations per posted
//! notification end to end.
//!
//! Not part of [`adapter_tests!`](crate::adapter_tests!): both count with
//! a global allocator, which sees every thread of the process, so each
//! must run alone in a test binary of its own with a counting allocator
//! installed (faxnotify-testkit's `alloc::Counting`). The functions take
//! the allocator's counters as arguments and return what they measured;
//! the adapter's test asserts the bound it reached.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use faxnotify_core::SessionId;
use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, Credentials, client_proof, prepare_password,
};
use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::server::{self, MemoryUserStore, Target};
use faxnotify_core::wire::Notification;
use faxnotify_core::wire::{
    Advertise, Caps, Decoder, Frame, Login, MAX_FRAME_LEN, PolicyKind, Role,
};

use super::Harness;
use super::support::{
    WAIT, client_config, expect, expect_server, loopback, options, server_config, setup,
    start_client, users, within,
};
use crate::{Client, NotificationEncoder, Server, ServerEvents};

const PASSWORD: &str = "footprint password";
const SALT: [u8; 16] = [0x5a; 16];
const ITERATIONS: u32 = 4096;

/// Bytes of one connection's task future as the executor gets it (the
/// executor adds its own task header): what an idle connection's task
/// holds besides its shared state.
pub fn connection_task_bytes<R: crate::Runtime>() -> usize {
    crate::conns::connection_task_size::<R>()
}

/// Bytes of one connection's state shared by the driver and its task (the
/// runtime's stream and the write queue; the allocation adds the `Arc`'s
/// two counts, 16 bytes).
pub fn connection_link_bytes<R: crate::Runtime>() -> usize {
    crate::conns::connection_link_size::<R>()
}

/// Heap bytes per idle session on the server.
#[derive(Clone, Copy, Debug)]
pub struct SessionBytes {
    /// Logged in over the backchannel (one connection), nothing sent since.
    pub idle: f64,
    /// The same after one notification to each, acknowledged.
    pub after_notification: f64,
}

/// One raw client: a blocking socket that speaks just enough FNP/1 to log
/// in (so the process holds nothing per session but the server's state and
/// this socket).
fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("a frame's length");
    let mut frame = len.to_vec();
    frame.resize(4 + u32::from_be_bytes(len) as usize, 0);
    stream.read_exact(&mut frame[4..]).expect("a frame's body");
    frame
}

fn parse(frame: &[u8]) -> Frame<'static> {
    let mut decoder = Decoder::new(MAX_FRAME_LEN);
    let mut input = frame;
    match decoder.decode(&mut input) {
        Ok(Some(frame)) => frame.into_owned(),
        other => panic!("not a whole frame: {other:?}"),
    }
}

fn send(stream: &mut TcpStream, frame: &Frame<'_>) {
    let mut out = Vec::new();
    frame.encode(&mut out).expect("encodable");
    stream.write_all(&out).expect("send");
}

/// Logs `user` in over a raw socket and advertises port 0 (backchannel).
fn raw_login(server: SocketAddr, user: &str, secrets: &ClientSecrets) -> TcpStream {
    let mut stream = TcpStream::connect(server).expect("connect");
    let hello = read_frame(&mut stream);
    let login = Frame::Login(Login {
        version: 1,
        user: user.to_owned().into(),
        client_nonce: [7; 32],
        caps: Caps::BACKCHANNEL,
        resume_session: 0,
    });
    send(&mut stream, &login);
    let challenge = read_frame(&mut stream);
    let mut login_body = Vec::new();
    login.encode_body(&mut login_body).expect("encodable");
    let auth = AuthMessage::from_bodies(&hello[5..], &login_body, &challenge[5..]);
    let proof = client_proof(secrets, &auth);
    send(&mut stream, &Frame::LoginProof { proof });
    match parse(&read_frame(&mut stream)) {
        Frame::LoginOk(_) => {}
        other => panic!("login failed: {other}"),
    }
    send(
        &mut stream,
        &Frame::Advertise(Advertise {
            port: 0,
            policy: PolicyKind::Dynamic,
            range_lo: 0,
            range_hi: 0,
        }),
    );
    // ADVERTISE_OK: the server has taken the session to its idle state.
    let _ = read_frame(&mut stream);
    stream
}

/// Logs `sessions` raw clients in to a server on the harness's runtime
/// (after a few of warm-up) and returns the server's heap bytes per
/// session, idle and after one notification each, from `live_bytes` (the
/// counting allocator's live bytes).
pub fn idle_session_bytes<H: Harness>(sessions: usize, live_bytes: fn() -> usize) -> SessionBytes {
    let h = setup::<H>();
    let credentials =
        Credentials::from_password(PASSWORD, &SALT, ITERATIONS, Role::User).expect("credentials");
    let mut store = MemoryUserStore::new();
    store.insert("u", credentials).expect("user");
    let mut config = server_config();
    config.max_sessions_per_user = 1_000_000;
    config.max_sessions_per_ip = 1_000_000;
    config.max_dials_per_ip = 1_000_000;
    let (server, events): (Server<H::Rt>, ServerEvents) = h.block_on(async {
        Server::bind_with(loopback(), config, store, options(&h, 1))
            .await
            .expect("server binds")
    });
    let addr = server.local_addr();
    let secrets = ClientSecrets::derive(
        &prepare_password(PASSWORD).expect("password"),
        &SALT,
        ITERATIONS,
    );
    let drain = |events: &ServerEvents| while events.try_next().is_some() {};
    let settle = || {
        h.block_on(async { server.stats().await.expect("running") });
    };

    let warm_up = 16;
    let mut streams = Vec::with_capacity(warm_up + sessions);
    // The events are taken as they come: while the application lags the
    // server stops reading.
    for _ in 0..warm_up {
        streams.push(raw_login(addr, "u", &secrets));
        drain(&events);
    }
    settle();
    drain(&events);
    let before = live_bytes();
    for _ in 0..sessions {
        streams.push(raw_login(addr, "u", &secrets));
        drain(&events);
    }
    settle();
    drain(&events);
    let idle = live_bytes().saturating_sub(before) as f64 / sessions as f64;

    let mut encoder = NotificationEncoder::new();
    let encoded = encoder
        .encode(&Notification::server_message("hello"))
        .expect("encodable");
    server
        .post(Target::All, encoded)
        .expect("room in the inbox");
    for stream in &mut streams {
        // After what the login left (CALLBACK_STATUS backchannel).
        let seq = loop {
            if let Frame::Notify(n) = parse(&read_frame(stream)) {
                break n.seq;
            }
        };
        send(stream, &Frame::Ack { seq });
    }
    // Every ACK taken: one Delivered per session.
    h.block_on(async {
        for _ in 0..streams.len() {
            expect_server::<H::Rt>(&events, "Delivered", |e| {
                matches!(e, server::Event::Delivered { .. })
            })
            .await;
        }
    });
    settle();
    drain(&events);
    let after_notification = live_bytes().saturating_sub(before) as f64 / sessions as f64;
    drop(streams);
    h.block_on(server.shutdown());
    SessionBytes {
        idle,
        after_notification,
    }
}

/// Posts `count` notifications one at a time to one client, each after the
/// previous one's `Delivered`, reading the client's events as they come.
/// Waits without a timer per event (a timer would be counted too): the
/// caller bounds the whole run.
async fn posts<R: crate::Runtime>(
    server: &Server<R>,
    events: &ServerEvents,
    client: &Client<R>,
    session: SessionId,
    encoder: &mut NotificationEncoder,
    first: u64,
    count: u64,
) {
    let notification = Notification::server_message("a fax came in");
    for seq in first..first + count {
        let encoded = encoder.encode(&notification).expect("encodable");
        server
            .post(Target::Session(session), encoded)
            .expect("room in the inbox");
        loop {
            match client.next_event().await.expect("client running") {
                Event::Notification { seq: s, .. } if s == seq => break,
                Event::Notification { seq: s, .. } => panic!("notification {s}, expected {seq}"),
                _ => {}
            }
        }
        loop {
            match events.next().await.expect("server running") {
                server::Event::Delivered { last_seq, .. } if last_seq == seq => break,
                _ => {}
            }
        }
    }
}

/// Heap allocations per posted notification, end to end in one process
/// (the server's driver and connections, the client's, both
/// applications), in steady state after a warm-up; `allocations` is the
/// counting allocator's count.
pub fn post_allocations<H: Harness>(count: u64, allocations: fn() -> u64) -> f64 {
    let h = setup::<H>();
    h.block_on(async {
        let (server, events) = Server::bind_with(
            loopback(),
            server_config(),
            users(&["alice"]),
            options(&h, 1),
        )
        .await
        .expect("server binds");
        let alice = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        expect(&alice, "callback", |e| {
            matches!(e, Event::CallbackEstablished { .. })
        })
        .await;
        let session = match expect_server::<H::Rt>(&events, "SessionOpened", |e| {
            matches!(e, server::Event::SessionOpened { .. })
        })
        .await
        {
            server::Event::SessionOpened { session, .. } => session,
            _ => unreachable!("matched above"),
        };
        let mut encoder = NotificationEncoder::new();
        let run = async {
            // Warm up: buffers, pools and channels reach their steady sizes.
            posts(&server, &events, &alice, session, &mut encoder, 1, 500).await;
            let before = allocations();
            posts(&server, &events, &alice, session, &mut encoder, 501, count).await;
            (allocations() - before) as f64 / count as f64
        };
        let per_notification = within::<H::Rt, _>(WAIT * 4, "the posts", run).await;
        assert!(server.take_post_report().all_accepted());
        let _ = alice.logout().await;
        server.shutdown().await;
        per_notification
    })
}
