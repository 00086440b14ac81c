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
//!
//! An idle session holds two or three entries (its own and its
//! connections'), and stale ones up to as many again, so an entry's size
//! counts: each kind of owner has a heap of its own, keyed by its bare id,
//! and times are kept as nanoseconds after a base instant, 16 bytes an
//! entry for connections and sessions (an `(Instant, enum)` entry took 40).
//! Popping the earliest of the three heaps' tops, ties going to connections
//! before sessions before addresses, gives the order one heap of
//! `(Instant, TimerKey)` gave, so the server's outputs stay the same.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::{ConnId, SessionId};

/// The owner of a heap entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub(crate) enum TimerKey {
    Conn(ConnId),
    Session(SessionId),
    /// The failed-login record of an address, forgotten once it has decayed.
    Ip(IpAddr),
}

/// A time as nanoseconds after the heap's base: 584 years of range, far
/// beyond any deadline (each is at most a lease or a day after a `now`).
type Tick = u64;

/// When a base must move earlier, it moves this much further still (when
/// the clock allows), so that deadlines armed out of order right after the
/// start do not each rebuild the heaps.
const REBASE_MARGIN: Duration = Duration::from_secs(3600);

/// One kind of owner's entries, earliest first.
#[derive(Debug)]
struct Queue<K: Ord>(BinaryHeap<Reverse<(Tick, K)>>);

impl<K: Ord + Copy> Queue<K> {
    fn new() -> Self {
        Self(BinaryHeap::new())
    }

    fn peek(&self) -> Option<(Tick, K)> {
        self.0.peek().map(|Reverse(entry)| *entry)
    }

    /// Adds `delta` to every time, for a base moved `delta` earlier: the
    /// order is kept, so the heap stays a heap.
    fn shift(&mut self, delta: Tick) {
        let mut entries = std::mem::take(&mut self.0).into_vec();
        for Reverse((tick, _)) in &mut entries {
            *tick = tick.saturating_add(delta);
        }
        self.0 = BinaryHeap::from(entries);
    }
}

#[derive(Debug)]
pub(crate) struct TimerHeap {
    /// What the ticks count from: no later than any time armed so far.
    base: Option<Instant>,
    conns: Queue<ConnId>,
    sessions: Queue<SessionId>,
    ips: Queue<IpAddr>,
    /// Pushes and pops so far (wrapping): with the owners' tables' removal
    /// counts, it tells whether the heap's top may have gone stale since
    /// it was last found live (see `Server::prune_timers`).
    changes: u64,
}

impl Default for TimerHeap {
    fn default() -> Self {
        Self {
            base: None,
            conns: Queue::new(),
            sessions: Queue::new(),
            ips: Queue::new(),
            changes: 0,
        }
    }
}

/// Nanoseconds from `from` to `to` (`to` no earlier), saturating.
fn nanos_between(from: Instant, to: Instant) -> Tick {
    Tick::try_from(to.duration_since(from).as_nanos()).unwrap_or(Tick::MAX)
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
            let tick = self.tick(wanted);
            match key {
                TimerKey::Conn(id) => self.conns.0.push(Reverse((tick, id))),
                TimerKey::Session(sid) => self.sessions.0.push(Reverse((tick, sid))),
                TimerKey::Ip(ip) => self.ips.0.push(Reverse((tick, ip))),
            }
            *scheduled = Some(wanted);
        }
    }

    /// `at` as a tick, moving the base (and every entry's tick) earlier
    /// first if `at` comes before it.
    fn tick(&mut self, at: Instant) -> Tick {
        if let Some(base) = self.base
            && base <= at
        {
            return nanos_between(base, at);
        }
        let new_base = at.checked_sub(REBASE_MARGIN).unwrap_or(at);
        if let Some(old_base) = self.base {
            let delta = nanos_between(new_base, old_base);
            self.conns.shift(delta);
            self.sessions.shift(delta);
            self.ips.shift(delta);
        }
        self.base = Some(new_base);
        nanos_between(new_base, at)
    }

    /// The instant of a tick (exact: ticks are whole nanoseconds); `None`
    /// before anything was armed, when there is no tick either.
    fn instant(&self, tick: Tick) -> Option<Instant> {
        Some(self.base? + Duration::from_nanos(tick))
    }

    /// The earliest entry of the three heaps, as a tick.
    fn first(&self) -> Option<(Tick, TimerKey)> {
        let conn = self.conns.peek().map(|(t, id)| (t, TimerKey::Conn(id)));
        let session = self
            .sessions
            .peek()
            .map(|(t, sid)| (t, TimerKey::Session(sid)));
        let ip = self.ips.peek().map(|(t, ip)| (t, TimerKey::Ip(ip)));
        // `TimerKey`'s order breaks ties as one heap of them did.
        [conn, session, ip].into_iter().flatten().min()
    }

    /// The earliest entry, live or stale.
    pub(crate) fn peek(&self) -> Option<(Instant, TimerKey)> {
        let (tick, key) = self.first()?;
        Some((self.instant(tick)?, key))
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.peek() {
            Some((at, _)) if at <= now => self.pop(),
            _ => None,
        }
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<(Instant, TimerKey)> {
        self.changed();
        let (tick, key) = self.first()?;
        match key {
            TimerKey::Conn(_) => drop(self.conns.0.pop()),
            TimerKey::Session(_) => drop(self.sessions.0.pop()),
            TimerKey::Ip(_) => drop(self.ips.0.pop()),
        }
        Some((self.instant(tick)?, key))
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
        self.conns.0.len() + self.sessions.0.len() + self.ips.0.len()
    }

    /// Keeps only the entries for which `live` holds (O(n)).
    pub(crate) fn retain(&mut self, mut live: impl FnMut(Instant, TimerKey) -> bool) {
        self.changed();
        let Some(base) = self.base else { return };
        let at = |tick: Tick| base + Duration::from_nanos(tick);
        self.conns
            .0
            .retain(|Reverse((tick, id))| live(at(*tick), TimerKey::Conn(*id)));
        self.sessions
            .0
            .retain(|Reverse((tick, sid))| live(at(*tick), TimerKey::Session(*sid)));
        self.ips
            .0
            .retain(|Reverse((tick, ip))| live(at(*tick), TimerKey::Ip(*ip)));
    }

    pub(crate) fn clear(&mut self) {
        self.changed();
        self.conns.0.clear();
        self.sessions.0.clear();
        self.ips.0.clear();
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

    /// An idle session's entries dominate the heap's memory (issue 16).
    #[test]
    fn connection_and_session_entries_take_16_bytes() {
        assert_eq!(std::mem::size_of::<Reverse<(Tick, ConnId)>>(), 16);
        assert_eq!(std::mem::size_of::<Reverse<(Tick, SessionId)>>(), 16);
    }

    /// Times earlier than every one armed before move the base; every
    /// entry keeps its exact instant and the order across the heaps is one
    /// heap's: by time, then connections, sessions, addresses.
    #[test]
    fn earlier_times_move_the_base_and_keep_every_instant() {
        let t0 = Instant::now();
        // Far enough after `t0` that the first base (an hour before the
        // first time, when the clock allows) lies after `t0`.
        let late = t0 + Duration::from_secs(7200);
        let mut heap = TimerHeap::default();
        let conn = TimerKey::Conn(ConnId::from_raw(9));
        let session = TimerKey::Session(SessionId::new(3).unwrap());
        let ip = TimerKey::Ip("192.0.2.1".parse().unwrap());
        let times = [
            (late, ip),
            (late + Duration::from_nanos(1), conn),
            (t0 + Duration::from_nanos(5), session),
            (late, conn),
            (t0, ip),
            (late, session),
        ];
        let mut slots = vec![None; times.len()];
        for ((at, key), slot) in times.iter().zip(&mut slots) {
            heap.arm(slot, Some(*at), *key);
        }
        assert_eq!(heap.len(), times.len());
        let mut expected = times.to_vec();
        expected.sort();
        let popped: Vec<_> = std::iter::from_fn(|| heap.pop()).collect();
        assert_eq!(popped, expected);
    }
}
