//! Delivery reports: what became of a notification, for its origin server.

use crate::ids::{LogPos, LogSeq};

/// What became of one notification in one session, sent to the server that
/// accepted it so that it can answer the submitter (`notify --wait`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Report {
    /// The seq of the notification's message in the log.
    pub log_seq: LogSeq,
    /// The notification's index in that message.
    pub index: u16,
    /// The session it was delivered in (or not).
    pub session: u64,
    /// Its seq in that session; 0 when the session ended before its
    /// server read the notification from the log (it was never numbered).
    pub session_seq: u64,
    /// Delivered or not, and why not.
    pub outcome: Outcome,
}

impl Report {
    /// The notification's position in the log (what
    /// [`ClusterNode::publish`](crate::ClusterNode::publish) answered).
    pub fn position(&self) -> LogPos {
        LogPos {
            seq: self.log_seq,
            index: self.index,
        }
    }
}

/// The outcome a [`Report`] carries.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The client acknowledged it.
    Delivered,
    /// It will not be delivered in this session.
    Undelivered {
        /// Why, for a person (at most 1024 bytes are carried).
        reason: String,
    },
}
