//! Errors of the runtime's API. The core's errors pass through unchanged;
//! the requests' errors are faxnotify-runtime's, shared with every runtime.

pub use faxnotify_runtime::{
    ChangeSettingsError, Closed, EndSessionError, LogoutError, NotifyError, PostError,
    SetTlsIdentityError,
};

use std::io;
use std::net::SocketAddr;

use faxnotify_core::client::{self, BindError, StopReason};
use faxnotify_core::server;

use crate::options::OptionsError;

/// Why [`Server::bind`](crate::Server::bind) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerStartError {
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
pub enum ClientStartError {
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
    Listen(StopReason),
    /// The OS could not provide a seed.
    #[error("cannot seed the random number generator: {0}")]
    Seed(getrandom::Error),
    /// The runtime could not start the client's driver (no thread, no
    /// runtime to spawn on).
    #[error("cannot start the client's task: {0}")]
    Spawn(#[source] io::Error),
}
