//! Reading one user's notifications from the log, in order.

use std::time::Duration;

use crate::connect::Bus;
use crate::error::{BusError, ReadError};
use crate::ids::LogSeq;
use crate::log_entry::LogEntry;
use crate::ordered::OrderedRead;
use crate::publish::ORIGIN_HEADER;

const READ: &str = "reading a user's notifications";

/// One user's notifications in log order, as the owner of a session reads
/// them to number them with the session's seqs [B-2].
pub struct UserLog {
    read: OrderedRead,
}

impl std::fmt::Debug for UserLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLog").finish_non_exhaustive()
    }
}

impl Bus {
    /// Reads `user`'s notifications from log seq `from` on (a session's
    /// [`next_log_seq`](crate::SessionRecord::next_log_seq)); later ones
    /// arrive as they are accepted.
    pub async fn read_user(&self, user: &str, from: LogSeq) -> Result<UserLog, BusError> {
        let inner = &self.inner;
        let subject = inner.names.log_subject(user)?;
        let read = OrderedRead::start(
            &inner.log,
            &inner.link,
            subject,
            inner.names.log_tail(user)?,
            from.0,
            inner.config.timeouts.operation,
            READ,
        )
        .await?;
        Ok(UserLog { read })
    }
}

impl UserLog {
    /// The next notification, or `None` when none arrived within `wait`.
    ///
    /// [`ReadError::Malformed`] is one bad message: reading goes on after
    /// it. [`ReadError::Bus`] ends this reader: read again with
    /// [`Bus::read_user`] from the seq after the last entry seen.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<LogEntry>, ReadError> {
        let Some(item) = self.read.next(wait).await? else {
            return Ok(None);
        };
        let origin = item
            .headers
            .as_ref()
            .and_then(|h| h.get(ORIGIN_HEADER))
            .map(|v| v.as_str());
        LogEntry::parse(LogSeq(item.seq), &item.payload, origin).map(Some)
    }
}
