//! One user's reader of the log on this node [D-17], shared by the user's
//! sessions held here: each log message is fetched once and handed to
//! each session at that session's own position, with the seqs the log
//! gives it there, so every server numbers a session's notifications alike
//! and contiguously [B-2]. A message's notifications (up to 256) go to a
//! session in one call to the core, not one each.
//!
//! Sessions of one user may be at different positions (one resumed from an
//! older acknowledgement, one whose queue is full). The reader reads from
//! the earliest position among the sessions it can hand to; a session
//! further on takes only what lies at or after its own position. Why not a
//! session that reads alone until it catches up: "caught up" is a moving
//! target while the log grows, and the hand-over between the two readers
//! is where entries get lost or repeated; one cursor at the minimum has no
//! such hand-over, and costs re-reading only while a session is behind. A
//! session whose queue is full keeps the rest of its message and stops
//! counting for the minimum, so it never holds up the others; once its
//! queue has room it takes that rest, then reads again from its position.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faxnotify_core::SessionId;
use faxnotify_core::server::{Refused, RunError, SeqError};
use faxnotify_tokio::Server;
use tokio::sync::mpsc;

use super::glue::Msg;
use super::readers::Shared;
use super::retention::{Advance, Position, Retention};
use crate::connect::Bus;
use crate::error::ReadError;
use crate::ids::{LogPos, LogSeq};
use crate::log_entry::LogEntry;
use crate::reader::UserLog;

/// How long one wait for the log lasts before the reader looks again.
const QUIET: Duration = Duration::from_secs(5);
/// The pause before a reader that lost the bus starts again.
const RETRY: Duration = Duration::from_millis(500);
/// The longest pause of a full queue before the rest is offered again.
const FULL_WAIT: Duration = Duration::from_millis(200);

/// What a reader works with.
pub(super) struct Context {
    pub(super) bus: Bus,
    pub(super) server: Server,
    pub(super) user: String,
    pub(super) msgs: mpsc::UnboundedSender<Msg>,
    pub(super) shared: Shared,
    pub(super) retention: Retention,
}

/// One session as its reader serves it.
struct Serving {
    generation: u64,
    /// Everything of the user's before this position was handed over.
    from: LogPos,
    /// The session seq of the notification at `from`.
    next_seq: u64,
    /// The rest of a message the core refused for now (full queue, bus
    /// away), from `from` on: offered again before anything else.
    pending: Vec<LogEntry>,
    /// When `pending` is offered again at the latest (sooner when
    /// acknowledgements free room).
    retry_at: Instant,
}

impl Serving {
    fn reads(&self) -> bool {
        self.pending.is_empty()
    }
}

/// What a hand-over came to.
enum Handed {
    /// Everything offered is the core's.
    All,
    /// The core took a part, or none, for now: the rest is pending.
    Stalled,
    /// The session is gone (or the entry does not fit it): stop serving it.
    Gone,
}

/// The log as read so far: the reader and the stream seq it reads next.
struct Cursor {
    log: UserLog,
    next: LogSeq,
}

/// Reads the user's log for the sessions in `cx.shared`, each from its
/// own position, until the loop aborts the task (its user has no session
/// held here any more). Ends a session whose unread entries the log's age
/// limit removed (`retention.rs`).
pub(super) async fn read(cx: Context) {
    let mut serving: BTreeMap<SessionId, Serving> = BTreeMap::new();
    let mut cursor: Option<Cursor> = None;
    let quiet = cx.retention.advance_every().map_or(QUIET, |a| a.min(QUIET));
    let mut idle_since = Instant::now();
    // Acknowledgements freed room since the last look.
    let mut room = false;
    loop {
        sync(&cx, &mut serving);
        let stalled = retry_pending(&cx, &mut serving, std::mem::take(&mut room)).await;
        // The earliest position of a session that reads.
        let Some(from) = serving.values().filter(|s| s.reads()).map(|s| s.from).min() else {
            let wait = if stalled { FULL_WAIT } else { QUIET };
            tokio::select! {
                () = cx.shared.joined.notified() => {}
                () = cx.shared.room.notified(), if stalled => room = true,
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        };
        if cursor.as_ref().is_none_or(|c| from.seq < c.next) {
            // A session behind what was read (it joined, or its queue had
            // no room): read again from its position.
            match cx.bus.read_user(&cx.user, from.seq).await {
                Ok(log) => {
                    cursor = Some(Cursor {
                        log,
                        next: from.seq,
                    });
                }
                Err(err) => {
                    tracing::debug!(user = %cx.user, %err, "cannot read the log; trying again");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let Some(c) = cursor.as_mut() else {
            continue;
        };
        let wait = if stalled { FULL_WAIT.min(quiet) } else { quiet };
        let got = tokio::select! {
            got = c.log.next_message(wait) => got,
            () = cx.shared.joined.notified() => continue,
            () = cx.shared.room.notified(), if stalled => {
                room = true;
                continue;
            }
        };
        match got {
            Ok(Some(entries)) => {
                let Some(first) = entries.first() else {
                    continue;
                };
                let log_seq = first.log_seq;
                c.next = LogSeq(log_seq.0 + 1);
                whole(&cx, &mut serving, from.seq).await;
                idle_since = Instant::now();
                deliver(&cx, &mut serving, log_seq, &entries).await;
            }
            Ok(None) => {
                let Some(every) = cx.retention.advance_every() else {
                    continue;
                };
                if idle_since.elapsed() >= every && advance(&cx, &mut serving, from).await {
                    idle_since = Instant::now();
                }
            }
            // Skipped whole, alike by every server: no seq is used.
            Err(ReadError::Malformed { log_seq, reason }) => {
                tracing::warn!(user = %cx.user, %log_seq, %reason, "log message skipped");
                c.next = LogSeq(log_seq.0 + 1);
                let after = LogPos::start_of(LogSeq(log_seq.0 + 1));
                for s in serving.values_mut().filter(|s| s.reads()) {
                    if s.from.seq <= log_seq {
                        s.from = after;
                    }
                }
            }
            Err(err) => {
                tracing::debug!(user = %cx.user, %err, "the log reader stopped; reading again");
                cursor = None;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Takes in the sessions that joined and lets go of those that left.
fn sync(cx: &Context, serving: &mut BTreeMap<SessionId, Serving>) {
    let members = cx.shared.members();
    serving.retain(|session, s| {
        members
            .iter()
            .any(|(m, j)| m == session && j.generation == s.generation)
    });
    for (session, joined) in members {
        let known = serving
            .get(&session)
            .is_some_and(|s| s.generation == joined.generation);
        if !known {
            serving.insert(
                session,
                Serving {
                    generation: joined.generation,
                    from: joined.from,
                    next_seq: joined.next_seq,
                    pending: Vec::new(),
                    retry_at: Instant::now(),
                },
            );
        }
    }
}

/// Offers the sessions that wait with the rest of a message that rest
/// again, when it is time (or `room` says acknowledgements freed room);
/// true while one of them still waits.
async fn retry_pending(
    cx: &Context,
    serving: &mut BTreeMap<SessionId, Serving>,
    room: bool,
) -> bool {
    let mut stalled = false;
    let mut gone = Vec::new();
    let now = Instant::now();
    for (&session, s) in serving.iter_mut().filter(|(_, s)| !s.reads()) {
        if !room && now < s.retry_at {
            stalled = true;
            continue;
        }
        let pending = std::mem::take(&mut s.pending);
        match hand_over(cx, session, s, &pending).await {
            Handed::All => {}
            Handed::Stalled => stalled = true,
            Handed::Gone => gone.push(session),
        }
    }
    for session in gone {
        stop(cx, serving, session);
    }
    stalled
}

/// Hands message `log_seq`'s `entries` to every session that reads, each
/// from its own position.
async fn deliver(
    cx: &Context,
    serving: &mut BTreeMap<SessionId, Serving>,
    log_seq: LogSeq,
    entries: &[LogEntry],
) {
    let mut gone = Vec::new();
    for (&session, s) in serving.iter_mut().filter(|(_, s)| s.reads()) {
        if s.from.seq > log_seq {
            // Further on than this message: it had it.
            continue;
        }
        let at = entries.partition_point(|e| e.position() < s.from);
        let run = &entries[at..];
        let Some(first) = run.first() else {
            s.from = LogPos::start_of(LogSeq(log_seq.0 + 1));
            continue;
        };
        if !cx.shared.serves(session, s.generation) {
            gone.push(session);
            continue;
        }
        let numbered = Msg::Numbered {
            session,
            generation: s.generation,
            first_seq: s.next_seq,
            first: first.position(),
            count: run.len(),
            origin: first.origin,
        };
        if cx.msgs.send(numbered).is_err() {
            return;
        }
        if let Handed::Gone = hand_over(cx, session, s, run).await {
            gone.push(session);
        }
    }
    for session in gone {
        stop(cx, serving, session);
    }
}

/// Gives the core `run` (consecutive entries of one message, the first at
/// `s.from`) at `s.next_seq` on, in one call; what it does not take now
/// stays pending in `s`.
async fn hand_over(cx: &Context, session: SessionId, s: &mut Serving, run: &[LogEntry]) -> Handed {
    let Some(last) = run.last() else {
        return Handed::All;
    };
    if !cx.shared.serves(session, s.generation) {
        return Handed::Gone;
    }
    let notes = crate::log_entry::run_of(run);
    let (taken, error) = match cx
        .server
        .notify_session_run_at(session, s.next_seq, notes)
        .await
    {
        Ok(Ok(_)) => (run.len(), None),
        Ok(Err(RunError { taken, error, .. })) => (taken, Some(error)),
        Err(_) => return Handed::Gone,
    };
    s.next_seq += taken as u64;
    let Some(error) = error else {
        s.from = LogPos::start_of(LogSeq(last.log_seq.0 + 1));
        return Handed::All;
    };
    s.pending = run[taken..].to_vec();
    if let Some(next) = s.pending.first() {
        s.from = next.position();
    }
    match error {
        SeqError::Refused(Refused::QueueFull { .. }) => {
            s.retry_at = Instant::now() + FULL_WAIT;
            Handed::Stalled
        }
        SeqError::Refused(Refused::BusUnavailable) => {
            s.retry_at = Instant::now() + RETRY;
            Handed::Stalled
        }
        SeqError::Refused(Refused::NoSuchSession) => Handed::Gone,
        err => {
            tracing::error!(%session, %err, "the log's entry does not fit the session; its reader stops");
            Handed::Gone
        }
    }
}

/// Checks, before a message read is trusted, that the log still holds
/// everything from `from` (the earliest position read from) on, asking
/// again while the bus does not answer; ends the sessions that lost
/// entries to the age limit. The others lost nothing from their positions
/// on (removal takes the oldest first) and take the message.
async fn whole(cx: &Context, serving: &mut BTreeMap<SessionId, Serving>, from: LogSeq) {
    loop {
        match cx.retention.check(&cx.bus, from).await {
            Ok(Position::Whole) => return,
            Ok(Position::Lost { first }) => {
                lose_before(cx, serving, first);
                return;
            }
            Err(err) => {
                tracing::debug!(user = %cx.user, %err, "cannot check the log's first seq; trying again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// For an idle reader at `from` (the earliest position of a session that
/// reads): moves the sessions' positions to the log's last seq when it
/// holds nothing of the user's up to there, so that they do not age past
/// the log's age limit (see `retention.rs`). True when they moved.
async fn advance(cx: &Context, serving: &mut BTreeMap<SessionId, Serving>, from: LogPos) -> bool {
    match cx.retention.advance(&cx.bus, &cx.user, from).await {
        Ok(Some(to)) => {
            let at = LogPos::start_of(to);
            for (&session, s) in serving.iter_mut().filter(|(_, s)| s.reads()) {
                if s.from < at {
                    s.from = at;
                    let caught_up = Msg::CaughtUp {
                        session,
                        generation: s.generation,
                        log_seq: LogSeq(to.0 - 1),
                    };
                    let _ = cx.msgs.send(caught_up);
                }
            }
            true
        }
        Ok(None) => false,
        Err(Advance::Lost { first }) => {
            lose_before(cx, serving, first);
            false
        }
        Err(Advance::Bus(err)) => {
            tracing::debug!(user = %cx.user, %err, "cannot move an idle reader's position; later");
            false
        }
    }
}

/// Ends every session that reads from before `first`, the log's first
/// seq now: entries after its position may be gone.
fn lose_before(cx: &Context, serving: &mut BTreeMap<SessionId, Serving>, first: LogSeq) {
    let lost: Vec<(SessionId, u64, LogSeq)> = serving
        .iter()
        .filter(|(_, s)| s.reads() && s.from.seq < first)
        .map(|(&session, s)| (session, s.generation, s.from.seq))
        .collect();
    for (session, generation, from) in lost {
        tracing::warn!(
            %session,
            "the session fell behind the cluster log's age limit: its next notification was at \
             log seq {from}, the log now starts at {first}; ending it so that its client starts a \
             new session (told it may have missed notifications)"
        );
        // The loop ends it, so that its client starts a new session told
        // it may have missed notifications [C-10].
        let _ = cx.msgs.send(Msg::Lost {
            session,
            generation,
        });
        stop(cx, serving, session);
    }
}

/// Serves `session` no more.
fn stop(cx: &Context, serving: &mut BTreeMap<SessionId, Serving>, session: SessionId) {
    if let Some(s) = serving.remove(&session) {
        cx.shared.remove(session, s.generation);
    }
}
