//! How posted notifications wake the driver: the poster rings only when
//! the inbox's [`WakeGate`] says no wake is pending, and the driver
//! re-arms the gate when it takes the posts. So any number of posts made
//! while the driver is busy cost one task wake-up.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use faxnotify_runtime::WakeGate;
use futures_lite::future;

/// The driver's side of a post inbox's gate.
pub(crate) struct Doorbell {
    gate: Arc<WakeGate>,
    /// The driver task, while it waits.
    waker: Mutex<Option<Waker>>,
}

impl Doorbell {
    pub(crate) fn new(gate: Arc<WakeGate>) -> Self {
        Self {
            gate,
            waker: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Waker>> {
        // A single take or store: a panic cannot leave it inconsistent.
        self.waker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the driver unless a wake is pending already (for senders
    /// that do not hold the gate themselves).
    pub(crate) fn ring_if_idle(&self) {
        if self.gate.should_wake() {
            self.ring();
        }
    }

    /// The driver's side: a send from here on rings again.
    pub(crate) fn rearm(&self) {
        self.gate.rearm();
    }

    /// The driver's side: it is awake, so senders need not ring until it
    /// [rearms](Doorbell::rearm) the gate.
    pub(crate) fn hold(&self) {
        self.gate.should_wake();
    }

    /// Keeps `waker` for the next ring.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.lock();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Wakes the driver (call when the gate said to).
    pub(crate) fn ring(&self) {
        if let Some(waker) = self.lock().take() {
            waker.wake();
        }
    }

    /// Resolves once something was posted and not taken yet.
    pub(crate) async fn rung(&self) {
        future::poll_fn(|cx| {
            if self.gate.is_pending() {
                return Poll::Ready(());
            }
            {
                let mut waker = self.lock();
                match &*waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
            }
            // Look again: a post whose ring found no waker is seen here.
            if self.gate.is_pending() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_wakes_a_waiting_driver() {
        let gate = Arc::new(WakeGate::new());
        let bell = Arc::new(Doorbell::new(Arc::clone(&gate)));
        let poster = {
            let (gate, bell) = (Arc::clone(&gate), Arc::clone(&bell));
            // Before or after the driver waits: it must wake either way.
            std::thread::spawn(move || {
                assert!(gate.should_wake());
                bell.ring();
            })
        };
        future::block_on(bell.rung());
        assert!(gate.rearm(), "a wake was pending");
        poster.join().expect("poster");
    }
}
