//! The session record's plaintext layout (sealed before it is stored).
//!
//! `version u8 (2) | session u64 | user_len u8 | user | owner u64 |
//! owner_until u64 | start_log_seq u64 | acked_session_seq u64 |
//! acked_log_seq u64 | acked_log_index u16 | expires u64`, integers
//! big-endian. Version 1 (written before log messages held batches) has no
//! `acked_log_index`: it is read as 0, which is exact, since each of its
//! messages held one notification. Records are written as version 2.

use crate::ids::ServerId;
use crate::record::{RecordError, SessionRecord};
use crate::seal;
use crate::secret::ClusterSecret;
use crate::subjects::session_key;

const RECORD_V1: u8 = 1;
const RECORD_V2: u8 = 2;

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
        let mut out = Vec::with_capacity(2 + 8 * 7 + 2 + user.len());
        out.push(RECORD_V2);
        out.extend_from_slice(&self.session.to_be_bytes());
        out.push(user_len);
        out.extend_from_slice(user);
        for n in [
            self.owner.0,
            self.owner_until_unix_ms,
            self.start_log_seq,
            self.acked_session_seq,
            self.acked_log_seq,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.acked_log_index.to_be_bytes());
        out.extend_from_slice(&self.expires_unix_ms.to_be_bytes());
        Ok(out)
    }

    /// Parses a plaintext: exactly one record, nothing after it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != RECORD_V1 && version != RECORD_V2 {
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
            acked_log_index: if version == RECORD_V1 { 0 } else { r.u16()? },
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

    fn u16(&mut self) -> Result<u16, RecordError> {
        let bytes: [u8; 2] = self.take(2)?.try_into().expect("took 2");
        Ok(u16::from_be_bytes(bytes))
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
            acked_log_index: 4,
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
        // After notification 4 of message 17: its notification 5 next.
        let pos = |seq, index| crate::LogPos {
            seq: crate::LogSeq(seq),
            index,
        };
        assert_eq!(record().resume_at(), pos(17, 5));
        let fresh = SessionRecord {
            acked_log_seq: 0,
            acked_log_index: 0,
            ..record()
        };
        assert_eq!(fresh.resume_at(), pos(10, 0));
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
        let mut v9 = plain.clone();
        v9[0] = 9;
        assert_eq!(
            SessionRecord::decode(&v9),
            Err(RecordError::UnknownVersion(9))
        );
        // A version 1 record (no acked_log_index) reads as index 0.
        let mut v1 = plain[..plain.len() - 10].to_vec();
        v1.extend_from_slice(&plain[plain.len() - 8..]);
        v1[0] = RECORD_V1;
        assert_eq!(
            SessionRecord::decode(&v1),
            Ok(SessionRecord {
                acked_log_index: 0,
                ..record()
            })
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
