//! Accepting a notification: publish to the log and wait for JetStream.

use std::sync::atomic::Ordering;

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use faxnotify_core::wire::EncodedNotification;

use crate::connect::Bus;
use crate::error::BusError;
use crate::ids::{LogSeq, PublishId};
use crate::log_format;

/// The header naming the server that accepted a notification.
pub(crate) const ORIGIN_HEADER: &str = "Faxnotify-Origin";

const PUBLISH: &str = "the publish of a notification";

impl Bus {
    /// A fresh publish id (`<origin>-<counter>-<tag>`). Keep it to retry a
    /// publish whose outcome is unknown: the retry is stored once.
    pub fn publish_id(&self) -> PublishId {
        let counter = self.inner.next_publish.fetch_add(1, Ordering::Relaxed);
        PublishId::new(self.inner.origin, counter, &self.inner.secret)
    }

    /// Publishes `notification` for every session of `user` and returns
    /// its log seq once JetStream acknowledged it, i.e. once it is stored on
    /// a quorum of the log's replicas: only then is it *accepted*.
    ///
    /// Any error means not accepted (see [`BusError`]). Retrying with the
    /// same `id` within the log's duplicate window stores it once and
    /// returns the first publish's seq.
    pub async fn publish(
        &self,
        id: &PublishId,
        user: &str,
        notification: &EncodedNotification,
    ) -> Result<LogSeq, BusError> {
        self.publish_batch(id, user, &[notification]).await
    }

    /// Publishes `notifications` (1 to 65 535, in order) for every session
    /// of `user` as ONE log message [D-17]: notification `i` is at
    /// position (the returned seq, `i`). Accepted, and retried, as
    /// [`publish`](Self::publish): all of them or none.
    ///
    /// # Panics
    ///
    /// If `notifications` is empty or longer than 65 535.
    pub async fn publish_batch(
        &self,
        id: &PublishId,
        user: &str,
        notifications: &[&EncodedNotification],
    ) -> Result<LogSeq, BusError> {
        let inner = &self.inner;
        let subject = inner.names.log_subject(user)?;
        let body = log_format::encode(notifications);
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN_HEADER, inner.origin.to_string().as_str());
        let message = PublishMessage::build()
            .payload(body)
            .headers(headers)
            .message_id(id.as_str());

        let bound = inner.config.timeouts.operation;
        let ack = inner
            .link
            .publish_acked(&inner.js, PUBLISH, bound, subject, message)
            .await?;
        // Another stream capturing our subjects would hold it where no
        // server reads: not accepted.
        if ack.stream != inner.names.log_stream {
            return Err(BusError::Misconfigured {
                asset: ack.stream,
                detail: format!(
                    "it captures the log's subjects ({})",
                    inner.names.log_subjects()
                ),
            });
        }
        Ok(LogSeq(ack.sequence))
    }

    /// The log's last seq (0 when empty): a new session starts after it,
    /// read before LOGIN_OK so that nothing accepted later is missed.
    pub async fn log_last_seq(&self) -> Result<LogSeq, BusError> {
        Ok(self.log_bounds().await?.last)
    }
}
