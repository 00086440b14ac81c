//! A latency histogram: log-linear buckets (64 per power of two, so any
//! reported percentile is within 1.6 % of the true value), the exact
//! maximum, mergeable across processes. A few KiB whatever the sample count,
//! so recording latencies does not inflate the clients' memory figures.

use serde::{Deserialize, Serialize};

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below `SUB` have a bucket each; above, 64 per power of two.
const BUCKETS: usize = (SUB as usize) * (64 - SUB_BITS as usize + 1);

/// Counts of values (nanoseconds) in log-linear buckets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Histogram {
    /// Non-empty buckets only, as (index, count), when serialized.
    #[serde(with = "sparse")]
    counts: Vec<u64>,
    total: u64,
    max: u64,
    min: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    let sub = (v >> shift) & (SUB - 1);
    ((shift as u64 + 1) * SUB + sub) as usize
}

/// The smallest value of bucket `i`.
fn lower(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let sub = i % SUB;
    // The bucket past the last one starts at 2^64: saturate.
    u64::try_from(u128::from(SUB + sub) << shift).unwrap_or(u64::MAX)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            min: u64::MAX,
        }
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
    }

    /// The number of values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value (exact); 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the middle of its bucket, never
    /// above the maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let lo = lower(i);
                let hi = lower(i + 1);
                let mid = lo + (hi - lo) / 2;
                return mid.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

mod sparse {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::BUCKETS;

    pub(super) fn serialize<S: Serializer>(counts: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(usize, u64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i, *c))
            .collect();
        pairs.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let pairs = Vec::<(usize, u64)>::deserialize(d)?;
        let mut counts = vec![0; BUCKETS];
        for (i, c) in pairs {
            let slot = counts
                .get_mut(i)
                .ok_or_else(|| serde::de::Error::custom(format!("bucket {i} out of range")))?;
            *slot = c;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        for i in 0..BUCKETS - 1 {
            assert_eq!(index(lower(i)), i, "bucket {i}");
            assert!(lower(i + 1) > lower(i));
            if lower(i) >= SUB {
                // Relative width at most 1/64.
                assert!((lower(i + 1) - lower(i)) as f64 / lower(i) as f64 <= 1.0 / 64.0);
            }
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1_000);
        }
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() / want as f64 <= 0.016;
        assert!(close(h.quantile(0.5), 50_000_000), "{}", h.quantile(0.5));
        assert!(close(h.quantile(0.99), 99_000_000), "{}", h.quantile(0.99));
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn merge_and_serde_keep_everything() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(5);
        a.record(1_000_000);
        b.record(7_000);
        let b: Histogram = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(a.quantile(0.0), 5);
        let mid = a.quantile(0.5);
        assert!((6_900..=7_100).contains(&mid), "{mid}");
        assert_eq!(Histogram::new().quantile(0.5), 0);
    }
}
