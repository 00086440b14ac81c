//! The accounting of every notification the server accepted, and the
//! delivery invariants checked against it as the simulation runs (see the
//! [module documentation](super) for the rules).

use std::collections::BTreeMap;
use std::fmt;

use faxnotify_core::SessionId;

/// A session of one server process (ids are random per process, so the
/// process is part of the key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SessionKey {
    /// The server process (0 for the first, +1 per restart).
    pub server: u32,
    /// The session.
    pub id: SessionId,
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server#{}/{}", self.server, self.id)
    }
}

/// What became of one accepted notification, as far as the server knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// Queued, not acknowledged, not reported.
    Pending,
    /// Acknowledged: the server's application got [`Delivered`](faxnotify_core::server::Event::Delivered).
    Acked,
    /// Reported to the server's application as undelivered.
    Undelivered,
    /// The server process died holding it: nobody can report it.
    Lost,
}

#[derive(Debug)]
struct SessionRecord {
    /// The client whose user logged in.
    client: usize,
    /// Payload id per seq (index `seq - 1`).
    accepted: Vec<u64>,
    outcome: Vec<Outcome>,
    /// Highest seq acknowledged (Delivered is cumulative and contiguous).
    acked: u64,
    /// Highest seq handed to a client application (handing is contiguous).
    handed: u64,
    /// The client process the session's notifications were handed to.
    handed_to: Option<(usize, u32)>,
    /// Highest ACK / CB_READY value the server was fed for this session.
    acks_fed: u64,
    /// Highest such value the server certainly read: fed on a connection it
    /// had open, in a call that closed neither the connection nor the session.
    acks_read: u64,
    closed: bool,
}

/// Counts of what happened to the notifications of a run.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Accepted by the server for some session.
    pub accepted: u64,
    /// Refused because the session's queue was full [B-6].
    pub refused_queue_full: u64,
    /// Handed to the client application and acknowledged.
    pub confirmed: u64,
    /// Reported undelivered and never handed to any client application.
    pub undelivered: u64,
    /// Handed to the client application, but the ACK never reached the
    /// server before the session ended, so it is also reported undelivered
    /// (the client crashed, or the session ended while the ACK was in flight).
    pub unconfirmed: u64,
    /// Held by a server process that died (never acknowledged, unreportable).
    pub lost_with_server: u64,
    /// Handed to the client application (all sessions).
    pub handed: u64,
}

/// Sums the tallies of several runs. The destructuring is exhaustive so a
/// new count cannot be left out of the sum.
impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        let Tally {
            accepted,
            refused_queue_full,
            confirmed,
            undelivered,
            unconfirmed,
            lost_with_server,
            handed,
        } = other;
        self.accepted += accepted;
        self.refused_queue_full += refused_queue_full;
        self.confirmed += confirmed;
        self.undelivered += undelivered;
        self.unconfirmed += unconfirmed;
        self.lost_with_server += lost_with_server;
        self.handed += handed;
    }
}

/// The accounting. Each method checks the invariants that the event it
/// records can break, and returns the violation if one is broken.
#[derive(Debug)]
pub struct Ledger {
    sessions: BTreeMap<SessionKey, SessionRecord>,
    refused_queue_full: u64,
    /// The wiretap reads the ACKs the server is fed ([`Ledger::ack_fed`]).
    /// Over TLS it cannot: the ACK rules then rest on what the client
    /// application was handed, and "an ACK the server read was ignored"
    /// is checked by the plain runs only (the same code reads the
    /// plaintext behind TLS).
    acks_seen: bool,
}

impl Ledger {
    /// An empty ledger; `acks_seen`: the wiretap reports the ACKs fed to the server.
    pub fn new(acks_seen: bool) -> Self {
        Self {
            sessions: BTreeMap::new(),
            refused_queue_full: 0,
            acks_seen,
        }
    }
}

type Check = Result<(), String>;

impl Ledger {
    /// A session was opened by `client`'s user.
    pub fn opened(&mut self, key: SessionKey, client: usize) -> Check {
        if self.sessions.contains_key(&key) {
            return Err(format!(
                "session {key} opened twice (ids are never reused [C-10])"
            ));
        }
        self.sessions.insert(
            key,
            SessionRecord {
                client,
                accepted: Vec::new(),
                outcome: Vec::new(),
                acked: 0,
                handed: 0,
                handed_to: None,
                acks_fed: 0,
                acks_read: 0,
                closed: false,
            },
        );
        Ok(())
    }

    fn session(&mut self, key: SessionKey, what: &str) -> Result<&mut SessionRecord, String> {
        self.sessions
            .get_mut(&key)
            .ok_or_else(|| format!("{what} for {key}, which was never opened"))
    }

    /// `notify` accepted payload `id` as `seq` of the session.
    pub fn accepted(&mut self, key: SessionKey, seq: u64, id: u64) -> Check {
        let s = self.session(key, "notification accepted")?;
        if s.closed {
            return Err(format!("{key} accepted seq {seq} after it closed"));
        }
        let expected = s.accepted.len() as u64 + 1;
        if seq != expected {
            return Err(format!(
                "{key} accepted seq {seq}; seqs start at 1 and grow by 1, so {expected} was next [B-2]"
            ));
        }
        s.accepted.push(id);
        s.outcome.push(Outcome::Pending);
        Ok(())
    }

    /// `notify` refused a session because its queue was full.
    pub fn refused_queue_full(&mut self) {
        self.refused_queue_full += 1;
    }

    /// The server was fed an ACK (or CB_READY) with `seq` for the session;
    /// `read` when it certainly processed it (see [`SessionRecord::acks_read`]).
    pub fn ack_fed(&mut self, key: SessionKey, seq: u64, read: bool) {
        if let Some(s) = self.sessions.get_mut(&key) {
            s.acks_fed = s.acks_fed.max(seq);
            if read && !s.closed {
                s.acks_read = s.acks_read.max(seq);
            }
        }
    }

    /// The server's application was told `first..=last` were acknowledged.
    pub fn delivered(&mut self, key: SessionKey, first: u64, last: u64) -> Check {
        let acks_seen = self.acks_seen;
        let s = self.session(key, "Delivered")?;
        if s.closed {
            return Err(format!(
                "{key}: Delivered {first}..={last} after the session closed"
            ));
        }
        if first != s.acked + 1 || last < first {
            return Err(format!(
                "{key}: Delivered {first}..={last} does not continue the acknowledged {}",
                s.acked
            ));
        }
        if last > s.accepted.len() as u64 {
            return Err(format!(
                "{key}: Delivered up to {last}, but only {} were accepted",
                s.accepted.len()
            ));
        }
        if acks_seen && last > s.acks_fed {
            return Err(format!(
                "{key}: Delivered up to {last}, but the client acknowledged at most {} [B-2]",
                s.acks_fed
            ));
        }
        if last > s.handed {
            return Err(format!(
                "{key}: seq {last} acknowledged, but the client application got only up to {}",
                s.handed
            ));
        }
        for seq in first..=last {
            let o = &mut s.outcome[seq as usize - 1];
            if *o != Outcome::Pending {
                return Err(format!("{key}: seq {seq} acknowledged after it was {o:?}"));
            }
            *o = Outcome::Acked;
        }
        s.acked = last;
        Ok(())
    }

    /// The server's application was told these (seq, payload id) of the
    /// session are undelivered.
    pub fn undelivered(&mut self, key: SessionKey, list: &[(u64, Option<u64>)]) -> Check {
        let s = self.session(key, "Undelivered")?;
        if s.closed {
            return Err(format!("{key}: Undelivered after the session closed"));
        }
        let expected: Vec<u64> = (s.acked + 1..=s.accepted.len() as u64).collect();
        let got: Vec<u64> = list.iter().map(|(seq, _)| *seq).collect();
        if got != expected {
            return Err(format!(
                "{key}: Undelivered lists seqs {got:?}, but exactly the unacknowledged {expected:?} \
                 must be reported [C-10]"
            ));
        }
        for &(seq, id) in list {
            let want = s.accepted[seq as usize - 1];
            if id != Some(want) {
                return Err(format!(
                    "{key}: Undelivered seq {seq} carries payload {id:?}, but payload n{want} was accepted as it"
                ));
            }
            if seq <= s.acks_read {
                return Err(format!(
                    "{key}: seq {seq} reported undelivered, but the server had read an ACK for {}",
                    s.acks_read
                ));
            }
            s.outcome[seq as usize - 1] = Outcome::Undelivered;
        }
        Ok(())
    }

    /// The session ended on the server.
    pub fn closed(&mut self, key: SessionKey) -> Check {
        let s = self.session(key, "SessionClosed")?;
        if s.closed {
            return Err(format!("{key} closed twice"));
        }
        if let Some(seq) = s.outcome.iter().position(|o| *o == Outcome::Pending) {
            return Err(format!(
                "{key} closed with seq {} neither acknowledged nor reported undelivered [C-10]",
                seq + 1
            ));
        }
        s.closed = true;
        Ok(())
    }

    /// The server process died: whatever its sessions held is lost.
    pub fn server_died(&mut self, server: u32) {
        for (key, s) in self.sessions.iter_mut() {
            if key.server == server && !s.closed {
                for o in &mut s.outcome {
                    if *o == Outcome::Pending {
                        *o = Outcome::Lost;
                    }
                }
                s.closed = true;
            }
        }
    }

    /// Client process (`client`, `incarnation`) handed `seq` of the session
    /// to its application, with payload `id`.
    pub fn handed(
        &mut self,
        key: SessionKey,
        client: usize,
        incarnation: u32,
        seq: u64,
        id: Option<u64>,
    ) -> Check {
        let s = self.session(key, "notification handed to a client")?;
        if s.client != client {
            return Err(format!(
                "client {client} was handed seq {seq} of {key}, a session of client {}",
                s.client
            ));
        }
        match s.handed_to {
            None => s.handed_to = Some((client, incarnation)),
            Some(p) if p == (client, incarnation) => {}
            Some((_, inc)) => {
                return Err(format!(
                    "client {client} process #{incarnation} was handed seq {seq} of {key}, whose \
                     notifications went to its process #{inc}: a restarted client must log in anew [B-2]"
                ));
            }
        }
        if seq != s.handed + 1 {
            return Err(format!(
                "client {client} was handed seq {seq} of {key} after seq {}: each seq exactly once \
                 and in order [B-3]",
                s.handed
            ));
        }
        let Some(&want) = s.accepted.get(seq as usize - 1) else {
            return Err(format!(
                "client {client} was handed seq {seq} of {key}, which the server never accepted"
            ));
        };
        if id != Some(want) {
            return Err(format!(
                "client {client} was handed payload {id:?} as seq {seq} of {key}, accepted as n{want}"
            ));
        }
        s.handed = seq;
        Ok(())
    }

    /// The final check, once every session has ended: every accepted
    /// notification has exactly one outcome. Returns the tally.
    pub fn finish(&self) -> Result<Tally, String> {
        let mut t = Tally {
            refused_queue_full: self.refused_queue_full,
            ..Tally::default()
        };
        for (key, s) in &self.sessions {
            if !s.closed {
                return Err(format!("{key} is still open at the end"));
            }
            for (i, o) in s.outcome.iter().enumerate() {
                let seq = i as u64 + 1;
                let handed = seq <= s.handed;
                t.accepted += 1;
                t.handed += u64::from(handed);
                match (o, handed) {
                    (Outcome::Pending, _) => {
                        return Err(format!("{key} seq {seq} has no outcome"));
                    }
                    (Outcome::Acked, true) => t.confirmed += 1,
                    (Outcome::Acked, false) => {
                        return Err(format!("{key} seq {seq} acknowledged but never handed"));
                    }
                    (Outcome::Undelivered, false) => t.undelivered += 1,
                    (Outcome::Undelivered, true) => t.unconfirmed += 1,
                    (Outcome::Lost, _) => t.lost_with_server += 1,
                }
            }
        }
        Ok(t)
    }
}
