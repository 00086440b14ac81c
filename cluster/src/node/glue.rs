//! The node's loop: the server's events, the results of bus calls made on
//! other tasks, and a tick for leases and the bus probe. It owns what the
//! node knows of each session it holds; bus calls never run on it, so a
//! slow bus never delays the events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faxnotify_core::SessionId;
use faxnotify_core::server::{ClaimAnswer, ClaimError, ClaimId, ClaimRefusal, Event};
use faxnotify_tokio::{Server, ServerEvents};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;

use super::footprint::Footprint;
use super::readers::{Joined, Readers};
use super::reports;
use super::retention::Retention;
use super::{NodeEvent, NodeTimings, claims, leases};
use crate::connect::Bus;
use crate::ids::{LogPos, LogSeq, Revision, ServerId};
use crate::record::SessionRecord;

/// How long a stopping node waits for its sessions to be given back.
const GIVE_BACK_BOUND: Duration = Duration::from_secs(5);

/// A record this node wrote or took, waiting for the core's event.
#[derive(Clone, Debug)]
pub(super) struct Taken {
    pub(super) record: SessionRecord,
    pub(super) revision: Revision,
    /// When the write that set the lease started.
    pub(super) written_at: Instant,
    /// When this node last wrote the record's index entry (before that
    /// write started); `None` when it has not (a session taken over): the
    /// next renewal writes it.
    pub(super) indexed_at: Option<Instant>,
}

/// What the other tasks tell the loop.
#[derive(Debug)]
pub(super) enum Msg {
    /// A claim's record is ready: kept before the core is answered, so
    /// the event the answer causes finds it.
    Taken { session: SessionId, taken: Taken },
    /// The core's answer to a claim the node took a record for: `false`
    /// when no session came of it (give the record back).
    Answered { session: SessionId, applied: bool },
    /// A reader is about to hand the core `count` notifications of one
    /// log message at seqs `first_seq`… (from positions `first`, its
    /// `first.index + 1`, …), all accepted by `origin`.
    Numbered {
        session: SessionId,
        /// The hold it was read for (an older hold's is ignored).
        generation: u64,
        first_seq: u64,
        first: LogPos,
        count: usize,
        origin: Option<ServerId>,
    },
    /// An idle reader found nothing of its user's up to `log_seq`: with
    /// everything numbered acknowledged, the session's position moves
    /// there, so that it does not age past the log's age limit.
    CaughtUp {
        session: SessionId,
        generation: u64,
        log_seq: LogSeq,
    },
    /// The log's age limit removed entries the session had not read: end
    /// it (see `retention.rs`).
    Lost { session: SessionId, generation: u64 },
    /// A renewal ended (of the hold `generation`: a session released and
    /// held again meanwhile ignores it).
    Renewed {
        session: SessionId,
        generation: u64,
        result: Result<Taken, leases::RenewFailure>,
    },
    /// The probe's outcome.
    Probe(bool),
    /// The core does not hold this session (a release found it gone).
    Gone { session: SessionId },
    /// What the loop holds now (the application asks).
    Footprint(oneshot::Sender<Footprint>),
}

/// A session this node holds.
pub(super) struct Held {
    pub(super) taken: Taken,
    /// Until when the lease surely holds (from the start of the write).
    pub(super) lease_until: Instant,
    pub(super) acked_seq: u64,
    /// Where `acked_seq` is in the log (seq 0: nothing acknowledged yet).
    pub(super) acked_at: LogPos,
    /// Where the reader reads next: after the last entry it numbered (or
    /// where it started); what comes from here on is unread.
    pub(super) read_next: LogPos,
    /// session seq → (log position, origin), until acknowledged.
    pub(super) seqs: BTreeMap<u64, (LogPos, Option<ServerId>)>,
    pub(super) detached_since: Option<Instant>,
    pub(super) renewing: bool,
    /// The last write's outcome is unknown: load before the next one.
    pub(super) reload: bool,
    /// Which hold of the session this is (renewals and its user's reader
    /// answer to one).
    pub(super) generation: u64,
    /// Woken when acknowledgements free room in the queue (its user's
    /// reader's).
    pub(super) room: Arc<Notify>,
    /// Its reader fell behind the log's age limit: once released, the
    /// session is closed, not given back, so a resume anywhere is refused
    /// as unknown and the client starts a new session [C-10].
    pub(super) lost: bool,
    /// Being let go (its release is on its way to the core): no more
    /// renewals.
    pub(super) released: bool,
}

pub(super) struct Glue {
    pub(super) server: Server,
    pub(super) bus: Bus,
    pub(super) me: ServerId,
    pub(super) timings: NodeTimings,
    /// Lease + detached grace: how long a record outlives its last renewal.
    pub(super) expiry: Duration,
    /// How often a held session's index entry is written again
    /// ([`Bus::index_refresh`]; `None`: once is enough).
    pub(super) index_refresh: Option<Duration>,
    pub(super) msgs: mpsc::UnboundedSender<Msg>,
    pub(super) app: mpsc::UnboundedSender<NodeEvent>,
    pub(super) held: HashMap<SessionId, Held>,
    /// Claims answered with a record, waiting for SessionOpened / SessionRestored.
    pub(super) taken: HashMap<SessionId, Taken>,
    pub(super) available: Arc<AtomicBool>,
    pub(super) last_bus_ok: Instant,
    pub(super) probing: bool,
    pub(super) generations: u64,
    /// Bus writes that must finish before the node's events end.
    pub(super) writes: JoinSet<()>,
    /// Reports waiting for their origin, sent a message at a time.
    pub(super) outbox: reports::Outbox,
    /// The log's age limit, as the readers check it.
    pub(super) retention: Retention,
    /// The log's readers, one per user with sessions held here.
    pub(super) readers: Readers,
}

pub(super) fn spawn(
    server: Server,
    events: ServerEvents,
    bus: Bus,
    timings: NodeTimings,
    expiry: Duration,
    available: Arc<AtomicBool>,
    app: mpsc::UnboundedSender<NodeEvent>,
) -> mpsc::UnboundedSender<Msg> {
    let (msgs, inbox) = mpsc::unbounded_channel();
    let bus_max_age = bus.log_max_age();
    let report_reader = tokio::spawn(reports::read_own(bus.clone(), app.clone()));
    let index_sweeps = tokio::spawn(super::index_sweep::run(
        bus.clone(),
        timings.index_sweep_every,
        timings.index_sweeper_lease,
    ));
    let retention = Retention::new(bus_max_age);
    let readers = Readers::new(bus.clone(), server.clone(), msgs.clone(), retention.clone());
    let glue = Glue {
        me: bus.origin(),
        index_refresh: bus.index_refresh(),
        server,
        bus,
        timings,
        expiry,
        msgs: msgs.clone(),
        app,
        held: HashMap::new(),
        taken: HashMap::new(),
        available,
        last_bus_ok: Instant::now(),
        probing: false,
        generations: 0,
        writes: JoinSet::new(),
        outbox: reports::Outbox::default(),
        retention,
        readers,
    };
    tokio::spawn(async move {
        glue.run(events, inbox).await;
        report_reader.abort();
        index_sweeps.abort();
    });
    msgs
}

impl Glue {
    async fn run(mut self, events: ServerEvents, mut inbox: mpsc::UnboundedReceiver<Msg>) {
        let mut tick =
            tokio::time::interval(self.timings.probe_every().min(Duration::from_millis(500)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_renewal = Instant::now();
        let mut last_probe = Instant::now();
        loop {
            tokio::select! {
                // Messages first: a record taken for a claim is known
                // before the event its answer causes.
                biased;
                Some(msg) = inbox.recv() => self.on_msg(msg),
                event = events.next() => match event {
                    Some(event) => {
                        // What the readers announced before the core acted.
                        while let Ok(msg) = inbox.try_recv() {
                            self.on_msg(msg);
                        }
                        self.on_event(&event);
                        let _ = self.app.send(NodeEvent::Server(event));
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    // A JoinSet keeps every finished task until joined:
                    // without this, one entry per report and give-back
                    // for as long as the node runs.
                    while self.writes.try_join_next().is_some() {}
                    let now = Instant::now();
                    self.expire(now);
                    if now >= last_renewal + self.timings.renew_every {
                        last_renewal = now;
                        self.renew_all(now);
                    }
                    if now >= last_probe + self.timings.probe_every() {
                        last_probe = now;
                        self.probe();
                    }
                }
            }
        }
        // The server stopped: its sessions were released (events seen);
        // let the give-backs land before the events end.
        self.held.clear();
        self.readers.stop_all();
        let writes = async { while self.writes.join_next().await.is_some() {} };
        if tokio::time::timeout(GIVE_BACK_BOUND, writes).await.is_err() {
            tracing::warn!(
                "the cluster bus did not take every session back within {} s",
                GIVE_BACK_BOUND.as_secs()
            );
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Taken { session, taken } => {
                self.taken.insert(session, taken);
            }
            Msg::Answered { session, applied } => {
                // An applied answer's event (opened, restored, or resumed
                // when another login restored the session here first)
                // takes the record; it may still be on its way. One that
                // gave no session gives the record back.
                if !applied && let Some(taken) = self.taken.remove(&session) {
                    self.give_back(taken, None);
                }
            }
            Msg::Numbered {
                session,
                generation,
                first_seq,
                first,
                count,
                origin,
            } => {
                if let Some(held) = self.held_now(session, generation) {
                    let mut position = first;
                    for seq in (first_seq..).take(count) {
                        held.seqs.insert(seq, (position, origin));
                        position = position.next();
                    }
                    held.read_next = held.read_next.max(position);
                }
            }
            Msg::CaughtUp {
                session,
                generation,
                log_seq,
            } => {
                if let Some(held) = self.held_now(session, generation) {
                    // Nothing of the user's up to `log_seq`: read on after it.
                    let after = LogPos::start_of(LogSeq(log_seq.0 + 1));
                    held.read_next = held.read_next.max(after);
                    if held.seqs.is_empty() {
                        let at = LogPos::start_of(log_seq);
                        held.acked_at = held.acked_at.max(at);
                    }
                }
            }
            Msg::Lost {
                session,
                generation,
            } => {
                if let Some(held) = self.held_now(session, generation) {
                    held.lost = true;
                    held.released = true;
                    self.release(session);
                }
            }
            Msg::Renewed {
                session,
                generation,
                result,
            } => self.renewed(session, generation, result),
            Msg::Gone { session } => {
                if let Some(held) = self.held.remove(&session) {
                    self.leave(session, &held);
                }
            }
            Msg::Probe(ok) => {
                self.probing = false;
                self.bus_seen(ok);
            }
            Msg::Footprint(reply) => {
                let _ = reply.send(self.footprint());
            }
        }
    }

    /// The sizes of what the loop holds (the batcher's queues are the
    /// node's, counted there).
    fn footprint(&self) -> Footprint {
        Footprint {
            held_sessions: self.held.len(),
            claims_pending: self.taken.len(),
            numbered: self.held.values().map(|held| held.seqs.len()).sum(),
            readers: self.readers.len(),
            reports_queued: self.outbox.queued(),
            bus_writes: self.writes.len(),
            publishes_queued: 0,
        }
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::ClaimSession {
                claim,
                kind,
                session,
                user,
                ..
            } => {
                if self.available.load(Ordering::SeqCst) {
                    claims::spawn(self, *claim, *kind, *session, user.to_string());
                } else {
                    self.refuse(*claim);
                }
            }
            Event::SessionOpened { session, .. } => {
                if let Some(taken) = self.taken.remove(session) {
                    self.hold(*session, taken, 0);
                } else {
                    tracing::error!(%session, "a session opened without a record in the cluster");
                }
            }
            Event::SessionRestored {
                session, acked_seq, ..
            } => {
                if let Some(taken) = self.taken.remove(session) {
                    debug_assert_eq!(taken.record.acked_session_seq, *acked_seq);
                    self.hold(*session, taken, *acked_seq);
                } else {
                    tracing::error!(%session, "a session restored without a record");
                }
            }
            Event::SessionDetached { session, .. } => {
                if let Some(held) = self.held.get_mut(session) {
                    held.detached_since = Some(Instant::now());
                }
            }
            Event::SessionResumed { session, .. } => {
                let taken = self.taken.remove(session);
                if let Some(held) = self.held.get_mut(session) {
                    held.detached_since = None;
                    // A restore this node answered became a plain resume:
                    // the record's revision is the take-over's.
                    if let Some(taken) = taken {
                        held.taken = taken;
                    }
                }
            }
            Event::Delivered {
                session, last_seq, ..
            } => self.delivered(*session, *last_seq),
            // The core's queue at a session's end: numbered, so still in
            // `held.seqs`, reported by `closed` once the record says whether
            // the session ended or lives on at another server.
            Event::Undelivered { .. } => {}
            Event::SessionReleased { session, .. } => {
                if let Some(held) = self.held.remove(session) {
                    if held.lost {
                        self.closed(*session, held);
                        return;
                    }
                    self.leave(*session, &held);
                    let acked = (held.acked_seq, held.acked_at);
                    self.give_back(held.taken, Some(acked));
                }
            }
            Event::SessionClosed { session, .. } => {
                if let Some(held) = self.held.remove(session) {
                    self.closed(*session, held);
                }
            }
            _ => {}
        }
    }

    /// A held session ended: nothing more is read for it, its record is
    /// closed, and every notification accepted for it and not acknowledged
    /// is reported undelivered to the server that accepted it — the
    /// numbered ones (the core's queue, and a reader's hand-over that
    /// crossed the end), then the log's entries the reader never reached.
    /// Nothing accepted is lost silently. Unless another server took the
    /// session over before this one ended it (this one stalled, or was cut
    /// from its client and the bus, past its lease): the session lives on
    /// there and that server delivers all of it, so nothing is reported
    /// here — an "undelivered" would reach the submitter first and
    /// contradict the delivery.
    fn closed(&mut self, session: SessionId, held: Held) {
        self.leave(session, &held);
        let (bus, me) = (self.bus.clone(), self.me);
        let user = held.taken.record.user.clone();
        let unread_from = held.read_next;
        let numbered = held.seqs;
        self.writes.spawn(async move {
            match leases::close(bus.clone(), held.taken, me).await {
                leases::OwnWrite::TakenOver => tracing::info!(
                    %session,
                    "the session ended here after another server of the cluster took it over; \
                     what it had not delivered is left to that server"
                ),
                leases::OwnWrite::Landed | leases::OwnWrite::Unknown => {
                    reports::numbered_ended(&bus, session, numbered).await;
                    reports::unread(bus, session, user, unread_from).await;
                }
            }
        });
    }

    /// Starts serving a session from its record (acknowledged up to
    /// `acked_seq`, at the record's acknowledged position): its reader, its
    /// lease.
    fn hold(&mut self, session: SessionId, taken: Taken, acked_seq: u64) {
        let from = taken.record.resume_at();
        let acked_at = taken.record.acked_pos();
        self.generations += 1;
        let generation = self.generations;
        let joined = Joined {
            generation,
            from,
            next_seq: acked_seq + 1,
        };
        let room = self.readers.join(&taken.record.user, session, joined);
        let lease_until = taken.written_at + self.timings.owner_lease;
        self.held.insert(
            session,
            Held {
                taken,
                lease_until,
                acked_seq,
                acked_at,
                read_next: from,
                seqs: BTreeMap::new(),
                detached_since: None,
                renewing: false,
                reload: false,
                generation,
                room,
                lost: false,
                released: false,
            },
        );
    }

    /// The session, if `generation` is its hold now.
    fn held_now(&mut self, session: SessionId, generation: u64) -> Option<&mut Held> {
        self.held
            .get_mut(&session)
            .filter(|held| held.generation == generation)
    }

    /// Nothing more is read for this hold of `session`.
    fn leave(&mut self, session: SessionId, held: &Held) {
        self.readers
            .leave(&held.taken.record.user, session, held.generation);
    }

    fn delivered(&mut self, session: SessionId, last: u64) {
        let Some(held) = self.held.get_mut(&session) else {
            return;
        };
        let later = held.seqs.split_off(&(last + 1));
        let done = std::mem::replace(&mut held.seqs, later);
        // One report message per origin for the whole acknowledgement,
        // not one per notification: the bus's cost is per message.
        let mut by_origin: BTreeMap<ServerId, Vec<(u64, LogPos)>> = BTreeMap::new();
        for (seq, (position, origin)) in done {
            if seq > held.acked_seq {
                held.acked_seq = seq;
                held.acked_at = position;
            }
            if let Some(origin) = origin {
                by_origin.entry(origin).or_default().push((seq, position));
            }
        }
        held.room.notify_one();
        for (origin, delivered) in by_origin {
            let reports = reports::delivered(session, &delivered);
            self.outbox
                .push(&self.bus, &mut self.writes, origin, reports);
        }
    }

    /// Answers a claim "unavailable" (the client tries again).
    pub(super) fn refuse(&self, claim: ClaimId) {
        let server = self.server.clone();
        tokio::spawn(async move {
            let answer = ClaimAnswer::Refused(ClaimRefusal::Unavailable);
            if let Ok(Err(err @ ClaimError::NeverIssued(_))) =
                server.handle_claim(claim, answer).await
            {
                tracing::error!(%err, "claim refused");
            }
        });
    }

    pub(super) fn bus_seen(&mut self, ok: bool) {
        let now = Instant::now();
        if ok {
            self.last_bus_ok = now;
        }
        let was = self.available.load(Ordering::SeqCst);
        let is = ok || now < self.last_bus_ok + self.timings.bus_loss_bound;
        if was != is {
            self.available.store(is, Ordering::SeqCst);
            if is {
                tracing::info!(
                    "the cluster bus is reachable again: accepting logins and notifications"
                );
            } else {
                tracing::warn!(
                    "the cluster bus is unreachable: refusing logins and notifications until it is back"
                );
            }
            let server = self.server.clone();
            tokio::spawn(async move {
                let _ = server.set_bus_available(is).await;
            });
            let _ = self.app.send(NodeEvent::BusAvailable(is));
        }
    }

    fn probe(&mut self) {
        if self.probing {
            // The last probe has not come back within a probe period.
            self.bus_seen(false);
            return;
        }
        self.probing = true;
        let (bus, msgs) = (self.bus.clone(), self.msgs.clone());
        let retention = self.retention.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let last = bus.log_last_seq().await;
            if let Ok(last) = last {
                retention.record(started, last);
            }
            let _ = msgs.send(Msg::Probe(last.is_ok()));
        });
    }
}
