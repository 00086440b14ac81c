//! A fast hasher for maps keyed by ids the server itself issues.
//!
//! `ConnId`s are sequential and `SessionId`s come from a keyed permutation
//! (`ids`), so no peer can choose keys that collide: these maps need no
//! HashDoS protection, and SipHash's cost on every lookup of the hot path
//! (each frame, each notification) buys nothing. Maps keyed by anything a
//! peer influences (addresses, user names) keep the standard `RandomState`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Folded 64×64→128 multiply: spreads sequential ids over both the low bits
/// (bucket index) and the high bits (hashbrown's control tag).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn write_u64(&mut self, n: u64) {
        let product = u128::from(self.0 ^ n) * u128::from(K);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the id types (they hash one u64); kept correct anyway.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by a server-issued id.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::ConnId;

    #[test]
    fn sequential_ids_spread_over_buckets_and_tags() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let mut low = std::collections::HashSet::new();
        let mut high = std::collections::HashSet::new();
        for i in 1..=1024u64 {
            let v = build.hash_one(ConnId::from_raw(i));
            low.insert(v & 1023);
            high.insert(v >> 57);
        }
        assert!(low.len() > 600, "bucket indexes cluster: {}", low.len());
        assert_eq!(high.len(), 128, "every control tag is used");
    }
}
