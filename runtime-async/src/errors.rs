//! Errors of the runtime's API. The core's errors pass through unchanged.

use std::io;
use std::net::SocketAddr;

use faxnotify_core::client::{self, BindError, StopReason};
use faxnotify_core::server::{self, UnknownSession};

use crate::options::OptionsError;

/// The server or client has stopped running: there is nobody left to
/// answer the request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("it has stopped running")]
pub struct Closed;

/// Why [`Server::bind`](crate::Server::bind) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The core refused the configuration.
    #[error("invalid server configuration: {0}")]
    Config(#[from] server::ConfigError),
    /// The runtime options are invalid.
    #[error("invalid runtime options: {0}")]
    Options(#[from] OptionsError),
    /// The listening socket could not be bound (`AddrInUse` and
    /// `PermissionDenied` are told apart, as for the client's listener).
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        error: BindError,
    },
    /// The OS could not provide a seed.
    #[error("cannot seed the random number generator: {0}")]
    Seed(getrandom::Error),
    /// The runtime could not start the server's driver (no thread, no
    /// runtime to spawn on).
    #[error("cannot start the server's task: {0}")]
    Spawn(#[source] io::Error),
}

/// Why [`Client::start`](crate::Client::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The core refused the configuration.
    #[error("invalid client configuration: {0}")]
    Config(#[from] client::ConfigError),
    /// The runtime options are invalid.
    #[error("invalid runtime options: {0}")]
    Options(#[from] OptionsError),
    /// The client stopped before it was listening: the callback port could
    /// not be bound. The core's reason, unchanged:
    /// [`StopReason::FixedPortInUse`], [`StopReason::RangeExhausted`] or
    /// [`StopReason::ListenFailed`].
    #[error(transparent)]
    Stopped(StopReason),
    /// The OS could not provide a seed.
    #[error("cannot seed the random number generator: {0}")]
    Seed(getrandom::Error),
    /// The runtime could not start the client's driver (no thread, no
    /// runtime to spawn on).
    #[error("cannot start the client's task: {0}")]
    Spawn(#[source] io::Error),
}

/// Why [`Server::notify`](crate::Server::notify) failed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The core cannot encode the notification.
    #[error(transparent)]
    Core(#[from] server::NotifyError),
    /// The server has shut down.
    #[error("the server has shut down")]
    Closed,
}

/// Why [`Server::end_session`](crate::Server::end_session) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndSessionError {
    /// No live session has this id.
    #[error(transparent)]
    Unknown(#[from] UnknownSession),
    /// The server has shut down.
    #[error("the server has shut down")]
    Closed,
}

/// Why [`Server::set_tls_identity`](crate::Server::set_tls_identity) failed
/// (the server keeps the identity it has).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetTlsIdentityError {
    /// The server was started without TLS: a port runs plain FNP/1 or
    /// FNP/1 over TLS, never one and then the other [T-1].
    #[error("the server runs plain TCP, not TLS: start it with a certificate to use one")]
    PlainServer,
    /// The server has shut down.
    #[error("the server has shut down")]
    Closed,
}

/// Why [`Client::logout`](crate::Client::logout) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The core refused: already finished or already logging out.
    #[error(transparent)]
    Core(#[from] client::LogoutError),
    /// The client has stopped running.
    #[error("the client has stopped running")]
    Closed,
}

/// Why [`Client::change_settings`](crate::Client::change_settings) failed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeSettingsError {
    /// The core refused (settings locked while logged in, or invalid).
    #[error(transparent)]
    Core(#[from] client::ChangeSettingsError),
    /// The client has stopped running.
    #[error("the client has stopped running")]
    Closed,
}
