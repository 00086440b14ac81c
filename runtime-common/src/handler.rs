//! An application handler the event loop calls on its own thread.
//!
//! Without one, every server event crosses threads: the loop hands it to
//! the application's thread through the events channel (a wake-up), and
//! what the application notifies in answer comes back through the post
//! inbox (another wake-up). At a delivery window of 1 that is two thread
//! hand-offs per notification. A [`ServerHandler`] runs where the event is
//! produced, on the loop's thread (the mio loop thread, the async driver's
//! task), and may notify right there through a [`LoopNotifier`]: no
//! hand-off, no wake-up.
//!
//! Every event goes to exactly one place: the handler takes it, or hands
//! it back and it goes to the events channel as it would without a
//! handler, in the order the core produced it.

use std::time::Instant;

use faxnotify_core::server::{self, Event, Target};
use faxnotify_core::wire::EncodedNotification;

use crate::post::{PostInbox, PostReport};

/// An application handler run on the server loop's thread with each event
/// of the core, in order (set with the runtime's builder option, e.g.
/// `faxnotify_mio::ServerBuilder::handler`).
///
/// It runs *inside* the loop: while it runs, the loop serves no socket.
/// Keep it short and never block in it (no locks another thread holds
/// long, no I/O, no waiting on a channel); hand slow work to a thread of
/// your own, by returning the event or through a channel of yours.
///
/// A panic in the handler is a panic of the loop: the server stops serving
/// every session (on mio, joining the server reports
/// `RunError::Panicked`). Catch inside the handler what it may panic on.
///
/// Any `FnMut(Event, &mut LoopNotifier<'_>) -> Option<Event>` closure that
/// is `Send + 'static` is a handler.
pub trait ServerHandler: Send + 'static {
    /// One event of the core. Return `None` when the handler has dealt
    /// with it, or `Some(event)` to pass it on to the application's events
    /// channel (the runtime's `events()` / event stream), where it arrives
    /// in order among the other passed-on events. Notifications posted
    /// through `notifier` are queued before the loop takes its next input.
    fn on_event(&mut self, event: Event, notifier: &mut LoopNotifier<'_>) -> Option<Event>;
}

impl<F> ServerHandler for F
where
    F: FnMut(Event, &mut LoopNotifier<'_>) -> Option<Event> + Send + 'static,
{
    fn on_event(&mut self, event: Event, notifier: &mut LoopNotifier<'_>) -> Option<Event> {
        self(event, notifier)
    }
}

/// A boxed handler is a handler (to pass one chosen at run time on).
impl ServerHandler for Box<dyn ServerHandler> {
    fn on_event(&mut self, event: Event, notifier: &mut LoopNotifier<'_>) -> Option<Event> {
        self.as_mut().on_event(event, notifier)
    }
}

/// What a [`ServerHandler`] can do from the loop's thread: post
/// notifications straight into the server core.
///
/// A post here is queued at once, exactly as a notification posted from
/// another thread is when the loop takes it from the inbox (the same code,
/// [`PostInbox::deliver`]): each session accepts it or refuses it (queue
/// full [B-6], no such session), and the outcome adds up in the same
/// [`PostReport`] the runtime's `take_post_report` returns. Nothing waits
/// in the inbox, so its capacity does not apply; the sessions' queue limit
/// does.
#[derive(Debug)]
pub struct LoopNotifier<'a> {
    core: &'a mut server::Server,
    inbox: &'a PostInbox,
    now: Instant,
}

impl<'a> LoopNotifier<'a> {
    /// For runtime adapters: a notifier over the loop's `core` and post
    /// `inbox` (whose report the posts add to), at the loop's `now`.
    pub fn new(core: &'a mut server::Server, inbox: &'a PostInbox, now: Instant) -> Self {
        Self { core, inbox, now }
    }

    /// For runtime adapters: calls `handler` with `event` on the loop's
    /// thread; what it hands back goes to the events channel.
    pub fn dispatch(
        handler: &mut dyn ServerHandler,
        core: &mut server::Server,
        inbox: &PostInbox,
        now: Instant,
        event: Event,
    ) -> Option<Event> {
        handler.on_event(event, &mut LoopNotifier::new(core, inbox, now))
    }

    /// Queues `notification` for every session of `target`; see
    /// [`LoopNotifier::post_batch`].
    pub fn post(&mut self, target: Target, notification: EncodedNotification) {
        self.post_batch([(target, notification)]);
    }

    /// Queues every notification of `batch`, in order, for the sessions of
    /// its target. What each session said (accepted, or refused and why)
    /// adds up in the server's [`PostReport`]; each session's outcome comes
    /// later as `Delivered` / `Undelivered` events, to this handler.
    pub fn post_batch<I>(&mut self, batch: I)
    where
        I: IntoIterator<Item = (Target, EncodedNotification)>,
    {
        self.inbox.deliver(self.core, self.now, batch);
    }

    /// What became of the posts (this handler's and other threads') since
    /// the report was last taken; resets it. One report per server: an
    /// application thread taking it too sees only what is left.
    pub fn take_post_report(&self) -> PostReport {
        self.inbox.take_report()
    }

    /// The loop's time for this event.
    pub fn now(&self) -> Instant {
        self.now
    }
}
