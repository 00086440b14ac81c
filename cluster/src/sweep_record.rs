//! The sweep record: who sweeps the sessions bucket for the whole cluster,
//! and what its sweeps found (`sweeper.rs`, `index_upgrade.rs`).
//!
//! Stored under [`SWEEP_KEY`] of the sessions bucket, sealed like a
//! session record (XChaCha20-Poly1305 under the record key derived from
//! the cluster secret, the key as associated data), so that nobody without
//! the secret can write one that makes servers trust the index, and a
//! session record copied under this key does not open. Plaintext:
//! `version u8 (1) | sweeper u64 | lease_until u64 | swept u64 |
//! vouches_until u64 | previous_seen u64`, integers big-endian, times in
//! Unix ms, 0 for "never".

use crate::node::millis;

use crate::ids::ServerId;
use crate::index_upgrade::PREVIOUS_VERSION_HOLD;
use crate::record::RecordError;
use crate::seal;
use crate::secret::ClusterSecret;

/// The sweep record's key in the sessions bucket. Servers of earlier
/// versions skip it: the version before the index took the last token of
/// every key for a session id in hex (`s` and `w` are no hex digit), and
/// the one before this took records for exactly 16 hex digits and index
/// entries for `u.<tag>.s<16 hex digits>`.
pub(crate) const SWEEP_KEY: &str = "sweep";

const SWEEP_V1: u8 = 1;
const PLAIN_LEN: usize = 1 + 5 * 8;

/// The cluster's sweeper and its findings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SweepRecord {
    /// The server that holds the sweeper's lease.
    pub(crate) sweeper: ServerId,
    /// Until when (Unix ms) the lease holds unrenewed; after it any server
    /// may take it over.
    pub(crate) lease_until_unix_ms: u64,
    /// When the listing of the last completed sweep was made (0: none):
    /// every live record listed then had its index entry, or got it.
    pub(crate) swept_unix_ms: u64,
    /// Until when that sweep vouches for the index: two sweep periods and
    /// a lease after it, so that a sweeper that stopped sweeping (no
    /// successor, or sweeps failing) makes lookups wide again.
    pub(crate) vouches_until_unix_ms: u64,
    /// When a sweep last found a live record without its entry, a server
    /// of the previous version's (0: never).
    pub(crate) previous_seen_unix_ms: u64,
}

impl SweepRecord {
    /// Nobody's lease, no sweep, nothing found.
    pub(crate) const NONE: Self = Self {
        sweeper: ServerId(0),
        lease_until_unix_ms: 0,
        swept_unix_ms: 0,
        vouches_until_unix_ms: 0,
        previous_seen_unix_ms: 0,
    };

    /// Whether a lookup at `now` (Unix ms) may list the user's index
    /// entries alone: a sweep completed, recently enough, and none found a
    /// previous-version record within [`PREVIOUS_VERSION_HOLD`].
    pub(crate) fn vouches(&self, now: u64) -> bool {
        let hold = millis(PREVIOUS_VERSION_HOLD);
        self.swept_unix_ms != 0
            && now < self.vouches_until_unix_ms
            && (self.previous_seen_unix_ms == 0
                || now >= self.previous_seen_unix_ms.saturating_add(hold))
    }

    /// Whether `me` may hold the lease at `now`: it is free (run out) or
    /// already `me`'s.
    pub(crate) fn lease_open_to(&self, me: ServerId, now: u64) -> bool {
        self.sweeper == me || self.lease_until_unix_ms <= now
    }

    /// The record sealed for [`SWEEP_KEY`].
    pub(crate) fn seal(&self, secret: &ClusterSecret) -> Result<Vec<u8>, RecordError> {
        seal::seal(secret, SWEEP_KEY.as_bytes(), &self.encode())
    }

    /// Opens what [`SweepRecord::seal`] stored.
    pub(crate) fn open(secret: &ClusterSecret, sealed: &[u8]) -> Result<Self, RecordError> {
        Self::decode(&seal::open(secret, SWEEP_KEY.as_bytes(), sealed)?)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PLAIN_LEN);
        out.push(SWEEP_V1);
        for n in [
            self.sweeper.0,
            self.lease_until_unix_ms,
            self.swept_unix_ms,
            self.vouches_until_unix_ms,
            self.previous_seen_unix_ms,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out
    }

    fn decode(plain: &[u8]) -> Result<Self, RecordError> {
        let (&version, rest) = plain
            .split_first()
            .ok_or(RecordError::Malformed("an empty sweep record"))?;
        if version != SWEEP_V1 {
            return Err(RecordError::UnknownVersion(version));
        }
        if plain.len() != PLAIN_LEN {
            return Err(RecordError::Malformed("a sweep record of the wrong length"));
        }
        let mut n = rest
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("chunks of 8")));
        let mut next = || n.next().expect("five fields, length checked");
        Ok(Self {
            sweeper: ServerId(next()),
            lease_until_unix_ms: next(),
            swept_unix_ms: next(),
            vouches_until_unix_ms: next(),
            previous_seen_unix_ms: next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn swept_at(t: u64) -> SweepRecord {
        SweepRecord {
            sweeper: ServerId(7),
            lease_until_unix_ms: t + MIN,
            swept_unix_ms: t,
            vouches_until_unix_ms: t + 11 * MIN,
            previous_seen_unix_ms: 0,
        }
    }

    #[test]
    fn a_record_vouches_after_a_recent_sweep_and_a_hold_after_a_finding() {
        let t = 1_000_000_000;
        // No sweep completed yet: any record may lack its entry.
        let none = SweepRecord {
            swept_unix_ms: 0,
            ..swept_at(t)
        };
        assert!(!none.vouches(t));
        let clean = swept_at(t);
        assert!(clean.vouches(t));
        assert!(clean.vouches(t + 11 * MIN - 1));
        // Nobody swept for too long: not any more.
        assert!(!clean.vouches(t + 11 * MIN));
        let found = SweepRecord {
            previous_seen_unix_ms: t,
            ..clean
        };
        let hold = millis(PREVIOUS_VERSION_HOLD);
        let fresh = SweepRecord {
            swept_unix_ms: t + hold,
            vouches_until_unix_ms: t + hold + 11 * MIN,
            ..found
        };
        assert!(!found.vouches(t + 1));
        assert!(!fresh.vouches(t + hold - 1));
        assert!(fresh.vouches(t + hold));
    }

    #[test]
    fn the_lease_is_open_to_its_holder_and_to_anyone_once_run_out() {
        let r = swept_at(1_000);
        assert!(r.lease_open_to(ServerId(7), 1_001));
        assert!(!r.lease_open_to(ServerId(8), 1_000 + MIN - 1));
        assert!(r.lease_open_to(ServerId(8), 1_000 + MIN));
    }

    #[test]
    fn only_a_record_sealed_with_the_secret_under_its_key_opens() {
        let secret = ClusterSecret::from_bytes(&[5; 32]);
        let r = SweepRecord {
            previous_seen_unix_ms: 42,
            ..swept_at(1_000)
        };
        let sealed = r.seal(&secret).unwrap();
        assert_eq!(SweepRecord::open(&secret, &sealed), Ok(r));
        // Forged (another secret), or a session record moved here.
        let forged = r.seal(&ClusterSecret::from_bytes(&[6; 32])).unwrap();
        assert_eq!(
            SweepRecord::open(&secret, &forged),
            Err(RecordError::NotAuthentic)
        );
        let moved = seal::seal(&secret, b"0000000000000001", &r.encode()).unwrap();
        assert_eq!(
            SweepRecord::open(&secret, &moved),
            Err(RecordError::NotAuthentic)
        );
        // Authentic but not this format.
        let newer = seal::seal(&secret, SWEEP_KEY.as_bytes(), &[2; PLAIN_LEN]).unwrap();
        assert_eq!(
            SweepRecord::open(&secret, &newer),
            Err(RecordError::UnknownVersion(2))
        );
        let short = seal::seal(&secret, SWEEP_KEY.as_bytes(), &[SWEEP_V1; 9]).unwrap();
        assert!(matches!(
            SweepRecord::open(&secret, &short),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn earlier_versions_take_the_key_for_no_session() {
        // The version before the index: the last token, in hex.
        let last = SWEEP_KEY.rsplit('.').next().unwrap();
        assert!(u64::from_str_radix(last, 16).is_err());
        // The version before this one.
        assert_eq!(crate::subjects::record_session(SWEEP_KEY), None);
        assert_eq!(crate::subjects::indexed_session(SWEEP_KEY), None);
    }
}
