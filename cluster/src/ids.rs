//! Small identifiers the bus hands out and takes back.

use std::fmt;

use crate::secret::ClusterSecret;

/// A faxnotify server process in the cluster: random per process, so a
/// restarted server is a new origin (its old reports are not mixed in).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u64);

impl ServerId {
    /// A fresh random id from the operating system's generator.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)?;
        Ok(Self(u64::from_be_bytes(bytes)))
    }
}

impl fmt::Display for ServerId {
    /// 16 lowercase hex digits, as in subjects and headers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerId({self})")
    }
}

/// A message's sequence number in the log stream (from 1). Every server
/// reading the log sees the same number for the same notification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct LogSeq(pub u64);

impl fmt::Display for LogSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a notification is in the log: its message's [`LogSeq`] and its
/// index in that message (a message may hold several notifications,
/// docs/protocol.md [D-17]). Every server reading the log sees the same
/// position for the same notification; positions order as the log does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct LogPos {
    /// The message's seq in the log stream.
    pub seq: LogSeq,
    /// The notification's index in the message (0 for the first, and for
    /// a message that holds one notification).
    pub index: u16,
}

impl LogPos {
    /// The first notification of message `seq`.
    pub fn start_of(seq: LogSeq) -> Self {
        Self { seq, index: 0 }
    }

    /// The position right after this one (the next notification of the
    /// same message, or, past its last, the next message's first: readers
    /// treat an index beyond a message's end as "after it").
    pub fn next(self) -> Self {
        Self {
            seq: self.seq,
            index: self.index.saturating_add(1),
        }
    }
}

impl From<LogSeq> for LogPos {
    fn from(seq: LogSeq) -> Self {
        Self::start_of(seq)
    }
}

impl fmt::Display for LogPos {
    /// `seq.index`, e.g. `17.0` (the first notification of message 17).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.seq, self.index)
    }
}

/// The revision of a session record in the key-value bucket, for
/// compare-and-set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Revision(pub u64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The de-duplication id of one publish (`Nats-Msg-Id`): retrying a publish
/// with the same id stores the notification once (within the log's
/// duplicate window) and answers with the first publish's [`LogSeq`].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PublishId(String);

impl PublishId {
    /// `<origin>-<counter>-<tag>` (cluster/README.md), the tag keyed by
    /// the cluster secret so that nobody without it can predict the id
    /// and have the notification dropped as a duplicate.
    pub(crate) fn new(origin: ServerId, counter: u64, secret: &ClusterSecret) -> Self {
        let tag = secret.id_tag(&[b"log", &origin.0.to_be_bytes(), &counter.to_be_bytes()]);
        Self(format!("{origin}-{counter}-{tag}"))
    }

    /// The id as sent in the `Nats-Msg-Id` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublishId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
