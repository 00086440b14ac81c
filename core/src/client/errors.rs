//! Errors of the client's API calls (API misuse and bad configuration).
//!
//! Peer misbehaviour is never one of these: it becomes an ERROR frame, a
//! closed connection and an [`Event`](super::Event).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::ConnId;
use crate::auth::PrepError;

use super::settings::SettingsError;

/// Why a [`ClientConfig`](super::ClientConfig) is refused by [`Client::new`](super::Client::new).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TLS settings cannot be used.
    #[error("invalid TLS settings: {0}")]
    Tls(#[from] crate::tls::TlsConfigError),
    /// The network settings are invalid.
    #[error("invalid network settings: {0}")]
    Settings(#[from] SettingsError),
    /// The user name or password is refused by RFC 8265.
    #[error(transparent)]
    Credentials(#[from] PrepError),
    /// The prepared user name does not fit LOGIN's `user` field.
    #[error("user name is {len} bytes long after preparation; at most 4096 are allowed")]
    UserTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The server address has port 0.
    #[error("server address {0} has port 0")]
    ServerPortZero(SocketAddr),
    /// [`ClientConfig::servers`](super::ClientConfig::servers) is empty.
    #[error("no server address: give at least one")]
    NoServer,
    /// The server addresses mix IPv4 and IPv6: the one callback listener
    /// can take callbacks in one family only [C-1].
    #[error(
        "server addresses {first} and {other} are of different address families; \
         the callback listener takes the family of the servers, so list servers of one \
         family (IPv4 or IPv6)"
    )]
    ServerFamiliesMixed {
        /// The first server.
        first: SocketAddr,
        /// A server of the other family.
        other: SocketAddr,
    },
    /// The iteration cap is below the protocol minimum, so no login could succeed.
    #[error("iteration cap {cap} is below the protocol minimum of {min} [A-4]")]
    IterationCapTooLow {
        /// The cap given.
        cap: u32,
        /// The protocol minimum (4 096).
        min: u32,
    },
    /// A timeout of zero.
    #[error("{name} must not be zero")]
    ZeroDuration {
        /// Which setting.
        name: &'static str,
    },
    /// The reconnect backoff's first delay exceeds its maximum.
    #[error("reconnect backoff starts at {initial:?}, above its maximum of {max:?}")]
    BackoffInverted {
        /// The first delay.
        initial: Duration,
        /// The maximum delay.
        max: Duration,
    },
    /// Jitter of 100 % or more could make a delay zero or negative.
    #[error("reconnect jitter of {0} % is too large; it must be below 100 %")]
    JitterTooLarge(u8),
    /// A connection limit of zero, so no callback could ever be accepted.
    #[error("{name} must be at least 1")]
    ZeroLimit {
        /// Which setting.
        name: &'static str,
    },
    /// The callback listener's address is not of the server's address
    /// family, so the server could never dial it [C-1].
    #[error(
        "the callback listen address {ip} is not of the server's address family ({server}); \
         the server dials the address the client connects from"
    )]
    ListenAddressFamily {
        /// The listen address (the setting, or the route's local address).
        ip: IpAddr,
        /// The server.
        server: SocketAddr,
    },
}

/// Why an input was refused: the adapter misused the API. The client's state
/// is unchanged.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The client never issued this connection handle.
    #[error("{conn} was never issued by this client")]
    UnknownConnection {
        /// The handle.
        conn: ConnId,
    },
    /// `Connected` or `ConnectFailed` for a connection the client did not
    /// ask to dial (an accepted callback connection).
    #[error("{conn} is an accepted connection, not one the client dialled")]
    NotDialled {
        /// The handle.
        conn: ConnId,
    },
    /// `Connected` or `ConnectFailed` reported twice for one dial.
    #[error("{conn} is already connected")]
    AlreadyConnected {
        /// The handle.
        conn: ConnId,
    },
    /// `Received` before `Connected` for a dialled connection.
    #[error("{conn} received data before it was reported connected")]
    NotConnected {
        /// The handle.
        conn: ConnId,
    },
    /// `Bound` or `BindFailed` without a pending [`Output::Listen`](super::Output::Listen).
    #[error("no Listen is pending")]
    NoListenPending,
    /// `Bound` or `BindFailed` for another address than the pending `Listen`.
    #[error("the pending Listen is for {requested}, not {reported}")]
    ListenMismatch {
        /// The address the client asked to bind.
        requested: SocketAddr,
        /// The address the adapter reported.
        reported: SocketAddr,
    },
}

/// Why [`Client::logout`](super::Client::logout) was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The client has already stopped (logged out or failed).
    #[error("the client has already stopped")]
    Finished,
    /// A logout is already under way.
    #[error("a logout is already under way")]
    AlreadyLoggingOut,
}
