//! Callback connections: the handshake with both proofs [B-1], the switch
//! of the active path with takeover of the endpoint [C-4] and closing of
//! older callbacks [D-9], and what happens when a callback fails or dies
//! [B-5] [D-8].

use std::time::Instant;

use super::Server;
use super::conn::{CallbackHandshake, CallbackPhase, ConnKind};
use super::events::{CloseReason, Event, PeerError};
use super::session::{DeliveryPath, Dial};
use crate::auth::{cb_hello_proof_bound, cb_ready_proof_bound, verify_mac};
use crate::io::ConnectError;
use crate::wire::{CallbackState, CbHello, ErrorCode, Frame};
use crate::{ConnId, SessionId};

impl Server {
    pub(super) fn on_connected(&mut self, now: Instant, conn: ConnId) {
        let timeout = self.config.callback_handshake_timeout;
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let ConnKind::Callback(cb) = &mut c.kind else {
            return;
        };
        cb.phase = CallbackPhase::AwaitChallenge {
            deadline: now + timeout,
        };
        let ip = cb.endpoint.ip();
        tracing::debug!(%conn, endpoint = %cb.endpoint, "callback connected");
        self.release_dial_slot(now, ip, conn);
        // The server answers TLS on the callback too: the fax client is
        // always the TLS client [T-2].
        if !self.start_tls(now, conn) {
            return;
        }
        self.arm_conn(conn);
    }

    pub(super) fn on_connect_failed(&mut self, now: Instant, conn: ConnId, error: ConnectError) {
        let Some(c) = self.remove_conn(now, conn, false) else {
            return;
        };
        if let ConnKind::Callback(cb) = c.kind {
            tracing::debug!(%conn, endpoint = %cb.endpoint, %error, "callback dial failed");
            self.callback_lost(now, cb.session, conn, true);
        }
    }

    /// A frame on a callback connection.
    pub(super) fn on_callback_frame(&mut self, now: Instant, conn: ConnId, frame: Frame<'_>) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let ConnKind::Callback(cb) = &mut c.kind else {
            return;
        };
        cb.received(now);
        let sid = cb.session;
        match (&cb.phase, frame) {
            (_, Frame::Error(e)) => self.abort_conn(
                now,
                conn,
                PeerError::Received {
                    code: e.code,
                    message: e.message.into_owned(),
                },
            ),
            (&CallbackPhase::AwaitChallenge { deadline }, Frame::CbChallenge { client_nonce }) => {
                let Some(s) = self.sessions.get(sid) else {
                    return;
                };
                let key = s.key.clone();
                let acked_at_hello = s.delivery.acked();
                let server_nonce = self.rng.nonce();
                let binding = self.conns.get(conn).and_then(|c| c.channel_binding());
                let proof = cb_hello_proof_bound(
                    &key,
                    &client_nonce,
                    &server_nonce,
                    sid.get(),
                    binding.as_ref(),
                );
                self.send(
                    now,
                    conn,
                    &Frame::CbHello(CbHello {
                        session_id: sid.get(),
                        server_nonce,
                        proof,
                    }),
                );
                if let Some(ConnKind::Callback(cb)) = self.conns.get_mut(conn).map(|c| &mut c.kind)
                {
                    cb.phase = CallbackPhase::AwaitReady {
                        handshake: Box::new(CallbackHandshake {
                            client_nonce,
                            server_nonce,
                            key,
                            acked_at_hello,
                            binding,
                        }),
                        deadline,
                    };
                }
            }
            (CallbackPhase::AwaitReady { handshake: h, .. }, Frame::CbReady(ready)) => {
                // [B-1]: verified before anything is sent or discarded.
                let expected = cb_ready_proof_bound(
                    &h.key,
                    &h.client_nonce,
                    &h.server_nonce,
                    sid.get(),
                    ready.last_seq,
                    h.binding.as_ref(),
                );
                if verify_mac(&expected, &ready.proof) {
                    let floor = h.acked_at_hello;
                    self.on_callback_ready(now, conn, sid, ready.last_seq, floor);
                } else {
                    let error = Self::violation(ErrorCode::AuthFailed, "CB_READY proof is wrong");
                    self.abort_conn(now, conn, error);
                }
            }
            (CallbackPhase::Ready { .. }, Frame::Ack { seq }) => {
                self.on_callback_ack(now, conn, sid, seq);
            }
            (CallbackPhase::Ready { .. }, Frame::Pong { .. }) => {} // liveness only [D-4]
            (phase, other) => {
                let expected = match phase {
                    CallbackPhase::AwaitChallenge { .. } => "CB_CHALLENGE",
                    CallbackPhase::AwaitReady { .. } => "CB_READY",
                    _ => "ACK or PONG",
                };
                let error = Self::violation(
                    ErrorCode::UnexpectedFrame,
                    format!(
                        "expected {expected} on a callback, got {}",
                        other.frame_type()
                    ),
                );
                self.abort_conn(now, conn, error);
            }
        }
    }

    /// An ACK on a ready callback: the session's when the callback is its
    /// active path, a violation otherwise. Returns whether the connection
    /// is still open.
    pub(super) fn on_callback_ack(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: SessionId,
        seq: u64,
    ) -> bool {
        let key = self
            .sessions
            .key(sid)
            .filter(|&key| self.sessions[key].path == DeliveryPath::Callback(conn));
        match key {
            Some(key) => self.on_ack_at(now, key, conn, seq),
            None => {
                let error = Self::violation(
                    ErrorCode::UnexpectedFrame,
                    "ACK on a callback that is not the active path",
                );
                self.abort_conn(now, conn, error);
                false
            }
        }
    }

    /// CB_READY verified: this callback becomes the active path. `floor` is
    /// the highest seq acknowledged when CB_HELLO went out [D-14].
    fn on_callback_ready(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: SessionId,
        last_seq: u64,
        floor: u64,
    ) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        // [B-2] [D-14]: last_seq must lie between what was acknowledged
        // before CB_HELLO and what was sent; below what was acknowledged
        // since, it is merely stale.
        let acked = match self.sessions[key].delivery.ready(last_seq, floor) {
            Ok(acked) => acked,
            Err(violation) => {
                self.sequence_violation(now, conn, sid, violation.message("CB_READY last_seq"));
                return;
            }
        };
        let Some(ConnKind::Callback(cb)) = self.conns.get_mut(conn).map(|c| &mut c.kind) else {
            return;
        };
        // The frame that brought CB_READY was received now.
        cb.phase = CallbackPhase::Ready {
            last_sent: now,
            last_received: now,
        };
        let endpoint = cb.endpoint;
        tracing::debug!(%conn, session = %sid, %endpoint, last_seq, "callback ready");

        // [C-4]: the endpoint is now held by this session; an older holder is replaced.
        if let Some(other) = self.sessions.holder(endpoint)
            && other != sid
        {
            self.end_session_with(now, other, CloseReason::Replaced { by: sid });
        }
        self.sessions.hold_endpoint(key, endpoint);
        let s = &mut self.sessions[key];
        // [D-9]: at most one callback; an older one is closed.
        let old = std::mem::replace(&mut s.path, DeliveryPath::Callback(conn));
        s.dial = Dial::Idle;
        s.dial_failures = 0;
        s.delivery.rewind(); // [B-4]
        let reported = s.reported;
        if let DeliveryPath::Callback(old) = old
            && old != conn
        {
            self.remove_conn(now, old, true);
        }
        if let Some((first_seq, last_seq)) = acked {
            self.out.event(Event::Delivered {
                session: sid,
                first_seq,
                last_seq,
            });
        }
        if reported != Some(CallbackState::Reachable) {
            let detail = format!("callback to port {} connected", endpoint.port());
            self.report(now, sid, CallbackState::Reachable, &detail);
        }
        self.pump(now, sid);
    }

    /// A callback connection is gone (already removed). A working callback
    /// that dies is dialled again at once [D-8]; a failed dial or handshake
    /// backs off and may change the announced path [B-5].
    pub(super) fn callback_lost(
        &mut self,
        now: Instant,
        sid: SessionId,
        conn: ConnId,
        failed: bool,
    ) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let was_active = s.path == DeliveryPath::Callback(conn);
        if was_active {
            s.path = DeliveryPath::None;
        }
        if s.dial == Dial::InProgress(conn) {
            s.dial = Dial::Idle;
        } else if !was_active {
            return; // an older callback closed on purpose, nothing changes
        }
        if failed {
            self.dial_failed(now, sid);
        } else {
            s.dial_failures = 0;
            self.start_dial(now, sid);
        }
        self.arm_session(sid);
    }

    /// [B-2]: a sequence rule broken on `conn`: ERROR there, and the session
    /// ends (its control connection, if another, gets the same ERROR).
    pub(super) fn sequence_violation(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: SessionId,
        message: String,
    ) {
        let error = Self::violation(ErrorCode::UnexpectedFrame, message);
        self.close_with_error(now, conn, &error, true);
        self.end_session_with(now, sid, CloseReason::ProtocolError(error));
    }
}
