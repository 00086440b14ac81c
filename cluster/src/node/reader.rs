//! One held session's reader of its user's log [D-17]: every entry goes to
//! the core with the seq the log gives it, so every server numbers the
//! session's notifications alike and contiguously [B-2].

use std::sync::Arc;
use std::time::Duration;

use faxnotify_core::SessionId;
use faxnotify_core::server::{Refused, SeqError};
use faxnotify_tokio::Server;
use tokio::sync::{Notify, mpsc};

use super::glue::Msg;
use crate::connect::Bus;
use crate::error::ReadError;
use crate::ids::{LogPos, LogSeq};
use crate::log_entry::LogEntry;

/// How long one wait for the log lasts before the reader looks again.
const QUIET: Duration = Duration::from_secs(5);
/// The pause before a reader that lost the bus starts again.
const RETRY: Duration = Duration::from_millis(500);
/// The longest pause of a full queue before the seq is offered again.
const FULL_WAIT: Duration = Duration::from_millis(200);

/// Reads `user`'s log from `from` and hands every notification to the core
/// as `session`'s seq `next_seq`, `next_seq + 1`, … (the notifications of a
/// message that holds several get consecutive seqs) until the session is
/// gone (the loop aborts the task, or the core no longer has it).
#[allow(clippy::too_many_arguments)] // one task's whole context
pub(super) async fn read(
    bus: Bus,
    server: Server,
    session: SessionId,
    user: String,
    mut from: LogPos,
    mut next_seq: u64,
    msgs: mpsc::UnboundedSender<Msg>,
    room: Arc<Notify>,
) {
    loop {
        let mut log = match bus.read_user(&user, from).await {
            Ok(log) => log,
            Err(err) => {
                tracing::debug!(%session, %err, "cannot read the log; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match log.next(QUIET).await {
                Ok(None) => {}
                Ok(Some(entry)) => {
                    // Read again from here, the rest of its message first.
                    from = LogPos {
                        seq: entry.log_seq,
                        index: entry.index.saturating_add(1),
                    };
                    if !hand_over(&server, session, next_seq, &entry, &msgs, &room).await {
                        return;
                    }
                    next_seq += 1;
                }
                // Skipped whole, alike by every server: no seq is used.
                Err(ReadError::Malformed { log_seq, reason }) => {
                    tracing::warn!(%session, %log_seq, %reason, "log message skipped");
                    from = LogPos::start_of(LogSeq(log_seq.0 + 1));
                }
                Err(err) => {
                    tracing::debug!(%session, %err, "the log reader stopped; reading again");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Gives the core one entry at `seq`, waiting while the queue is full or
/// the bus is away; false once the session is gone.
async fn hand_over(
    server: &Server,
    session: SessionId,
    seq: u64,
    entry: &LogEntry,
    msgs: &mpsc::UnboundedSender<Msg>,
    room: &Notify,
) -> bool {
    let numbered = Msg::Numbered {
        session,
        seq,
        position: entry.position(),
        origin: entry.origin,
    };
    if msgs.send(numbered).is_err() {
        return false;
    }
    let n = &entry.notification;
    loop {
        match server
            .notify_session_at(session, seq, n.kind(), n.payload().clone())
            .await
        {
            Ok(Ok(_)) => return true,
            Ok(Err(SeqError::Refused(Refused::QueueFull { .. }))) => {
                let _ = tokio::time::timeout(FULL_WAIT, room.notified()).await;
            }
            Ok(Err(SeqError::Refused(Refused::BusUnavailable))) => {
                tokio::time::sleep(RETRY).await;
            }
            Ok(Err(SeqError::Refused(Refused::NoSuchSession))) | Err(_) => return false,
            Ok(Err(err)) => {
                tracing::error!(%session, %err, "the log's entry does not fit the session; its reader stops");
                return false;
            }
        }
    }
}
