//! The adapter suite's harness on tokio, shared by the test files.

use std::future::Future;

use faxnotify_async::adapter_tests::Harness;
use faxnotify_tokio::TaskRunner;
use tokio::runtime::{Builder, Runtime};

/// A multi-threaded runtime of its own: the instances' tasks run on its
/// workers while the test thread blocks on a future or on a socket.
pub struct MultiThread(Runtime);

impl Harness for MultiThread {
    type Rt = TaskRunner;

    fn new() -> Self {
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        MultiThread(runtime)
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }

    fn runner(&self) -> TaskRunner {
        TaskRunner::Handle(self.0.handle().clone())
    }
}
