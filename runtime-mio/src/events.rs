//! The bounded event channel between the loop and the application.
//!
//! The loop never blocks on the application and never drops an event: when
//! the channel is full, events wait in the loop's overflow queue and the
//! loop stops reading from the network (so no new events are produced from
//! peers' bytes) until the application takes some. The receiving side wakes
//! the loop when it makes room while the loop waits for it.
//!
//! The loop wakes a waiting application once per turn, not once per event
//! ([`EventSink::wake_receiver`]): a turn that delivers a batch of ACKs
//! costs the application one wake-up (a futex wake and its wait) for all
//! of their `Delivered` events.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::Waker;

/// The channel itself.
struct Queue<E> {
    events: VecDeque<E>,
    /// The loop has ended: no more events will come.
    closed: bool,
    /// The application dropped its [`Events`].
    gone: bool,
    /// The application sleeps in `recv` waiting for an event.
    receiver_waits: bool,
}

/// What the loop and the receiver share.
struct Shared<E> {
    queue: Mutex<Queue<E>>,
    /// Signalled when events arrived (once per turn) or the loop ended.
    arrived: Condvar,
    capacity: usize,
    /// The loop holds events it could not send: wake it when room appears.
    waiting: AtomicBool,
    waker: Arc<Waker>,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, Queue<E>> {
        // Every critical section is a push, a pop or a flag: a panic cannot
        // leave the queue inconsistent, so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
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
/// (see [Events](crate#events-and-a-slow-application)). It belongs to its
/// `Server` or `Client` and ends with it; a server that wants no events
/// keeps them in its [handler](crate::ServerBuilder::handler).
pub struct Events<E> {
    shared: Arc<Shared<E>>,
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
        self.take(None).ok()
    }

    /// Waits at most `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<E, RecvTimeoutError> {
        // A timeout too large for an `Instant` waits as long as `recv`.
        match self.take(Instant::now().checked_add(timeout)) {
            Ok(event) => Ok(event),
            Err(Ended::Closed) => Err(RecvTimeoutError::Disconnected),
            Err(Ended::TimedOut) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<E, TryRecvError> {
        let mut queue = self.shared.lock();
        match self.pop(&mut queue) {
            Some(event) => Ok(event),
            None if queue.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Every event, blocking between them, until the loop ends.
    pub fn iter(&self) -> impl Iterator<Item = E> + '_ {
        std::iter::from_fn(|| self.recv())
    }

    /// Waits for an event until `deadline` (forever without one).
    fn take(&self, deadline: Option<Instant>) -> Result<E, Ended> {
        let mut queue = self.shared.lock();
        loop {
            if let Some(event) = self.pop(&mut queue) {
                return Ok(event);
            }
            if queue.closed {
                return Err(Ended::Closed);
            }
            queue.receiver_waits = true;
            queue = match deadline {
                None => self
                    .shared
                    .arrived
                    .wait(queue)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        queue.receiver_waits = false;
                        return Err(Ended::TimedOut);
                    }
                    self.shared
                        .arrived
                        .wait_timeout(queue, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            queue.receiver_waits = false;
        }
    }

    /// Takes the first event, and wakes the loop if it waits for room.
    fn pop(&self, queue: &mut Queue<E>) -> Option<E> {
        let event = queue.events.pop_front()?;
        if self.shared.waiting.swap(false, Ordering::SeqCst) {
            // A failed wake means the loop is gone; nothing to resume.
            let _ = self.shared.waker.wake();
        }
        Some(event)
    }
}

impl<E> Drop for Events<E> {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.gone = true;
        queue.events.clear();
    }
}

/// Why a wait for an event ended without one.
enum Ended {
    Closed,
    TimedOut,
}

/// The loop's end: a bounded channel with an overflow queue.
pub(crate) struct EventSink<E> {
    overflow: VecDeque<E>,
    shared: Arc<Shared<E>>,
    /// The application dropped its [`Events`].
    gone: bool,
    /// Events were queued since the receiver was last woken.
    unannounced: bool,
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
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            events: VecDeque::new(),
            closed: false,
            gone: false,
            receiver_waits: false,
        }),
        arrived: Condvar::new(),
        capacity,
        waiting: AtomicBool::new(false),
        waker,
    });
    (
        EventSink {
            overflow: VecDeque::new(),
            shared: Arc::clone(&shared),
            gone: false,
            unannounced: false,
        },
        Events { shared },
    )
}

impl<E> EventSink<E> {
    /// Hands an event to the application, or queues it behind the ones
    /// already waiting. The application learns of it at the end of the
    /// turn ([`EventSink::wake_receiver`]).
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

    /// Wakes the application if it waits and events came since the last
    /// call: once per turn of the loop, however many events the turn made.
    pub(crate) fn wake_receiver(&mut self) {
        if !std::mem::take(&mut self.unannounced) {
            return;
        }
        let waits = self.shared.lock().receiver_waits;
        if waits {
            // All: `Events` is shared by reference, so threads may wait
            // together (each takes its own event or waits again).
            self.shared.arrived.notify_all();
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
        let mut queue = self.shared.lock();
        if queue.gone {
            drop(queue);
            tracing::debug!("the application dropped its event receiver; discarding events");
            self.gone = true;
            self.overflow.clear();
            return None;
        }
        if queue.events.len() < self.shared.capacity {
            queue.events.push_back(event);
            self.unannounced = true;
            return None;
        }
        // Full. Announce the wait under the lock: a receiver that takes an
        // event after this sees the flag and wakes the loop.
        self.shared.waiting.store(true, Ordering::SeqCst);
        Some(event)
    }
}

impl<E> Drop for EventSink<E> {
    fn drop(&mut self) {
        // The loop has ended: a waiting application gets what is queued,
        // then `None`.
        self.shared.lock().closed = true;
        self.shared.arrived.notify_all();
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
    fn a_waiting_receiver_gets_a_turns_events_then_the_end() {
        let poll = Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), Token(7)).expect("waker"));
        let (mut sink, events) = channel::<u32>(8, waker);
        // Whether the receiver waits already or not, it gets every event.
        let receiver = std::thread::spawn(move || events.iter().collect::<Vec<u32>>());
        for i in 0..3 {
            sink.push(i);
        }
        sink.wake_receiver();
        sink.push(3);
        sink.wake_receiver();
        drop(sink); // the loop ended
        assert_eq!(receiver.join().expect("receiver"), vec![0, 1, 2, 3]);
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
