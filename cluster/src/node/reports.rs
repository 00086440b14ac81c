//! Delivery reports [D-17]: published by a session's owner to the server
//! that accepted the notification; this server's own are read and handed
//! to the application (`notify --wait`).

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
/// Delivered reports per message (about 30 bytes each).
const PER_MESSAGE: usize = 1024;
/// The pause before a reader that lost the bus starts again.
const RETRY: Duration = Duration::from_millis(500);

/// Why a notification handed to a session that ended is undelivered.
pub(super) fn session_ended() -> Outcome {
    Outcome::Undelivered {
        reason: "the session ended before the client acknowledged it".into(),
    }
}

/// Reports `outcome` for the session's `seq` (at `position` in the log) to
/// `origin`, the server that accepted it.
pub(super) fn send(
    bus: &Bus,
    writes: &mut JoinSet<()>,
    origin: ServerId,
    position: LogPos,
    session: SessionId,
    seq: u64,
    outcome: Outcome,
) {
    let report = Report {
        log_seq: position.seq,
        index: position.index,
        session: session.get(),
        session_seq: seq,
        outcome,
    };
    publish(bus, writes, origin, vec![report]);
}

/// Reports to `origin` every notification of one session that one
/// cumulative acknowledgement delivered, in as few messages as fit.
pub(super) fn send_delivered(
    bus: &Bus,
    writes: &mut JoinSet<()>,
    origin: ServerId,
    session: SessionId,
    delivered: &[(u64, LogPos)],
) {
    for chunk in delivered.chunks(PER_MESSAGE) {
        let reports = chunk
            .iter()
            .map(|&(seq, position)| Report {
                log_seq: position.seq,
                index: position.index,
                session: session.get(),
                session_seq: seq,
                outcome: Outcome::Delivered,
            })
            .collect();
        publish(bus, writes, origin, reports);
    }
}

fn publish(bus: &Bus, writes: &mut JoinSet<()>, origin: ServerId, reports: Vec<Report>) {
    let bus = bus.clone();
    writes.spawn(async move { deliver(&bus, origin, &reports).await });
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
                        for chunk in reports.chunks(PER_MESSAGE) {
                            deliver(&bus, origin, chunk).await;
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
