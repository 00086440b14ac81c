//! A server node: a server core in cluster mode and the application glue
//! faxnotify-cluster's `ClusterNode` (cluster/src/node/) does for real — answering claims from the
//! store, reading the log into sessions with their seqs, persisting
//! acknowledgements, renewing and giving up ownership [D-17].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use faxnotify_core::SessionId;
use faxnotify_core::server::{
    ClaimAnswer, ClaimError, ClaimId, ClaimKind, ClaimRefusal, ClusterConfig as CoreCluster, Event,
    MemoryUserStore, Refused, RunError, SeqError, Server, ServerConfig, SessionRecord,
};
use faxnotify_core::wire::{EncodedNotification, Notification};

use super::bus::{Pos, Record};
use super::world::{Ev, Step, World};
use crate::rng::SimRng;

/// How long an owner's lease on a session lasts without renewal.
pub(crate) const OWNER_LEASE: Duration = Duration::from_secs(4);
/// How often a node renews its leases.
const RENEW: Duration = Duration::from_secs(1);
/// How often a node persists acknowledgements (the lag that makes
/// redelivery after a failover).
const ACK_FLUSH: Duration = Duration::from_secs(2);
/// How long without the bus before a node gives its sessions up: well
/// within `OWNER_LEASE - RENEW`, so it never serves a session whose lease
/// another node may have taken.
const BUS_LOSS_BOUND: Duration = Duration::from_secs(1);
/// How long before its lease runs out unrenewed a node releases a session
/// (three tenths of the lease, as the real glue's `release_margin`).
const RELEASE_MARGIN: Duration = Duration::from_millis(1_200);
/// How long a node keeps a detached session before giving it up, so that
/// its client can resume on any node.
const DETACHED_RELEASE: Duration = Duration::from_secs(2);

/// A bus operation in flight; it takes effect at the bus when it
/// completes, and its answer reaches the node then (or, when the node is
/// frozen, when it wakes).
#[derive(Debug)]
pub(crate) enum BusOp {
    /// Answer a claim: create the record (open) or read it (resume).
    Claim {
        claim: ClaimId,
        kind: ClaimKind,
        session: SessionId,
        user: String,
        /// When the claim's bus work began (what the lease counts from).
        started: Duration,
    },
    /// Take a session over: compare-and-set its record.
    TakeOver {
        claim: ClaimId,
        session: SessionId,
        revision: u64,
        record: Record,
        started: Duration,
    },
}

/// The answer of a [`BusOp`] as the node hears it. Kept apart from the
/// operation's effect because the two happen at different times when the
/// node is frozen: the bus acts, the answer waits in the node's socket.
#[derive(Debug)]
pub(crate) enum BusReply {
    /// The record was created, owned by this node.
    Opened {
        claim: ClaimId,
        session: SessionId,
        user: String,
        start: usize,
        started: Duration,
    },
    /// The id is taken in the store.
    IdTaken { claim: ClaimId },
    /// The claim is refused.
    Refused {
        claim: ClaimId,
        refusal: ClaimRefusal,
    },
    /// The record may be taken over: take it by compare-and-set.
    MayTake {
        claim: ClaimId,
        session: SessionId,
        revision: u64,
        record: Record,
        started: Duration,
    },
    /// The compare-and-set landed: this node owns the record.
    TookOver {
        claim: ClaimId,
        session: SessionId,
        record: Record,
        started: Duration,
    },
    /// The compare-and-set lost to another write.
    LostRace { claim: ClaimId },
    /// No answer came in time (the bus may have done it all the same):
    /// the node refuses the claim as the bus being unavailable, as the
    /// real glue does on a timeout, and keeps nothing of it.
    NoAnswer { claim: ClaimId },
}

/// A session's reader of the log.
#[derive(Debug)]
pub(crate) struct Consumer {
    user: String,
    /// Where the next notification is read from.
    next: Pos,
    next_seq: u64,
    /// The position of every seq handed to the core and not yet
    /// acknowledged (what the real glue keeps for its reports).
    positions: BTreeMap<u64, Pos>,
}

pub(crate) struct Node {
    pub(crate) incarnation: u64,
    /// This process's id in the store (unique per process).
    pub(crate) owner_id: u64,
    pub(crate) core: Option<Server>,
    pub(crate) bus_cut: bool,
    pub(crate) bus_down_since: Option<Duration>,
    pub(crate) slow_bus: bool,
    pub(crate) consumers: BTreeMap<SessionId, Consumer>,
    /// The highest acknowledged seq of each session and its position.
    acks: BTreeMap<SessionId, (u64, Pos)>,
    /// Records created for claims, waiting for SessionOpened: user, start
    /// message, when the write began.
    opening: BTreeMap<SessionId, (String, usize, Duration)>,
    /// Records taken over for claims, waiting for SessionRestored, with
    /// when the claim began.
    restoring: BTreeMap<SessionId, (Record, Duration)>,
    detached: BTreeMap<SessionId, Duration>,
    /// Until when each held session's owner lease surely holds: from the
    /// start of the write that set it (as the real glue's `lease_until`).
    leases: BTreeMap<SessionId, Duration>,
    /// Held sessions being let go (their release is on its way): never
    /// renewed again, or a renewal would make this node their owner for
    /// another lease after it gave them back (the real glue's `released`).
    released: BTreeSet<SessionId>,
    last_renew: Duration,
    last_flush: Duration,
    /// The node takes no step (SIGSTOP): what arrives for it waits in
    /// `waiting`, its timers and its glue's tick are late.
    pub(crate) frozen: bool,
    /// Which freeze this is (a thaw scheduled for an earlier one, of a
    /// process killed meanwhile, does nothing).
    pub(crate) freezes: u64,
    /// When the node last woke from a freeze.
    pub(crate) thawed_at: Option<Duration>,
    /// What arrived while frozen, in order: input, bus answers.
    pub(crate) waiting: std::collections::VecDeque<Ev>,
    /// Bus answers to this node are lost (half of them) though their
    /// operations take effect: a route that drops the way back.
    pub(crate) lossy: bool,
}

impl Node {
    pub(crate) fn start(
        index: usize,
        incarnation: u64,
        users: &MemoryUserStore,
        rng: &mut SimRng,
    ) -> Self {
        let mut config = ServerConfig::new([0x5e; 32]);
        config.server_name = format!("node{index}");
        config.lease = Duration::from_secs(12);
        config.detached_grace = Duration::from_secs(30);
        config.window = 3;
        config.queue_limit = 16;
        let mut cluster = CoreCluster::default();
        cluster.claim_timeout = Duration::from_secs(5);
        config.cluster = Some(cluster);
        let core = Server::new(config, Box::new(users.clone()), rng.seed32())
            .expect("valid server config");
        Self {
            incarnation,
            owner_id: (incarnation << 8) | (index as u64 + 1),
            core: Some(core),
            bus_cut: false,
            bus_down_since: None,
            slow_bus: false,
            consumers: BTreeMap::new(),
            acks: BTreeMap::new(),
            opening: BTreeMap::new(),
            restoring: BTreeMap::new(),
            detached: BTreeMap::new(),
            leases: BTreeMap::new(),
            released: BTreeSet::new(),
            last_renew: Duration::ZERO,
            last_flush: Duration::ZERO,
            frozen: false,
            freezes: 0,
            thawed_at: None,
            waiting: std::collections::VecDeque::new(),
            lossy: false,
        }
    }

    pub(crate) fn is_up(&self, incarnation: u64) -> bool {
        self.core.is_some() && self.incarnation == incarnation
    }

    /// The core's next timer; none while frozen (it fires late, on waking).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.frozen {
            return None;
        }
        self.core.as_ref().and_then(Server::poll_timeout)
    }

    /// Whether the session's owner lease, as this node counts it, had run
    /// out when the node woke from its last freeze: only then may another
    /// node have taken over a session this one still holds, and the
    /// woken node finds that out by itself (releasing it, or ending it
    /// without reporting anything of it).
    pub(crate) fn lapsed_in_freeze(&self, session: SessionId) -> bool {
        match (self.thawed_at, self.leases.get(&session)) {
            (Some(woke), Some(&until)) => until <= woke,
            _ => false,
        }
    }

    /// Whether this node's lease on a held session has run out (as it
    /// counts it): the glue releases it at its next tick, before reading
    /// anything more into it.
    pub(crate) fn lease_lapsed(&self, session: SessionId, now: Duration) -> bool {
        self.leases.get(&session).is_some_and(|&until| until <= now)
    }
}

impl World {
    fn core(&mut self, n: usize) -> Step<&mut Server> {
        self.nodes[n]
            .core
            .as_mut()
            .ok_or_else(|| format!("node {n} is down"))
    }

    fn answer(&mut self, n: usize, claim: ClaimId, answer: ClaimAnswer) -> Step<bool> {
        let now = self.instant();
        let result = self.core(n)?.handle_claim(now, claim, answer);
        self.drain_node(n)?;
        match result {
            Ok(()) => Ok(true),
            Err(ClaimError::NotPending(_)) => {
                self.observe("claim answered after its login went away");
                Ok(false)
            }
            Err(e) => Err(format!("node {n}: {e}")),
        }
    }

    /// Frees a record this node owns (it gave the session up, or took it
    /// for a login that went away) — unless the core holds the session
    /// (another login of this node restored it meanwhile: the ownership
    /// is that login's now).
    fn give_back(&mut self, n: usize, session: SessionId) {
        let me = self.nodes[n].owner_id;
        if self.nodes[n]
            .core
            .as_ref()
            .is_some_and(|core| core.session(session).is_some())
        {
            return;
        }
        if let Some((rev, r)) = self.bus.get(session)
            && r.owner == me
        {
            let mut free = r.clone();
            free.owner = 0;
            free.owner_until_ms = 0;
            self.bus.update(session, free, rev);
        }
    }

    /// Whether `session`, held by node `n` past a lease that ran out while
    /// it was frozen, is owned by another node now (it moved on).
    fn moved_on(&self, n: usize, session: SessionId) -> bool {
        let me = self.nodes[n].owner_id;
        self.nodes[n].lapsed_in_freeze(session)
            && self
                .bus
                .get(session)
                .is_some_and(|(_, r)| r.owner != me && r.owner != 0)
    }

    pub(crate) fn node_event(&mut self, n: usize, event: Event) -> Step {
        self.note(format!("node {n}: {event}"));
        match event {
            Event::ClaimSession {
                claim,
                kind,
                session,
                user,
                ..
            } => {
                if self.nodes[n].bus_cut {
                    self.answer(n, claim, ClaimAnswer::Refused(ClaimRefusal::Unavailable))?;
                } else {
                    let at = self.now + self.bus_latency(n);
                    let inc = self.nodes[n].incarnation;
                    let op = BusOp::Claim {
                        claim,
                        kind,
                        session,
                        user: user.to_string(),
                        started: self.now,
                    };
                    self.schedule(at, Ev::Bus(n, inc, op));
                }
            }
            Event::SessionOpened { session, .. } => {
                let (user, start, started) = self.nodes[n]
                    .opening
                    .remove(&session)
                    .ok_or_else(|| format!("node {n} opened {session} without a record"))?;
                self.nodes[n].leases.insert(session, started + OWNER_LEASE);
                let first = Pos {
                    message: start,
                    index: 0,
                };
                let flat = self.bus.flat_index(&user, first);
                self.starts.insert(session, (user.clone(), flat));
                self.nodes[n].consumers.insert(
                    session,
                    Consumer {
                        user,
                        next: first,
                        next_seq: 1,
                        positions: BTreeMap::new(),
                    },
                );
            }
            Event::SessionRestored {
                session, acked_seq, ..
            } => {
                let (record, started) = self.nodes[n]
                    .restoring
                    .remove(&session)
                    .ok_or_else(|| format!("node {n} restored {session} without a record"))?;
                self.nodes[n].leases.insert(session, started + OWNER_LEASE);
                if record.acked != acked_seq {
                    return Err(format!(
                        "{session} restored at {acked_seq}, the record says {}",
                        record.acked
                    ));
                }
                // The record's position and its seq name the same
                // notification: resuming there neither repeats nor skips.
                let next = record.resume_at();
                let (_, flat_start) = self
                    .starts
                    .get(&session)
                    .cloned()
                    .ok_or_else(|| format!("session {session} was never created"))?;
                let flat_next = self.bus.flat_index(&record.user, next);
                if flat_next != flat_start + record.acked as usize {
                    return Err(format!(
                        "{session}: the record's position {next:?} is notification {flat_next} \
                         of the log, its seq {} says {}",
                        record.acked,
                        flat_start + record.acked as usize
                    ));
                }
                if self.bus.is_mid_message(&record.user, next) {
                    self.observe("session resumed in the middle of a log message");
                }
                self.observe("session restored on another server");
                self.nodes[n].consumers.insert(
                    session,
                    Consumer {
                        user: record.user,
                        next,
                        next_seq: acked_seq + 1,
                        positions: BTreeMap::new(),
                    },
                );
            }
            Event::SessionDetached { session, .. } => {
                self.nodes[n].detached.insert(session, self.now);
            }
            Event::SessionResumed { session, .. } => {
                self.nodes[n].detached.remove(&session);
            }
            Event::Delivered {
                session, last_seq, ..
            } => {
                // The highest seq handed over up to `last_seq`, with its
                // position (as the real glue persists it).
                let node = &mut self.nodes[n];
                if let Some(c) = node.consumers.get_mut(&session) {
                    let later = c.positions.split_off(&(last_seq + 1));
                    let done = std::mem::replace(&mut c.positions, later);
                    if let Some((&seq, &at)) = done.iter().next_back() {
                        let acked = node.acks.entry(session).or_insert((0, at));
                        if seq > acked.0 {
                            *acked = (seq, at);
                        }
                    }
                }
            }
            Event::SessionReleased { session, .. } => {
                self.nodes[n].consumers.remove(&session);
                self.nodes[n].detached.remove(&session);
                self.nodes[n].leases.remove(&session);
                self.nodes[n].released.remove(&session);
                if !self.nodes[n].bus_cut {
                    self.flush_ack(n, session);
                    self.give_back(n, session);
                }
                self.nodes[n].acks.remove(&session);
            }
            Event::SessionClosed {
                session, reason, ..
            } => {
                let moved = self.moved_on(n, session);
                self.nodes[n].consumers.remove(&session);
                self.nodes[n].detached.remove(&session);
                self.nodes[n].acks.remove(&session);
                self.nodes[n].leases.remove(&session);
                self.nodes[n].released.remove(&session);
                if moved {
                    // Woken past its lease, this node ended a session that
                    // lives on at another: its close of the record loses to
                    // the new owner's, and the client never hears of it.
                    self.observe("woken server ended a session that had moved on");
                    return Ok(());
                }
                if !self.logging_out {
                    return Err(format!("node {n}: session {session} ended: {reason}"));
                }
                if !self.nodes[n].bus_cut {
                    self.bus.delete(session);
                }
            }
            Event::Undelivered { session, .. } if self.moved_on(n, session) => {
                // The real glue reports the queue only once the record
                // says the session ended here; it moved on, so the new
                // owner delivers all of it and nothing is reported.
                self.observe("woken server left its queue to the new owner");
            }
            Event::Undelivered { session, .. } => {
                return Err(format!(
                    "node {n}: {session} reported undelivered notifications"
                ));
            }
            Event::LoginFailed { reason, .. } => {
                self.observe(format!("login refused: {reason}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// A bus operation completes: it takes effect at the bus now, and its
    /// answer goes to the node (lost on a lossy route; waiting in its
    /// socket while it is frozen).
    pub(crate) fn bus_done(&mut self, n: usize, inc: u64, op: BusOp) -> Step {
        let alive = self.nodes[n].is_up(inc);
        let reachable = alive && !self.nodes[n].bus_cut;
        let now_ms = self.now.as_millis() as u64;
        let me = self.nodes[n].owner_id;
        let reply = match op {
            // A take-over in flight lands even if its process died.
            BusOp::TakeOver {
                session,
                revision,
                record,
                ..
            } if !alive => {
                if self.bus.update(session, record, revision) {
                    self.observe("take-over landed for a dead process");
                }
                return Ok(());
            }
            _ if !alive => return Ok(()),
            BusOp::Claim { claim, .. } | BusOp::TakeOver { claim, .. } if !reachable => {
                BusReply::Refused {
                    claim,
                    refusal: ClaimRefusal::Unavailable,
                }
            }
            BusOp::Claim {
                claim,
                kind: ClaimKind::Open,
                session,
                user,
                started,
            } => {
                let start = self.bus.messages(&user);
                let record = Record {
                    user: user.clone(),
                    owner: me,
                    owner_until_ms: now_ms + OWNER_LEASE.as_millis() as u64,
                    start,
                    acked: 0,
                    acked_at: None,
                };
                if self.bus.create(session, record) {
                    BusReply::Opened {
                        claim,
                        session,
                        user,
                        start,
                        started,
                    }
                } else {
                    BusReply::IdTaken { claim }
                }
            }
            BusOp::Claim {
                claim,
                session,
                user,
                started,
                ..
            } => match self.bus.get(session) {
                None => BusReply::Refused {
                    claim,
                    refusal: ClaimRefusal::UnknownSession,
                },
                Some((_, r)) if r.user != user => BusReply::Refused {
                    claim,
                    refusal: ClaimRefusal::UnknownSession,
                },
                Some((_, r)) if r.owner != 0 && r.owner != me && r.owner_until_ms > now_ms => {
                    self.observe("resume waits for the owner's lease");
                    BusReply::Refused {
                        claim,
                        refusal: ClaimRefusal::HeldElsewhere,
                    }
                }
                Some((revision, r)) => {
                    let mut record = r.clone();
                    record.owner = me;
                    record.owner_until_ms = now_ms + OWNER_LEASE.as_millis() as u64;
                    BusReply::MayTake {
                        claim,
                        session,
                        revision,
                        record,
                        started,
                    }
                }
            },
            BusOp::TakeOver {
                claim,
                session,
                revision,
                record,
                started,
            } => {
                if self.bus.update(session, record.clone(), revision) {
                    BusReply::TookOver {
                        claim,
                        session,
                        record,
                        started,
                    }
                } else {
                    BusReply::LostRace { claim }
                }
            }
        };
        let reply = self.maybe_lose(n, reply);
        if self.nodes[n].frozen {
            self.nodes[n].waiting.push_back(Ev::BusReply(n, inc, reply));
            return Ok(());
        }
        self.bus_reply(n, inc, reply)
    }

    /// On a lossy route, half the answers never arrive, whatever the
    /// operation did at the bus.
    fn maybe_lose(&mut self, n: usize, reply: BusReply) -> BusReply {
        if !self.nodes[n].lossy || !self.rng.chance(50) {
            return reply;
        }
        let claim = match reply {
            BusReply::Opened { claim, session, .. } => {
                // Created, and nobody will open or delete it: it ages out
                // of the real bucket (lease and grace) unrenewed.
                self.orphans.insert(session);
                self.observe("lost reply: record created, claim refused");
                claim
            }
            BusReply::TookOver { claim, .. } => {
                // This node owns the record until its lease runs out, and
                // nobody serves the session meanwhile (the client tries
                // again; here it is still the owner's to take).
                self.observe("lost reply: session taken over, claim refused");
                claim
            }
            BusReply::IdTaken { claim }
            | BusReply::Refused { claim, .. }
            | BusReply::MayTake { claim, .. }
            | BusReply::LostRace { claim }
            | BusReply::NoAnswer { claim } => {
                self.observe("lost reply: claim refused");
                claim
            }
        };
        BusReply::NoAnswer { claim }
    }

    /// The node hears a bus answer.
    pub(crate) fn bus_reply(&mut self, n: usize, inc: u64, reply: BusReply) -> Step {
        if !self.nodes[n].is_up(inc) {
            if let BusReply::Opened { session, .. } = reply {
                // Its process died before it heard: the record ages out.
                self.orphans.insert(session);
            }
            return Ok(());
        }
        match reply {
            BusReply::Opened {
                claim,
                session,
                user,
                start,
                started,
            } => {
                self.nodes[n]
                    .opening
                    .insert(session, (user, start, started));
                self.answer(n, claim, ClaimAnswer::Opened)?;
                if self.nodes[n].opening.remove(&session).is_some() {
                    // No session came of it: give the record back.
                    self.bus.delete(session);
                }
            }
            BusReply::IdTaken { claim } => {
                self.observe("session id taken in the store");
                self.answer(n, claim, ClaimAnswer::IdTaken)?;
            }
            BusReply::Refused { claim, refusal } => {
                self.answer(n, claim, ClaimAnswer::Refused(refusal))?;
            }
            BusReply::NoAnswer { claim } => {
                self.answer(n, claim, ClaimAnswer::Refused(ClaimRefusal::Unavailable))?;
            }
            BusReply::MayTake {
                claim,
                session,
                revision,
                record,
                started,
            } => {
                let at = self.now + self.bus_latency(n);
                let op = BusOp::TakeOver {
                    claim,
                    session,
                    revision,
                    record,
                    started,
                };
                self.schedule(at, Ev::Bus(n, inc, op));
            }
            BusReply::TookOver {
                claim,
                session,
                record,
                started,
            } => {
                let restore = SessionRecord::new(record.user.clone(), record.acked);
                self.nodes[n].restoring.insert(session, (record, started));
                let applied = self.answer(n, claim, ClaimAnswer::Restore(restore))?;
                self.nodes[n].restoring.remove(&session);
                if !applied {
                    self.give_back(n, session);
                }
            }
            BusReply::LostRace { claim } => {
                // [D-17]: exactly one of the racers wins; the loser's
                // client tries again (and finds the winner's lease).
                self.observe("compare-and-set lost a race");
                self.answer(n, claim, ClaimAnswer::Refused(ClaimRefusal::HeldElsewhere))?;
            }
        }
        Ok(())
    }

    fn flush_ack(&mut self, n: usize, session: SessionId) {
        let Some(&(acked, at)) = self.nodes[n].acks.get(&session) else {
            return;
        };
        let me = self.nodes[n].owner_id;
        if let Some((rev, r)) = self.bus.get(session)
            && r.owner == me
            && acked > r.acked
        {
            let mut r = r.clone();
            r.acked = acked;
            r.acked_at = Some(at);
            self.bus.update(session, r, rev);
        }
    }

    pub(crate) fn node_tick(&mut self, n: usize) -> Step {
        if self.nodes[n].core.is_none() {
            return Ok(());
        }
        let now = self.instant();
        if self.nodes[n].bus_cut {
            let since = self.nodes[n].bus_down_since.unwrap_or(self.now);
            let due = self.now >= since + BUS_LOSS_BOUND;
            let core = self.core(n)?;
            if due && core.bus_available() {
                core.set_bus_available(now, false);
                let held: Vec<SessionId> = core.sessions().map(|s| s.id).collect();
                for sid in held {
                    core.release_session(now, sid)
                        .map_err(|e| format!("node {n}: {e}"))?;
                }
                self.observe("server gave its sessions up without the bus");
                self.drain_node(n)?;
            }
            return Ok(());
        }
        if !self.core(n)?.bus_available() {
            self.core(n)?.set_bus_available(now, true);
        }
        let stale: Vec<SessionId> = self.nodes[n]
            .detached
            .iter()
            .filter(|(_, since)| self.now >= **since + DETACHED_RELEASE)
            .map(|(sid, _)| *sid)
            .collect();
        for sid in stale {
            self.nodes[n].detached.remove(&sid);
            if self.core(n)?.release_session(now, sid).is_ok() {
                self.observe("detached session given up for any server");
            }
            self.drain_node(n)?;
        }
        self.expire(n)?;
        if self.now >= self.nodes[n].last_renew + RENEW {
            self.nodes[n].last_renew = self.now;
            self.renew_all(n)?;
        }
        if self.now >= self.nodes[n].last_flush + ACK_FLUSH {
            self.nodes[n].last_flush = self.now;
            let sessions: Vec<SessionId> = self.nodes[n].acks.keys().copied().collect();
            for sid in sessions {
                self.flush_ack(n, sid);
            }
        }
        self.pump(n)?;
        self.drain_node(n)
    }

    /// Releases the sessions whose lease runs out before a renewal could
    /// land (as the real glue's `expire`): a node that froze past its
    /// lease, or whose renewals' answers were lost, lets them go before
    /// another node may take them — or, on waking, at once, before it
    /// reads anything more into them.
    fn expire(&mut self, n: usize) -> Step {
        let now = self.instant();
        let due: Vec<SessionId> = self.nodes[n]
            .leases
            .iter()
            .filter(|(sid, until)| {
                self.now + RELEASE_MARGIN >= **until && !self.nodes[n].released.contains(sid)
            })
            .map(|(sid, _)| *sid)
            .collect();
        for sid in due {
            self.nodes[n].released.insert(sid);
            if self.core(n)?.release_session(now, sid).is_ok() {
                self.observe("session released before its unrenewed lease ran out");
            }
            self.drain_node(n)?;
        }
        Ok(())
    }

    /// Renews the owner lease of every held session not being let go (as
    /// the real glue's `renew_all`: a renewal landing after a give-back
    /// would make this node owner again for a whole lease). A renewal that
    /// finds another owner releases the session — which only a node woken
    /// past its lease may meet; any other is a fault.
    fn renew_all(&mut self, n: usize) -> Step {
        let now = self.instant();
        let me = self.nodes[n].owner_id;
        let held: Vec<SessionId> = self.core(n)?.sessions().map(|s| s.id).collect();
        let until = (self.now + OWNER_LEASE).as_millis() as u64;
        for sid in held {
            if self.nodes[n].released.contains(&sid) {
                continue;
            }
            let Some((rev, r)) = self.bus.get(sid) else {
                return Err(format!("node {n} holds {sid}, which has no record"));
            };
            if r.owner != me {
                if !self.nodes[n].lapsed_in_freeze(sid) {
                    return Err(format!("node {n} holds {sid}, owned by {}", r.owner));
                }
                self.observe("woken server found its session taken over");
                self.nodes[n].released.insert(sid);
                self.core(n)?
                    .release_session(now, sid)
                    .map_err(|e| format!("node {n}: {e}"))?;
                self.drain_node(n)?;
                continue;
            }
            let mut r = r.clone();
            r.owner_until_ms = until;
            self.bus.update(sid, r, rev);
            if self.nodes[n].lossy && self.rng.chance(50) {
                // Landed, but the node does not know: its lease stays
                // where it was, and the next renewal tries again.
                self.observe("lost reply: renewal landed unheard");
                continue;
            }
            self.nodes[n].leases.insert(sid, self.now + OWNER_LEASE);
        }
        Ok(())
    }

    /// Reads the log into every session this node holds, with the seqs
    /// the log gives them: the rest of one log message at a time, in one
    /// call to the core, as the real reader hands it over.
    fn pump(&mut self, n: usize) -> Step {
        let now = self.instant();
        let sessions: Vec<SessionId> = self.nodes[n].consumers.keys().copied().collect();
        let me = self.nodes[n].owner_id;
        for sid in sessions {
            // Never serve a session another node owns, or may own by now.
            let owner = self.bus.get(sid).map(|(_, r)| r.owner);
            if owner != Some(me) || self.nodes[n].lease_lapsed(sid, self.now) {
                return Err(format!(
                    "node {n} reads the log into {sid}, owned by {owner:?}, its own lease {}",
                    if self.nodes[n].lease_lapsed(sid, self.now) {
                        "run out"
                    } else {
                        "running"
                    }
                ));
            }
            while let Some(c) = self.nodes[n].consumers.get(&sid) {
                let message = self.bus.rest_of_message(&c.user, c.next);
                if message.is_empty() {
                    break;
                }
                let first_seq = c.next_seq;
                let run = message
                    .iter()
                    .map(|(_, entry)| {
                        let note = Notification::server_message(format!("n{}", entry.id));
                        EncodedNotification::encode(&note).map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let result = self
                    .core(n)?
                    .notify_session_run_at(now, sid, first_seq, &run);
                let (taken, stop) = match result {
                    Ok(done) => {
                        if done.delivered_before > 0 {
                            self.observe("seq the client had from the previous server");
                        }
                        (done.taken(), None)
                    }
                    Err(RunError { taken, error, .. }) => (taken, Some(error)),
                };
                if let Some(c) = self.nodes[n].consumers.get_mut(&sid) {
                    for (seq, (at, _)) in (first_seq..).zip(&message[..taken]) {
                        c.positions.insert(seq, *at);
                        c.next = at.after();
                    }
                    c.next_seq += taken as u64;
                }
                match stop {
                    None => {}
                    Some(SeqError::Refused(Refused::QueueFull { .. })) => {
                        if taken > 0 {
                            self.observe("log message handed over in part (queue full)");
                        }
                        break;
                    }
                    Some(e) => {
                        let seq = first_seq + taken as u64;
                        return Err(format!("node {n} session {sid} seq {seq}: {e}"));
                    }
                }
            }
        }
        Ok(())
    }
}
