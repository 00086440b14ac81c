//! A server node: a server core in cluster mode and the application glue
//! faxnotify-cluster's `ClusterNode` (cluster/src/node/) does for real — answering claims from the
//! store, reading the log into sessions with their seqs, persisting
//! acknowledgements, renewing and giving up ownership [D-17].

use std::collections::BTreeMap;
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
const OWNER_LEASE: Duration = Duration::from_secs(4);
/// How often a node renews its leases.
const RENEW: Duration = Duration::from_secs(1);
/// How often a node persists acknowledgements (the lag that makes
/// redelivery after a failover).
const ACK_FLUSH: Duration = Duration::from_secs(2);
/// How long without the bus before a node gives its sessions up: well
/// within `OWNER_LEASE - RENEW`, so it never serves a session whose lease
/// another node may have taken.
const BUS_LOSS_BOUND: Duration = Duration::from_secs(1);
/// How long a node keeps a detached session before giving it up, so that
/// its client can resume on any node.
const DETACHED_RELEASE: Duration = Duration::from_secs(2);

/// A bus operation in flight; it takes effect when it completes.
#[derive(Debug)]
pub(crate) enum BusOp {
    /// Answer a claim: create the record (open) or read it (resume).
    Claim {
        claim: ClaimId,
        kind: ClaimKind,
        session: SessionId,
        user: String,
    },
    /// Take a session over: compare-and-set its record.
    TakeOver {
        claim: ClaimId,
        session: SessionId,
        revision: u64,
        record: Record,
    },
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
    opening: BTreeMap<SessionId, (String, usize)>,
    restoring: BTreeMap<SessionId, Record>,
    detached: BTreeMap<SessionId, Duration>,
    last_renew: Duration,
    last_flush: Duration,
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
            last_renew: Duration::ZERO,
            last_flush: Duration::ZERO,
        }
    }

    pub(crate) fn is_up(&self, incarnation: u64) -> bool {
        self.core.is_some() && self.incarnation == incarnation
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.core.as_ref().and_then(Server::poll_timeout)
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
                    };
                    self.schedule(at, Ev::Bus(n, inc, op));
                }
            }
            Event::SessionOpened { session, .. } => {
                let (user, start) = self.nodes[n]
                    .opening
                    .remove(&session)
                    .ok_or_else(|| format!("node {n} opened {session} without a record"))?;
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
                let record = self.nodes[n]
                    .restoring
                    .remove(&session)
                    .ok_or_else(|| format!("node {n} restored {session} without a record"))?;
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
                if !self.nodes[n].bus_cut {
                    self.flush_ack(n, session);
                    self.give_back(n, session);
                }
                self.nodes[n].acks.remove(&session);
            }
            Event::SessionClosed {
                session, reason, ..
            } => {
                self.nodes[n].consumers.remove(&session);
                self.nodes[n].detached.remove(&session);
                self.nodes[n].acks.remove(&session);
                if !self.logging_out {
                    return Err(format!("node {n}: session {session} ended: {reason}"));
                }
                if !self.nodes[n].bus_cut {
                    self.bus.delete(session);
                }
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

    pub(crate) fn bus_done(&mut self, n: usize, inc: u64, op: BusOp) -> Step {
        let alive = self.nodes[n].is_up(inc);
        let reachable = alive && !self.nodes[n].bus_cut;
        let now_ms = self.now.as_millis() as u64;
        let me = self.nodes[n].owner_id;
        match op {
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
            }
            _ if !alive => {}
            BusOp::Claim { claim, .. } | BusOp::TakeOver { claim, .. } if !reachable => {
                self.answer(n, claim, ClaimAnswer::Refused(ClaimRefusal::Unavailable))?;
            }
            BusOp::Claim {
                claim,
                kind: ClaimKind::Open,
                session,
                user,
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
                    self.nodes[n].opening.insert(session, (user, start));
                    self.answer(n, claim, ClaimAnswer::Opened)?;
                    if self.nodes[n].opening.remove(&session).is_some() {
                        // No session came of it: give the record back.
                        self.bus.delete(session);
                    }
                } else {
                    self.observe("session id taken in the store");
                    self.answer(n, claim, ClaimAnswer::IdTaken)?;
                }
            }
            BusOp::Claim {
                claim,
                session,
                user,
                ..
            } => {
                let refusal = match self.bus.get(session) {
                    None => Some(ClaimRefusal::UnknownSession),
                    Some((_, r)) if r.user != user => Some(ClaimRefusal::UnknownSession),
                    Some((_, r)) if r.owner != 0 && r.owner != me && r.owner_until_ms > now_ms => {
                        self.observe("resume waits for the owner's lease");
                        Some(ClaimRefusal::HeldElsewhere)
                    }
                    Some(_) => None,
                };
                if let Some(refusal) = refusal {
                    self.answer(n, claim, ClaimAnswer::Refused(refusal))?;
                    return Ok(());
                }
                let (revision, r) = self.bus.get(session).ok_or("the record vanished")?;
                let mut record = r.clone();
                record.owner = me;
                record.owner_until_ms = now_ms + OWNER_LEASE.as_millis() as u64;
                let at = self.now + self.bus_latency(n);
                self.schedule(
                    at,
                    Ev::Bus(
                        n,
                        inc,
                        BusOp::TakeOver {
                            claim,
                            session,
                            revision,
                            record,
                        },
                    ),
                );
            }
            BusOp::TakeOver {
                claim,
                session,
                revision,
                record,
            } => {
                if !self.bus.update(session, record.clone(), revision) {
                    // [D-17]: exactly one of the racers wins; the loser's
                    // client tries again (and finds the winner's lease).
                    self.observe("compare-and-set lost a race");
                    self.answer(n, claim, ClaimAnswer::Refused(ClaimRefusal::HeldElsewhere))?;
                    return Ok(());
                }
                let restore = SessionRecord::new(record.user.clone(), record.acked);
                self.nodes[n].restoring.insert(session, record);
                let applied = self.answer(n, claim, ClaimAnswer::Restore(restore))?;
                self.nodes[n].restoring.remove(&session);
                if !applied {
                    self.give_back(n, session);
                }
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
        let me = self.nodes[n].owner_id;
        if self.now >= self.nodes[n].last_renew + RENEW {
            self.nodes[n].last_renew = self.now;
            let held: Vec<SessionId> = self.core(n)?.sessions().map(|s| s.id).collect();
            let until = (self.now + OWNER_LEASE).as_millis() as u64;
            for sid in held {
                let Some((rev, r)) = self.bus.get(sid) else {
                    return Err(format!("node {n} holds {sid}, which has no record"));
                };
                if r.owner != me {
                    return Err(format!("node {n} holds {sid}, owned by {}", r.owner));
                }
                let mut r = r.clone();
                r.owner_until_ms = until;
                self.bus.update(sid, r, rev);
            }
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

    /// Reads the log into every session this node holds, with the seqs
    /// the log gives them: the rest of one log message at a time, in one
    /// call to the core, as the real reader hands it over.
    fn pump(&mut self, n: usize) -> Step {
        let now = self.instant();
        let sessions: Vec<SessionId> = self.nodes[n].consumers.keys().copied().collect();
        for sid in sessions {
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
