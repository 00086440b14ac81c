//! One connection's TLS 1.3 session, driven without I/O: TLS records in
//! (from the adapter's `Received`), plaintext out to the FNP/1 decoder;
//! plaintext frames in, TLS records out (as the core's `Transmit`).
//!
//! rustls's buffered connection is used purely in memory (`read_tls` from a
//! byte slice, `write_tls` into a `Vec`), which keeps it sans-IO: it never
//! sees a socket or a clock (the wall clock for certificate validity is the
//! caller's [`TimeProvider`](rustls::time_provider::TimeProvider)), and its
//! randomness comes from a stream seeded by the core (see `provider`).

use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rustls::pki_types::ServerName;

use super::failure::TlsFailure;
use super::provider::with_random;
use crate::auth::ChannelBinding;

/// RFC 9266: the label of the `tls-exporter` channel binding [T-6].
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Which side of the TLS handshake this session is (never the same as who
/// dialled: the fax client is always the TLS client [T-2]).
#[derive(Debug)]
pub(crate) struct TlsSession {
    conn: rustls::Connection,
    /// The handshake's random stream; dropped once the handshake is over.
    random: Option<ChaCha20Rng>,
    /// Whether any TLS record has been accepted from the peer (to tell "not
    /// TLS at all" from a handshake that failed later).
    heard_tls: bool,
    /// Whether the peer sent any byte at all.
    heard_anything: bool,
    /// Whether the session failed: rustls then refuses plaintext, and a
    /// failed handshake sends no FNP/1 at all [T-9].
    failed: bool,
}

impl TlsSession {
    /// A TLS client session for `server_name` (SNI and the name verified).
    pub(crate) fn client(
        config: &Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
        seed: [u8; 32],
    ) -> Result<Self, TlsFailure> {
        let mut random = Some(ChaCha20Rng::from_seed(seed));
        // The ClientHello (and its key share) is made here, so the stream
        // must be lent already.
        let conn = with_random(&mut random, || {
            rustls::ClientConnection::new(Arc::clone(config), server_name)
        })
        .map_err(|e| TlsFailure::from_rustls(&e, false))?;
        Ok(Self::with_conn(conn.into(), random))
    }

    /// A TLS server session presenting the identity in `config`.
    pub(crate) fn server(
        config: &Arc<rustls::ServerConfig>,
        seed: [u8; 32],
    ) -> Result<Self, TlsFailure> {
        let conn = rustls::ServerConnection::new(Arc::clone(config))
            .map_err(|e| TlsFailure::from_rustls(&e, false))?;
        Ok(Self::with_conn(
            conn.into(),
            Some(ChaCha20Rng::from_seed(seed)),
        ))
    }

    fn with_conn(mut conn: rustls::Connection, random: Option<ChaCha20Rng>) -> Self {
        // The cores drain rustls's output after every write and its
        // plaintext after every read, and bound what they queue themselves
        // (windows, queues, frame limits), so no second limit is needed; a
        // limit here would turn a full buffer into silently lost frames.
        conn.set_buffer_limit(None);
        Self {
            conn,
            random,
            heard_tls: false,
            heard_anything: false,
            failed: false,
        }
    }

    /// Feeds bytes read from the connection; appends the plaintext they
    /// carried to `plaintext`. On failure the session queues its alert
    /// (take it with [`TlsSession::take_output`]) and is finished.
    pub(crate) fn receive(
        &mut self,
        mut data: &[u8],
        plaintext: &mut Vec<u8>,
    ) -> Result<(), TlsFailure> {
        self.heard_anything |= !data.is_empty();
        while !data.is_empty() {
            let read = self.conn.read_tls(&mut data);
            match read {
                Ok(0) => break, // close_notify received: the rest is ignored
                Ok(_) => {}
                Err(_) => {
                    // Only "plaintext buffer full" is possible here; we drain
                    // it below on every round, so treat it as a broken peer.
                    self.failed = true;
                    return Err(TlsFailure::Overflow);
                }
            }
            let heard = self.heard_tls;
            let state = with_random(&mut self.random, || self.conn.process_new_packets());
            let state = state.map_err(|e| {
                self.failed = true;
                TlsFailure::from_rustls(&e, heard)
            })?;
            self.heard_tls = true;
            let pending = state.plaintext_bytes_to_read();
            if pending > 0 {
                let start = plaintext.len();
                plaintext.resize(start + pending, 0);
                let got = std::io::Read::read(&mut self.conn.reader(), &mut plaintext[start..])
                    .unwrap_or(0);
                plaintext.truncate(start + got);
            }
            if state.peer_has_closed() {
                break;
            }
        }
        if !self.conn.is_handshaking() {
            // No randomness is drawn after the handshake.
            self.random = None;
        }
        Ok(())
    }

    /// Queues plaintext (whole FNP/1 frames) for sending; rustls holds it
    /// until the handshake completes.
    pub(crate) fn send(&mut self, plaintext: &[u8]) {
        if self.failed {
            // E.g. a SERVER_HELLO queued while a peer sent plain FNP/1
            // instead of a ClientHello: it is dropped, never sent [T-9].
            return;
        }
        // Unlimited buffers (see `with_conn`): rustls takes every byte.
        let written = std::io::Write::write_all(&mut self.conn.writer(), plaintext);
        debug_assert!(
            written.is_ok(),
            "rustls refused plaintext with no buffer limit"
        );
    }

    /// TLS records to write to the connection (possibly none).
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).unwrap_or(0) == 0 {
                break;
            }
        }
        out
    }

    /// Whether [`TlsSession::take_output`] has bytes.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Queues a close_notify alert.
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Why a handshake that has not completed by its deadline failed [T-8].
    pub(crate) fn timeout_failure(&self) -> TlsFailure {
        TlsFailure::Timeout {
            heard_anything: self.heard_anything,
        }
    }

    /// Whether the handshake is still in progress.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The RFC 9266 `tls-exporter` channel binding [T-6]: 32 bytes of
    /// TLS-Exporter("EXPORTER-Channel-Binding", empty context). `None`
    /// before the handshake completes.
    pub(crate) fn channel_binding(&self) -> Option<ChannelBinding> {
        if self.conn.is_handshaking() {
            return None;
        }
        let mut out = [0u8; 32];
        self.conn
            .export_keying_material(&mut out, EXPORTER_LABEL, Some(&[]))
            .ok()?;
        Some(ChannelBinding::from_bytes(out))
    }
}
