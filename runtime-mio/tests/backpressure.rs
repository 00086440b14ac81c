//! Backpressure on real sockets: a peer that floods without reading, and
//! an application that does not read its events, cannot make the loop
//! buffer without bound, and nothing is lost.

mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::Duration;

use faxnotify_core::client::{self, ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{Refused, ServerConfig, Target};
use faxnotify_core::wire::{Caps, Frame, Notification};
use faxnotify_mio::LoopOptions;

/// Logs in over a blocking socket; returns the control connection (the
/// test then owns a raw, logged-in connection). The callback listener is
/// dropped on return, so the server's callback dial is refused.
fn raw_login(server: std::net::SocketAddr, user: &str) -> TcpStream {
    let mut config = ClientConfig::new(
        server,
        user,
        format!("pw-{user}"),
        NetworkSettings::new(ListenPolicy::Dynamic),
    );
    config.caps = Caps::NONE;
    let (stream, _) = faxnotify_testkit::socket::login(config, common::WAIT);
    stream
}

#[test]
fn a_peer_that_floods_and_never_reads_is_paused_not_buffered() {
    const LIMIT: usize = 64 * 1024;
    let mut options = LoopOptions::default();
    options.max_output_backlog = LIMIT;
    let server = common::server(ServerConfig::new([1; 32]), &["flo"], options);
    let mut stream = raw_login(server.local_addr(), "flo");
    common::session_opened(&server);

    // PINGs, each answered by a PONG of the same size, never read.
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let ping = Frame::Ping { nonce: 7 }.to_vec().expect("encode");
    let chunk: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 5_000)
        .collect();
    let mut sent = 0usize;
    let blocked = loop {
        // A write that times out part-way returns a short count (socket(7));
        // carry on from there, so no PING is cut in half (a cut one is a
        // protocol error the server would rightly close the connection for).
        let at = sent % chunk.len();
        match stream.write(&chunk[at..]) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true;
            }
            Err(e) => panic!("write: {e}"),
        }
        if sent > 256 * 1024 * 1024 {
            break false;
        }
    };
    assert!(
        blocked,
        "the server kept reading {sent} bytes from a peer that never reads"
    );

    let stats = server.stats().expect("stats");
    // The pause engaged: the queue reached the limit and reading stopped.
    assert!(stats.peak_backlog >= LIMIT, "{stats:?}");
    assert_eq!(stats.paused_reads, 1, "{stats:?}");
    // Bound: the limit plus the replies to one 64 KiB read (a PONG per PING).
    assert!(stats.peak_backlog <= LIMIT + 64 * 1024 + 64, "{stats:?}");
    assert!(stats.buffered_bytes <= LIMIT + 64 * 1024 + 64, "{stats:?}");
    drop(stream);
    server.shutdown().expect("server loop ends");
}

#[test]
fn an_application_that_does_not_read_events_slows_the_server_down() {
    let mut config = ServerConfig::new([1; 32]);
    config.window = 8;
    config.queue_limit = 32;
    let server = common::server(config, &["sam"], LoopOptions::default());
    let mut options = LoopOptions::default();
    options.event_capacity = 4;
    let client = common::client(&server, "sam", options);
    common::logged_in_with_callback(&client);
    common::session_opened(&server);

    // The application stops reading; the server notifies until refused.
    let mut accepted = 0u64;
    let mut refused = None;
    for i in 1..=200 {
        let report = server
            .notify(Target::All, &Notification::server_message(format!("m{i}")))
            .expect("notify");
        if let Some((_, reason)) = report.refused.first() {
            refused = Some(*reason);
            break;
        }
        accepted += 1;
    }
    assert_eq!(
        refused,
        Some(Refused::QueueFull { limit: 32 }),
        "the server's queue filled up ({accepted} accepted)"
    );
    // Unread notifications were not acknowledged past what the client holds.
    assert!(accepted <= 32 + 4 + 3 * 8, "{accepted} accepted");
    let stats = client.stats().expect("stats");
    assert!(stats.pending_events <= 3 * 8, "{stats:?}");

    // The application reads again: everything accepted arrives once, in order.
    let mut next = 1u64;
    while next <= accepted {
        let (seq, notification) =
            common::wait_for(client.events(), "a notification", |e| match e {
                client::Event::Notification { seq, notification } => {
                    Some((*seq, notification.clone()))
                }
                _ => None,
            });
        assert_eq!(seq, next);
        assert_eq!(
            notification,
            Notification::server_message(format!("m{seq}"))
        );
        next += 1;
    }
    client.logout().expect("logout");
    client.join().expect("client loop ends");
    server.shutdown().expect("server loop ends");
}
