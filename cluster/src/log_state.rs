//! What the log holds now, without waiting for more: a user's stored
//! entries (those a session that ended never read are reported
//! undelivered), the log's first and last seq, and its age limit (a reader
//! behind the first seq may have lost entries to it).

use std::time::Duration;

use crate::connect::Bus;
use crate::error::{BusError, ReadError};
use crate::ids::{LogPos, LogSeq};
use crate::log_entry::LogEntry;
use crate::ordered;
use crate::publish::ORIGIN_HEADER;

const STORED: &str = "reading a user's stored notifications";
const BOUNDS: &str = "the log's first and last seq";

/// The seqs the log holds now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct LogBounds {
    /// The oldest entry kept (the last seq + 1 when the log is empty):
    /// everything before it was removed by the age limit.
    pub first: LogSeq,
    /// The newest entry (0 when nothing was ever stored).
    pub last: LogSeq,
}

impl Bus {
    /// How long the log keeps an entry (the stream's own setting, which an
    /// operator may have changed); `None` without an age limit.
    pub(crate) fn log_max_age(&self) -> Option<Duration> {
        let age = self.inner.log.cached_info().config.max_age;
        (!age.is_zero()).then_some(age)
    }

    /// The log's first and last seq, asked of the stream now (how far the
    /// age limit has trimmed it, for operators and tests).
    pub async fn log_bounds(&self) -> Result<LogBounds, BusError> {
        let inner = &self.inner;
        let mut log = inner.log.clone();
        let bound = inner.config.timeouts.operation;
        let (first, last) = inner
            .link
            .within(BOUNDS, bound, async {
                log.info()
                    .await
                    .map(|i| (i.state.first_sequence, i.state.last_sequence))
            })
            .await?
            .map_err(|err| inner.link.failed(BOUNDS, &err, None))?;
        Ok(LogBounds {
            first: LogSeq(first),
            last: LogSeq(last),
        })
    }

    /// The entries of `user`'s first log message stored at or after
    /// `from` (those of its notifications at or after `from`), or `None`
    /// when the log holds none (yet). A malformed message is
    /// [`ReadError::Malformed`]: ask again after it.
    pub(crate) async fn stored_user_entries(
        &self,
        user: &str,
        from: LogPos,
    ) -> Result<Option<Vec<LogEntry>>, ReadError> {
        let inner = &self.inner;
        let subject = inner.names.log_subject(user).map_err(BusError::from)?;
        let bound = inner.config.timeouts.operation;
        let message =
            ordered::direct_next(&inner.log, &inner.link, &subject, from.seq.0, bound, STORED);
        let Some(message) = message.await? else {
            return Ok(None);
        };
        let origin = message
            .headers
            .as_ref()
            .and_then(|h| h.get(ORIGIN_HEADER))
            .map(|v| v.as_str());
        let mut entries = LogEntry::parse(LogSeq(message.seq), &message.payload, origin)?;
        entries.retain(|e| e.position() >= from);
        Ok(Some(entries))
    }
}
