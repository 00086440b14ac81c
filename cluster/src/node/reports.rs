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
use crate::ids::{LogSeq, ServerId};
use crate::report::{Outcome, Report};

/// How long a report is tried before it is given up (logged). After the
/// bus comes back JetStream elects each stream's leader on its own: the
/// log may take notifications again seconds before the reports stream
/// takes their reports ("no stream found"), so one second of attempts lost
/// reports that `notify --wait` was waiting for.
const PATIENCE: Duration = Duration::from_secs(30);
/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_secs(4);
/// How long one wait for reports lasts before the reader looks again.
const QUIET: Duration = Duration::from_secs(5);
/// The pause before a reader that lost the bus starts again.
const RETRY: Duration = Duration::from_millis(500);

pub(super) fn delivered(
    bus: &Bus,
    writes: &mut JoinSet<()>,
    origin: ServerId,
    log_seq: LogSeq,
    session: SessionId,
    seq: u64,
) {
    publish(
        bus,
        writes,
        origin,
        Report {
            log_seq,
            session: session.get(),
            session_seq: seq,
            outcome: Outcome::Delivered,
        },
    );
}

pub(super) fn undelivered(
    bus: &Bus,
    writes: &mut JoinSet<()>,
    origin: ServerId,
    log_seq: LogSeq,
    session: SessionId,
    seq: u64,
) {
    publish(
        bus,
        writes,
        origin,
        Report {
            log_seq,
            session: session.get(),
            session_seq: seq,
            outcome: Outcome::Undelivered {
                reason: "the session ended before the client acknowledged it".into(),
            },
        },
    );
}

fn publish(bus: &Bus, writes: &mut JoinSet<()>, origin: ServerId, report: Report) {
    let bus = bus.clone();
    writes.spawn(async move {
        let give_up = tokio::time::Instant::now() + PATIENCE;
        let mut pause = FIRST_PAUSE;
        loop {
            match bus.publish_report(origin, &report).await {
                Ok(_) => return,
                Err(err) if tokio::time::Instant::now() + pause >= give_up => {
                    tracing::warn!(%err, log_seq = %report.log_seq, "delivery report lost");
                    return;
                }
                Err(err) => {
                    // A report published twice (an ack lost) is counted
                    // once: its reader keys it by log seq and session.
                    tracing::debug!(%err, log_seq = %report.log_seq, "delivery report not published yet; trying again");
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
