//! What only the tokio adapter has: the runtime flavour the instances share
//! with the test, and starting outside any runtime.

use std::future::Future;

use faxnotify_async::adapter_tests::support::{loopback, server_config, users};
use faxnotify_async::adapter_tests::{Harness, delivery};
use faxnotify_tokio::TaskRunner;
use tokio::runtime::{Builder, Runtime};

/// tokio's single-threaded flavour: every task of the server and of the
/// client shares the test's thread, and runs only while the test awaits.
struct CurrentThread(Runtime);

impl Harness for CurrentThread {
    type Rt = TaskRunner;

    fn new() -> Self {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        CurrentThread(runtime)
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }

    /// The runtime that starts the instance: the test's, inside `block_on`.
    fn runner(&self) -> TaskRunner {
        TaskRunner::Current
    }
}

#[test]
fn many_notifications_arrive_in_order_exactly_once_on_one_thread() {
    delivery::many_notifications_arrive_in_order_exactly_once::<CurrentThread>();
}

#[test]
fn starting_outside_a_tokio_runtime_fails_with_a_reason() {
    let started = futures_lite::future::block_on(faxnotify_tokio::Server::bind(
        loopback(),
        server_config(),
        users(&[]),
    ));
    let error = started.expect_err("no runtime to spawn on");
    assert!(
        matches!(error, faxnotify_tokio::ServerStartError::Spawn(_)),
        "{error}"
    );
    assert!(error.to_string().contains("cannot start"), "{error}");
}
