//! When the log's entries were stored, as far as this node can tell
//! without asking: the probe reads the log's last seq every renewal period,
//! and an entry after the last seq seen by a probe that started at `t` was
//! stored after `t`. A reader whose next seq was stored less than the log's
//! age limit ago cannot have lost an entry to it; one further behind asks
//! the log for its first seq before trusting what it reads.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many samples cover the age limit: the clock's resolution is the age
/// limit over this (a coarser clock only asks the log more often).
const SAMPLES: u32 = 1000;

/// (probe start, last seq it saw), oldest first, seqs non-decreasing.
#[derive(Debug)]
pub(super) struct LogClock {
    samples: VecDeque<(Instant, u64)>,
    spacing: Duration,
    keep: Duration,
}

/// Whether a reader's position is surely within the log's age limit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Age {
    /// Every entry from it on was stored less than the limit (minus a
    /// margin for the bus's clock) ago: none can have been removed.
    Young,
    /// Unknown or too old: ask the log for its first seq.
    Ask,
}

impl LogClock {
    /// A clock for a log whose entries live `max_age`.
    pub(super) fn new(max_age: Duration) -> Self {
        Self {
            samples: VecDeque::new(),
            spacing: max_age / SAMPLES,
            keep: max_age,
        }
    }

    /// A probe that started at `started` saw `last` as the log's last seq.
    pub(super) fn record(&mut self, started: Instant, last: u64) {
        if let Some(&(at, seen)) = self.samples.back()
            && (last < seen || started < at)
        {
            // A log that went back (recreated) or a probe that ended late:
            // not a later sample; the history stays as it was.
            return;
        }
        // The newest sample slides until it is `spacing` after the one
        // before it. Replacing it only makes the seqs between the two look
        // older (asked about, not trusted): never wrong.
        let len = self.samples.len();
        if len >= 2 && started < self.samples[len - 2].0 + self.spacing {
            self.samples.pop_back();
        }
        self.samples.push_back((started, last));
        // The oldest sample kept is the last one older than the limit.
        while self
            .samples
            .get(1)
            .is_some_and(|&(at, _)| started.saturating_duration_since(at) > self.keep)
        {
            self.samples.pop_front();
        }
    }

    /// A time before which no entry at or after `seq` was stored: the
    /// start of the latest probe that saw a last seq below it.
    pub(super) fn stored_after(&self, seq: u64) -> Option<Instant> {
        self.samples
            .iter()
            .rev()
            .find(|&&(_, last)| last < seq)
            .map(|&(at, _)| at)
    }

    /// Whether the entries from `seq` on are surely younger than the age
    /// limit at `now`, with `margin` for the bus's clock running ahead.
    pub(super) fn age(&self, seq: u64, now: Instant, margin: Duration) -> Age {
        match self.stored_after(seq) {
            Some(at) if now.saturating_duration_since(at) + margin < self.keep => Age::Young,
            _ => Age::Ask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn a_seq_after_a_probe_was_stored_after_it() {
        let t0 = Instant::now();
        let mut clock = LogClock::new(7 * DAY);
        assert_eq!(clock.stored_after(1), None, "no probe yet");
        clock.record(t0, 10);
        clock.record(t0 + DAY, 50);
        clock.record(t0 + 2 * DAY, 90);
        assert_eq!(clock.stored_after(5), None, "before any probe saw the log");
        assert_eq!(clock.stored_after(11), Some(t0));
        assert_eq!(clock.stored_after(50), Some(t0));
        assert_eq!(clock.stored_after(51), Some(t0 + DAY));
        assert_eq!(clock.stored_after(1_000), Some(t0 + 2 * DAY));
    }

    #[test]
    fn young_only_within_the_age_limit_less_the_margin() {
        let t0 = Instant::now();
        let mut clock = LogClock::new(7 * DAY);
        clock.record(t0, 10);
        let margin = DAY;
        assert_eq!(clock.age(11, t0 + 5 * DAY, margin), Age::Young);
        assert_eq!(clock.age(11, t0 + 6 * DAY, margin), Age::Ask);
        assert_eq!(clock.age(3, t0, margin), Age::Ask, "older than the clock");
    }

    #[test]
    fn samples_are_thinned_and_pruned_conservatively() {
        let t0 = Instant::now();
        let tick = |i: u64| t0 + Duration::from_millis(100 * i);
        // One sample per second kept, for 1 000 s.
        let mut clock = LogClock::new(Duration::from_secs(1000));
        for i in 0..20_000u64 {
            clock.record(tick(i), i);
        }
        // Bounded: about one per spacing over the age limit (the newest
        // stops sliding a probe before the spacing: 0.9 s apart here).
        let kept = clock.samples.len();
        assert!((1_000..=1_200).contains(&kept), "{kept}");
        // Every answer is at or before the truth (the probe that saw
        // seq - 1), and at most the spacing before it.
        for seq in [19_000u64, 19_500, 19_990, 20_000] {
            let truth = tick(seq - 1);
            let got = clock.stored_after(seq).expect("covered");
            assert!(got <= truth, "seq {seq}");
            assert!(truth - got <= Duration::from_secs(1), "seq {seq}");
        }
        // Older than the age limit: forgotten, so asked about.
        assert_eq!(clock.stored_after(100), None);
        // A log that went back, or a late probe, changes nothing.
        let before = clock.stored_after(20_000);
        clock.record(tick(30_000), 5);
        clock.record(t0, 30_000);
        assert_eq!(clock.stored_after(20_000), before);
    }
}
