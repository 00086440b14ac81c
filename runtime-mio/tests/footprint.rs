//! Heap bytes per idle session on the mio server, asserted at the bound
//! reached: what the loop keeps per logged-in session beside the core's own
//! state (about 1 KiB over the backchannel, docs/performance.md).
//!
//! Raw blocking clients log in over the backchannel (one connection each),
//! so the process holds nothing per session but the server's state and the
//! test's sockets; a counting allocator counts the live bytes. Its own test
//! binary with one test: the allocator counts every thread of the process.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use faxnotify_core::client::{ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{self, ServerConfig, Target};
use faxnotify_core::wire::{Caps, Decoder, Frame, MAX_FRAME_LEN, Notification};
use faxnotify_mio::{LoopOptions, NotificationEncoder, Server};
use faxnotify_testkit::alloc::{Counting, live_bytes};

use common::WAIT;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Logs `user` in over a blocking socket, advertising no callback port
/// (backchannel); returns the control connection.
fn raw_login(server: &Server, user: &str) -> TcpStream {
    let mut config = ClientConfig::new(
        server.local_addr(),
        user,
        format!("pw-{user}"),
        NetworkSettings::new(ListenPolicy::None),
    );
    config.caps = Caps::BACKCHANNEL;
    let (stream, listener) = faxnotify_testkit::socket::login(config, WAIT);
    drop(listener); // a backchannel session has no use for it
    stream
}

fn read_frame(stream: &mut TcpStream) -> Frame<'static> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("a frame's length");
    let mut frame = len.to_vec();
    frame.resize(4 + u32::from_be_bytes(len) as usize, 0);
    stream.read_exact(&mut frame[4..]).expect("a frame's body");
    let mut input = &frame[..];
    match Decoder::new(MAX_FRAME_LEN).decode(&mut input) {
        Ok(Some(frame)) => frame.into_owned(),
        other => panic!("not a whole frame: {other:?}"),
    }
}

/// Takes every event the application has not read yet (the loop stops
/// reading while its application lags).
fn drain(server: &Server) {
    while server.events().try_recv().is_ok() {}
}

#[test]
fn an_idle_session_costs_the_core_state_and_little_more() {
    // 400 sessions: within the usual limit of 1 024 open files (two
    // sockets each in this process).
    const SESSIONS: usize = 400;
    const WARM_UP: usize = 16;
    let names: Vec<String> = (0..WARM_UP + SESSIONS).map(|i| format!("u{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut config = ServerConfig::new([9; 32]);
    config.max_sessions_per_ip = usize::MAX;
    config.max_dials_per_ip = usize::MAX;
    let server = common::server(config, &names, LoopOptions::default());
    let settle = |server: &Server| {
        server.stats().expect("running");
        drain(server);
    };

    let mut streams = Vec::with_capacity(names.len());
    for name in &names[..WARM_UP] {
        streams.push(raw_login(&server, name));
        drain(&server);
    }
    settle(&server);
    let before = live_bytes();
    for name in &names[WARM_UP..] {
        streams.push(raw_login(&server, name));
        drain(&server);
    }
    settle(&server);
    let idle = live_bytes().saturating_sub(before) as f64 / SESSIONS as f64;

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
            if let Frame::Notify(n) = read_frame(stream) {
                break n.seq;
            }
        };
        stream
            .write_all(&Frame::Ack { seq }.to_vec().expect("encodable"))
            .expect("ACK");
    }
    let mut delivered = 0;
    while delivered < streams.len() {
        common::wait_for(server.events(), "Delivered", |e| {
            matches!(e, server::Event::Delivered { .. }).then_some(())
        });
        delivered += 1;
    }
    settle(&server);
    let after_notification = live_bytes().saturating_sub(before) as f64 / SESSIONS as f64;
    println!(
        "mio: server heap bytes per idle session: {idle:.0}, after one notification: \
         {after_notification:.0}"
    );
    drop(streams);
    server.shutdown().expect("clean shutdown");
    // Bounds reached (release 1 018 / 1 471 B; sizes, not code, so a debug
    // build holds about the same): the server's core (one address for
    // every session here, so its per-address tables are shared) and the
    // loop's connection slot and map entry. No buffer per connection while
    // idle: the loop has one read buffer, and a connection's out queue
    // holds one buffer inline and gives its queue back once written (before
    // that: 1 095 / 1 672 B). The core's part shrank by about 150 B (debug
    // 1 028 / 1 417 B before, 880 / 1 271 B after, issue 16): 16-byte
    // timer entries, a 176-byte connection (232), no vector for a user's
    // one session. After the notification a session's queue
    // keeps one entry's room (48 B with a small payload inline, 40 B
    // before; four entries before that, 1 594 B here), and the
    // core's output queue the broadcast's room (one 128-byte entry per
    // session) until a lease passes without another.
    assert!(idle < 960.0, "{idle:.0} bytes per idle session");
    assert!(
        after_notification < 1_360.0,
        "{after_notification:.0} bytes per session after one notification"
    );
}
