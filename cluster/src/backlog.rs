//! What a user's log holds now, without waiting for more: for the entries
//! a session that ended never read, which are reported undelivered so that
//! nothing accepted is lost silently.

use async_nats::jetstream::stream::DirectGetErrorKind;

use crate::connect::Bus;
use crate::error::{BusError, ReadError};
use crate::ids::LogSeq;
use crate::log_entry::LogEntry;
use crate::publish::ORIGIN_HEADER;

const STORED: &str = "reading a user's stored notifications";

impl Bus {
    /// `user`'s first log entry stored at or after `from`, or `None` when
    /// the log holds none (yet). A malformed message is
    /// [`ReadError::Malformed`]: ask again after it.
    pub(crate) async fn stored_user_entry(
        &self,
        user: &str,
        from: LogSeq,
    ) -> Result<Option<LogEntry>, ReadError> {
        let inner = &self.inner;
        let subject = inner.names.log_subject(user).map_err(BusError::from)?;
        let bound = inner.config.timeouts.operation;
        let got = inner
            .link
            .within(
                STORED,
                bound,
                inner
                    .log
                    .direct_get_next_for_subject(subject.as_str(), Some(from.0)),
            )
            .await?;
        let message = match got {
            Ok(message) => message,
            Err(err) if err.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Err(err) => {
                let timed_out = err.kind() == DirectGetErrorKind::TimedOut;
                return Err(inner
                    .link
                    .failed(STORED, &err, timed_out.then_some(bound))
                    .into());
            }
        };
        let origin = message.headers.get(ORIGIN_HEADER).map(|v| v.as_str());
        LogEntry::parse(LogSeq(message.sequence), &message.payload, origin).map(Some)
    }
}
