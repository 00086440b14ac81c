//! The simulator's one source of randomness: a ChaCha20 stream from the
//! run's seed. Every random choice of a run (segment sizes, latencies, the
//! seeds given to each core, generated schedules) is drawn from it, so one
//! seed always gives one run.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A seeded random stream.
#[derive(Debug, Clone)]
pub struct SimRng(ChaCha20Rng);

impl SimRng {
    /// The stream for a run seed.
    pub fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(b"fnp1-sim");
        Self(ChaCha20Rng::from_seed(bytes))
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// 32 random bytes, e.g. the seed of a core.
    pub fn seed32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.fill_bytes(&mut out);
        out
    }

    /// A value in `0..n` (`n > 0`); the tiny modulo bias does not matter here.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
