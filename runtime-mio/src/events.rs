//! The bounded event channel between the loop and the application.
//!
//! The loop never blocks on the application and never drops an event: when
//! the channel is full, events wait in the loop's overflow queue and the
//! loop stops reading from the network (so no new events are produced from
//! peers' bytes) until the application takes some. The receiving side wakes
//! the loop when it makes room while the loop waits for it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::Duration;

use mio::Waker;

/// What the loop and the receiver share.
#[derive(Debug)]
struct Shared {
    /// The loop holds events it could not send: wake it when room appears.
    waiting: AtomicBool,
    waker: Arc<Waker>,
}

/// The application's end of the event channel of a
/// [`Server`](crate::Server) or [`Client`](crate::Client).
///
/// Events come in the order the core produced them. When the loop has
/// ended and every event was taken, [`Events::recv`] returns `None`.
///
/// Read events promptly: the channel holds
/// [`LoopOptions::event_capacity`](crate::LoopOptions::event_capacity)
/// events, and while it is full the loop reads nothing from the network
/// (see [Events](crate#events-and-a-slow-application)). Dropping the
/// `Events` says the application does not want events; the loop then
/// discards them.
pub struct Events<E> {
    rx: Receiver<E>,
    shared: Arc<Shared>,
}

impl<E> fmt::Debug for Events<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl<E> Events<E> {
    /// Waits for the next event; `None` once the loop has ended and every
    /// event was taken.
    pub fn recv(&self) -> Option<E> {
        let event = self.rx.recv().ok();
        self.made_room();
        event
    }

    /// Waits at most `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<E, RecvTimeoutError> {
        let event = self.rx.recv_timeout(timeout);
        self.made_room();
        event
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<E, TryRecvError> {
        let event = self.rx.try_recv();
        self.made_room();
        event
    }

    /// Every event, blocking between them, until the loop ends.
    pub fn iter(&self) -> impl Iterator<Item = E> + '_ {
        std::iter::from_fn(|| self.recv())
    }

    fn made_room(&self) {
        if self.shared.waiting.swap(false, Ordering::SeqCst) {
            // A failed wake means the loop is gone; nothing to resume.
            let _ = self.shared.waker.wake();
        }
    }
}

/// The loop's end: a bounded channel with an overflow queue.
pub(crate) struct EventSink<E> {
    tx: SyncSender<E>,
    overflow: VecDeque<E>,
    shared: Arc<Shared>,
    /// The application dropped its [`Events`].
    gone: bool,
}

impl<E> fmt::Debug for EventSink<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink")
            .field("overflow", &self.overflow.len())
            .field("gone", &self.gone)
            .finish()
    }
}

/// A channel of `capacity` events whose receiver wakes `waker` when it
/// makes room for a waiting loop.
pub(crate) fn channel<E>(capacity: usize, waker: Arc<Waker>) -> (EventSink<E>, Events<E>) {
    let (tx, rx) = mpsc::sync_channel(capacity);
    let shared = Arc::new(Shared {
        waiting: AtomicBool::new(false),
        waker,
    });
    (
        EventSink {
            tx,
            overflow: VecDeque::new(),
            shared: Arc::clone(&shared),
            gone: false,
        },
        Events { rx, shared },
    )
}

impl<E> EventSink<E> {
    /// Hands an event to the application, or queues it behind the ones
    /// already waiting.
    pub(crate) fn push(&mut self, event: E) {
        if self.gone {
            return;
        }
        if !self.overflow.is_empty() {
            self.overflow.push_back(event);
            return;
        }
        if let Some(event) = self.try_send(event) {
            self.overflow.push_back(event);
        }
    }

    /// Moves waiting events into the channel as far as it has room.
    pub(crate) fn pump(&mut self) {
        while let Some(event) = self.overflow.pop_front() {
            if let Some(event) = self.try_send(event) {
                self.overflow.push_front(event);
                return;
            }
        }
    }

    /// Whether events wait for the application to make room.
    pub(crate) fn is_congested(&self) -> bool {
        !self.overflow.is_empty()
    }

    /// Events waiting in the overflow queue.
    pub(crate) fn backlog(&self) -> usize {
        self.overflow.len()
    }

    /// Sends one event; gives it back when the channel is full.
    fn try_send(&mut self, event: E) -> Option<E> {
        match self.tx.try_send(event) {
            Ok(()) => None,
            Err(TrySendError::Disconnected(_)) => {
                tracing::debug!("the application dropped its event receiver; discarding events");
                self.gone = true;
                self.overflow.clear();
                None
            }
            Err(TrySendError::Full(event)) => {
                // Announce the wait first, then look again: a receive that
                // made room before the announcement is then seen here, and
                // one after it sees the flag and wakes the loop.
                self.shared.waiting.store(true, Ordering::SeqCst);
                match self.tx.try_send(event) {
                    Ok(()) => None,
                    Err(TrySendError::Full(event)) => Some(event),
                    Err(TrySendError::Disconnected(_)) => {
                        self.gone = true;
                        self.overflow.clear();
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mio::{Events as MioEvents, Poll, Token};

    use super::*;

    #[test]
    fn overflow_keeps_order_and_the_receiver_wakes_the_loop() {
        let mut poll = Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), Token(7)).expect("waker"));
        let (mut sink, events) = channel::<u32>(2, waker);
        for i in 0..5 {
            sink.push(i);
        }
        assert!(sink.is_congested());
        assert_eq!(sink.backlog(), 3);

        let mut woken = MioEvents::with_capacity(4);
        poll.poll(&mut woken, Some(Duration::ZERO)).expect("poll");
        assert!(woken.is_empty(), "no wake before the receiver makes room");

        assert_eq!(events.try_recv(), Ok(0));
        poll.poll(&mut woken, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(
            woken.iter().any(|e| e.token() == Token(7)),
            "room wakes the loop"
        );

        sink.pump();
        assert_eq!(sink.backlog(), 2);
        let got: Vec<u32> = std::iter::from_fn(|| {
            let e = events.try_recv().ok();
            sink.pump();
            e
        })
        .collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
        assert!(!sink.is_congested());
    }

    #[test]
    fn a_dropped_receiver_means_events_are_discarded() {
        let poll = Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), Token(7)).expect("waker"));
        let (mut sink, events) = channel::<u32>(1, waker);
        drop(events);
        for i in 0..10 {
            sink.push(i);
        }
        assert!(!sink.is_congested(), "nobody to wait for");
    }
}
