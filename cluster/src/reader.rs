//! Reading one user's notifications from the log, in order.

use std::collections::VecDeque;
use std::time::Duration;

use crate::connect::Bus;
use crate::error::{BusError, ReadError};
use crate::ids::LogPos;
use crate::log_entry::LogEntry;
use crate::ordered::OrderedRead;
use crate::publish::ORIGIN_HEADER;

const READ: &str = "reading a user's notifications";

/// One user's notifications in log order, as the owner of a session reads
/// them to number them with the session's seqs [B-2]: one at a time, also
/// when a log message holds several.
pub struct UserLog {
    read: OrderedRead,
    /// Where reading starts: earlier notifications of its message are
    /// skipped (a session resumed in the middle of a message).
    from: LogPos,
    /// The rest of the last message read.
    pending: VecDeque<LogEntry>,
}

impl std::fmt::Debug for UserLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLog")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Reads `user`'s notifications from position `from` on (a session's
    /// [`resume_at`](crate::SessionRecord::resume_at), or a [`LogSeq`](crate::LogSeq) for
    /// the start of a message); later ones arrive as they are accepted.
    pub async fn read_user(
        &self,
        user: &str,
        from: impl Into<LogPos>,
    ) -> Result<UserLog, BusError> {
        let from = from.into();
        let inner = &self.inner;
        let subject = inner.names.log_subject(user)?;
        let read = OrderedRead::start(
            &inner.log,
            &inner.link,
            subject,
            inner.names.log_tail(user)?,
            from.seq.0,
            inner.config.timeouts.operation,
            READ,
        )
        .await?;
        Ok(UserLog {
            read,
            from,
            pending: VecDeque::new(),
        })
    }
}

impl UserLog {
    /// The next notification, or `None` when none arrived within `wait`.
    ///
    /// [`ReadError::Malformed`] is one bad message (none of its
    /// notifications is handed out): reading goes on after it.
    /// [`ReadError::Bus`] ends this reader: read again with
    /// [`Bus::read_user`] from the position after the last entry seen.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<LogEntry>, ReadError> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Ok(Some(entry));
            }
            if !self.read_message(wait).await? {
                return Ok(None);
            }
        }
    }

    /// The rest of the next message: its notifications from the reading
    /// position on (at least one, at consecutive positions of one message,
    /// at most a message's 256), or `None` when none arrived within
    /// `wait`. Errors as for [`UserLog::next`]. For a reader that hands a
    /// message's notifications on in one go.
    pub async fn next_message(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Vec<LogEntry>>, ReadError> {
        loop {
            if !self.pending.is_empty() {
                return Ok(Some(self.pending.drain(..).collect()));
            }
            if !self.read_message(wait).await? {
                return Ok(None);
            }
        }
    }

    /// Reads the next message into `pending` (what of it is at or after
    /// the reading position); false when none arrived within `wait`.
    async fn read_message(&mut self, wait: Duration) -> Result<bool, ReadError> {
        let Some(item) = self.read.next(wait).await? else {
            return Ok(false);
        };
        let origin = item
            .headers
            .as_ref()
            .and_then(|h| h.get(ORIGIN_HEADER))
            .map(|v| v.as_str());
        let entries = LogEntry::parse(crate::LogSeq(item.seq), &item.payload, origin)?;
        let from = self.from;
        self.pending
            .extend(entries.into_iter().filter(|e| e.position() >= from));
        Ok(true)
    }
}
