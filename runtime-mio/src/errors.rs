//! The runtime's errors. The core's errors pass through unchanged, as
//! variants; the requests' errors are faxnotify-runtime's, shared with
//! every runtime.

pub use faxnotify_runtime::{
    ChangeSettingsError, Closed, EndSessionError, LogoutError, NotifyError, SetTlsIdentityError,
};

use std::io;
use std::net::SocketAddr;

use faxnotify_core::client::{self, BindError, StopReason};
use faxnotify_core::server;

use crate::options::OptionsError;

/// Why a [`Server`](crate::Server) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerStartError {
    /// The core refused the configuration.
    #[error("invalid server configuration: {0}")]
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
    #[error("invalid client configuration: {0}")]
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
    #[error("the client has stopped running")]
    Closed,
}

#[cfg(feature = "test-hooks")]
impl From<Closed> for ResumeError {
    fn from(_: Closed) -> Self {
        ResumeError::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_configuration_says_which_one_as_on_the_async_runtimes() {
        let e = ClientStartError::from(client::ConfigError::NoServer);
        let text = e.to_string();
        assert!(text.starts_with("invalid client configuration: "), "{text}");
        assert!(
            text.ends_with(&client::ConfigError::NoServer.to_string()),
            "{text}"
        );
    }
}
