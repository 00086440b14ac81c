//! Per-address bookkeeping: unauthenticated connections and sessions per IP
//! [A-5] [C-7], the failed-login limiter, and the callback dial slots
//! per destination IP [B-5].
//!
//! An address has an entry only while something is counted against it, so
//! the table's size follows live connections and recent failures, not every
//! address ever seen.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::config::LoginLimiterConfig;
use crate::SessionId;

/// What is counted against one IP address.
#[derive(Debug, Default)]
pub(crate) struct IpEntry {
    /// Control connections from it that have not reached LOGIN_OK.
    pub(crate) unauthenticated: usize,
    /// Sessions whose (latest) control connection comes from it.
    pub(crate) sessions: usize,
    /// Callback dials to it whose TCP connect is in progress.
    pub(crate) dials_active: usize,
    /// Sessions waiting for a dial slot, first come first served.
    pub(crate) dials_waiting: VecDeque<SessionId>,
    /// The failed-login limiter's state (GCRA "theoretical arrival time").
    pub(crate) failures_until: Option<Instant>,
    /// The scheduled timer that forgets `failures_until` once it has passed.
    pub(crate) timer: Option<Instant>,
}

impl IpEntry {
    fn is_unused(&self, now: Instant) -> bool {
        self.unauthenticated == 0
            && self.sessions == 0
            && self.dials_active == 0
            && self.dials_waiting.is_empty()
            && self.failures_until.is_none_or(|t| t <= now)
    }
}

/// The failed-login limiter, a generic cell-rate algorithm: every failure
/// pushes the address's `failures_until` one `interval` further (from now at
/// the earliest); the address is locked out while that lies more than
/// `window - interval` ahead, i.e. after `max_failures` failures in quick
/// succession, and one failure is forgiven every `interval`. One `Instant`
/// per address, no history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginLimiter {
    interval: Duration,
    window: Duration,
}

impl LoginLimiter {
    pub(crate) fn new(config: &LoginLimiterConfig) -> Self {
        Self {
            interval: config.window / config.max_failures.max(1),
            window: config.window,
        }
    }

    /// Whether an address with this state may try to log in now.
    pub(crate) fn allows(&self, failures_until: Option<Instant>, now: Instant) -> bool {
        match failures_until {
            None => true,
            Some(t) => t.saturating_duration_since(now) + self.interval <= self.window,
        }
    }

    /// The state after one more failure at `now`.
    pub(crate) fn record_failure(&self, failures_until: Option<Instant>, now: Instant) -> Instant {
        failures_until.map_or(now, |t| t.max(now)) + self.interval
    }
}

/// Entries by IP address (IPv4-mapped IPv6 addresses are stored as IPv4).
#[derive(Debug, Default)]
pub(crate) struct IpTable {
    map: HashMap<IpAddr, IpEntry>,
}

impl IpTable {
    pub(crate) fn get(&self, ip: &IpAddr) -> Option<&IpEntry> {
        self.map.get(ip)
    }

    pub(crate) fn get_mut(&mut self, ip: &IpAddr) -> Option<&mut IpEntry> {
        self.map.get_mut(ip)
    }

    pub(crate) fn entry(&mut self, ip: IpAddr) -> &mut IpEntry {
        self.map.entry(ip).or_default()
    }

    /// Drops the entry if nothing is counted against the address any more.
    pub(crate) fn release(&mut self, ip: &IpAddr, now: Instant) {
        if self.map.get(ip).is_some_and(|e| e.is_unused(now)) {
            self.map.remove(ip);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_failures: u32, window_s: u64) -> LoginLimiter {
        LoginLimiter::new(&LoginLimiterConfig {
            max_failures,
            window: Duration::from_secs(window_s),
        })
    }

    #[test]
    fn allows_a_burst_then_locks_out() {
        let l = limiter(5, 60);
        let t0 = Instant::now();
        let mut state = None;
        for i in 0..5 {
            assert!(l.allows(state, t0), "attempt {i} should be allowed");
            state = Some(l.record_failure(state, t0));
        }
        assert!(!l.allows(state, t0), "the sixth attempt is refused");
        assert!(!l.allows(state, t0 + Duration::from_secs(11)));
    }

    #[test]
    fn forgives_one_failure_per_interval() {
        let l = limiter(5, 60); // interval 12 s
        let t0 = Instant::now();
        let mut state = None;
        for _ in 0..5 {
            state = Some(l.record_failure(state, t0));
        }
        let t12 = t0 + Duration::from_secs(12);
        assert!(l.allows(state, t12));
        state = Some(l.record_failure(state, t12));
        assert!(!l.allows(state, t12), "one forgiven, one used");
        // After the whole window without failures, the full burst is back.
        let later = t12 + Duration::from_secs(60);
        assert!(later >= state.unwrap());
        let mut fresh = state;
        for _ in 0..5 {
            assert!(l.allows(fresh, later));
            fresh = Some(l.record_failure(fresh, later));
        }
        assert!(!l.allows(fresh, later));
    }

    #[test]
    fn spaced_failures_never_lock_out() {
        let l = limiter(3, 30); // interval 10 s
        let t0 = Instant::now();
        let mut state = None;
        for i in 0..100u64 {
            let now = t0 + Duration::from_secs(10 * i);
            assert!(l.allows(state, now), "failure {i}");
            state = Some(l.record_failure(state, now));
        }
    }

    #[test]
    fn entries_are_dropped_when_unused() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut table = IpTable::default();
        table.entry(ip).unauthenticated += 1;
        table.release(&ip, t0);
        assert_eq!(table.len(), 1);
        table.entry(ip).unauthenticated -= 1;
        table.entry(ip).failures_until = Some(t0 + Duration::from_secs(5));
        table.release(&ip, t0);
        assert_eq!(table.len(), 1, "a recent failure keeps the entry");
        table.release(&ip, t0 + Duration::from_secs(5));
        assert_eq!(table.len(), 0);
    }
}
