//! `TaskRunner::Executor`: every task runs on the caller's executor and the
//! runtime starts no thread of its own. Alone in this test binary so that
//! the process's thread count is meaningful.

use std::sync::Arc;

use faxnotify_async::adapter_tests::support::*;
use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::server::Target;
use faxnotify_smol::{Client, Executor, Server, TaskRunner};

fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

#[test]
fn runs_on_the_callers_executor_without_threads_of_its_own() {
    init_tracing();
    let executor = Arc::new(Executor::new());
    let mut server_options = test_options(1);
    server_options.runner = TaskRunner::Executor(Arc::clone(&executor));
    let mut client_options = test_options(2);
    client_options.runner = TaskRunner::Executor(Arc::clone(&executor));

    // The test thread runs the executor and the test together.
    async_io::block_on(executor.run(async {
        // Start async-io's own reactor thread before counting.
        async_io::Timer::after(std::time::Duration::from_millis(1)).await;
        let baseline = threads();

        let (server, _events) = Server::bind_with(
            loopback(),
            server_config(),
            users(&["alice"]),
            server_options,
        )
        .await
        .expect("bind");
        let client = Client::start_with(
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
            client_options,
        )
        .await
        .expect("start");
        expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        server
            .notify(Target::All, message("hello"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "hello".to_owned())]
        );
        assert_eq!(threads(), baseline, "no thread was started");
        assert!(logout(client).await);
        server.shutdown().await;
    }));
}
