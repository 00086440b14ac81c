//! A task handle that cancels its task when dropped, on any runtime.
//!
//! Runtimes disagree on what dropping a task handle means (smol cancels,
//! tokio detaches), so the driver spawns detached tasks through
//! [`Spawn`] and cancels them itself: the task races its work against a
//! cancellation signal, looking at the signal first so that a cancelled
//! task never polls its work again (a reader polled after its connection
//! closed would take the socket's read waker from the writer draining it).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::Event;
use futures_lite::future;

use crate::runtime::Spawn;

#[derive(Default)]
struct Flag {
    set: AtomicBool,
    event: Event,
}

impl Flag {
    fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    async fn wait(&self) {
        while !self.is_set() {
            let listener = self.event.listen();
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}

#[derive(Default)]
struct Shared {
    cancel: Flag,
    done: Flag,
}

/// A spawned task, cancelled when the handle is dropped.
pub(crate) struct Task {
    shared: Arc<Shared>,
}

impl Task {
    /// Spawns `work` on `spawner`.
    pub(crate) fn spawn(
        spawner: &impl Spawn,
        work: impl Future<Output = ()> + Send + 'static,
    ) -> Task {
        let shared = Arc::new(Shared::default());
        let task = Arc::clone(&shared);
        spawner.spawn(async move {
            future::or(task.cancel.wait(), work).await;
            task.done.set();
        });
        Task { shared }
    }

    /// Whether the task has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.shared.done.is_set()
    }

    /// Waits until the task has ended.
    pub(crate) async fn join(self) {
        self.shared.done.wait().await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.shared.cancel.set();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Threads;

    impl Spawn for Threads {
        fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
            std::thread::spawn(move || future::block_on(task));
        }
    }

    #[test]
    fn a_dropped_task_stops_and_drops_its_work() {
        let (tx, rx) = async_channel::bounded::<()>(1);
        let task = Task::spawn(&Threads, async move {
            let _tx = tx; // dropped with the work
            future::pending::<()>().await;
        });
        assert!(!task.is_finished());
        drop(task);
        assert!(future::block_on(rx.recv()).is_err(), "the work was dropped");
    }

    #[test]
    fn join_waits_for_the_end() {
        let (tx, rx) = async_channel::bounded::<()>(1);
        let task = Task::spawn(&Threads, async move {
            let _ = rx.recv().await;
        });
        tx.try_send(()).expect("send");
        future::block_on(task.join());
    }
}
