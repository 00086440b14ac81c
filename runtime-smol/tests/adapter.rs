//! The checks every faxnotify-async adapter passes (faxnotify-async's
//! `adapter_tests`), on async-io, with each of the two task runners: every
//! instance on a thread of its own (the default), and every instance on an
//! executor the caller runs. `executors.rs`, `caller_executor.rs` and
//! `dedicated_thread.rs` check what only this adapter has.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;

use faxnotify_async::adapter_tests::Harness;
use faxnotify_smol::{Executor, TaskRunner};

/// async-io's `block_on`; [`TaskRunner::DedicatedThread`] instances.
struct DedicatedThreads;

impl Harness for DedicatedThreads {
    type Rt = TaskRunner;

    fn new() -> Self {
        DedicatedThreads
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        async_io::block_on(f)
    }

    fn runner(&self) -> TaskRunner {
        TaskRunner::DedicatedThread
    }
}

/// async-io's `block_on`; [`TaskRunner::Executor`] instances, all on one
/// executor that two threads of the test run until the test ends.
struct CallersExecutor {
    executor: Arc<Executor<'static>>,
    stop: async_channel::Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

impl Harness for CallersExecutor {
    type Rt = TaskRunner;

    fn new() -> Self {
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..2)
            .map(|_| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                std::thread::spawn(move || {
                    // Runs the instances' tasks until the sender is dropped.
                    async_io::block_on(executor.run(async { stopped.recv().await.ok() }));
                })
            })
            .collect();
        CallersExecutor {
            executor,
            stop,
            threads,
        }
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        async_io::block_on(f)
    }

    fn runner(&self) -> TaskRunner {
        TaskRunner::Executor(Arc::clone(&self.executor))
    }
}

impl Drop for CallersExecutor {
    fn drop(&mut self) {
        self.stop.close();
        for thread in self.threads.drain(..) {
            thread.join().expect("an executor thread");
        }
    }
}

mod dedicated_thread {
    use super::*;
    faxnotify_async::adapter_tests!(DedicatedThreads);
}

mod callers_executor {
    use super::*;
    faxnotify_async::adapter_tests!(CallersExecutor);
}
