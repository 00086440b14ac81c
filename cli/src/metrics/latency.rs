//! Delivery latency: from the moment `notify` queued a notification to the
//! moment its session acknowledged it.
//!
//! The server's events say which seqs were acknowledged but not when they
//! were queued, so the admin side records the time of each accepted
//! (session, seq) here and the event side looks it up. The two race: a
//! fast client can acknowledge a seq before the admin thread has recorded
//! it. Acknowledgements are cumulative [B-3], so each session also keeps
//! its latest acknowledgement (seq and time), and a late record is matched
//! against that. The map is bounded: beyond [`MAX_PENDING`] waiting seqs,
//! new ones are not timed (the histogram then samples, it does not grow).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use faxnotify_core::SessionId;

/// Seqs waiting for their acknowledgement, over all sessions.
pub const MAX_PENDING: usize = 65_536;

#[derive(Debug, Default)]
struct Session {
    /// seq → when it was queued.
    queued: BTreeMap<u64, Instant>,
    /// The highest acknowledged seq and when its acknowledgement came.
    acked: Option<(u64, Instant)>,
}

/// Queue times of unacknowledged notifications, per session.
#[derive(Debug, Default)]
pub struct Latencies {
    sessions: HashMap<SessionId, Session>,
    pending: usize,
}

impl Latencies {
    /// `seq` was queued for `session` at `at`. Returns its latency at once
    /// when the acknowledgement came first.
    pub fn queued(&mut self, session: SessionId, seq: u64, at: Instant) -> Option<Duration> {
        let entry = self.sessions.entry(session).or_default();
        if let Some((acked, when)) = entry.acked
            && seq <= acked
        {
            return Some(when.saturating_duration_since(at));
        }
        if self.pending < MAX_PENDING && entry.queued.insert(seq, at).is_none() {
            self.pending += 1;
        }
        None
    }

    /// `session` acknowledged every seq up to `last_seq` at `now`: the
    /// latencies of those that were timed.
    pub fn acknowledged(
        &mut self,
        session: SessionId,
        last_seq: u64,
        now: Instant,
    ) -> Vec<Duration> {
        let entry = self.sessions.entry(session).or_default();
        if entry.acked.is_none_or(|(acked, _)| acked < last_seq) {
            entry.acked = Some((last_seq, now));
        }
        let waiting = entry.queued.split_off(&last_seq.saturating_add(1));
        let done = std::mem::replace(&mut entry.queued, waiting);
        self.pending -= done.len();
        done.into_values()
            .map(|at| now.saturating_duration_since(at))
            .collect()
    }

    /// `session` ended: what it still held will never be acknowledged.
    pub fn ended(&mut self, session: SessionId) {
        if let Some(entry) = self.sessions.remove(&session) {
            self.pending -= entry.queued.len();
        }
    }

    /// Seqs waiting for their acknowledgement.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> SessionId {
        SessionId::new(n).unwrap()
    }

    #[test]
    fn a_latency_runs_from_queueing_to_the_acknowledgement() {
        let t0 = Instant::now();
        let mut l = Latencies::default();
        assert_eq!(l.queued(id(1), 1, t0), None);
        assert_eq!(l.queued(id(1), 2, t0 + Duration::from_millis(5)), None);
        assert_eq!(l.queued(id(1), 3, t0), None);
        let got = l.acknowledged(id(1), 2, t0 + Duration::from_millis(20));
        assert_eq!(
            got,
            vec![Duration::from_millis(20), Duration::from_millis(15)]
        );
        assert_eq!(l.pending(), 1);
        l.ended(id(1));
        assert_eq!(l.pending(), 0);
    }

    #[test]
    fn an_acknowledgement_before_the_record_still_counts() {
        let t0 = Instant::now();
        let mut l = Latencies::default();
        assert!(
            l.acknowledged(id(7), 4, t0 + Duration::from_millis(3))
                .is_empty()
        );
        assert_eq!(l.queued(id(7), 4, t0), Some(Duration::from_millis(3)));
        assert_eq!(l.pending(), 0);
    }

    #[test]
    fn the_map_is_bounded() {
        let t0 = Instant::now();
        let mut l = Latencies::default();
        for seq in 1..=(MAX_PENDING as u64 + 10) {
            l.queued(id(2), seq, t0);
        }
        assert_eq!(l.pending(), MAX_PENDING);
        let got = l.acknowledged(id(2), u64::MAX, t0);
        assert_eq!(got.len(), MAX_PENDING);
        assert_eq!(l.pending(), 0);
    }
}
