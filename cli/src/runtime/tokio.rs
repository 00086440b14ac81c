//! The commands' runtime interface on `faxnotify-tokio`.
//!
//! faxnotify-tokio spawns on a runtime the application owns; the command
//! builds one per process, on first use: a **current-thread** runtime run
//! by one thread of its own (`faxnotify-tokio`), on which every server and
//! client of the process is spawned. One thread, because the work of a
//! server or client is one driver task owning its core (the protocol is
//! serial there whatever the workers) and small reader and writer tasks
//! that mostly wait; a multi-thread runtime would add worker threads and
//! cross-thread wake-ups, not throughput, and `--runtime mio|smol|tokio`
//! would then compare thread counts rather than runtimes (mio and smol run
//! a server on one thread too). An application that embeds faxnotify-tokio
//! picks its own flavour; both are tested (tests/tests/runtime_tokio.rs).
//!
//! The command's threads wait on the runtime with `Handle::block_on`
//! (never a worker of the runtime, so they may block), inside the
//! runtime's context so that tokio's timers bound their waits.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use faxnotify_tokio::TaskRunner;
use tokio::runtime::{Builder, Handle};

use super::on_async::Blocking;

/// faxnotify-tokio on the process's runtime.
#[derive(Clone, Debug)]
pub(super) struct Tokio(Handle);

impl Tokio {
    /// The process's runtime, started on first use.
    pub(super) fn get() -> Result<Self, String> {
        static RUNTIME: Mutex<Option<Handle>> = Mutex::new(None);
        let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = &*slot {
            return Ok(Tokio(handle.clone()));
        }
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
        let handle = runtime.handle().clone();
        // A current-thread runtime runs its tasks, sockets and timers only
        // while a thread is in `Runtime::block_on`: this one, until the
        // process exits.
        std::thread::Builder::new()
            .name("faxnotify-tokio".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .map_err(|e| format!("cannot start the tokio runtime's thread: {e}"))?;
        *slot = Some(handle.clone());
        Ok(Tokio(handle))
    }
}

impl Blocking for Tokio {
    type Runtime = TaskRunner;

    fn runner(&self) -> TaskRunner {
        TaskRunner::Handle(self.0.clone())
    }

    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
