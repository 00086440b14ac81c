//! The commands' runtime interface on `faxnotify-smol`.
//!
//! faxnotify-smol runs each server and client on an executor of its own
//! (a dedicated thread, its default), and its API is async; the blocking
//! wrappers wait on its futures with `block_on`, which is all they need
//! since those futures only wait on channels, and bound a wait with an
//! async-io timer.

use std::time::Duration;

use async_io::Timer;
use faxnotify_smol::TaskRunner;

use super::on_async::Blocking;

/// faxnotify-smol, a dedicated executor thread per server and per client.
#[derive(Clone, Copy, Debug)]
pub(super) struct Smol;

impl Blocking for Smol {
    type Runtime = TaskRunner;

    fn runner(&self) -> TaskRunner {
        TaskRunner::DedicatedThread
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(f)
    }

    async fn sleep(&self, duration: Duration) {
        Timer::after(duration).await;
    }
}
