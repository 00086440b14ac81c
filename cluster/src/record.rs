//! The session record: what another server needs to take a session over.

use crate::ids::{LogPos, LogSeq, ServerId};

/// One session's shared state, as stored (sealed) in the sessions bucket
/// under the session id.
///
/// Session seqs stay contiguous [B-2]: the owner numbers the user's
/// notifications after the acknowledged position (`acked_log_seq`,
/// `acked_log_index`), or from `start_log_seq`, as `acked_session_seq`
/// plus 1, 2, …, so any server reading the same log assigns the same seq to the
/// same notification, also in the middle of a message that holds several.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SessionRecord {
    /// The session id.
    pub session: u64,
    /// The user, prepared (as the server's core holds it).
    pub user: String,
    /// The server that serves the session now.
    pub owner: ServerId,
    /// Until when the owner's lease holds (Unix ms); the owner renews it
    /// while it holds the session, another server may take over after it.
    pub owner_until_unix_ms: u64,
    /// The first log seq that belongs to this session (the log's last seq
    /// + 1 when the session began).
    pub start_log_seq: u64,
    /// The highest session seq the client acknowledged.
    pub acked_session_seq: u64,
    /// The log seq of that notification's message (0 if none yet), or a
    /// later one when the log held nothing more of the user's up to it (an
    /// idle session's position moves with the log, so that it does not
    /// fall behind the log's age limit; the index is then 0).
    pub acked_log_seq: u64,
    /// That notification's index in its message.
    pub acked_log_index: u16,
    /// When the detached session expires (Unix ms) [C-5]/[C-10].
    pub expires_unix_ms: u64,
}

impl SessionRecord {
    /// The acknowledged position: (0, 0) if nothing was acknowledged.
    pub fn acked_pos(&self) -> LogPos {
        LogPos {
            seq: LogSeq(self.acked_log_seq),
            index: self.acked_log_index,
        }
    }

    /// Where the owner reads from next: right after the last acknowledged
    /// notification (later notifications of its message come first), or
    /// the session's first message.
    pub fn resume_at(&self) -> LogPos {
        if self.acked_log_seq == 0 {
            LogPos::start_of(LogSeq(self.start_log_seq))
        } else {
            LogPos {
                seq: LogSeq(self.acked_log_seq),
                // Indices stop at 65 534 (a message holds at most 65 535
                // notifications): no overflow for any record a server wrote.
                index: self.acked_log_index.saturating_add(1),
            }
        }
    }
}

/// Why a session record cannot be sealed or opened.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Authentication failed: the record was changed at rest, moved under
    /// another session id, or sealed with another cluster secret.
    #[error(
        "its record failed authentication (changed at rest, or sealed with another cluster secret)"
    )]
    NotAuthentic,
    /// A format version this server does not know (a newer server wrote it).
    #[error("its record has format version {0}, which this server does not know")]
    UnknownVersion(u8),
    /// Authentic, but not a record of this format.
    #[error("its record is malformed: {0}")]
    Malformed(&'static str),
    /// A user name over 255 bytes.
    #[error("its user name is {len} bytes long; at most 255 are allowed")]
    UserTooLong {
        /// The name's length.
        len: usize,
    },
    /// The system's random generator failed (no nonce, nothing sealed).
    #[error("no randomness for sealing its record: {0}")]
    NoRandomness(String),
}
