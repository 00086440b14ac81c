//! Readiness and stopping notifications for systemd (`Type=notify`).
//!
//! When the service manager started the server it sets `NOTIFY_SOCKET`;
//! the server then says `READY=1` once it listens (and serves its admin
//! socket and metrics), so units ordered after it start against a server
//! that answers, and `STOPPING=1` when a shutdown begins. Without
//! `NOTIFY_SOCKET` both do nothing. The datagram is sent by the
//! maintained `sd-notify` crate.

use sd_notify::NotifyState;

/// Tells systemd the server is ready (it listens and serves).
pub fn ready() {
    send(&[NotifyState::Ready], "ready");
}

/// Tells systemd the server is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping], "stopping");
}

fn send(states: &[NotifyState<'_>], what: &str) {
    // A service manager that cannot be told is worth a warning, not a stop:
    // the server itself works.
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(
            "cannot tell the service manager (NOTIFY_SOCKET) that the server is {what}: {e}"
        );
    }
}
