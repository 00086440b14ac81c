//! The event queue from a driver to its application.
//!
//! The driver must never wait on the application (it would stop answering
//! the network), so a push always succeeds; the bound comes from the driver
//! itself, which stops taking network input while the queue holds
//! `capacity` events or more, and resumes when the application has taken
//! some ([`Sender::space`]). Events produced meanwhile by timers are few.
//!
//! A receiver waits with its task's waker kept in the queue's state (the
//! vector keeps its capacity), not with an event listener, which would be
//! an allocation per wait: one per event when the application keeps up.
//!
//! The driver's pushes wait on its side until it calls [`Sender::flush`]
//! (at the end of every turn, before it sleeps): one lock of the shared
//! queue and at most one wake-up of the application per turn, instead of
//! one of each per event — at window 64 a turn carries an event per ACK
//! read, and the application's thread, taking events as they come, would
//! otherwise contend for the lock with every push.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use event_listener::{Event, EventListener};
use futures_lite::Stream;

struct State<T> {
    queue: VecDeque<T>,
    /// The driver is done: no more events will come.
    closed: bool,
    /// The application dropped its end: events are discarded.
    abandoned: bool,
    /// Tasks waiting for an event (one each; a receiver polled from a task
    /// that gave up leaves a stale waker, woken once for nothing).
    waiting: Vec<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// The queue went below capacity, or the receiver went away.
    space: Event,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock cannot leave the queue inconsistent
        // (every critical section is a single push or pop), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new queue holding up to `capacity` events before the driver pauses.
pub(crate) fn mailbox<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
            abandoned: false,
            waiting: Vec::new(),
        }),
        capacity,
        space: Event::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
            pending: RefCell::new(Vec::new()),
            queued: Cell::new(0),
        },
        Receiver { shared },
    )
}

/// The driver's end (one task's: the events it pushes wait here, not
/// shared, until [`Sender::flush`]).
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
    /// Pushed since the last flush (keeps its capacity between turns).
    pending: RefCell<Vec<T>>,
    /// The shared queue's length when last seen: it only shrinks until the
    /// next flush, so while this plus what is pending is below capacity the
    /// queue is not full, and [`Sender::is_full`] need not take the lock.
    queued: Cell<usize>,
}

impl<T> Sender<T> {
    /// Queues an event (dropped if the application is gone); the
    /// application sees it after the next [`Sender::flush`].
    pub(crate) fn push(&self, event: T) {
        self.pending.borrow_mut().push(event);
    }

    /// Hands every pushed event to the application: one lock, one wake-up.
    pub(crate) fn flush(&self) {
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return;
        }
        let mut state = self.shared.lock();
        if state.abandoned {
            pending.clear();
            return;
        }
        if state.queue.is_empty() {
            // The application took everything: hand the turn's buffer over
            // instead of moving each event, and keep the queue's.
            let pushed = VecDeque::from(std::mem::take(&mut *pending));
            *pending = Vec::from(std::mem::replace(&mut state.queue, pushed));
        } else {
            state.queue.extend(pending.drain(..));
        }
        self.queued.set(state.queue.len());
        wake_all(&mut state);
    }

    /// Whether the driver should stop taking input until the application
    /// catches up (what is pending and not flushed counts).
    pub(crate) fn is_full(&self) -> bool {
        let pending = self.pending.borrow().len();
        if self.queued.get() + pending < self.shared.capacity {
            return false;
        }
        let state = self.shared.lock();
        self.queued.set(state.queue.len());
        !state.abandoned && state.queue.len() + pending >= self.shared.capacity
    }

    /// A listener notified when the queue may have gone below capacity.
    /// Create it *before* checking [`Sender::is_full`], so no wake-up is lost.
    pub(crate) fn space(&self) -> EventListener {
        self.shared.space.listen()
    }

    /// Ends the stream: the receiver gets `None` once it has taken every
    /// queued event.
    pub(crate) fn close(&self) {
        self.flush();
        let mut state = self.shared.lock();
        state.closed = true;
        wake_all(&mut state);
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// Wakes every waiting receiver (under the lock: a waker is a queue push
/// of its task, never a call back into this queue).
fn wake_all<T>(state: &mut State<T>) {
    for waker in state.waiting.drain(..) {
        waker.wake();
    }
}

/// The application's end.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next event, or `Pending` with `waker` (if any) registered.
    fn poll_take(&self, waker: Option<&Waker>) -> Poll<Option<T>> {
        let mut event = None;
        self.poll_take_with(waker, |queue| {
            event = queue.pop_front();
            1
        })
        .map(|_| event)
    }

    /// Up to `limit` (at least 1) waiting events onto the end of `into`;
    /// see [`Receiver::poll_take_with`].
    fn poll_take_many(&self, waker: &Waker, into: &mut Vec<T>, limit: usize) -> Poll<usize> {
        self.poll_take_with(Some(waker), |queue| {
            if into.is_empty() && queue.len() <= limit {
                // Everything, into an empty vector: hand the queue's buffer
                // over instead of moving each event (and give the queue the
                // vector's, for the driver's next flush).
                let all = std::mem::replace(queue, VecDeque::from(std::mem::take(into)));
                *into = Vec::from(all);
                into.len()
            } else {
                let taken = limit.min(queue.len());
                into.extend(queue.drain(..taken));
                taken
            }
        })
    }

    /// Under one lock: if events wait, `take` takes some (at least one;
    /// it returns how many); `Ready(0)` once the driver has finished and
    /// every event was taken; else `Pending` with `waker` (if any)
    /// registered.
    fn poll_take_with(
        &self,
        waker: Option<&Waker>,
        take: impl FnOnce(&mut VecDeque<T>) -> usize,
    ) -> Poll<usize> {
        let mut state = self.shared.lock();
        let was_full = state.queue.len() >= self.shared.capacity;
        if let Some(waker) = waker {
            // Served: a push while this task runs need not wake it.
            state.waiting.retain(|w| !w.will_wake(waker));
        }
        if !state.queue.is_empty() {
            let taken = take(&mut state.queue);
            let now_below = state.queue.len() < self.shared.capacity;
            drop(state);
            if was_full && now_below {
                self.shared.space.notify(usize::MAX);
            }
            return Poll::Ready(taken);
        }
        if state.closed {
            return Poll::Ready(0);
        }
        if let Some(waker) = waker
            && !state.waiting.iter().any(|w| w.will_wake(waker))
        {
            state.waiting.push(waker.clone());
        }
        Poll::Pending
    }

    /// The next event; `None` once the driver has finished and every event
    /// was taken.
    pub(crate) async fn recv(&self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_take(Some(cx.waker()))).await
    }

    /// Waits for at least one event, then moves up to `limit` waiting
    /// events onto `into` under one lock; returns how many. 0: the driver
    /// has finished and every event was taken (or `limit` is 0).
    pub(crate) async fn recv_many(&self, into: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        std::future::poll_fn(|cx| self.poll_take_many(cx.waker(), into, limit)).await
    }

    /// An event that is already queued, without waiting.
    pub(crate) fn try_recv(&self) -> Option<T> {
        match self.poll_take(None) {
            Poll::Ready(event) => event,
            Poll::Pending => None,
        }
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_take(Some(cx.waker()))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.abandoned = true;
        state.queue.clear();
        state.waiting.clear();
        drop(state);
        self.shared.space.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn delivers_in_order_then_ends() {
        let (tx, rx) = mailbox(4);
        tx.push(1);
        tx.push(2);
        drop(tx); // flushes
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), None);
    }

    #[test]
    fn full_until_the_receiver_takes_one() {
        let (tx, rx) = mailbox(2);
        tx.push(1);
        assert!(!tx.is_full());
        tx.push(2);
        // Pending events count before they are flushed.
        assert!(tx.is_full());
        tx.flush();
        assert!(tx.is_full());
        let space = tx.space();
        assert_eq!(rx.try_recv(), Some(1));
        assert!(!tx.is_full());
        // The listener created while full was notified.
        block_on(space);
    }

    #[test]
    fn a_dropped_receiver_discards_and_never_blocks() {
        let (tx, rx) = mailbox(1);
        tx.push(1);
        tx.flush();
        assert!(tx.is_full());
        drop(rx);
        assert!(!tx.is_full());
        tx.push(2);
        tx.flush();
        assert!(!tx.is_full());
    }

    #[test]
    fn many_at_once_in_order_up_to_the_limit_then_the_end() {
        let (tx, rx) = mailbox(4);
        for i in 1..=5 {
            tx.push(i);
        }
        tx.flush(); // into the empty queue: the whole buffer
        assert!(tx.is_full());
        let space = tx.space();
        let mut got = vec![0];
        assert_eq!(block_on(rx.recv_many(&mut got, 3)), 3);
        assert_eq!(got, [0, 1, 2, 3], "appended, in order");
        // Taking them made room: the driver is told.
        assert!(!tx.is_full());
        block_on(space);
        assert_eq!(block_on(rx.recv_many(&mut got, 0)), 0);
        tx.push(6);
        tx.flush(); // behind what waits
        let mut rest = Vec::new();
        assert_eq!(block_on(rx.recv_many(&mut rest, 10)), 3);
        assert_eq!(rest, [4, 5, 6], "everything, into an empty vector");
        tx.push(7);
        tx.push(8);
        drop(tx); // flushes
        assert_eq!(block_on(rx.recv_many(&mut got, 10)), 2);
        assert_eq!(got, [0, 1, 2, 3, 7, 8]);
        assert_eq!(block_on(rx.recv_many(&mut got, 10)), 0, "the end");
    }

    #[test]
    fn pushes_wait_for_the_flush() {
        let (tx, rx) = mailbox(8);
        tx.push(1);
        tx.push(2);
        assert_eq!(rx.try_recv(), None, "seen before the flush");
        tx.flush();
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(rx.try_recv(), Some(2));
    }

    #[test]
    fn stream_wakes_on_push_from_another_thread() {
        let (tx, mut rx) = mailbox(8);
        let pusher = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.push(7);
            tx.flush();
        });
        use futures_lite::StreamExt;
        assert_eq!(block_on(rx.next()), Some(7));
        assert_eq!(block_on(rx.next()), None);
        pusher.join().ok();
    }
}
