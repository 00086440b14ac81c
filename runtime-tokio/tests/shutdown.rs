//! Shutdown on tokio: requests that race with it are answered, never left
//! hanging; sessions end with BYE; a killed server drops everything.

mod support;

use std::time::{Duration, Instant};

use faxnotify_core::client::{Event, SessionEndReason};
use support::*;
use tokio::io::AsyncReadExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_made_while_connections_close_are_answered() {
    let (server, _events) = start_server(&["alice"]).await;
    // A peer that never closes its side keeps the final flush of the
    // shutdown busy for the close timeout (2 s): requests made in that
    // window reach the driver after its loop has ended.
    let mut stubborn = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let mut hello = [0u8; 1];
    within("SERVER_HELLO", stubborn.read_exact(&mut hello))
        .await
        .expect("SERVER_HELLO arrives");

    let started = Instant::now();
    let first = {
        let server = server.clone();
        async move { server.shutdown().await }
    };
    let racing = {
        let server = server.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sessions = server.sessions().await;
            server.shutdown().await;
            sessions
        }
    };
    let ((), sessions) = within("shutdown and a racing request", async {
        tokio::join!(first, racing)
    })
    .await;
    assert!(
        sessions.is_err(),
        "a request after the shutdown began is refused as stopped"
    );
    // The second shutdown returned only once the connections were closed.
    assert!(started.elapsed() >= Duration::from_millis(300));
    within("a request after the driver ended", server.sessions())
        .await
        .expect_err("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_client_session_then_the_events() {
    let (server, events) = start_server(&["alice"]).await;
    let client = start_client(client_config(server.local_addr(), "alice")).await;
    expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
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
    let drained = within("the end of the events", async {
        while events.next().await.is_some() {}
    });
    drained.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_drops_everything_at_once() {
    let (server, events) = start_server(&["alice"]).await;
    let client = start_client(client_config(server.local_addr(), "alice")).await;
    expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
    within("kill", server.kill()).await;
    // No BYE: the client sees its connection lost, not a session ended.
    expect(&client, "connection lost", |e| {
        matches!(e, Event::ConnectionLost { .. })
    })
    .await;
    assert!(
        within("the end of the events", async {
            while events.next().await.is_some() {}
            true
        })
        .await
    );
}
