//! `TaskRunner::DedicatedThread` (the default): one thread per instance,
//! which ends when the instance stops. Alone in this test binary so that
//! the process's thread count is meaningful.

mod support;

use std::time::{Duration, Instant};

use faxnotify_core::client::{Event, ListenPolicy};
use support::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (bounded) for the thread count to reach `want`.
fn wait_threads(want: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    while threads() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    threads()
}

#[test]
fn one_thread_per_instance_that_ends_with_it() {
    if std::fs::read_dir("/proc/self/task").is_err() {
        eprintln!("skipped: needs /proc to count threads");
        return;
    }
    block_on(async {
        // Start async-io's own reactor thread before counting.
        async_io::Timer::after(Duration::from_millis(1)).await;
        let baseline = threads();
        let (server, _events) = start_server(loopback(), &["alice"]).await;
        assert_eq!(threads(), baseline + 1, "the server's thread");
        let client = start_client(client_config(
            server.local_addr(),
            "alice",
            ListenPolicy::Dynamic,
        ))
        .await;
        assert_eq!(threads(), baseline + 2, "the client's thread");
        expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        logout(client).await;
        assert_eq!(
            wait_threads(baseline + 1),
            baseline + 1,
            "the client's thread ended"
        );
        server.shutdown().await;
        assert_eq!(
            wait_threads(baseline),
            baseline,
            "the server's thread ended"
        );
    });
}
