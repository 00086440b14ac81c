//! The closed loop of a delivery run, written once for every runtime and
//! both places it can run: per session, at most `outstanding` notified
//! and not yet acknowledged; each acknowledgement allows the next.
//!
//! It runs on the application's thread (events read from the runtime's
//! channel, the allowed notifications posted back: two thread hand-offs
//! per round trip), or — for a standalone server — inside the server's
//! loop, in a [`ServerHandler`] ([`in_loop_handler`]): the loop's thread
//! answers each `Delivered` with the next notification at once, as the
//! raw baseline's single thread does. The standalone server processes use
//! the handler at every window (the crate documentation, "The load", has
//! the measurements).

use std::sync::{Arc, Mutex, MutexGuard};

use faxnotify_core::SessionId;
use faxnotify_core::server::{Event, Target};
use faxnotify_core::wire::EncodedNotification;
use faxnotify_runtime::{LoopNotifier, NotificationEncoder, ServerHandler};

use super::payload;
use super::sys;

/// Notifications to post: `(target, encoded)`.
pub type Batch = Vec<(Target, EncodedNotification)>;

/// The per-session bookkeeping of the closed loop.
#[derive(Debug)]
pub struct ClosedLoop {
    sessions: Vec<SessionId>,
    /// `(session, its position in sessions)`, sorted: found by binary
    /// search on every acknowledgement, which costs a few comparisons
    /// where a `HashMap`'s SipHash cost more than the rest of the step.
    index: Vec<(SessionId, usize)>,
    sent: Vec<u64>,
    acked: Vec<u64>,
    /// Sessions with every notification acknowledged.
    complete: usize,
    /// Sessions whose window moved since the last [`ClosedLoop::fill`].
    dirty: Vec<usize>,
    per_session: u64,
    outstanding: u64,
    /// Encodes into one arena, on whichever thread runs the loop.
    encoder: NotificationEncoder,
}

impl ClosedLoop {
    /// `per_session` notifications for each of `sessions`, at most
    /// `outstanding` unacknowledged each; nothing is sent yet.
    pub fn new(sessions: Vec<SessionId>, per_session: u64, outstanding: u32) -> Self {
        let n = sessions.len();
        let mut index: Vec<(SessionId, usize)> =
            sessions.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        index.sort_unstable();
        Self {
            sessions,
            index,
            sent: vec![0; n],
            acked: vec![0; n],
            complete: 0,
            dirty: (0..n).collect(),
            per_session,
            outstanding: u64::from(outstanding),
            encoder: NotificationEncoder::new(),
        }
    }

    /// `session` acknowledged up to `last`.
    pub fn acknowledged(&mut self, session: SessionId, last: u64) {
        let Ok(at) = self.index.binary_search_by_key(&session, |(s, _)| *s) else {
            return;
        };
        let i = self.index[at].1;
        if last <= self.acked[i] {
            return;
        }
        let was = self.acked[i];
        self.acked[i] = last.min(self.per_session);
        if self.acked[i] == self.per_session && was < self.per_session {
            self.complete += 1;
        }
        if self.sent[i] < self.per_session {
            self.dirty.push(i);
        }
    }

    /// Adds to `batch` every notification the acknowledgements since the
    /// last call allow, stamped now.
    pub fn fill(&mut self, batch: &mut Batch) -> Result<(), String> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        self.fill_at(sys::monotonic_ns(), batch)
    }

    /// [`ClosedLoop::fill`] stamped `now` (nanoseconds of
    /// `CLOCK_MONOTONIC`): for benchmarks that run where the clock cannot
    /// be read (valgrind has no vDSO).
    pub fn fill_at(&mut self, now: u64, batch: &mut Batch) -> Result<(), String> {
        for i in self.dirty.drain(..) {
            let allowed = self.per_session.min(self.acked[i] + self.outstanding);
            for number in self.sent[i] + 1..=allowed {
                // Encoded where it stays in the batch, not moved there:
                // reading back the payload just written costs more than
                // writing it (`NotificationEncoder::encode_to`).
                let at = batch.len();
                let target = Target::Session(self.sessions[i]);
                batch.push((target, EncodedNotification::default()));
                let encoded = self
                    .encoder
                    .encode_to(&payload::notification(now, number), &mut batch[at].1);
                if let Err(e) = encoded {
                    batch.truncate(at);
                    return Err(e.to_string());
                }
            }
            self.sent[i] = self.sent[i].max(allowed);
        }
        Ok(())
    }

    /// Whether every session has acknowledged every notification.
    pub fn is_complete(&self) -> bool {
        self.complete == self.sessions.len()
    }
}

/// What the server's loop and the application share when the closed
/// loop runs in the loop: the loop on its way to the handler, and how the
/// run ended.
#[derive(Debug, Default)]
pub struct InLoopState {
    /// The closed loop the application has started, until the handler
    /// takes it (at the first `Delivered` after).
    pub closed_loop: Option<ClosedLoop>,
    /// Whether every session has acknowledged every notification.
    pub complete: bool,
    /// Why the loop stopped notifying.
    pub error: Option<String>,
}

/// [`InLoopState`] behind a lock. The handler owns the closed loop once it
/// has taken it and locks only to take it and to say how the run ended:
/// not once per `Delivered`, where an uncontended lock and unlock still
/// cost two atomic read-modify-writes per notification at window 64.
#[derive(Clone, Debug, Default)]
pub struct InLoop(Arc<Mutex<InLoopState>>);

impl InLoop {
    /// The shared state.
    pub fn lock(&self) -> MutexGuard<'_, InLoopState> {
        // Every critical section leaves the state whole: poisoning is ignored.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handler that runs the closed loop on the server's loop thread: on
/// each `Delivered` it notes the acknowledgement and posts what that
/// allows, right there. It keeps those events; it hands back every other
/// event, every event before delivery starts, and the `Delivered` that
/// completes the run or meets an error — so the application's thread
/// wakes for those alone.
pub fn in_loop_handler(shared: InLoop) -> impl ServerHandler {
    let mut batch = Batch::new();
    let mut owned: Option<ClosedLoop> = None;
    move |event: Event, notifier: &mut LoopNotifier<'_>| {
        let Event::Delivered {
            session, last_seq, ..
        } = &event
        else {
            return Some(event);
        };
        if owned.is_none() {
            owned = shared.lock().closed_loop.take();
        }
        let Some(closed_loop) = owned.as_mut() else {
            return Some(event);
        };
        closed_loop.acknowledged(*session, *last_seq);
        if let Err(e) = closed_loop.fill(&mut batch) {
            shared.lock().error.get_or_insert(e);
            return Some(event);
        }
        if !batch.is_empty() {
            notifier.post_batch(batch.drain(..));
        }
        if closed_loop.is_complete() {
            shared.lock().complete = true;
            return Some(event);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: u64) -> SessionId {
        SessionId::new(id).expect("non-zero")
    }

    #[test]
    fn each_acknowledgement_allows_as_many_more_within_the_window() {
        let mut lp = ClosedLoop::new(vec![session(1), session(2)], 5, 2);
        let mut batch = Batch::new();
        lp.fill(&mut batch).expect("encodes");
        assert_eq!(batch.len(), 4, "two per session to start");
        batch.clear();
        lp.acknowledged(session(1), 1);
        lp.acknowledged(session(1), 1); // a repeat allows nothing more
        lp.fill(&mut batch).expect("encodes");
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].0, Target::Session(session(1)));
        batch.clear();
        lp.acknowledged(session(1), 5);
        lp.acknowledged(session(9), 3); // not a session of the run
        lp.fill(&mut batch).expect("encodes");
        assert_eq!(batch.len(), 2, "up to the run's 5, not 5 + 2");
        assert!(!lp.is_complete());
        lp.acknowledged(session(2), 5);
        assert!(lp.is_complete());
    }
}
