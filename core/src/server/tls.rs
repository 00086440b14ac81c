//! The server's side of FNP/1 over TLS [T-1]: starting a TLS session on a
//! connection, decrypting what arrives, and turning a failed session into
//! an event with the peer's address and a reason a person understands [T-9].

use std::time::Instant;

use super::Server;
use super::conn::ConnKind;
use super::events::Event;
use crate::ConnId;
use crate::tls::{TlsFailure, TlsSession};

impl Server {
    /// Gives `conn` a TLS server session when the server runs TLS. Returns
    /// false when the session could not start (the connection is then gone).
    pub(super) fn start_tls(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(config) = self.tls.as_ref() else {
            return true;
        };
        match TlsSession::server(config, self.rng.nonce()) {
            Ok(session) => {
                if let Some(c) = self.conns.get_mut(conn) {
                    c.tls = Some(Box::new(session));
                }
                true
            }
            Err(failure) => {
                self.tls_failed(now, conn, failure);
                false
            }
        }
    }

    /// Feeds TLS records of `conn`; returns the plaintext they carried, or
    /// `None` when the session failed (the connection is then closed).
    pub(super) fn tls_receive(
        &mut self,
        now: Instant,
        conn: ConnId,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        let c = self.conns.get_mut(conn)?;
        let tls = c.tls.as_mut()?;
        let mut plaintext = Vec::new();
        let result = tls.receive(data, &mut plaintext);
        let wants_write = tls.wants_write();
        match result {
            Ok(()) => {
                if wants_write && c.out.is_empty() {
                    // Handshake records to send; frames written while
                    // decoding join them in the same Transmit.
                    self.out.flush_later(conn);
                }
                Some(plaintext)
            }
            Err(failure) => {
                self.tls_failed(now, conn, failure.with_first_bytes(data));
                None
            }
        }
    }

    /// A TLS session failed (or never completed): the event with the peer's
    /// address, the alert if any, the close, and the same consequences as
    /// the peer closing (a callback is dialled again later [B-5]).
    pub(super) fn tls_failed(&mut self, now: Instant, conn: ConnId, reason: TlsFailure) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let (peer, session) = (c.peer(), c.session());
        tracing::debug!(%conn, %peer, %reason, "TLS failed");
        self.out.event(Event::TlsFailed {
            conn,
            peer,
            session,
            reason,
        });
        // remove_conn seals the pending alert and closes.
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let handshaking = c.tls.as_ref().is_some_and(|t| t.is_handshaking());
        if let ConnKind::Callback(cb) = &c.kind {
            let sid = cb.session;
            self.remove_conn(now, conn, true);
            self.callback_lost(now, sid, conn, true);
        } else {
            let detach = !handshaking;
            if let Some(removed) = self.remove_conn(now, conn, true)
                && detach
                && let ConnKind::Control(ctl) = removed.kind
                && let Some(sid) = ctl.session()
                && self
                    .sessions
                    .get(sid)
                    .is_some_and(|s| s.control == Some(conn))
            {
                self.detach(now, sid);
            }
        }
    }
}
