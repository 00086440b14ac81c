//! Bytes and closes on connections: decoding frames and dispatching them,
//! writing, and closing with or without an ERROR [F-6].

use std::time::Instant;

use super::Server;
use super::conn::{CallbackPhase, Conn, ConnKind};
use super::errors::InputError;
use super::events::{CloseReason, Event, PeerError, Refusal};
use super::limits::address_key;
use super::outbox::Output;
use crate::ConnId;
use crate::io::CloseKind;
use crate::wire::{DecodeError, ErrorCode, Frame, bounded_error_message, whole_frame_at_front};

/// Cuts an ERROR message to the bound every sender of this crate keeps
/// ([`MAX_ERROR_MESSAGE_LEN`](crate::wire::MAX_ERROR_MESSAGE_LEN)).
fn bounded(mut message: String) -> String {
    let end = bounded_error_message(&message).len();
    message.truncate(end);
    message
}

/// How to close `c`: at once if it never got a session (whoever holds it
/// has not logged in, and must not keep a descriptor of the server for the
/// close timeout), else gracefully, since an ACK or a notification may be
/// in flight (see [`CloseKind`]).
pub(super) fn close_kind(c: &Conn) -> CloseKind {
    match c.session() {
        None => CloseKind::Prompt,
        Some(_) => CloseKind::Graceful,
    }
}

/// A TLS handshake record (content type 22, version 3.x): what a TLS client
/// sends first, where a plain FNP/1 frame's length would start with zeros.
fn looks_like_tls(data: &[u8]) -> bool {
    matches!(data, [22, 3, ..])
}

impl Server {
    /// Writes a frame to a connection (nothing if it is closed).
    pub(super) fn send(&mut self, now: Instant, conn: ConnId, frame: &Frame<'_>) {
        if let Some(c) = self.conns.get_mut(conn) {
            c.write(conn, frame, now, &mut self.out);
        }
    }

    /// Forgets a connection and undoes what was counted for it; with `emit`,
    /// tells the adapter to close it after its pending bytes. Consequences
    /// for its session are the caller's business.
    pub(super) fn remove_conn(&mut self, now: Instant, conn: ConnId, emit: bool) -> Option<Conn> {
        let mut c = self.conns.remove(conn)?;
        if emit {
            if let Some(tls) = c.tls.as_mut() {
                // Seal what is pending and say goodbye with close_notify.
                let pending = std::mem::take(&mut c.out);
                if !pending.is_empty() {
                    tls.send(&pending);
                }
                tls.close();
                c.out = tls.take_output();
                self.out.flush_later(conn);
            }
            // Its Flush is already queued; the bytes leave there, before the Close.
            self.conns.retire(conn, std::mem::take(&mut c.out));
            self.out.push(Output::Close {
                conn,
                kind: close_kind(&c),
            });
        }
        match &c.kind {
            ConnKind::Control(ctl) if !ctl.is_authenticated() => {
                let ip = ctl.peer.ip();
                if let Some(claim) = ctl.claim() {
                    // Its answer, if it comes, finds nothing pending [D-17].
                    self.cluster.claims.remove(&claim.id);
                }
                self.forget_unauthenticated(now, ip, conn);
            }
            ConnKind::Callback(cb) if matches!(cb.phase, CallbackPhase::Connecting { .. }) => {
                self.release_dial_slot(now, cb.endpoint.ip(), conn);
            }
            _ => {}
        }
        Some(c)
    }

    /// Uncounts a control connection from `ip` that logged in or closed
    /// before it did.
    pub(super) fn forget_unauthenticated(
        &mut self,
        now: Instant,
        ip: std::net::IpAddr,
        conn: ConnId,
    ) {
        self.ips.remove_unauthenticated(address_key(ip), now);
        self.admission.remove(ip, conn);
    }

    /// Counts a control connection from `ip` that has not logged in, per
    /// address and in the global cap [D-15]; undone by
    /// [`Server::forget_unauthenticated`].
    pub(super) fn count_unauthenticated(&mut self, ip: std::net::IpAddr, conn: ConnId) {
        self.ips.add_unauthenticated(address_key(ip));
        self.admission.add(ip, conn);
    }

    /// Closes a connection that has not logged in to make room under
    /// `max_unauthenticated` for a prefix holding fewer [D-15].
    pub(super) fn displace(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.conns.get(conn).map(|c| c.peer()) else {
            return;
        };
        tracing::debug!(%conn, %peer, "closing an unauthenticated connection to make room");
        let error = Self::violation(
            ErrorCode::LimitExceeded,
            "too many connections from your network are logging in; closed to make room for others",
        );
        self.close_with_error(now, conn, &error, false);
        self.out.event(Event::ConnectionRefused {
            conn,
            peer,
            reason: Refusal::Displaced,
        });
    }

    /// Writes an ERROR (if the server is the sender), reports it, and closes
    /// the connection [F-6]. Returns the connection for the caller to deal
    /// with the consequences.
    pub(super) fn close_with_error(
        &mut self,
        now: Instant,
        conn: ConnId,
        error: &PeerError,
        report: bool,
    ) -> Option<Conn> {
        let c = self.conns.get(conn)?;
        let (peer, session) = (c.peer(), c.session());
        if let PeerError::Sent { code, message } = error {
            tracing::debug!(%conn, %peer, %code, message, "closing with ERROR");
            self.send(now, conn, &Frame::error(*code, message.as_str()));
        } else {
            tracing::debug!(%conn, %peer, %error, "peer sent ERROR");
        }
        if report {
            self.out.event(Event::ProtocolError {
                conn,
                peer,
                session,
                error: error.clone(),
            });
        }
        self.remove_conn(now, conn, true)
    }

    /// The peer broke a rule (or sent ERROR): ERROR, close, event, and the
    /// consequences — the session ends if this was its control connection
    /// after LOGIN_OK [F-6]; a callback is dialled again later [B-5].
    pub(super) fn abort_conn(&mut self, now: Instant, conn: ConnId, error: PeerError) {
        let Some(c) = self.close_with_error(now, conn, &error, true) else {
            return;
        };
        match c.kind {
            ConnKind::Control(ctl) => {
                if let Some(sid) = ctl.session() {
                    self.end_session_with(now, sid, CloseReason::ProtocolError(error));
                }
            }
            ConnKind::Callback(cb) => self.callback_lost(now, cb.session, conn, true),
        }
    }

    /// A rule broken by the peer, with the ERROR the server sends.
    pub(super) fn violation(code: ErrorCode, message: impl Into<String>) -> PeerError {
        PeerError::Sent {
            code,
            message: bounded(message.into()),
        }
    }

    pub(super) fn on_closed(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.remove_conn(now, conn, false) else {
            return;
        };
        match c.kind {
            ConnKind::Control(ctl) => {
                if let Some(sid) = ctl.session()
                    && self
                        .sessions
                        .get(sid)
                        .is_some_and(|s| s.control == Some(conn))
                {
                    self.detach(now, sid);
                }
            }
            ConnKind::Callback(cb) => {
                // A working callback that dies is dialled again at once [D-8];
                // a dial or handshake that dies is a failure [B-5].
                let failed = !cb.is_ready();
                self.callback_lost(now, cb.session, conn, failed);
            }
        }
    }

    /// Bytes read from `conn`. `Err` if it is a dial not yet connected.
    pub(super) fn on_received(
        &mut self,
        now: Instant,
        conn: ConnId,
        data: &[u8],
    ) -> Result<(), InputError> {
        let Some(c) = self.conns.get_mut(conn) else {
            return Ok(()); // closed by us; the input raced with Close
        };
        if c.is_connecting() {
            return Err(InputError::NotConnected(conn));
        }
        let mut input = data;
        if c.tls.is_none() && c.decoder.is_between_frames() {
            // The usual read on plain TCP: whole frames. They are parsed
            // here, in place, and the decoder is neither taken out nor put
            // back (two lookups and two moves of it per read).
            let mut limit = c.frame_limit();
            loop {
                match whole_frame_at_front(&mut input, limit) {
                    Some(Ok(frame)) => {
                        tracing::trace!(%conn, %frame, "received");
                        match self.on_frame(now, conn, frame) {
                            Some(new_limit) => limit = new_limit,
                            None => return Ok(()), // closed by that frame
                        }
                    }
                    Some(Err(err)) => {
                        self.undecodable(now, conn, data, false, err);
                        return Ok(());
                    }
                    None => break,
                }
            }
            if input.is_empty() {
                return Ok(());
            }
        }
        self.on_received_buffered(now, conn, input, data);
        Ok(())
    }

    /// [`Server::on_received`] through the connection's decoder: TLS, and
    /// frames split across reads. `raw` is the whole read.
    fn on_received_buffered(&mut self, now: Instant, conn: ConnId, data: &[u8], raw: &[u8]) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let plaintext;
        let is_tls = c.tls.is_some();
        // The frames borrow the decoder, and handling them needs `self`:
        // it is taken out (on plain TCP with the lookup just made).
        let (data, mut decoder) = if is_tls {
            match self.tls_receive(now, conn, data) {
                Some(p) => plaintext = p,
                None => return, // the TLS session failed; the connection is gone
            }
            let Some(c) = self.conns.get_mut(conn) else {
                return;
            };
            (&plaintext[..], std::mem::take(&mut c.decoder))
        } else {
            let limit = c.frame_limit();
            let mut decoder = std::mem::take(&mut c.decoder);
            // In step with the connection (the fast path may have seen LOGIN_OK).
            decoder.set_max_frame_len(limit);
            (data, decoder)
        };
        let mut input = data;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    tracing::trace!(%conn, %frame, "received");
                    match self.on_frame(now, conn, frame) {
                        // The limit may have changed with LOGIN_OK [F-1].
                        Some(limit) => decoder.set_max_frame_len(limit),
                        None => return, // closed by that frame; the rest is moot
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    self.undecodable(now, conn, raw, is_tls, err);
                    return;
                }
            }
        }
        if let Some(c) = self.conns.get_mut(conn) {
            c.decoder = decoder;
        }
    }

    /// Bytes that are no FNP/1 frame: ERROR and close [F-6]. `raw` is the
    /// read they came in.
    fn undecodable(
        &mut self,
        now: Instant,
        conn: ConnId,
        raw: &[u8],
        is_tls: bool,
        err: DecodeError,
    ) {
        let error = if !is_tls && looks_like_tls(raw) {
            // A TLS client at a plain server: say so, rather than "frame
            // too long" [T-3].
            Self::violation(
                err.code(),
                "the peer speaks TLS, but this server runs plain FNP/1",
            )
        } else {
            Self::violation(err.code(), err.to_string())
        };
        self.abort_conn(now, conn, error);
    }

    /// One frame received on `conn`; returns the connection's frame length
    /// limit [F-1] if it is still open afterwards.
    pub(super) fn on_frame(&mut self, now: Instant, conn: ConnId, frame: Frame<'_>) -> Option<u32> {
        let c = self.conns.get_mut(conn)?;
        let limit = c.frame_limit();
        match &mut c.kind {
            ConnKind::Control(ctl) => match ctl.session() {
                None => self.on_login_frame(now, conn, frame),
                Some(sid) => {
                    self.on_control_frame(now, conn, sid, frame);
                    self.arm_session(sid);
                }
            },
            ConnKind::Callback(cb) => {
                let sid = cb.session;
                if let (CallbackPhase::Ready { last_received, .. }, Frame::Ack { seq }) =
                    (&mut cb.phase, &frame)
                    && c.timer.is_some()
                {
                    // The hottest frame. It leaves every deadline where it
                    // was or later: the session's (an ACK renews no lease)
                    // and the connection's (its keepalive and silence
                    // deadlines only move later with traffic, see
                    // `Callback::next_deadline`), whose heap entry exists:
                    // no re-arming is needed (see `timers`).
                    *last_received = now;
                    let seq = *seq;
                    // An ACK changes no frame limit.
                    return self.on_callback_ack(now, conn, sid, seq).then_some(limit);
                }
                self.on_callback_frame(now, conn, frame);
                self.arm_session(sid);
            }
        }
        self.arm_conn(conn)
    }
}
