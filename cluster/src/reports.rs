//! Reports on the bus: published by a session's owner, read by the origin.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;

use crate::connect::Bus;
use crate::error::ReportError;
use crate::ids::{LogSeq, ServerId};
use crate::ordered::OrderedRead;
use crate::report::Report;
use crate::secret::ClusterSecret;

const PUBLISH: &str = "the publish of a report";
const READ: &str = "reading reports";

/// The reports for this server (the notifications it accepted), in the
/// order they were published.
pub struct ReportReader {
    read: OrderedRead,
    secret: ClusterSecret,
    origin: ServerId,
}

impl std::fmt::Debug for ReportReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportReader").finish_non_exhaustive()
    }
}

impl Bus {
    /// Sends `report` to `origin` (the server that accepted the
    /// notification, from [`LogEntry::origin`](crate::LogEntry::origin));
    /// returns once JetStream stored it.
    pub async fn publish_report(
        &self,
        origin: ServerId,
        report: &Report,
    ) -> Result<LogSeq, ReportError> {
        let inner = &self.inner;
        let subject = inner.names.report_subject(origin);
        // One report per (session, seq, outcome): a retry after a lost ack,
        // or a second owner reporting the same seq after a failover within
        // the stream's de-duplication window, is stored once. The tag
        // keeps the id unpredictable without the secret, so nobody can
        // have the genuine report dropped as a duplicate of theirs.
        let outcome = match report.outcome {
            crate::report::Outcome::Delivered => "d",
            _ => "u",
        };
        let tag = inner.secret.id_tag(&[
            b"report",
            &origin.0.to_be_bytes(),
            &report.session.to_be_bytes(),
            &report.session_seq.to_be_bytes(),
            outcome.as_bytes(),
        ]);
        let id = format!(
            "r-{:016x}-{}-{outcome}-{tag}",
            report.session, report.session_seq
        );
        let message = PublishMessage::build()
            .payload(report.encode(&inner.secret, origin).into())
            .message_id(id.as_str());
        let bound = inner.config.timeouts.operation;
        let ack = inner
            .link
            .publish_acked(&inner.js, PUBLISH, bound, subject, message)
            .await?;
        Ok(LogSeq(ack.sequence))
    }

    /// Reads the reports for this server, from the oldest kept.
    pub async fn read_reports(&self) -> Result<ReportReader, ReportError> {
        let inner = &self.inner;
        let read = OrderedRead::start(
            &inner.reports,
            &inner.link,
            inner.names.report_subject(inner.origin),
            inner.names.report_tail(inner.origin),
            1,
            inner.config.timeouts.operation,
            READ,
        )
        .await?;
        Ok(ReportReader {
            read,
            secret: inner.secret.clone(),
            origin: inner.origin,
        })
    }
}

impl ReportReader {
    /// The next report, or `None` when none arrived within `wait`.
    /// [`ReportError::Malformed`] skips one bad message (a forged one too:
    /// reports are authenticated with the cluster secret);
    /// [`ReportError::Bus`] ends this reader.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Report>, ReportError> {
        let Some(item) = self.read.next(wait).await? else {
            return Ok(None);
        };
        Report::decode(&self.secret, self.origin, &item.payload)
            .map(Some)
            .map_err(|reason| ReportError::Malformed {
                reason: reason.into(),
            })
    }
}
