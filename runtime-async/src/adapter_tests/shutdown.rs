//! Shutdown: requests that race with it are answered, never left hanging;
//! sessions end with BYE; a killed server drops everything.

use std::io::Read;
use std::time::{Duration, Instant};

use faxnotify_core::client::{Event, SessionEndReason};
use futures_lite::future;

use super::Harness;
use super::support::*;

/// Requests made while a shutdown closes connections are answered (refused
/// as stopped), never left hanging.
pub fn requests_made_while_connections_close_are_answered<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        // A peer that never closes its side keeps the final flush of the
        // shutdown busy for the close timeout (2 s): requests made in that
        // window reach the driver after its loop has ended.
        let mut stubborn = std::net::TcpStream::connect(server.local_addr()).expect("connect");
        stubborn
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut hello = [0u8; 1];
        stubborn
            .read_exact(&mut hello)
            .expect("SERVER_HELLO arrives");

        let started = Instant::now();
        let first = {
            let server = server.clone();
            async move { server.shutdown().await }
        };
        let racing = {
            let server = server.clone();
            async move {
                sleep::<H::Rt>(Duration::from_millis(300)).await;
                let sessions = server.sessions().await;
                server.shutdown().await;
                sessions
            }
        };
        let ((), sessions) = within::<H::Rt, _>(
            Duration::from_secs(20),
            "shutdown and a racing request",
            future::zip(first, racing),
        )
        .await;
        assert!(
            sessions.is_err(),
            "a request after the shutdown began is refused as stopped"
        );
        // The second shutdown returned only once the connections were closed.
        assert!(started.elapsed() >= Duration::from_millis(300));
        within::<H::Rt, _>(
            Duration::from_secs(5),
            "a request after the driver ended",
            server.sessions(),
        )
        .await
        .expect_err("stopped");
    });
}

/// A shutdown flushes BYE to the client before it returns, then the server's
/// events end.
pub fn shutdown_ends_the_client_session_then_the_events<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, events, client) = alice_logged_in(&h).await;
        server.shutdown().await;
        // The BYE was flushed before shutdown returned.
        expect(&client, "session end", |e| {
            matches!(
                e,
                Event::SessionEnded {
                    reason: SessionEndReason::Shutdown,
                    ..
                }
            )
        })
        .await;
        within::<H::Rt, _>(WAIT, "the end of the events", async {
            while events.next().await.is_some() {}
        })
        .await;
    });
}

/// A killed server sends no BYE: its client sees the connection lost, and
/// its events end.
pub fn a_killed_server_drops_everything_at_once<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, events, client) = alice_logged_in(&h).await;
        within::<H::Rt, _>(WAIT, "kill", server.kill()).await;
        // No BYE: the client sees its connection lost, not a session ended.
        expect(&client, "connection lost", |e| {
            matches!(e, Event::ConnectionLost { .. })
        })
        .await;
        within::<H::Rt, _>(WAIT, "the end of the events", async {
            while events.next().await.is_some() {}
        })
        .await;
    });
}
