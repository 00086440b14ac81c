//! A task handle that cancels its task when dropped, on any runtime.
//!
//! Runtimes disagree on what dropping a task handle means (smol cancels,
//! tokio detaches), so the driver spawns detached tasks through
//! [`Spawn`] and cancels them itself: the task races its work against a
//! cancellation signal, looking at the signal first so that a cancelled
//! task never polls its work again (work polled after its connection was
//! dropped could still read from or write to the socket).
//!
//! Each flag has a single waiter (the task itself for the cancellation,
//! the one `join` for the end), so it keeps that waiter's waker in a slot
//! instead of an event listener: a task costs no allocation beyond its
//! shared state.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use futures_lite::future;

use crate::runtime::Spawn;

#[derive(Default)]
struct Flag {
    set: AtomicBool,
    /// The waiter's waker, while it waits.
    waiter: Mutex<Option<Waker>>,
}

impl Flag {
    fn set(&self) {
        self.set.store(true, Ordering::Release);
        // A single take: a poisoned slot is still consistent.
        let waker = self.waiter.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    async fn wait(&self) {
        future::poll_fn(|cx| {
            if self.is_set() {
                return Poll::Ready(());
            }
            {
                let mut waiter = self.waiter.lock().unwrap_or_else(|e| e.into_inner());
                match &*waiter {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waiter = Some(cx.waker().clone()),
                }
            }
            // Look again: a `set` that found no waker is seen here.
            if self.is_set() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

#[derive(Default)]
struct Shared {
    cancel: Flag,
    done: Flag,
}

/// `work`, raced against its cancellation; the end is flagged.
async fn cancellable<F: Future<Output = ()> + Send + 'static>(task: Arc<Shared>, work: F) {
    future::or(task.cancel.wait(), work).await;
    task.done.set();
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
        spawner.spawn(cancellable(Arc::clone(&shared), work));
        Task { shared }
    }

    /// Bytes of the future [`Task::spawn`] hands the spawner for `work`.
    #[cfg(feature = "adapter-tests")]
    pub(crate) fn spawned_size<F: Future<Output = ()> + Send + 'static>() -> usize {
        fn size_of_return<A, B, O>(_: fn(A, B) -> O) -> usize {
            std::mem::size_of::<O>()
        }
        size_of_return(cancellable::<F> as fn(_, _) -> _)
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
