//! Typed errors of the server's operations. These are API misuse or
//! application-level refusals; a misbehaving peer never causes one (it gets an
//! ERROR frame, its connection is closed and the application sees an event).

use std::time::Duration;

use super::cluster::{ClaimId, ClaimKind};
use crate::wire::{Caps, EncodeError, MAX_PAYLOAD_LEN};
use crate::{ConnId, SessionId};

/// Why [`Server::new`](super::Server::new) refuses a configuration.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The lease is below the protocol's 3 s [C-5].
    #[error("lease {lease:?} is below the protocol minimum of 3 s")]
    LeaseTooShort {
        /// The configured lease.
        lease: Duration,
    },
    /// The lease does not fit LOGIN_OK.lease_ms (a u32 of milliseconds).
    #[error("lease {lease:?} does not fit in 32 bits of milliseconds")]
    LeaseTooLong {
        /// The configured lease.
        lease: Duration,
    },
    /// A count or duration that must not be zero.
    #[error("{field} must not be zero")]
    Zero {
        /// The offending field.
        field: &'static str,
    },
    /// The server name is longer than a `str` field allows.
    #[error("server_name is {len} bytes; at most 4096 fit in SERVER_HELLO")]
    ServerNameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Capability bits this crate does not implement.
    #[error("caps {caps} include bits this implementation does not support")]
    UnsupportedCaps {
        /// The configured capabilities.
        caps: Caps,
    },
    /// The backoff ceiling is below its first step.
    #[error("dial backoff max {max:?} is below its initial delay {initial:?}")]
    BackoffMaxBelowInitial {
        /// The first delay.
        initial: Duration,
        /// The ceiling.
        max: Duration,
    },
    /// A duration longer than the server supports for it.
    #[error("{field} of {value:?} is longer than the {max:?} this server allows")]
    TooLong {
        /// The offending field.
        field: &'static str,
        /// Its configured value.
        value: Duration,
        /// The longest allowed.
        max: Duration,
    },
    /// Jitter over 100 % would allow negative delays.
    #[error("dial backoff jitter of {percent} % is over 100 %")]
    JitterOver100 {
        /// The configured percentage.
        percent: u8,
    },
}

/// Why [`Server::handle_input`](super::Server::handle_input) refuses an input:
/// the adapter passed something that cannot be true.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The server never issued this connection handle.
    #[error("{0} was never issued by this server")]
    UnknownConnection(ConnId),
    /// `Connected` or `ConnectFailed` for a connection that is not a dial in progress.
    #[error("{0} is not a dial waiting for its outcome")]
    NotADial(ConnId),
    /// `Received` for a dial that has not been reported `Connected` yet.
    #[error("{0} received bytes before it was reported connected")]
    NotConnected(ConnId),
    /// `Bound` or `BindFailed`: the server never asks for a listener
    /// (the adapter owns the server's listening socket).
    #[error("the server never asks for a listener, so Bound and BindFailed cannot happen")]
    NotAListener,
}

/// Why a notification was not queued for one session.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// No live session has this id.
    #[error("no such session")]
    NoSuchSession,
    /// The session's queue holds `limit` unacknowledged notifications [B-6].
    #[error("the session's queue is full ({limit} notifications)")]
    QueueFull {
        /// The configured queue limit.
        limit: usize,
    },
    /// The payload does not fit in a NOTIFY frame.
    #[error("payload is {len} bytes; at most {MAX_PAYLOAD_LEN} fit in a NOTIFY")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
    },
    /// Cluster mode numbers notifications from the shared log [D-17]: they
    /// come in through [`Server::notify_session_at`](super::Server::notify_session_at),
    /// never through the server's own numbering.
    #[error(
        "in cluster mode notifications come from the shared log with their seq (notify_session_at)"
    )]
    Clustered,
    /// The application said the cluster bus is unreachable [D-17]: nothing
    /// is queued that the cluster could not make durable.
    #[error("not durable: the cluster bus is unreachable")]
    BusUnavailable,
}

/// Why [`Server::notify_session_at`](super::Server::notify_session_at)
/// did not queue a notification at the seq it was given [D-17].
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeqError {
    /// The server is not in cluster mode: it numbers notifications itself.
    #[error("notify_session_at is for cluster mode; this server numbers notifications itself")]
    NotClustered,
    /// Refused for the session as a plain notify would be (queue full,
    /// no such session, payload too large, bus unavailable).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The seq skips ahead of the session's next one: an entry of the log
    /// was missed.
    #[error("seq {got} skips ahead: the session's next seq is {expected}")]
    Gap {
        /// The session's next seq.
        expected: u64,
        /// The seq given.
        got: u64,
    },
    /// The seq is already queued (sent or not, not yet acknowledged): the
    /// log was read twice.
    #[error("seq {got} is already queued: the session's next seq is {expected}")]
    Repeat {
        /// The session's next seq.
        expected: u64,
        /// The seq given.
        got: u64,
    },
    /// The seq is past the last one a session can have, `u64::MAX - 1`
    /// (kept below `u64::MAX` so that every seq has a next one): the
    /// log's entry is corrupt, or the session has used up its seqs. A run
    /// that reaches past `u64::MAX` names that as `u64::MAX` too.
    #[error("seq {got} is past the last seq a session can have (u64::MAX - 1)")]
    PastEnd {
        /// The seq given.
        got: u64,
    },
}

/// Why [`Server::notify_session_run_at`](super::Server::notify_session_run_at)
/// stopped before the end of a run [D-17]: the first `taken` notifications
/// were taken (queued, or acknowledged already), the one after them was
/// refused for `error`, and nothing after it was looked at.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{error} (after the first {taken} of the run were taken)")]
pub struct RunError {
    /// How many notifications from the start of the run were taken.
    pub taken: usize,
    /// Why the next one was not.
    #[source]
    pub error: SeqError,
}

/// Why [`Server::handle_claim`](super::Server::handle_claim) did not apply
/// an answer. In every case the login it named got no session from it, so
/// an application that took anything for it in the shared store (created a
/// record, took a session's ownership) must give it back.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// This server never issued the claim.
    #[error("{0} was never issued by this server")]
    NeverIssued(ClaimId),
    /// The claim was answered already, timed out, or its login went away
    /// (the client closed, the bus was declared unavailable, shutdown).
    #[error("{0} is no longer pending: answered, timed out, or its login went away")]
    NotPending(ClaimId),
    /// The answer does not fit the claim: a restore for a new session, or
    /// `Opened` / `IdTaken` for a resume. The login was refused.
    #[error("{claim} asked to {asked}; the answer does not fit")]
    WrongAnswer {
        /// The claim.
        claim: ClaimId,
        /// What it asked for.
        asked: ClaimKind,
    },
    /// The record to restore belongs to another user than the one who
    /// logged in: the login got `UNKNOWN_SESSION` [C-6].
    #[error("{0}: the record to restore belongs to another user")]
    OtherUser(ClaimId),
}

/// Why [`Server::notify`](super::Server::notify) could not notify anyone.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The notification cannot be encoded (a string or the payload is too long).
    #[error("notification cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
}

/// No live session has this id.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("no live session {0}")]
pub struct UnknownSession(pub SessionId);
