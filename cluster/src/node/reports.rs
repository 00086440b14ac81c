//! Delivery reports [D-17]: published by a session's owner to the server
//! that accepted the notification; this server's own are read and handed
//! to the application (`notify --wait`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use faxnotify_core::SessionId;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::NodeEvent;
use crate::connect::Bus;
use crate::error::{ReadError, ReportError};
use crate::ids::{LogPos, LogSeq, ServerId};
use crate::report::{Outcome, Report};

/// How long a report is retried before it is given up (logged): long
/// enough for JetStream to elect the reports stream's leader again after
/// a node or the whole bus came back (seen: several seconds of "no stream
/// found for given subject"), bounded so that tasks do not pile up while
/// the bus stays away.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// How long one wait for reports lasts before the reader looks again.
const QUIET: Duration = Duration::from_secs(5);
/// Bytes of reports per message, well under NATS's 1 MiB `max_payload`:
/// 8 191 "delivered" reports (64 bytes each with its MAC and length), 481
/// with the longest reason. Bounded by bytes, not by a
/// count sized for the longest reason: with one message in flight per
/// origin, a message of 512 reports let a server's reports fall behind its
/// deliveries under load, and its queue grew for as long as the load
/// lasted (issue 19: 365 000 reports, 20 MiB, after 60 s of
/// `bench --cluster`).
const MESSAGE_BYTES: usize = 512 * 1024;
/// Reports per message at most (the batch format counts them in a u16).
const PER_MESSAGE: usize = u16::MAX as usize;
/// Bytes a batch adds per report (its length) and per message (marker
/// and count).
const REPORT_FRAMING: usize = 2;
const BATCH_FRAMING: usize = 3;
/// The pause before a reader that lost the bus starts again.
const RETRY: Duration = Duration::from_millis(500);

/// The report of the session's `seq` (at `position` in the log), handed
/// to the core and not acknowledged when the session ended.
pub(super) fn ended(position: LogPos, session: SessionId, seq: u64) -> Report {
    Report {
        log_seq: position.seq,
        index: position.index,
        session: session.get(),
        session_seq: seq,
        outcome: Outcome::Undelivered {
            reason: "the session ended before the client acknowledged it".into(),
        },
    }
}

/// Reports undelivered the notifications `session` had numbered (session
/// seq → log position and origin) and never had acknowledged, when it
/// ended: one message per origin (a fax engine's notifications have none,
/// and nobody to report to).
pub(super) async fn numbered_ended(
    bus: &Bus,
    session: SessionId,
    numbered: BTreeMap<u64, (LogPos, Option<ServerId>)>,
) {
    let mut by_origin: BTreeMap<ServerId, Vec<Report>> = BTreeMap::new();
    for (seq, (position, origin)) in numbered {
        if let Some(origin) = origin {
            by_origin
                .entry(origin)
                .or_default()
                .push(ended(position, session, seq));
        }
    }
    for (origin, reports) in by_origin {
        let mut rest = &reports[..];
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at(fitting(rest.iter()));
            deliver(bus, origin, chunk).await;
            rest = after;
        }
    }
}

/// The reports of every notification of `session` that one cumulative
/// acknowledgement delivered: (session seq, position) each.
pub(super) fn delivered(session: SessionId, delivered: &[(u64, LogPos)]) -> Vec<Report> {
    delivered
        .iter()
        .map(|&(seq, position)| Report {
            log_seq: position.seq,
            index: position.index,
            session: session.get(),
            session_seq: seq,
            outcome: Outcome::Delivered,
        })
        .collect()
}

/// Group commit of reports per origin: while one report message to an
/// origin is being stored, the reports made meanwhile (any session's) wait
/// and go out together, up to [`MESSAGE_BYTES`] per message. A report
/// message costs JetStream a round trip to a quorum whatever it holds, so
/// under load this cuts the bus's work as the log's batches did.
#[derive(Clone, Debug, Default)]
pub(super) struct Outbox {
    /// An origin's queue exists exactly while a task sends it.
    queues: Arc<Mutex<HashMap<ServerId, VecDeque<Report>>>>,
}

/// Reports an origin's queue holds at most while the bus is slow; more are
/// dropped, and the drop is logged (a submitter's `notify --wait` then
/// times out, saying so).
const QUEUED_AT_MOST: usize = 1 << 20;

impl Outbox {
    /// Queues `reports` for `origin`; a task sends them (with any queued
    /// meanwhile) unless one already does.
    pub(super) fn push(
        &self,
        bus: &Bus,
        writes: &mut JoinSet<()>,
        origin: ServerId,
        reports: Vec<Report>,
    ) {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = queues.get_mut(&origin) {
            let room = QUEUED_AT_MOST.saturating_sub(queue.len());
            if reports.len() > room {
                tracing::warn!(
                    %origin,
                    dropped = reports.len() - room,
                    "delivery reports dropped: {QUEUED_AT_MOST} already wait for the bus"
                );
            }
            queue.extend(reports.into_iter().take(room));
            return;
        }
        queues.insert(origin, reports.into());
        let (bus, this) = (bus.clone(), self.clone());
        writes.spawn(async move { this.drain(&bus, origin).await });
    }

    /// Reports waiting, all origins.
    pub(super) fn queued(&self) -> usize {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues.values().map(VecDeque::len).sum()
    }

    /// Sends `origin`'s queue message by message until it is empty, then
    /// removes it (under the lock: a report either joins a message of this
    /// task or starts the next one).
    async fn drain(&self, bus: &Bus, origin: ServerId) {
        loop {
            let batch: Vec<Report> = {
                let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(queue) = queues.get_mut(&origin) else {
                    return;
                };
                if queue.is_empty() {
                    queues.remove(&origin);
                    return;
                }
                let n = fitting(queue.iter());
                queue.drain(..n).collect()
            };
            deliver(bus, origin, &batch).await;
        }
    }
}

/// How many of `reports`, from the first, one message holds: as many as
/// fit [`MESSAGE_BYTES`] (at least one) and [`PER_MESSAGE`].
fn fitting<'a>(reports: impl Iterator<Item = &'a Report>) -> usize {
    let mut bytes = BATCH_FRAMING;
    let mut n = 0;
    for report in reports.take(PER_MESSAGE) {
        bytes += REPORT_FRAMING + report.encoded_len();
        if n > 0 && bytes > MESSAGE_BYTES {
            break;
        }
        n += 1;
    }
    n
}

/// Publishes `reports` to `origin` as one message, retried with the same
/// de-duplication id (the reports' own), so a publish that was stored but
/// whose ack was lost is not stored twice; given up (logged) after
/// [`GIVE_UP_AFTER`].
async fn deliver(bus: &Bus, origin: ServerId, reports: &[Report]) {
    let give_up = tokio::time::Instant::now() + GIVE_UP_AFTER;
    let mut pause = FIRST_PAUSE;
    loop {
        match bus.publish_reports(origin, reports).await {
            Ok(_) => return,
            Err(err) if tokio::time::Instant::now() + pause >= give_up => {
                tracing::warn!(
                    %err,
                    reports = reports.len(),
                    "delivery reports lost after {}s of retries",
                    GIVE_UP_AFTER.as_secs()
                );
                return;
            }
            Err(err) => {
                tracing::debug!(%err, reports = reports.len(), "a report publish failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Reports undelivered, to the servers that accepted them, the entries of
/// `user`'s log from `from` up to the log's end as it is now: accepted for
/// `session`, which ended before its reader reached them. Run once the
/// session's record is closed, so the end read here covers every
/// notification whose submitter counted the session (`notify --wait` counts
/// only sessions whose record is open). Reports carry session seq 0: the
/// session never numbered them.
pub(super) async fn unread(bus: Bus, session: SessionId, user: String, mut from: LogPos) {
    let give_up = tokio::time::Instant::now() + GIVE_UP_AFTER;
    let mut pause = FIRST_PAUSE;
    let mut end = None;
    loop {
        let step = async {
            let last = match end {
                Some(last) => last,
                None => *end.insert(bus.log_last_seq().await?),
            };
            while from.seq <= last {
                match bus.stored_user_entries(&user, from).await {
                    Ok(Some(entries)) => {
                        let Some(first) = entries.first() else {
                            // Past its last notification: the next message.
                            from = LogPos::start_of(LogSeq(from.seq.0 + 1));
                            continue;
                        };
                        if first.log_seq > last {
                            break;
                        }
                        from = LogPos::start_of(LogSeq(first.log_seq.0 + 1));
                        // One message, one origin: one report message.
                        let Some(origin) = first.origin else { continue };
                        let reports: Vec<Report> = entries
                            .iter()
                            .map(|entry| Report {
                                log_seq: entry.log_seq,
                                index: entry.index,
                                session: session.get(),
                                session_seq: 0,
                                outcome: never_read(),
                            })
                            .collect();
                        let mut rest = &reports[..];
                        while !rest.is_empty() {
                            let (chunk, after) = rest.split_at(fitting(rest.iter()));
                            deliver(&bus, origin, chunk).await;
                            rest = after;
                        }
                    }
                    Ok(None) => break,
                    // Skipped by every reader: no notification to report.
                    Err(ReadError::Malformed { log_seq, .. }) => {
                        from = LogPos::start_of(LogSeq(log_seq.0 + 1));
                    }
                    Err(ReadError::Bus(err)) => return Err(err),
                }
            }
            Ok::<_, crate::error::BusError>(())
        };
        match step.await {
            Ok(()) => return,
            Err(err) if tokio::time::Instant::now() + pause >= give_up => {
                tracing::warn!(
                    %session,
                    %err,
                    from = %from,
                    "the notifications an ended session never read were not all reported undelivered"
                );
                return;
            }
            Err(err) => {
                tracing::debug!(%session, %err, "reading an ended session's unread notifications; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Why a log entry an ended session never read is undelivered.
fn never_read() -> Outcome {
    Outcome::Undelivered {
        reason: "the session ended before its server read the notification from the log".into(),
    }
}

/// Reads this server's reports for as long as the node runs.
pub(super) async fn read_own(bus: Bus, app: mpsc::UnboundedSender<NodeEvent>) {
    loop {
        let mut reader = match bus.read_reports().await {
            Ok(reader) => reader,
            Err(err) => {
                tracing::debug!(%err, "cannot read the reports; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match reader.next(QUIET).await {
                Ok(None) => {}
                Ok(Some(report)) => {
                    if app.send(NodeEvent::Report(report)).is_err() {
                        return;
                    }
                }
                Err(ReportError::Malformed { reason }) => {
                    tracing::warn!(%reason, "a report on the bus was skipped");
                }
                Err(err) => {
                    tracing::debug!(%err, "the report reader stopped; reading again");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_support::{bus_on, one_node};
    use crate::{ClusterSecret, Timeouts};

    fn report(seq: u64) -> Report {
        Report {
            log_seq: LogSeq(seq),
            index: 0,
            session: 0x100 + seq % 3,
            session_seq: seq,
            outcome: Outcome::Delivered,
        }
    }

    #[test]
    fn a_message_holds_as_many_reports_as_its_bytes_allow() {
        let delivered: Vec<Report> = (1..=10_000).map(report).collect();
        // 64 bytes each: a message carries thousands, so an origin's
        // reports keep up with its deliveries with one message in flight.
        assert_eq!(fitting(delivered.iter()), 8_191);
        assert_eq!(fitting(delivered[..100].iter()), 100);
        let long = Report {
            outcome: Outcome::Undelivered {
                reason: "x".repeat(5_000),
            },
            ..report(1)
        };
        // The reason is cut to 1 024 bytes on the bus: 1 088 bytes each.
        assert_eq!(fitting(std::iter::repeat_n(&long, 1_000)), 481);
        assert_eq!(fitting(std::iter::empty()), 0);
        // What fits is what the bus takes: the encoded message is within
        // the bound.
        let secret = ClusterSecret::from_bytes(&[7; 32]);
        let n = fitting(delivered.iter());
        let bytes = crate::report_batch::encode(&secret, ServerId(1), &delivered[..n]);
        assert!(bytes.len() <= MESSAGE_BYTES, "{} bytes", bytes.len());
        let bytes = crate::report_batch::encode(&secret, ServerId(1), &delivered[..=n]);
        assert!(bytes.len() > MESSAGE_BYTES, "one more would not fit");
    }

    #[test]
    fn reports_made_while_an_origins_message_is_sent_go_out_together() {
        // One thread: the sending task starts only once the test awaits,
        // so every report below is queued before the first message goes.
        let Some((cluster, runtime)) =
            one_node("reports_made_while_an_origins_message_is_sent_go_out_together")
        else {
            return;
        };
        runtime.block_on(async {
            let bus = bus_on(&cluster, |config| {
                config.log_max_bytes = 16 << 20;
                config.timeouts = Timeouts {
                    connect: Duration::from_secs(20),
                    operation: Duration::from_secs(3),
                };
            })
            .await;
            let origin = bus.origin();
            let outbox = Outbox::default();
            let mut writes = JoinSet::new();
            // 9 000 reports of three sessions, pushed one by one: more
            // than one message holds.
            for seq in 1..=9_000 {
                outbox.push(&bus, &mut writes, origin, vec![report(seq)]);
            }
            assert_eq!(outbox.queued(), 9_000, "none sent before the test awaits");
            while writes.join_next().await.is_some() {}
            let mut reader = bus.read_reports().await.unwrap();
            for seq in 1..=9_000 {
                let got = reader.next(Duration::from_secs(10)).await.unwrap();
                assert_eq!(got, Some(report(seq)), "report {seq}");
            }
            let stored = bus
                .inner
                .reports
                .clone()
                .info()
                .await
                .unwrap()
                .state
                .messages;
            assert_eq!(stored, 2, "9 000 reports in messages of at most 8 191");
            assert!(outbox.queues.lock().unwrap().is_empty());
            assert_eq!(outbox.queued(), 0);
        });
    }
}
