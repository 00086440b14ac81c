//! The session record's plaintext layout (sealed before it is stored).
//!
//! `version u8 (1) | session u64 | user_len u8 | user | owner u64 |
//! owner_until u64 | start_log_seq u64 | acked_session_seq u64 |
//! acked_log_seq u64 | expires u64`, integers big-endian.

use crate::ids::ServerId;
use crate::record::{RecordError, SessionRecord};
use crate::seal;
use crate::secret::ClusterSecret;
use crate::subjects::session_key;

const RECORD_V1: u8 = 1;

impl SessionRecord {
    /// The record sealed for the bucket key of its session.
    pub(crate) fn seal(&self, secret: &ClusterSecret) -> Result<Vec<u8>, RecordError> {
        seal::seal(
            secret,
            session_key(self.session).as_bytes(),
            &self.encode()?,
        )
    }

    /// Opens a record read from the bucket under `session`'s key.
    pub(crate) fn open(
        secret: &ClusterSecret,
        session: u64,
        sealed: &[u8],
    ) -> Result<Self, RecordError> {
        let plain = seal::open(secret, session_key(session).as_bytes(), sealed)?;
        let record = Self::decode(&plain)?;
        // The key is authenticated, so this only fails for a record a
        // server with the secret wrote under the wrong key: refuse it.
        if record.session != session {
            return Err(RecordError::Malformed("it names another session"));
        }
        Ok(record)
    }

    /// The plaintext's bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let user = self.user.as_bytes();
        let user_len =
            u8::try_from(user.len()).map_err(|_| RecordError::UserTooLong { len: user.len() })?;
        let mut out = Vec::with_capacity(2 + 8 * 7 + user.len());
        out.push(RECORD_V1);
        out.extend_from_slice(&self.session.to_be_bytes());
        out.push(user_len);
        out.extend_from_slice(user);
        for n in [
            self.owner.0,
            self.owner_until_unix_ms,
            self.start_log_seq,
            self.acked_session_seq,
            self.acked_log_seq,
            self.expires_unix_ms,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        Ok(out)
    }

    /// Parses a plaintext: exactly one record, nothing after it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != RECORD_V1 {
            return Err(RecordError::UnknownVersion(version));
        }
        let session = r.u64()?;
        let user_len = usize::from(r.u8()?);
        let user = std::str::from_utf8(r.take(user_len)?)
            .map_err(|_| RecordError::Malformed("its user name is not UTF-8"))?
            .to_owned();
        let record = Self {
            session,
            user,
            owner: ServerId(r.u64()?),
            owner_until_unix_ms: r.u64()?,
            start_log_seq: r.u64()?,
            acked_session_seq: r.u64()?,
            acked_log_seq: r.u64()?,
            expires_unix_ms: r.u64()?,
        };
        if !r.0.is_empty() {
            return Err(RecordError::Malformed("bytes after its last field"));
        }
        Ok(record)
    }
}

/// Reads fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Malformed("it ends inside a field"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let bytes: [u8; 8] = self.take(8)?.try_into().expect("took 8");
        Ok(u64::from_be_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SessionRecord {
        SessionRecord {
            session: 0x0123_4567_89ab_cdef,
            user: "zoë".into(),
            owner: ServerId(42),
            owner_until_unix_ms: 1_700_000_005_000,
            start_log_seq: 10,
            acked_session_seq: 3,
            acked_log_seq: 17,
            expires_unix_ms: 1_700_000_300_000,
        }
    }

    #[test]
    fn a_record_round_trips_through_its_seal() {
        let secret = ClusterSecret::from_bytes(&[9; 32]);
        let sealed = record().seal(&secret).unwrap();
        assert_eq!(
            SessionRecord::open(&secret, record().session, &sealed).unwrap(),
            record()
        );
        // Read under another session's key: refused.
        assert_eq!(
            SessionRecord::open(&secret, 1, &sealed),
            Err(RecordError::NotAuthentic)
        );
        assert_eq!(record().next_log_seq(), 18);
        let fresh = SessionRecord {
            acked_log_seq: 0,
            ..record()
        };
        assert_eq!(fresh.next_log_seq(), 10);
    }

    #[test]
    fn every_truncation_and_extension_of_the_plaintext_is_refused() {
        let plain = record().encode().unwrap();
        assert_eq!(SessionRecord::decode(&plain).unwrap(), record());
        for len in 0..plain.len() {
            assert!(SessionRecord::decode(&plain[..len]).is_err(), "len {len}");
        }
        let mut longer = plain.clone();
        longer.push(0);
        assert_eq!(
            SessionRecord::decode(&longer),
            Err(RecordError::Malformed("bytes after its last field"))
        );
        let mut v9 = plain;
        v9[0] = 9;
        assert_eq!(
            SessionRecord::decode(&v9),
            Err(RecordError::UnknownVersion(9))
        );
        let long_user = SessionRecord {
            user: "a".repeat(256),
            ..record()
        };
        assert_eq!(
            long_user.encode(),
            Err(RecordError::UserTooLong { len: 256 })
        );
    }
}
