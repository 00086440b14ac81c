//! Reports on the bus: published by a session's owner, read by the origin.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;

use crate::connect::Bus;
use crate::error::ReportError;
use crate::ids::{LogSeq, ServerId};
use crate::ordered::OrderedRead;
use crate::report::{Outcome, Report};
use crate::report_batch;
use crate::secret::ClusterSecret;

const PUBLISH: &str = "the publish of a report";
const READ: &str = "reading reports";

/// The reports for this server (the notifications it accepted), in the
/// order they were published.
pub struct ReportReader {
    read: OrderedRead,
    /// The rest of the last message read (a message may hold several).
    pending: VecDeque<Report>,
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
        self.publish_reports(origin, std::slice::from_ref(report))
            .await
    }

    /// Sends `reports` (1 to 65 535, of any sessions and outcomes) to
    /// `origin` as ONE message;
    /// returns once JetStream stored it. The reader hands them out one by
    /// one ([`ReportReader::next`]).
    ///
    /// # Panics
    ///
    /// If `reports` is empty.
    pub async fn publish_reports(
        &self,
        origin: ServerId,
        reports: &[Report],
    ) -> Result<LogSeq, ReportError> {
        let (first, last) = match reports {
            [first, .., last] => (first, last),
            [one] => (one, one),
            [] => panic!("no report to publish"),
        };
        let inner = &self.inner;
        let subject = inner.names.report_subject(origin);
        // One message per (session, seqs, outcome): a retry after a lost
        // ack, or a second owner reporting the same seqs after a failover
        // within the stream's de-duplication window, is stored once.
        // Reports of notifications the session never numbered (seq 0: it
        // ended before reading them) are named by their log positions. The
        // tag keeps the id unpredictable without the secret, so nobody can
        // have the genuine reports dropped as a duplicate of theirs.
        let outcome = match first.outcome {
            Outcome::Delivered => "d",
            _ => "u",
        };
        let session = first.session;
        let name = match (first.session_seq, reports.len()) {
            (0, 1) => format!("r-{session:016x}-l{}-{outcome}", first.position()),
            (0, _) => format!(
                "r-{session:016x}-l{}-{}-{outcome}",
                first.position(),
                last.position()
            ),
            (seq, 1) => format!("r-{session:016x}-{seq}-{outcome}"),
            (seq, _) => format!("r-{session:016x}-{seq}-{}-{outcome}", last.session_seq),
        };
        // The tag covers every report: a message may hold several
        // sessions' reports (group commit per origin), and two different
        // messages must never share an id, or JetStream would drop the
        // second as a duplicate.
        let mut covered = Vec::with_capacity(reports.len() * 27);
        for r in reports {
            covered.extend_from_slice(&r.session.to_be_bytes());
            covered.extend_from_slice(&r.session_seq.to_be_bytes());
            covered.extend_from_slice(&r.log_seq.0.to_be_bytes());
            covered.extend_from_slice(&r.index.to_be_bytes());
            covered.push(u8::from(matches!(r.outcome, Outcome::Delivered)));
        }
        let tag = inner.secret.id_tag(&[
            b"report",
            &origin.0.to_be_bytes(),
            name.as_bytes(),
            &covered,
        ]);
        let id = format!("{name}-{tag}");
        let message = PublishMessage::build()
            .payload(report_batch::encode(&inner.secret, origin, reports).into())
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
            pending: VecDeque::new(),
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
        if let Some(report) = self.pending.pop_front() {
            return Ok(Some(report));
        }
        let Some(item) = self.read.next(wait).await? else {
            return Ok(None);
        };
        let reports =
            report_batch::decode(&self.secret, self.origin, &item.payload).map_err(|reason| {
                ReportError::Malformed {
                    reason: reason.into(),
                }
            })?;
        self.pending.extend(reports);
        Ok(self.pending.pop_front())
    }
}
