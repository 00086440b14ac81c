//! All of the server's deadlines in one binary heap, with lazy invalidation.
//!
//! Each connection, session and rate-limited address keeps its own deadlines
//! and a `scheduled` slot: the time of the heap entry that stands for it.
//! Deadlines that move later (a lease renewed by every frame, a callback's
//! keepalive pushed back by every send) touch nothing here; the old entry
//! fires, the owner sees nothing is due yet, and re-arms at its real
//! deadline. Only a deadline that moves *earlier* than the scheduled entry
//! pushes a new one; the superseded entry is recognised as stale when it
//! pops (its time no longer equals the owner's `scheduled`) and dropped.
//! So an idle session costs one heap entry, and every operation is O(log n).
//!
//! Stale entries below a live one cannot be popped until their own time
//! comes, so connections that open and close while an earlier deadline is
//! pending (a flood, or time standing still) would leave one entry each for
//! up to a handshake timeout or a lease. The server therefore compacts the
//! heap with [`TimerHeap::retain`] whenever it holds more than twice as many
//! entries as there are owners (plus a constant): the heap stays in
//! proportion to what the server holds, at an amortised O(1) per entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::Instant;

use crate::{ConnId, SessionId};

/// The owner of a heap entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub(crate) enum TimerKey {
    Conn(ConnId),
    Session(SessionId),
    /// The failed-login record of an address, forgotten once it has decayed.
    Ip(IpAddr),
}

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    /// Pushes and pops so far (wrapping): with the owners' tables' removal
    /// counts, it tells whether the heap's top may have gone stale since
    /// it was last found live (see `Server::prune_timers`).
    changes: u64,
}

impl TimerHeap {
    /// Makes sure an entry fires no later than `wanted`, given the owner's
    /// `scheduled` slot (updated here).
    pub(crate) fn arm(
        &mut self,
        scheduled: &mut Option<Instant>,
        wanted: Option<Instant>,
        key: TimerKey,
    ) {
        let Some(wanted) = wanted else { return };
        if scheduled.is_none_or(|at| wanted < at) {
            self.changed();
            self.heap.push(Reverse((wanted, key)));
            *scheduled = Some(wanted);
        }
    }

    /// The earliest entry, live or stale.
    pub(crate) fn peek(&self) -> Option<(Instant, TimerKey)> {
        self.heap.peek().map(|Reverse(entry)| *entry)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.pop(),
            _ => None,
        }
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<(Instant, TimerKey)> {
        self.changed();
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Bumped by every change of the heap's entries.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    fn changed(&mut self) {
        self.changes = self.changes.wrapping_add(1);
    }

    /// Entries held, live and stale.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Keeps only the entries for which `live` holds (O(n)).
    pub(crate) fn retain(&mut self, mut live: impl FnMut(Instant, TimerKey) -> bool) {
        self.changed();
        self.heap.retain(|Reverse((at, key))| live(*at, *key));
    }

    pub(crate) fn clear(&mut self) {
        self.changed();
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn later_deadlines_do_not_push_earlier_ones_do() {
        let t0 = Instant::now();
        let key = TimerKey::Conn(ConnId::from_raw(1));
        let mut heap = TimerHeap::default();
        let mut slot = None;
        heap.arm(&mut slot, Some(t0 + Duration::from_secs(10)), key);
        assert_eq!(heap.len(), 1);
        // Renewals move the deadline later: nothing is pushed.
        for s in 11..100 {
            heap.arm(&mut slot, Some(t0 + Duration::from_secs(s)), key);
        }
        assert_eq!(heap.len(), 1);
        assert_eq!(slot, Some(t0 + Duration::from_secs(10)));
        // An earlier deadline pushes a new entry and becomes the slot.
        heap.arm(&mut slot, Some(t0 + Duration::from_secs(5)), key);
        assert_eq!(heap.len(), 2);
        assert_eq!(slot, Some(t0 + Duration::from_secs(5)));
        assert_eq!(heap.peek(), Some((t0 + Duration::from_secs(5), key)));
    }

    #[test]
    fn pop_due_respects_now_and_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::default();
        let (mut a, mut b) = (None, None);
        let ka = TimerKey::Session(SessionId::new(1).unwrap());
        let kb = TimerKey::Session(SessionId::new(2).unwrap());
        heap.arm(&mut a, Some(t0 + Duration::from_secs(2)), ka);
        heap.arm(&mut b, Some(t0 + Duration::from_secs(1)), kb);
        assert_eq!(heap.pop_due(t0), None);
        assert_eq!(
            heap.pop_due(t0 + Duration::from_secs(5)),
            Some((t0 + Duration::from_secs(1), kb))
        );
        assert_eq!(
            heap.pop_due(t0 + Duration::from_secs(5)),
            Some((t0 + Duration::from_secs(2), ka))
        );
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(5)), None);
    }
}
