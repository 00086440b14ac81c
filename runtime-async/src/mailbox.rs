//! The event queue from a driver to its application.
//!
//! The driver must never wait on the application (it would stop answering
//! the network), so a push always succeeds; the bound comes from the driver
//! itself, which stops taking network input while the queue holds
//! `capacity` events or more, and resumes when the application has taken
//! some ([`Sender::space`]). Events produced meanwhile by timers are few.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};
use futures_lite::Stream;

struct State<T> {
    queue: VecDeque<T>,
    /// The driver is done: no more events will come.
    closed: bool,
    /// The application dropped its end: events are discarded.
    abandoned: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// An event arrived or the queue closed.
    item: Event,
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
        }),
        capacity,
        item: Event::new(),
        space: Event::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            listener: None,
        },
    )
}

/// The driver's end.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues an event (dropped if the application is gone).
    pub(crate) fn push(&self, event: T) {
        let mut state = self.shared.lock();
        if state.abandoned {
            return;
        }
        state.queue.push_back(event);
        drop(state);
        self.shared.item.notify(1);
    }

    /// Whether the driver should stop taking input until the application
    /// catches up.
    pub(crate) fn is_full(&self) -> bool {
        let state = self.shared.lock();
        !state.abandoned && state.queue.len() >= self.shared.capacity
    }

    /// A listener notified when the queue may have gone below capacity.
    /// Create it *before* checking [`Sender::is_full`], so no wake-up is lost.
    pub(crate) fn space(&self) -> EventListener {
        self.shared.space.listen()
    }

    /// Ends the stream: the receiver gets `None` once it has taken every
    /// queued event.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.item.notify(usize::MAX);
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The application's end.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    listener: Option<EventListener>,
}

impl<T> Receiver<T> {
    fn try_take(&self) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        let was_full = state.queue.len() >= self.shared.capacity;
        if let Some(event) = state.queue.pop_front() {
            let now_below = state.queue.len() < self.shared.capacity;
            drop(state);
            if was_full && now_below {
                self.shared.space.notify(usize::MAX);
            }
            return Poll::Ready(Some(event));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// The next event; `None` once the driver has finished and every event
    /// was taken.
    pub(crate) async fn recv(&self) -> Option<T> {
        loop {
            if let Poll::Ready(event) = self.try_take() {
                return event;
            }
            let listener = self.shared.item.listen();
            if let Poll::Ready(event) = self.try_take() {
                return event;
            }
            listener.await;
        }
    }

    /// An event that is already queued, without waiting.
    pub(crate) fn try_recv(&self) -> Option<T> {
        match self.try_take() {
            Poll::Ready(event) => event,
            Poll::Pending => None,
        }
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            if let Poll::Ready(event) = self.try_take() {
                self.listener = None;
                return Poll::Ready(event);
            }
            match self.listener.as_mut() {
                None => {
                    // Register, then look again before sleeping.
                    self.listener = Some(self.shared.item.listen());
                }
                Some(listener) => {
                    futures_lite::ready!(Pin::new(listener).poll(cx));
                    self.listener = None;
                }
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.abandoned = true;
        state.queue.clear();
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
        drop(tx);
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
        assert!(tx.is_full());
        drop(rx);
        assert!(!tx.is_full());
        tx.push(2);
        assert!(!tx.is_full());
    }

    #[test]
    fn stream_wakes_on_push_from_another_thread() {
        let (tx, mut rx) = mailbox(8);
        let pusher = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.push(7);
        });
        use futures_lite::StreamExt;
        assert_eq!(block_on(rx.next()), Some(7));
        assert_eq!(block_on(rx.next()), None);
        pusher.join().ok();
    }
}
