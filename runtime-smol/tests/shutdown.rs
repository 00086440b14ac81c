//! Requests that race with a shutdown are answered, never left hanging.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::future;
use support::*;

/// Fails the test instead of hanging when `f` never completes.
async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    future::or(f, async {
        Timer::after(limit).await;
        panic!("{what} did not complete within {limit:?}");
    })
    .await
}

#[test]
fn requests_made_while_connections_close_are_answered() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice"]).await;
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
                Timer::after(Duration::from_millis(300)).await;
                let sessions = server.sessions().await;
                server.shutdown().await;
                sessions
            }
        };
        let ((), sessions) = within(
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
        within(
            Duration::from_secs(5),
            "a request after the driver ended",
            server.sessions(),
        )
        .await
        .expect_err("stopped");
    });
}
