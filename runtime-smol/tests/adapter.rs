//! The checks every faxnotify-async adapter passes (faxnotify-async's
//! `adapter_tests`), on async-io: each test blocks on `async_io::block_on`
//! and every instance runs on its own thread (the default runner).
//! `executors.rs`, `caller_executor.rs` and `dedicated_thread.rs` check
//! what only this adapter has.

use std::future::Future;

use faxnotify_async::adapter_tests::Harness;
use faxnotify_smol::TaskRunner;

/// async-io's `block_on`; [`TaskRunner::DedicatedThread`] instances.
struct SmolHarness;

impl Harness for SmolHarness {
    type Rt = TaskRunner;

    fn new() -> Self {
        SmolHarness
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        async_io::block_on(f)
    }

    fn runner(&self) -> TaskRunner {
        TaskRunner::DedicatedThread
    }
}

faxnotify_async::adapter_tests!(SmolHarness);
