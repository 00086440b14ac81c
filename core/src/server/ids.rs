//! Session ids: random-looking, non-zero and never reused [C-10].
//!
//! A counter is passed through a keyed permutation of u64 (a four-round
//! Feistel network whose round function is SHA-256 under a key drawn from the
//! server's seed; four rounds make it a strong pseudo-random permutation,
//! Luby–Rackoff). Distinct counters give distinct ids, so no id repeats for
//! the life of the server without remembering the ids handed out, and the
//! sequence cannot be predicted without the key.

use sha2::{Digest, Sha256};

use crate::SessionId;
use crate::rng::CoreRng;

const ROUNDS: usize = 4;

#[derive(Debug, Clone)]
pub(crate) struct SessionIds {
    keys: [[u8; 32]; ROUNDS],
    counter: u64,
}

impl SessionIds {
    pub(crate) fn new(rng: &mut CoreRng) -> Self {
        let keys = std::array::from_fn(|_| rng.nonce());
        Self { keys, counter: 0 }
    }

    /// The next id.
    pub(crate) fn next_id(&mut self) -> SessionId {
        loop {
            let input = self.counter;
            self.counter = self.counter.wrapping_add(1);
            // Exactly one counter value maps to 0; skip it.
            if let Some(id) = SessionId::new(self.permute(input)) {
                return id;
            }
        }
    }

    fn permute(&self, x: u64) -> u64 {
        let mut left = (x >> 32) as u32;
        let mut right = x as u32;
        for (round, key) in self.keys.iter().enumerate() {
            let digest = Sha256::new()
                .chain_update(key)
                .chain_update([round as u8])
                .chain_update(right.to_be_bytes())
                .finalize();
            let f = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
            (left, right) = (right, left ^ f);
        }
        (u64::from(left) << 32) | u64::from(right)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_distinct_and_not_sequential() {
        let mut ids = SessionIds::new(&mut CoreRng::from_seed([3; 32]));
        let mut seen = HashSet::new();
        let mut previous = 0u64;
        let mut adjacent = 0;
        for _ in 0..50_000 {
            let id = ids.next_id().get();
            assert!(seen.insert(id), "id {id:#x} repeated");
            if id.abs_diff(previous) < 1 << 20 {
                adjacent += 1;
            }
            previous = id;
        }
        assert!(adjacent < 5, "ids look sequential ({adjacent} close pairs)");
    }

    #[test]
    fn the_permutation_is_a_bijection_on_a_sample() {
        let ids = SessionIds::new(&mut CoreRng::from_seed([9; 32]));
        let outputs: HashSet<u64> = (0..10_000u64)
            .chain((0..10_000u64).map(|i| u64::MAX - i))
            .map(|x| ids.permute(x))
            .collect();
        assert_eq!(outputs.len(), 20_000);
    }

    #[test]
    fn the_seed_decides_the_sequence() {
        let mut a = SessionIds::new(&mut CoreRng::from_seed([1; 32]));
        let mut b = SessionIds::new(&mut CoreRng::from_seed([1; 32]));
        let mut c = SessionIds::new(&mut CoreRng::from_seed([2; 32]));
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, c.next_id());
    }
}
