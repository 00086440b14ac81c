//! The client's side of FNP/1 over TLS [T-1]: it is the TLS client on the
//! control connection it dials and on every callback connection it accepts
//! [T-2]; a failed session becomes an event with a reason a person
//! understands [T-9], never a fallback to plaintext [T-3].

use std::time::Instant;

use super::Client;
use super::events::{CallbackRejection, ConnectionKind, DisconnectReason, Event, StopReason};
use crate::ConnId;
use crate::tls::{TlsFailure, TlsSession};

/// What [`Client::tls_receive`] made of received bytes.
pub(super) enum Decrypted {
    /// The connection runs plain TCP: use the bytes as they are.
    Plain,
    /// The plaintext the records carried.
    Text(Vec<u8>),
    /// The TLS session failed; the connection is closed and reported.
    Failed,
}

impl Client {
    /// Starts a TLS client session on `conn` when TLS is configured. Returns
    /// false when it could not start (the connection is then closed and
    /// reported).
    pub(super) fn start_tls(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(tls) = self.tls.as_ref() else {
            return true;
        };
        match TlsSession::client(&tls.config, tls.server_name.clone(), self.rng.nonce()) {
            Ok(session) => {
                self.out.add_tls(conn, session);
                true
            }
            Err(failure) => {
                self.tls_failed(now, conn, failure);
                false
            }
        }
    }

    /// Decrypts bytes received on `conn`.
    pub(super) fn tls_receive(&mut self, now: Instant, conn: ConnId, data: &[u8]) -> Decrypted {
        let Some(tls) = self.out.tls(conn) else {
            return Decrypted::Plain;
        };
        let mut plaintext = Vec::new();
        match tls.receive(data, &mut plaintext) {
            Ok(()) => {
                self.out.flush_tls(conn);
                Decrypted::Text(plaintext)
            }
            Err(failure) => {
                self.tls_failed(now, conn, failure.with_first_bytes(data));
                Decrypted::Failed
            }
        }
    }

    /// Whether `conn`'s TLS handshake is still running (for the handshake
    /// timeouts, which cover TLS [T-8]).
    pub(super) fn tls_handshaking(&mut self, conn: ConnId) -> Option<TlsFailure> {
        let tls = self.out.tls(conn)?;
        tls.is_handshaking().then(|| tls.timeout_failure())
    }

    /// A TLS session failed: the alert (if any) and the close, the event,
    /// and the consequences. A certificate the client cannot trust, or a
    /// server that does not speak TLS, stops the client: retrying cannot
    /// help until someone changes a setting. Anything else is retried like
    /// a lost connection.
    pub(super) fn tls_failed(&mut self, now: Instant, conn: ConnId, reason: TlsFailure) {
        tracing::debug!(%conn, %reason, "TLS failed");
        if self.is_control(conn) {
            self.out.close(conn);
            self.control = None;
            self.out.event(Event::TlsFailed {
                conn,
                connection: ConnectionKind::Control,
                reason: reason.clone(),
            });
            if is_permanent(&reason) {
                self.stop(StopReason::Tls(reason));
            } else {
                self.control_lost(now, DisconnectReason::TlsFailed, false);
            }
        } else if let Some(i) = self.callback_index(conn) {
            let peer = self.callbacks[i].peer;
            self.out.event(Event::TlsFailed {
                conn,
                connection: ConnectionKind::Callback,
                reason,
            });
            self.close_callback(conn);
            self.out.event(Event::CallbackRejected {
                conn,
                peer,
                reason: CallbackRejection::TlsFailed,
            });
        } else {
            self.out.close(conn);
        }
    }
}

/// Failures that a retry cannot fix.
fn is_permanent(reason: &TlsFailure) -> bool {
    matches!(
        reason,
        TlsFailure::WrongName { .. }
            | TlsFailure::UnknownAuthority
            | TlsFailure::Expired { .. }
            | TlsFailure::NotYetValid { .. }
            | TlsFailure::FingerprintMismatch { .. }
            | TlsFailure::BadCertificate { .. }
            | TlsFailure::NotTls { .. }
    )
}
