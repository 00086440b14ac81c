//! A task handle that cancels its task when dropped, on any runtime.
//!
//! Runtimes disagree on what dropping a task handle means (smol cancels,
//! tokio detaches), so the driver spawns detached tasks through
//! [`Spawn`] and cancels them itself: the task races its work against a
//! cancellation signal, looking at the signal first so that a cancelled
//! task never polls its work again (work polled after its connection was
//! dropped could still read from or write to the socket).
//!
//! The flag has a single waiter (the task itself), so it keeps that
//! waiter's waker in a slot instead of an event listener: a task costs no
//! allocation beyond its shared state. (Connections do not use this: their
//! tasks are cancelled through the state they share with the driver
//! anyway, see `conns::Handle`; dials do.)

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

/// A spawned task, cancelled when the handle is dropped.
pub(crate) struct Task {
    cancel: Arc<Flag>,
}

impl Task {
    /// Spawns `work` on `spawner`.
    pub(crate) fn spawn(
        spawner: &impl Spawn,
        work: impl Future<Output = ()> + Send + 'static,
    ) -> Task {
        let cancel = Arc::new(Flag::default());
        let flag = Arc::clone(&cancel);
        spawner.spawn(async move {
            future::or(flag.wait(), work).await;
        });
        Task { cancel }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.cancel.set();
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
        assert!(
            matches!(rx.try_recv(), Err(async_channel::TryRecvError::Empty)),
            "the work runs until the handle is dropped"
        );
        drop(task);
        assert!(future::block_on(rx.recv()).is_err(), "the work was dropped");
    }
}
