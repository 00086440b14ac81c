//! The client's state as a user interface shows it.

use std::time::Duration;

use crate::SessionId;
use crate::wire::CallbackState;

/// Where the client is in its life ([`Client::state`](super::Client::state)).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClientState {
    /// Binding the callback listener (nothing sent on the network yet).
    Starting,
    /// Dialling the server or logging in.
    Connecting {
        /// The session being resumed, if any.
        resuming: Option<SessionId>,
        /// Failed attempts since the last successful login.
        attempt: u32,
    },
    /// Logged in.
    LoggedIn {
        /// The session.
        session: SessionId,
        /// The last CALLBACK_STATUS on this connection, if any yet.
        callback: Option<CallbackState>,
    },
    /// Waiting before the next connection attempt.
    WaitingToReconnect {
        /// The session to resume, if any.
        session: Option<SessionId>,
        /// Failed attempts in a row.
        attempt: u32,
        /// Time left until the attempt, as of the last call that took `now`.
        retry_in: Duration,
    },
    /// LOGOUT sent, waiting for the server's BYE.
    LoggingOut,
    /// Logged out; finished.
    LoggedOut,
    /// Stopped for good after a fatal error; finished.
    Stopped,
}
