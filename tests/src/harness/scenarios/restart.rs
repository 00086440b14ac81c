//! The server restarts under a logged-in client.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use faxnotify_core::client::{self, ListenPolicy, SessionEndReason};

use super::{assert_delivered, start_client, start_server};
use crate::harness::net::{reserve_port, v4_loopback};
use crate::harness::{ClientSetup, Runtime, ServerProbe, ServerSetup, WAIT, test_users};

/// Starts a server on exactly `setup.listen`, retrying while the port is
/// still held (e.g. by a socket the old server is closing).
fn restart_on(rt: &dyn Runtime, setup: ServerSetup) -> ServerProbe {
    let deadline = Instant::now() + WAIT;
    loop {
        match rt.start_server(setup.clone()) {
            Ok(server) => return ServerProbe::new(server),
            Err(e) if Instant::now() < deadline => {
                eprintln!("restart on {} not yet possible: {e}", setup.listen);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("the server cannot restart on {}: {e}", setup.listen),
        }
    }
}

/// The server restarts: gracefully (BYE shutdown) or by crashing (the
/// connection just drops, and the new server refuses to resume the old
/// session). Either way the client reports that the session was lost and
/// that notifications may have been missed, logs in anew on the restarted
/// server, and receives what it sends.
pub fn server_restart(server_rt: &dyn Runtime, client_rt: &dyn Runtime, graceful: bool) {
    // The restarted server binds the same port: held for the whole test so
    // no other process can take it while no server is there.
    let reserved = reserve_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let setup = ServerSetup::new(test_users(&["erin"])).listen(v4_loopback(reserved.port()));
    let mut server = start_server(server_rt, setup.clone());
    let addr = server.addr();
    let mut client = start_client(
        client_rt,
        "erin",
        ClientSetup::new(addr, "erin", ListenPolicy::Dynamic),
    );
    let (first, _) = client.wait_logged_in();
    server.wait_sessions("one session", |s| s.len() == 1);
    server.broadcast("before");
    client.wait_message("before");

    if graceful {
        server.shutdown();
    } else {
        server.kill();
    }
    if graceful {
        client.wait_for("SessionEnded(Shutdown)", |e| match e {
            client::Event::SessionEnded {
                session,
                reason: SessionEndReason::Shutdown,
            } if *session == first => Some(()),
            _ => None,
        });
    } else {
        client.wait_for("ConnectionLost", |e| match e {
            client::Event::ConnectionLost { .. } => Some(()),
            _ => None,
        });
    }

    // A restarted process draws a new seed (the runtimes take it from the
    // OS); the same seed would hand out the same session ids again.
    let mut restarted = setup.listen(addr);
    restarted.seed[0] ^= 0xff;
    let mut server = restart_on(server_rt, restarted);
    if !graceful {
        // The client tries to resume; the new server does not know the session.
        client.wait_for("SessionEnded(ResumeRefused)", |e| match e {
            client::Event::SessionEnded {
                session,
                reason: SessionEndReason::ResumeRefused,
            } if *session == first => Some(()),
            _ => None,
        });
    }
    let last = client.wait_for("NotificationsMayHaveBeenMissed", |e| match e {
        client::Event::NotificationsMayHaveBeenMissed {
            session,
            last_delivered_seq,
        } if *session == first => Some(*last_delivered_seq),
        _ => None,
    });
    assert_eq!(last, 1, "the client had delivered seq 1 of the old session");
    let (second, resumed) = client.wait_logged_in();
    assert!(!resumed, "a new session, not a resumed one");
    assert_ne!(second, first);

    server.wait_sessions("the new session", |s| s.len() == 1 && s[0].id == second);
    server.broadcast("after");
    client.wait_message("after");
    // Seqs start again at 1 in the new session.
    let got = client.notifications();
    assert_eq!(got.len(), 2, "{}", client.dump());
    assert_eq!(got[1].0, 1);
    let _ = assert_delivered; // (sequence checked above across two sessions)
    assert!(client.logout());
    server.shutdown();
}
