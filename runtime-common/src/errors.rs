//! The errors of the requests an application makes of a running server or
//! client ([`ServerRequest`](crate::ServerRequest),
//! [`ClientRequest`](crate::ClientRequest)), the same on every runtime.
//! The core's errors pass through unchanged, as variants; every runtime
//! adds only [`Closed`]: the event loop has ended, so nobody is left to
//! answer.

use faxnotify_core::client;
use faxnotify_core::server::{self, UnknownSession};

/// The server or client has stopped running (shut down, stopped, or every
/// handle dropped): there is nobody left to answer the request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("it has stopped running")]
pub struct Closed;

/// Why a server's `notify` failed.
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

/// Why a server's `end_session` failed.
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

/// Why a server's `set_tls_identity` failed (the server keeps the
/// identity it has).
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

/// Why a client's `logout` failed.
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

/// Why a client's `change_settings` failed.
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

/// `?` on a request whose loop has ended gives the request's `Closed`.
macro_rules! from_closed {
    ($($error:ident),*) => {$(
        impl From<Closed> for $error {
            fn from(_: Closed) -> Self {
                $error::Closed
            }
        }
    )*};
}
from_closed!(
    NotifyError,
    EndSessionError,
    SetTlsIdentityError,
    LogoutError,
    ChangeSettingsError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_reads_as_the_side_that_stopped() {
        assert_eq!(
            NotifyError::from(Closed).to_string(),
            "the server has shut down"
        );
        assert_eq!(
            LogoutError::from(Closed).to_string(),
            "the client has stopped running"
        );
    }
}
