//! The runtime's errors. The core's errors pass through unchanged, as
//! variants.

use std::io;
use std::net::SocketAddr;

use faxnotify_core::client::{self, BindError, StopReason};
use faxnotify_core::server;

use crate::options::OptionsError;

/// The event loop has ended (shut down, stopped, or dropped): the call
/// could not be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the event loop has ended")]
pub struct Stopped;

/// Why a [`Server`](crate::Server) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerStartError {
    /// The core refused the configuration.
    #[error(transparent)]
    Config(#[from] server::ConfigError),
    /// The loop options are unusable.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// No listen address was given.
    #[error("no listen address given")]
    NoListenAddress,
    /// A listen address could not be bound (`AddrInUse`, `PermissionDenied`
    /// or another failure, mapped as the client core maps its own binds).
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: BindError,
    },
    /// Creating the poller or the loop thread failed.
    #[error("cannot start the event loop: {0}")]
    Io(#[from] io::Error),
}

/// Why a [`Client`](crate::Client) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientStartError {
    /// The core refused the configuration.
    #[error(transparent)]
    Config(#[from] client::ConfigError),
    /// The loop options are unusable.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The callback listener could not be bound by the listen policy: the
    /// core's reason, unchanged ([`StopReason::FixedPortInUse`],
    /// [`StopReason::RangeExhausted`] or [`StopReason::ListenFailed`]).
    #[error(transparent)]
    Listen(StopReason),
    /// Creating the poller or the loop thread failed.
    #[error("cannot start the event loop: {0}")]
    Io(#[from] io::Error),
}

/// Why [`ServerHandle::notify`](crate::ServerHandle::notify) failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The core could not encode the notification.
    #[error(transparent)]
    Core(#[from] server::NotifyError),
    /// The event loop has ended.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// Why [`ServerHandle::end_session`](crate::ServerHandle::end_session) failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndSessionError {
    /// No live session has this id.
    #[error(transparent)]
    Unknown(#[from] server::UnknownSession),
    /// The event loop has ended.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// Why [`ServerHandle::set_tls_identity`](crate::ServerHandle::set_tls_identity)
/// failed (the server keeps the identity it has).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetTlsIdentityError {
    /// The server was started without TLS: a port runs plain FNP/1 or
    /// FNP/1 over TLS, never one and then the other [T-1].
    #[error("the server runs plain TCP, not TLS: start it with a certificate to use one")]
    PlainServer,
    /// The event loop has ended.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// Why [`ClientHandle::logout`](crate::ClientHandle::logout) failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The core refused (already finished, or already logging out).
    #[error(transparent)]
    Core(#[from] client::LogoutError),
    /// The event loop has ended.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// Why [`ClientHandle::change_settings`](crate::ClientHandle::change_settings) failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeSettingsError {
    /// The core refused (settings locked while logged in, or invalid).
    #[error(transparent)]
    Core(#[from] client::ChangeSettingsError),
    /// The event loop has ended.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// How the event loop thread ended, from `Server::shutdown`/`Server::join`
/// or `Client::join`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// `poll` failed.
    #[error("the event loop failed: {0}")]
    Io(#[from] io::Error),
    /// The loop thread panicked (a bug).
    #[error("the event loop thread panicked")]
    Panicked,
}

/// Why resuming a suspended callback listener failed (test hook).
#[cfg(feature = "test-hooks")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// Binding the same address again failed.
    #[error("cannot re-open the callback listener: {0}")]
    Io(#[from] io::Error),
    /// The event loop has ended.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}
