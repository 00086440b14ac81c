//! The cores' only source of randomness: a ChaCha20 stream from a seed the
//! caller injects. Production adapters seed it from the OS; tests, the
//! simulator and fuzzers pass fixed seeds so runs are reproducible.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::wire::Nonce;

/// A seeded cryptographic RNG.
#[derive(Debug, Clone)]
pub(crate) struct CoreRng(ChaCha20Rng);

impl CoreRng {
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        Self(ChaCha20Rng::from_seed(seed))
    }

    /// 32 fresh bytes for a nonce.
    pub(crate) fn nonce(&mut self) -> Nonce {
        let mut out = [0u8; 32];
        self.0.fill_bytes(&mut out);
        out
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniformly distributed value in `lo..=hi` (`lo <= hi`).
    pub(crate) fn in_range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        // Rejection sampling keeps the distribution uniform.
        let n = span + 1;
        let zone = u64::MAX - (u64::MAX % n) - 1;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return lo + v % n;
            }
        }
    }

    /// `base_ms` scaled by a uniform factor in [1 - pct/100, 1 + pct/100].
    pub(crate) fn jitter_ms(&mut self, base_ms: u64, pct: u64) -> u64 {
        let spread = base_ms * pct / 100;
        self.in_range(base_ms - spread, base_ms + spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = CoreRng::from_seed([7; 32]);
        let mut b = CoreRng::from_seed([7; 32]);
        assert_eq!(a.nonce(), b.nonce());
        assert_eq!(a.next_u64(), b.next_u64());
        let mut c = CoreRng::from_seed([8; 32]);
        assert_ne!(a.nonce(), c.nonce());
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut rng = CoreRng::from_seed([1; 32]);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..10_000 {
            let v = rng.jitter_ms(1_000, 20);
            assert!((800..=1_200).contains(&v), "{v}");
            seen_low |= v < 900;
            seen_high |= v > 1_100;
        }
        assert!(seen_low && seen_high, "jitter should spread over the range");
    }
}
