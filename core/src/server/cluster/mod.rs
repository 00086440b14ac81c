//! Cluster mode [D-17]: what one server core needs to be one of several
//! servers that share a replicated log of notifications and a store of
//! session records, both kept by the application (the bus).
//!
//! The core stays sans-IO: it never talks to the bus. It asks the
//! application through events and takes the answers through `handle_*`
//! calls:
//!
//! - every login with a valid proof waits for the application
//!   ([`Event::ClaimSession`]): a new session is registered in the shared
//!   store before LOGIN_OK, a resume of a session this server does not hold
//!   is looked up and taken over ([`Server::handle_claim`]);
//! - notifications come from the shared log with their session seq
//!   ([`Server::notify_session_at`]), so every server that reads the log
//!   numbers them alike;
//! - [`Event::Delivered`] says what to persist as acknowledged;
//! - [`Server::release_session`] lets go of a session without ending it
//!   (the server lost its ownership), and [`Server::set_bus_available`]
//!   makes the server refuse what it could not make durable.

mod claims;
mod ownership;
mod sequenced;

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use super::login::PendingLogin;
use crate::auth::SessionKey;
use crate::{ConnId, SessionId};

#[cfg(doc)]
use super::{Event, Server};

/// A login waiting for the application's answer in cluster mode, from
/// [`Event::ClaimSession`] to [`Server::handle_claim`]. Never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ClaimId(u64);

impl ClaimId {
    /// The claim with this raw number (for tests; the server issues them
    /// counting up from 1).
    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number (for logs and maps).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "claim#{}", self.0)
    }
}

/// What a login in cluster mode asks the application for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClaimKind {
    /// A new session: create its record in the shared store (it must not
    /// exist yet) and fix where it starts in the log, before LOGIN_OK.
    /// Answers: [`ClaimAnswer::Opened`], [`ClaimAnswer::IdTaken`] or a refusal.
    Open,
    /// A resume of a session this server does not hold: look its record
    /// up and take it over. Answers: [`ClaimAnswer::Restore`] or a refusal.
    Resume,
}

impl fmt::Display for ClaimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClaimKind::Open => "open a new session",
            ClaimKind::Resume => "resume a session held elsewhere",
        })
    }
}

/// The application's answer to a claim.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClaimAnswer {
    /// ([`ClaimKind::Open`]) The session's record exists now: LOGIN_OK goes out.
    Opened,
    /// ([`ClaimKind::Open`]) Another server already has a session with
    /// this id: the core draws another and asks again (a few times, then
    /// the login is refused as unavailable).
    IdTaken,
    /// ([`ClaimKind::Resume`]) This server owns the session now: restore it
    /// from its record and attach it to the login [C-6].
    Restore(SessionRecord),
    /// No session for this login.
    Refused(ClaimRefusal),
}

/// Why the application refuses a claim.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClaimRefusal {
    /// The session does not exist, has expired or belongs to another
    /// user: `ERROR UNKNOWN_SESSION` [C-6], the client logs in anew.
    UnknownSession,
    /// The shared store cannot be reached or did not answer: `ERROR
    /// SHUTTING_DOWN` ("the cluster bus is unreachable"), the client keeps
    /// its session id and tries again after its backoff [D-17].
    Unavailable,
    /// The session's owner still holds its lease, or another server won
    /// the race to take it over: `ERROR SHUTTING_DOWN` as for
    /// [`Unavailable`](Self::Unavailable), with a message that says so (an
    /// operator watching a failover must not read "bus unreachable" while
    /// the bus is fine) [D-17].
    HeldElsewhere,
}

/// What the shared store says about a session, for a restore.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session's user (prepared name); it must be the user who logged in.
    pub user: String,
    /// The highest session seq the client acknowledged, as last persisted:
    /// the restored session's next seq is this + 1.
    pub acked_seq: u64,
}

impl SessionRecord {
    /// A record of `user`'s session acknowledged up to `acked_seq`.
    pub fn new(user: impl Into<String>, acked_seq: u64) -> Self {
        Self {
            user: user.into(),
            acked_seq,
        }
    }
}

/// What [`Server::notify_session_at`] did with a notification.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Sequenced {
    /// Queued at its seq, and sent if a path is up.
    Queued,
    /// At or below the seq the session's record or client acknowledged:
    /// nothing to do (the log is read from a persisted point that lags).
    AlreadyAcknowledged,
    /// The client said, when it resumed here, that it already had this
    /// seq from the session's previous server [D-17]: reported
    /// [`Event::Delivered`] at once, not sent again.
    DeliveredBefore,
}

/// What [`Server::notify_session_run_at`] did with a run it took whole,
/// or with the prefix it took before a refusal: how many of each outcome
/// of [`Sequenced`], in seq order (acknowledged, then delivered before,
/// then queued).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct RunSequenced {
    /// Queued at their seqs ([`Sequenced::Queued`]).
    pub queued: usize,
    /// At or below the acknowledged seq ([`Sequenced::AlreadyAcknowledged`]).
    pub already_acknowledged: usize,
    /// Had by the client from the previous server ([`Sequenced::DeliveredBefore`]).
    pub delivered_before: usize,
}

impl RunSequenced {
    /// How many notifications of the run were taken.
    pub fn taken(&self) -> usize {
        self.queued + self.already_acknowledged + self.delivered_before
    }
}

/// A login waiting for the application, kept in its connection's phase.
pub(crate) struct PendingClaim {
    pub(crate) id: ClaimId,
    pub(crate) kind: ClaimKind,
    /// The session to open (a fresh id) or to resume (the requested id).
    pub(crate) session: SessionId,
    pub(crate) login: PendingLogin,
    /// Derived from the verified proof, for the session the claim gives.
    pub(crate) key: SessionKey,
    /// The claim times out here [D-17].
    pub(crate) deadline: Instant,
    /// Ids drawn for an open so far (bounded: see `MAX_OPEN_ATTEMPTS`).
    pub(crate) attempts: u8,
}

impl fmt::Debug for PendingClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingClaim")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("session", &self.session)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The cluster side of the server: whether the bus is up, and the claims
/// waiting for an answer (by id, to their login's connection).
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub(crate) bus_available: bool,
    pub(crate) claims: HashMap<ClaimId, ConnId>,
    next_claim: u64,
}

impl Default for ClusterState {
    fn default() -> Self {
        Self {
            bus_available: true,
            claims: HashMap::new(),
            next_claim: 1,
        }
    }
}

impl ClusterState {
    pub(crate) fn next_claim_id(&mut self) -> ClaimId {
        let id = ClaimId(self.next_claim);
        self.next_claim += 1;
        id
    }

    pub(crate) fn was_issued(&self, id: ClaimId) -> bool {
        id.0 >= 1 && id.0 < self.next_claim
    }
}
