//! `TaskRunner::DedicatedThread` (the default): one thread per instance,
//! which ends when the instance stops. Alone in this test binary so that
//! the process's thread count is meaningful.

use std::time::{Duration, Instant};

use faxnotify_async::adapter_tests::support::*;
use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_smol::{Client, Server};

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
    init_tracing();
    async_io::block_on(async {
        // Start async-io's own reactor thread before counting.
        async_io::Timer::after(Duration::from_millis(1)).await;
        let baseline = threads();
        // The default runner: TaskRunner::DedicatedThread.
        let (server, _events) = Server::bind_with(
            loopback(),
            server_config(),
            users(&["alice"]),
            test_options(1),
        )
        .await
        .expect("server binds");
        assert_eq!(threads(), baseline + 1, "the server's thread");
        let client = Client::start_with(
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
            test_options(2),
        )
        .await
        .expect("client starts");
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
