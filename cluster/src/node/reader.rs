//! One held session's reader of its user's log [D-17]: every entry goes to
//! the core with the seq the log gives it, so every server numbers the
//! session's notifications alike and contiguously [B-2]. A log message's
//! notifications (up to 256) go over in one call to the core, not one each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use faxnotify_core::SessionId;
use faxnotify_core::server::{Refused, RunError, SeqError};
use faxnotify_tokio::Server;
use tokio::sync::{Notify, mpsc};

use super::glue::Msg;
use super::retention::{Advance, Position, Retention};
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

/// What a reader works with besides its position.
pub(super) struct Context {
    pub(super) bus: Bus,
    pub(super) server: Server,
    pub(super) session: SessionId,
    pub(super) user: String,
    pub(super) msgs: mpsc::UnboundedSender<Msg>,
    pub(super) room: Arc<Notify>,
    pub(super) retention: Retention,
}

/// Reads `user`'s log from `from` and hands every notification to the core
/// as `session`'s seq `next_seq`, `next_seq + 1`, … (the notifications of a
/// message that holds several get consecutive seqs) until the session is
/// gone (the loop aborts the task, or the core no longer has it), or ends
/// the session if the log's age limit removed entries it had not read.
pub(super) async fn read(cx: Context, mut from: LogPos, mut next_seq: u64) {
    let Context {
        bus,
        server,
        session,
        user,
        msgs,
        room,
        retention,
    } = &cx;
    let (session, user) = (*session, user.as_str());
    let quiet = retention.advance_every().map_or(QUIET, |a| a.min(QUIET));
    let mut idle_since = Instant::now();
    loop {
        let mut log = match bus.read_user(user, from).await {
            Ok(log) => log,
            Err(err) => {
                tracing::debug!(%session, %err, "cannot read the log; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match log.next_message(quiet).await {
                Ok(None) => {
                    let Some(every) = retention.advance_every() else {
                        continue;
                    };
                    if idle_since.elapsed() < every {
                        continue;
                    }
                    match retention.advance(bus, user, from).await {
                        Ok(Some(to)) => {
                            idle_since = Instant::now();
                            from = LogPos::start_of(to);
                            let caught_up = Msg::CaughtUp {
                                session,
                                log_seq: LogSeq(to.0 - 1),
                            };
                            if msgs.send(caught_up).is_err() {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(Advance::Lost { first }) => {
                            return lost(msgs, session, from.seq, first);
                        }
                        Err(Advance::Bus(err)) => {
                            tracing::debug!(%session, %err, "cannot move an idle reader's position; later");
                        }
                    }
                }
                Ok(Some(entries)) => {
                    let Some(last) = entries.last() else {
                        continue;
                    };
                    if !whole(&cx, from.seq).await {
                        return;
                    }
                    idle_since = Instant::now();
                    // Read again from here if the reader starts over.
                    from = last.position().next();
                    if !hand_over(server, session, next_seq, &entries, msgs, room).await {
                        return;
                    }
                    next_seq += entries.len() as u64;
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

/// Whether the log still holds everything from `from` on (asked again
/// while the bus does not answer); ends the session when it does not.
async fn whole(cx: &Context, from: LogSeq) -> bool {
    loop {
        match cx.retention.check(&cx.bus, from).await {
            Ok(Position::Whole) => return true,
            Ok(Position::Lost { first }) => {
                lost(&cx.msgs, cx.session, from, first);
                return false;
            }
            Err(err) => {
                tracing::debug!(session = %cx.session, %err, "cannot check the log's first seq; trying again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// A session whose reader fell behind the log's age limit: the loop ends
/// it, so that its client starts a new session told it may have missed
/// notifications [C-10].
fn lost(msgs: &mpsc::UnboundedSender<Msg>, session: SessionId, from: LogSeq, first: LogSeq) {
    tracing::warn!(
        %session,
        "the session fell behind the cluster log's age limit: its next notification was at \
         log seq {from}, the log now starts at {first}; ending it so that its client starts a \
         new session (told it may have missed notifications)"
    );
    let _ = msgs.send(Msg::Lost { session });
}

/// Gives the core the entries of one message at `first_seq`, `first_seq + 1`,
/// …, in as few calls as the queue allows, waiting while it is full or the
/// bus is away; false once the session is gone.
async fn hand_over(
    server: &Server,
    session: SessionId,
    first_seq: u64,
    entries: &[LogEntry],
    msgs: &mpsc::UnboundedSender<Msg>,
    room: &Notify,
) -> bool {
    let Some(first) = entries.first() else {
        return true;
    };
    let numbered = Msg::Numbered {
        session,
        first_seq,
        first: first.position(),
        count: entries.len(),
        origin: first.origin,
    };
    if msgs.send(numbered).is_err() {
        return false;
    }
    // How many of the message the core has taken so far.
    let mut done = 0;
    loop {
        let run: Vec<(u8, Bytes)> = entries[done..]
            .iter()
            .map(|e| (e.notification.kind(), e.notification.payload().clone()))
            .collect();
        let seq = first_seq + done as u64;
        let error = match server.notify_session_run_at(session, seq, run).await {
            Ok(Ok(_)) => return true,
            Ok(Err(RunError { taken, error, .. })) => {
                done += taken;
                error
            }
            Err(_) => return false,
        };
        match error {
            SeqError::Refused(Refused::QueueFull { .. }) => {
                let _ = tokio::time::timeout(FULL_WAIT, room.notified()).await;
            }
            SeqError::Refused(Refused::BusUnavailable) => {
                tokio::time::sleep(RETRY).await;
            }
            SeqError::Refused(Refused::NoSuchSession) => return false,
            err => {
                tracing::error!(%session, %err, "the log's entry does not fit the session; its reader stops");
                return false;
            }
        }
    }
}
