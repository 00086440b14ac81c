//! Cluster mode of the `server` harness [D-17]: the server is one of several
//! sharing a log and a session store, and the harness plays the
//! application between it and the bus. It answers the claims logins wait
//! for (opened, id taken, a restore from a record, every refusal, a wrong
//! answer, a late one, one never asked), hands sessions notifications from
//! the log at their seqs (one, or runs whole or cut short), releases
//! sessions and says whether the bus is reachable.
//!
//! Besides the checks of plain mode it holds the server to: the answers'
//! typed results; a session's NOTIFYs carry exactly what was handed in at
//! their seqs, without skipping one; a run refused part-way took its prefix
//! and nothing more; a released session sends nothing more, keeps no
//! connection and reports nothing; no claim, login or notification is
//! taken while the bus is away; and at the end every notification taken
//! was acknowledged, reported undelivered, or held by a released session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Book, Harness, ServerOp};
use crate::server::{
    ClaimAnswer, ClaimError, ClaimId, ClaimKind, ClaimRefusal, ClusterConfig, Event, LoginFailure,
    Refused, RunError, RunSequenced, SeqError, Sequenced, SessionRecord, UnknownSession,
};
use crate::wire::{EncodedNotification, Frame, MAX_PAYLOAD_LEN};
use crate::{ConnId, SessionId};

/// How long a login waits for the application's answer.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(2);

/// The acknowledged seqs the application's records say, the last at the
/// very end of the seq space.
const ACKED: [u64; 5] = [0, 1, 3, 1_000, u64::MAX];

/// The cluster settings of the harness's server: few pending claims, so
/// that the limit is reached, and a claim timeout below the handshake's.
pub(super) fn config() -> ClusterConfig {
    ClusterConfig {
        max_pending_claims: 2,
        claim_timeout: CLAIM_TIMEOUT,
    }
}

/// The application's side of cluster mode, as the harness plays it.
#[derive(Debug)]
pub(super) struct App {
    /// Every claim the server asked, in the order of their ids (1, 2, …).
    claims: Vec<Claim>,
    /// What the application last told the server.
    bus_up: bool,
    /// Sessions released, newest last.
    released: Vec<SessionId>,
    /// Books of earlier lives of sessions that came back (restored after
    /// they were released or closed here).
    pub(super) retired: Vec<(u64, Book)>,
}

impl Default for App {
    fn default() -> Self {
        Self {
            claims: Vec::new(),
            bus_up: true,
            released: Vec::new(),
            retired: Vec::new(),
        }
    }
}

/// One claim, as the application saw it.
#[derive(Debug)]
struct Claim {
    id: ClaimId,
    kind: ClaimKind,
    user: Arc<str>,
    conn: ConnId,
    /// Asked and not answered, refused or timed out (as far as the
    /// harness has seen; its connection must still be open too).
    pending: bool,
    /// When it times out (a retry of an open keeps the first deadline).
    deadline: Instant,
}

/// The payload handed in at `seq`: the seq itself, then filler.
fn payload(seq: u64, len: u8) -> Bytes {
    let mut bytes = seq.to_be_bytes().to_vec();
    bytes.resize(8 + usize::from(len % 64), b'x');
    Bytes::from(bytes)
}

impl Harness {
    fn app(&mut self) -> &mut App {
        self.app
            .as_mut()
            .unwrap_or_else(|| panic!("cluster operations run in cluster mode only"))
    }

    pub(super) fn apply_cluster(&mut self, op: ServerOp) {
        if self.app.is_none() {
            return;
        }
        match op {
            ServerOp::Claim {
                which,
                answer,
                acked,
            } => self.answer_claim(which, answer, acked),
            ServerOp::NotifyAt {
                which,
                seq,
                count,
                len,
            } => self.notify_at(which, seq, count, len),
            ServerOp::Release { which } => self.release(which),
            ServerOp::Bus { up } => {
                self.app().bus_up = up;
                self.server.set_bus_available(self.now, up);
                assert_eq!(self.server.bus_available(), up);
                self.drain();
                if !up {
                    // [D-17]: logins waiting for a claim are refused at once.
                    let left = self.pending_claims();
                    assert_eq!(left, 0, "claims still pending once the bus went away");
                }
            }
            ServerOp::PastClaimTimeout => {
                self.now += CLAIM_TIMEOUT + Duration::from_millis(1);
                self.run_timers();
            }
            _ => {}
        }
    }

    /// Claims pending as far as the harness knows (answered, refused,
    /// timed out and closed ones are not).
    fn pending_claims(&self) -> usize {
        let Some(app) = &self.app else { return 0 };
        app.claims
            .iter()
            .filter(|c| c.pending && self.conns.is_live(c.conn))
            .count()
    }

    /// The application answers a claim [D-17]; the result must be what the
    /// claim's state and the answer imply.
    fn answer_claim(&mut self, which: u8, answer: u8, acked: u8) {
        let now = self.now;
        let Some(app) = &self.app else { return };
        let issued = app.claims.len();
        let claim = match which {
            254 | 255 => None,
            _ => (issued > 0).then(|| &app.claims[usize::from(which) % issued]),
        };
        // 0 is never issued, nor is the one after the newest.
        let id = match (claim, which) {
            (Some(c), _) => c.id,
            (None, 254) => ClaimId::from_raw(0),
            (None, _) => ClaimId::from_raw(issued as u64 + 1),
        };
        let user = claim.map_or_else(|| Arc::from("alice"), |c| Arc::clone(&c.user));
        let other_user = answer % 7 == 3;
        let answer = match answer % 7 {
            0 => ClaimAnswer::Opened,
            1 => ClaimAnswer::IdTaken,
            2 => ClaimAnswer::Restore(SessionRecord::new(
                &*user,
                ACKED[usize::from(acked) % ACKED.len()],
            )),
            3 => ClaimAnswer::Restore(SessionRecord::new("mallory", 0)),
            4 => ClaimAnswer::Refused(ClaimRefusal::UnknownSession),
            5 => ClaimAnswer::Refused(ClaimRefusal::Unavailable),
            _ => ClaimAnswer::Refused(ClaimRefusal::HeldElsewhere),
        };
        let state = claim.map(|c| {
            let pending = c.pending && self.conns.is_live(c.conn);
            assert!(
                !(pending && c.deadline <= now),
                "{} outlived its timeout [D-17]",
                c.id
            );
            (c.kind, pending)
        });
        let answered = claim.map(|c| usize::try_from(c.id.get() - 1).unwrap_or(usize::MAX));
        let expected = match state {
            None => Err(ClaimError::NeverIssued(id)),
            Some((_, false)) => Err(ClaimError::NotPending(id)),
            Some((kind, true)) => match (kind, &answer) {
                (_, ClaimAnswer::Refused(_)) => Ok(()),
                (ClaimKind::Open, ClaimAnswer::Opened | ClaimAnswer::IdTaken) => Ok(()),
                (ClaimKind::Resume, ClaimAnswer::Restore(_)) if other_user => {
                    Err(ClaimError::OtherUser(id))
                }
                (ClaimKind::Resume, ClaimAnswer::Restore(_)) => Ok(()),
                (asked, _) => Err(ClaimError::WrongAnswer { claim: id, asked }),
            },
        };
        let result = self.server.handle_claim(now, id, answer.clone());
        assert_eq!(result, expected, "{id} answered {answer:?}");
        if result.is_err() {
            self.stats.claim_errors += 1;
        }
        if let Some(c) = answered.and_then(|i| self.app().claims.get_mut(i)) {
            // Answered; an open with its id taken asks again (same claim).
            c.pending = false;
        }
        self.drain();
    }

    /// The session an application op names: a live one by `which`, or
    /// (255, or none live) the last one released, else an id never given.
    fn pick_session(&mut self, which: u8) -> Option<SessionId> {
        let ids: Vec<SessionId> = self.server.sessions().map(|s| s.id).collect();
        if which == 255 || ids.is_empty() {
            self.app()
                .released
                .last()
                .copied()
                .or(SessionId::new(0xdead))
        } else {
            Some(ids[usize::from(which) % ids.len()])
        }
    }

    /// The application hands a session notifications from the log at
    /// their seqs [D-17]: a run is taken whole or as a prefix, and the
    /// server's seqs must then be exactly what it took.
    fn notify_at(&mut self, which: u8, seq: u8, count: u8, len: u8) {
        let Some(id) = self.pick_session(which) else {
            return;
        };
        let before = self.server.session(id);
        let (last, acked) = before
            .as_ref()
            .map_or((0, 0), |s| (s.last_seq, s.acked_seq));
        if before.is_some() {
            let book = self.book(id);
            assert_eq!(
                (book.accepted, book.acked),
                (last, acked),
                "{id}: the server's newest and acknowledged seqs against what it took and reported"
            );
        }
        let first = match seq % 5 {
            0 => last.wrapping_add(1),
            1 => last,
            2 => last.wrapping_add(2),
            3 => acked,
            _ => 1,
        };
        let single = count & 0x80 != 0;
        let n = if single {
            1
        } else {
            usize::from(count & 0x7f) % 6
        };
        // Only one at a time takes raw bytes: a run's notifications were
        // checked when they were made.
        let big = (single && len >= 0xf8).then_some(0);
        let seq_of = |i: usize| first.wrapping_add(i as u64);
        let outcome = if single {
            let p = if big.is_some() {
                Bytes::from(vec![0u8; MAX_PAYLOAD_LEN + 1])
            } else {
                payload(seq_of(0), len)
            };
            self.server
                .notify_session_at(self.now, id, first, 3, p)
                .map(|done| {
                    let mut counts = RunSequenced::default();
                    match done {
                        Sequenced::Queued => counts.queued = 1,
                        Sequenced::AlreadyAcknowledged => counts.already_acknowledged = 1,
                        Sequenced::DeliveredBefore => counts.delivered_before = 1,
                    }
                    counts
                })
                .map_err(|error| RunError { taken: 0, error })
        } else {
            // Inline and shared payloads alike (8 to 71 bytes).
            let run: Vec<EncodedNotification> = (0..n)
                .map(|i| {
                    EncodedNotification::from_slice(3, &payload(seq_of(i), len))
                        .expect("at most 71 bytes")
                })
                .collect();
            self.server.notify_session_run_at(self.now, id, first, &run)
        };
        let refused_whole = |error: Refused| {
            Err(RunError {
                taken: 0,
                error: SeqError::Refused(error),
            })
        };
        if !self.app().bus_up {
            // [D-17]: nothing is taken that the cluster could not keep.
            assert_eq!(outcome, refused_whole(Refused::BusUnavailable), "bus away");
            self.stats.seq_refusals += 1;
            return self.drain();
        }
        if before.is_none() {
            assert_eq!(outcome, refused_whole(Refused::NoSuchSession), "{id}");
            self.stats.seq_refusals += 1;
            return self.drain();
        }
        let after = self
            .server
            .session(id)
            .unwrap_or_else(|| panic!("{id} went away when notified"));
        let taken = match &outcome {
            Ok(done) => done.taken(),
            Err(stopped) => stopped.taken,
        };
        assert!(taken <= n, "{taken} of a run of {n} taken");
        // What was taken: seqs already acknowledged, then the next ones.
        let new_last = (0..taken).map(seq_of).fold(last, |newest, s| {
            assert!(
                big != Some(0) || taken == 0,
                "a payload too large was taken"
            );
            assert!(
                s <= acked || s == newest.wrapping_add(1) && s > newest,
                "{id}: seq {s} taken after {newest} (acknowledged {acked})"
            );
            newest.max(s)
        });
        assert_eq!(
            after.last_seq, new_last,
            "{id}: a run from {first} took {taken}; the newest seq must be what it took [D-17]"
        );
        match outcome {
            Ok(done) => {
                assert_eq!(taken, n, "a run taken whole");
                let old = (0..n).filter(|&i| seq_of(i) <= acked).count();
                assert_eq!(done.already_acknowledged, old, "{done:?}");
                assert_eq!(
                    (done.queued + done.delivered_before) as u64,
                    new_last - last,
                    "{done:?}"
                );
                assert_eq!(
                    done.delivered_before as u64,
                    after.acked_seq - acked,
                    "{done:?}: had from the previous server, acknowledged on arrival"
                );
            }
            Err(RunError { taken, error }) => {
                let s = seq_of(taken);
                let next = new_last.wrapping_add(1);
                match error {
                    SeqError::Refused(Refused::PayloadTooLarge { len }) => {
                        assert!(big == Some(taken) && len == MAX_PAYLOAD_LEN + 1, "{error}")
                    }
                    SeqError::Gap { expected, got } => assert!(
                        got == s && expected == next && got > expected,
                        "{error} (at {s}, newest {new_last})"
                    ),
                    SeqError::Repeat { expected, got } => assert!(
                        got == s && expected == next && got < expected && got > after.acked_seq,
                        "{error} (at {s}, newest {new_last})"
                    ),
                    SeqError::PastEnd { got } => assert!(
                        got == u64::MAX
                            && (s == u64::MAX || first.checked_add(taken as u64).is_none()),
                        "{error} at {s}"
                    ),
                    SeqError::Refused(Refused::QueueFull { limit }) => assert!(
                        s == next && limit == self.config.queue_limit && after.queue_depth == limit,
                        "{error} with {} queued",
                        after.queue_depth
                    ),
                    other => panic!("{id}: a run refused with {other}"),
                }
                self.stats.seq_refusals += 1;
                if taken > 0 {
                    self.stats.partial_runs += 1;
                }
            }
        }
        self.stats.taken += new_last - last;
        self.stats.delivered_before += after.acked_seq - acked;
        let book = self.book(id);
        // What was taken is what `payload` made for its seq (a payload
        // too large is never taken).
        for i in 0..taken {
            if seq_of(i) > last {
                book.payloads.insert(seq_of(i), payload(seq_of(i), len));
            }
        }
        book.accepted = new_last;
        self.drain();
    }

    /// The application releases a session [D-17]: it goes, with its
    /// connections, and without a report.
    fn release(&mut self, which: u8) {
        let Some(id) = self.pick_session(which) else {
            return;
        };
        let live = self.server.session(id).is_some();
        let result = self.server.release_session(self.now, id);
        let expected = if live {
            Ok(())
        } else {
            Err(UnknownSession(id))
        };
        assert_eq!(result, expected, "release of {id}");
        let released = self.stats.released;
        self.drain();
        if live {
            assert_eq!(
                self.stats.released,
                released + 1,
                "SessionReleased for {id}"
            );
            assert!(self.server.session(id).is_none(), "{id} released and held");
            let left = self.conns.live_where(|p| p.session == Some(id.get()));
            assert_eq!(left, 0, "released {id} leaves connections behind [D-17]");
        }
    }

    /// A session starts a new life here (opened, or restored from its
    /// record at `base`): the books of an earlier life must be closed.
    fn new_life(&mut self, session: SessionId, base: u64) {
        if let Some(old) = self.books.remove(&session.get()) {
            assert!(
                old.closed || old.released,
                "{session} came back while the server held it: {old:?}"
            );
            self.app().retired.push((session.get(), old));
        }
        let book = self.book(session);
        (book.accepted, book.acked, book.max_wire) = (base, base, base);
        // What a client resuming it says it has (CB_READY's last_seq).
        self.sent.insert(session.get(), base);
    }

    /// Events in cluster mode, before plain mode's checks see them.
    pub(super) fn cluster_event(&mut self, event: &Event) {
        let bus_up = self.app().bus_up;
        match event {
            Event::ClaimSession {
                claim,
                kind,
                user,
                peer,
                ..
            } => {
                assert!(bus_up, "{claim} asked while the bus is away [D-17]");
                self.stats.claims += 1;
                let conn = self
                    .conns
                    .list
                    .iter()
                    .find(|(_, p, live)| {
                        // The server names peers by their canonical address [C-1].
                        let canonical = |a: &SocketAddr| (a.ip().to_canonical(), a.port());
                        *live && p.addr.as_ref().map(canonical) == Some(canonical(peer))
                    })
                    .map(|e| e.0)
                    .unwrap_or_else(|| panic!("{claim} for {peer}, no open connection"));
                let deadline = self.now + CLAIM_TIMEOUT;
                let app = self.app();
                match app.claims.iter_mut().find(|c| c.id == *claim) {
                    Some(c) => {
                        // An open whose id was taken asks again.
                        assert!(!c.pending, "{claim} asked twice");
                        assert_eq!((c.kind, *kind, c.conn), (ClaimKind::Open, *kind, conn));
                        c.pending = true;
                    }
                    None => {
                        assert_eq!(
                            claim.get(),
                            app.claims.len() as u64 + 1,
                            "claims are numbered from 1"
                        );
                        app.claims.push(Claim {
                            id: *claim,
                            kind: *kind,
                            user: Arc::clone(user),
                            conn,
                            pending: true,
                            deadline,
                        });
                    }
                }
            }
            Event::LoginFailed { conn, reason, .. } => {
                if !bus_up && *reason == LoginFailure::ClusterUnavailable {
                    self.stats.bus_refusals += 1;
                }
                for c in &mut self.app().claims {
                    if c.conn == *conn {
                        c.pending = false;
                    }
                }
            }
            Event::SessionOpened { session, .. } => {
                assert!(bus_up, "{session} opened while the bus is away [D-17]");
                self.new_life(*session, 0);
            }
            Event::SessionRestored {
                session, acked_seq, ..
            } => {
                assert!(bus_up, "{session} restored while the bus is away [D-17]");
                self.stats.restored += 1;
                self.new_life(*session, *acked_seq);
            }
            Event::SessionResumed { session, .. } => {
                assert!(bus_up, "{session} resumed while the bus is away [D-17]");
            }
            Event::SessionReleased { session, .. } => {
                let book = self.book(*session);
                assert!(!book.closed && !book.released, "{session} released twice");
                book.released = true;
                let held = book.accepted - book.acked;
                self.stats.released += 1;
                self.stats.released_pending += held;
                self.app().released.push(*session);
            }
            Event::Delivered {
                session, last_seq, ..
            } => {
                let book = self.book(*session);
                book.payloads.retain(|seq, _| seq > last_seq);
            }
            _ => {}
        }
    }

    /// Frames the server sends in cluster mode, before plain mode's
    /// bookkeeping sees them.
    pub(super) fn cluster_observe(&mut self, conn: ConnId, frame: &Frame<'_>) {
        let bus_up = self.app().bus_up;
        match frame {
            Frame::ServerHello(_) => assert!(bus_up, "SERVER_HELLO while the bus is away [D-17]"),
            Frame::LoginOk(_) => assert!(bus_up, "LOGIN_OK while the bus is away [D-17]"),
            Frame::Notify(n) => {
                let Some(session) = self.conns.tag_mut(conn).and_then(|p| p.session) else {
                    return;
                };
                let book = self.books.entry(session).or_default();
                assert!(
                    !book.released,
                    "NOTIFY {} of session {session:#x} after it was released [D-17]",
                    n.seq
                );
                assert!(
                    book.payloads
                        .get(&n.seq)
                        .is_some_and(|p| p[..] == n.payload[..]),
                    "NOTIFY {} of session {session:#x} is not what was handed in at that seq \
                     (handed in up to {}, acknowledged {}) [D-17]",
                    n.seq,
                    book.accepted,
                    book.acked
                );
                assert!(
                    n.seq <= book.max_wire.max(book.acked).saturating_add(1),
                    "NOTIFY {} of session {session:#x} skips seqs: sent up to {}, acknowledged {} [B-2]",
                    n.seq,
                    book.max_wire,
                    book.acked
                );
                book.max_wire = book.max_wire.max(n.seq);
            }
            _ => {}
        }
    }

    /// At the end: no claim is left waiting.
    pub(super) fn finish_cluster(&self) {
        assert_eq!(self.pending_claims(), 0, "claims left pending at the end");
    }
}
