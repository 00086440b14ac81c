//! Delivery reports [D-17]: published by a session's owner to the server
//! that accepted the notification; this server's own are read and handed
//! to the application (`notify --wait`).

use std::time::Duration;

use faxnotify_core::SessionId;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::NodeEvent;
use crate::connect::Bus;
use crate::error::ReportError;
use crate::ids::{LogPos, ServerId};
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
    writes.spawn(async move {
        // Retried with the same de-duplication id (the report's own), so
        // a publish that was stored but whose ack was lost is not stored
        // twice.
        let give_up = tokio::time::Instant::now() + GIVE_UP_AFTER;
        let mut pause = FIRST_PAUSE;
        loop {
            match bus.publish_reports(origin, &reports).await {
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
    });
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
