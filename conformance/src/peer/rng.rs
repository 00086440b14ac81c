//! The suite's randomness: fresh nonces and session ids. Seeded from the
//! standard library's per-process random hash keys (taken from the OS), so
//! the suite needs no extra dependency for it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A ChaCha20 stream seeded once per run.
#[derive(Debug)]
pub struct SuiteRng(ChaCha20Rng);

impl SuiteRng {
    /// A generator seeded from OS randomness.
    pub fn from_os() -> Self {
        let mut seed = [0u8; 32];
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, chunk) in seed.chunks_mut(8).enumerate() {
            let mut h = RandomState::new().build_hasher();
            h.write_usize(i);
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        Self(ChaCha20Rng::from_seed(seed))
    }

    /// 32 fresh bytes.
    pub fn nonce(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.fill_bytes(&mut out);
        out
    }

    /// A random u64 that is not 0.
    pub fn nonzero_u64(&mut self) -> u64 {
        loop {
            let v = self.0.next_u64();
            if v != 0 {
                return v;
            }
        }
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        self.0.fill_bytes(&mut out);
        out
    }
}
