//! Typed errors of the server's operations. These are API misuse or
//! application-level refusals; a misbehaving peer never causes one (it gets an
//! ERROR frame, its connection is closed and the application sees an event).

use std::time::Duration;

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
