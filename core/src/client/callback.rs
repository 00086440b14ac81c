//! Callback connections: the handshake [B-1] [B-7] and delivery on them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::auth::{cb_hello_proof_bound, cb_ready_proof_bound, verify_mac};
use crate::io::CloseKind;
use crate::wire::{
    CbHello, CbReady, ErrorCode, Frame, FrameType, MAX_FRAME_LEN, Nonce, Notification,
    SharedDecoder, SharedNotify,
};
use crate::{ConnId, SessionId};

use super::Client;
use super::delivery::PendingAck;
use super::events::{
    CallbackClosure, CallbackRejection, ConnectionKind, Event, Peer, ProtocolError,
};
use super::outbox::error_frame;

/// How long an authenticated callback may stay silent when there is no
/// session lease to go by (the server pings callbacks every lease/3 [D-4]).
const DEFAULT_CALLBACK_IDLE: Duration = Duration::from_secs(30);

/// One connection the server made to the callback listener.
#[derive(Debug)]
pub(crate) struct Callback {
    conn: ConnId,
    pub(super) peer: SocketAddr,
    decoder: SharedDecoder,
    phase: CallbackPhase,
    /// Handshake deadline [B-7] while awaiting CB_HELLO; afterwards the
    /// time after which silence means the server is gone from it [D-4].
    deadline: Instant,
}

#[derive(Clone, Copy, Debug)]
enum CallbackPhase {
    /// CB_CHALLENGE sent with this nonce.
    AwaitHello { client_nonce: Nonce },
    /// CB_READY sent: NOTIFYs are accepted [D-2].
    Ready { session: SessionId },
}

impl Callback {
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    fn is_pending(&self) -> bool {
        matches!(self.phase, CallbackPhase::AwaitHello { .. })
    }

    /// How to close it. A connection that never proved to be the server's
    /// (refused, timed out, failed in its handshake or TLS) is closed
    /// promptly: the callback port is open to the network, and a stranger
    /// that never closes its end must not hold one of the client's
    /// descriptors for the close timeout each, or a flood of them would
    /// leave the client none to accept the server's callback (or to dial).
    /// An authenticated callback is the server's, which may still have
    /// frames in flight: gracefully.
    fn close_kind(&self) -> CloseKind {
        if self.is_pending() {
            CloseKind::Prompt
        } else {
            CloseKind::Graceful
        }
    }

    /// The peer: the server once its CB_HELLO was verified, a stranger before.
    fn peer(&self) -> Peer {
        Peer::new(self.peer, !self.is_pending())
    }
}

impl Client {
    pub(super) fn callback_index(&self, conn: ConnId) -> Option<usize> {
        self.callbacks.iter().position(|c| c.conn == conn)
    }

    fn callback_idle(&self) -> Duration {
        self.session_lease()
            .map_or(DEFAULT_CALLBACK_IDLE, |lease| lease.lease)
    }

    /// A new connection on the listener: CB_CHALLENGE, or an immediate
    /// close when the client is not listening. When too many await their
    /// handshake [B-7], the oldest of them is closed to make room.
    pub(super) fn on_accept(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        if self.is_finished() || self.listener.local().is_none() {
            let reason = CallbackRejection::NotListening;
            tracing::debug!(%conn, %peer, %reason, "callback connection refused");
            // Whoever it is, it never authenticated: see `close_kind`.
            self.out.close_with(conn, CloseKind::Prompt);
            self.out
                .event(Event::CallbackRejected { conn, peer, reason });
            return;
        }
        self.make_room_for_a_pending_callback();
        let client_nonce = self.rng.nonce();
        tracing::debug!(%conn, %peer, "callback connection accepted");
        self.callbacks.push(Callback {
            conn,
            peer,
            // [D-12]: callbacks take full-size frames from the start.
            decoder: SharedDecoder::new(MAX_FRAME_LEN),
            phase: CallbackPhase::AwaitHello { client_nonce },
            deadline: now + self.tunables.callback_handshake_timeout,
        });
        // [T-2]: the fax client is the TLS client here too; its ClientHello
        // goes first, and CB_CHALLENGE waits in the session for the
        // handshake to complete.
        if !self.start_tls(now, conn) {
            return;
        }
        // The listener speaks first.
        self.out.frame(conn, &Frame::CbChallenge { client_nonce });
    }

    /// Closes the oldest callbacks awaiting their handshake until there is
    /// room for one more. Refusing the newest instead would let a stranger
    /// who keeps the places filled with silent connections (a few per
    /// handshake timeout) keep the server's own callback out for good; the
    /// server's CB_HELLO comes one round trip after its connect, so to
    /// push it out a stranger must connect faster than that, a flood.
    fn make_room_for_a_pending_callback(&mut self) {
        while self.callbacks.iter().filter(|c| c.is_pending()).count()
            >= self.tunables.max_pending_callbacks
        {
            // The earliest deadline is the oldest: every handshake gets the
            // same timeout from its accept.
            let Some(oldest) = self
                .callbacks
                .iter()
                .filter(|c| c.is_pending())
                .min_by_key(|c| c.deadline)
                .map(|c| c.conn)
            else {
                return;
            };
            self.reject_callback(oldest, None, CallbackRejection::TooManyPending);
        }
    }

    pub(super) fn on_callback_closed(&mut self, conn: ConnId) {
        if let Some(i) = self.callback_index(conn) {
            tracing::debug!(%conn, "callback connection closed by the server");
            let cb = self.callbacks.remove(i);
            if !cb.is_pending() {
                self.out.event(Event::CallbackClosed {
                    conn,
                    peer: cb.peer,
                    reason: CallbackClosure::ClosedByServer,
                });
            }
        }
    }

    pub(super) fn on_callback_received(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        let Some(mut i) = self.callback_index(conn) else {
            return; // already closed: the input raced with our Close
        };
        // The frames are slices of the decoder's buffer, and so are the
        // notifications decoded from them (no copy, no allocation). The
        // decoder stays in its callback (no taking it out and putting it
        // back per read): only its index is looked up again after each
        // frame, since a frame may close the callback.
        self.callbacks[i].decoder.extend(data);
        let mut ack = PendingAck::default();
        let mut decoded = None;
        loop {
            let split = match self.callbacks[i].decoder.next_split(&mut decoded) {
                Ok(Some(split)) => split,
                Ok(None) => break,
                Err(err) => {
                    self.flush_ack(conn, &mut ack);
                    self.callback_protocol_error(conn, err.into());
                    return;
                }
            };
            // A NOTIFY's payload takes over the frame's bytes; any other
            // frame is parsed borrowing them.
            let parsed = match split {
                Ok(notify) => {
                    self.on_callback_notify(now, conn, i, notify, &mut decoded, &mut ack);
                    Ok(())
                }
                Err(bytes) => Frame::parse(bytes[0], &bytes[1..]).map(|frame| {
                    self.flush_ack(conn, &mut ack);
                    self.on_callback_frame(now, conn, frame);
                }),
            };
            if let Err(err) = parsed {
                self.flush_ack(conn, &mut ack);
                self.callback_protocol_error(conn, err.into());
                return;
            }
            match self.callback_index(conn) {
                Some(j) => i = j,
                None => return, // closed by that frame (any ACK was sent first)
            }
        }
        self.flush_ack(conn, &mut ack);
    }

    fn on_callback_frame(&mut self, now: Instant, conn: ConnId, frame: Frame<'_>) {
        let idle = self.callback_idle();
        let Some(i) = self.callback_index(conn) else {
            return;
        };
        let phase = self.callbacks[i].phase;
        let peer = self.callbacks[i].peer();
        if let CallbackPhase::Ready { .. } = phase {
            self.callbacks[i].deadline = now + idle;
        }
        match (phase, frame) {
            (_, Frame::Error(e)) => {
                // The text is a stranger's until CB_HELLO is verified: a
                // field other than `message` is logged escaped (Debug), so
                // its newlines cannot start lines that read like ours.
                tracing::debug!(%conn, ?peer, code = %e.code, text = &*e.message, "ERROR on a callback");
                self.out.event(Event::ErrorReceived {
                    conn,
                    connection: ConnectionKind::Callback,
                    peer,
                    code: e.code,
                    message: e.message.into_owned(),
                });
                self.close_callback(conn);
            }
            (CallbackPhase::AwaitHello { client_nonce }, Frame::CbHello(hello)) => {
                self.on_cb_hello(now, conn, &client_nonce, &hello)
            }
            (CallbackPhase::Ready { .. }, Frame::Ping { nonce }) => {
                if let Some(s) = self.session.as_mut() {
                    s.pings_callbacks = true;
                }
                self.out.frame(conn, &Frame::Pong { nonce });
            }
            (CallbackPhase::Ready { session }, Frame::Bye { reason }) => {
                // The control connection speaks for the session; a callback
                // BYE (e.g. `replaced` after our own resume) closes only it.
                tracing::debug!(%conn, %reason, %session, "BYE on a callback");
                self.close_callback_because(conn, CallbackClosure::Bye { reason });
            }
            (phase, other) => self.callback_protocol_error(
                conn,
                ProtocolError::UnexpectedFrame {
                    frame: other.frame_type(),
                    state: match phase {
                        CallbackPhase::AwaitHello { .. } => "on a callback awaiting CB_HELLO",
                        CallbackPhase::Ready { .. } => "on a callback connection",
                    },
                },
            ),
        }
    }

    /// A NOTIFY on callback `i` (`conn`'s index, just looked up): delivered
    /// once the handshake is done [D-2], a protocol error before.
    fn on_callback_notify(
        &mut self,
        now: Instant,
        conn: ConnId,
        i: usize,
        notify: SharedNotify,
        decoded: &mut Option<Notification>,
        ack: &mut PendingAck,
    ) {
        let idle = self.callback_idle();
        let cb = &mut self.callbacks[i];
        match cb.phase {
            CallbackPhase::Ready { .. } => {
                cb.deadline = now + idle;
                if let Err(err) = self.accept_notify(notify, decoded, ack) {
                    self.flush_ack(conn, ack);
                    self.callback_protocol_error(conn, err);
                }
            }
            CallbackPhase::AwaitHello { .. } => self.callback_protocol_error(
                conn,
                ProtocolError::UnexpectedFrame {
                    frame: FrameType::Notify,
                    state: "on a callback awaiting CB_HELLO",
                },
            ),
        }
    }

    /// [B-1]: CB_HELLO must name this client's session and prove its key.
    fn on_cb_hello(&mut self, now: Instant, conn: ConnId, client_nonce: &Nonce, hello: &CbHello) {
        let verdict = match &self.session {
            None => Err(CallbackRejection::NoSession),
            Some(s) if s.id.get() != hello.session_id => Err(CallbackRejection::WrongSession {
                received: hello.session_id,
            }),
            Some(s) => {
                // [T-7]: over TLS both proofs are bound to this connection.
                let binding = self.out.tls(conn).map(|t| t.channel_binding());
                let over_tls = binding.is_some();
                let binding = binding.flatten();
                let expected = cb_hello_proof_bound(
                    &s.key,
                    client_nonce,
                    &hello.server_nonce,
                    hello.session_id,
                    binding.as_ref(),
                );
                if verify_mac(&expected, &hello.proof) {
                    let last_seq = self.delivery.last();
                    let proof = cb_ready_proof_bound(
                        &s.key,
                        client_nonce,
                        &hello.server_nonce,
                        hello.session_id,
                        last_seq,
                        binding.as_ref(),
                    );
                    Ok((s.id, CbReady { last_seq, proof }))
                } else if over_tls {
                    Err(CallbackRejection::ChannelBindingFailed)
                } else {
                    Err(CallbackRejection::BadProof)
                }
            }
        };
        let (session, ready) = match verdict {
            Ok(ok) => ok,
            Err(reason) => return self.reject_callback(conn, Some(ErrorCode::AuthFailed), reason),
        };
        let idle = self.callback_idle();
        let Some(i) = self.callback_index(conn) else {
            return;
        };
        let cb = &mut self.callbacks[i];
        cb.phase = CallbackPhase::Ready { session };
        cb.deadline = now + idle;
        let peer = cb.peer;
        tracing::debug!(%conn, %peer, last_seq = ready.last_seq, "callback handshake complete");
        self.out.frame(conn, &Frame::CbReady(ready));
        self.out.event(Event::CallbackEstablished { conn, peer });
        self.limit_ready_callbacks(conn);
    }

    /// Keeps at most `max_callbacks` authenticated callbacks, closing the
    /// oldest (the server uses only the newest [D-9]).
    fn limit_ready_callbacks(&mut self, newest: ConnId) {
        loop {
            let ready = self.callbacks.iter().filter(|c| !c.is_pending()).count();
            if ready <= self.tunables.max_callbacks {
                return;
            }
            let oldest = self
                .callbacks
                .iter()
                .filter(|c| !c.is_pending() && c.conn != newest)
                .map(|c| c.conn)
                .min();
            match oldest {
                Some(conn) => {
                    tracing::debug!(%conn, "closing the oldest callback connection");
                    self.close_callback_because(conn, CallbackClosure::Superseded);
                }
                None => return,
            }
        }
    }

    /// Handshake timeouts [B-7] and dead callbacks [D-4].
    pub(super) fn callback_timers(&mut self, now: Instant) {
        while let Some(cb) = self.callbacks.iter().find(|c| now >= c.deadline) {
            let conn = cb.conn;
            let pending = cb.is_pending();
            if pending && let Some(failure) = self.tls_handshaking(conn) {
                // [T-8]: the TLS handshake itself did not finish.
                self.tls_failed(now, conn, failure);
            } else if pending {
                self.reject_callback(
                    conn,
                    Some(ErrorCode::Timeout),
                    CallbackRejection::HandshakeTimeout,
                );
            } else if self.session.as_ref().is_some_and(|s| s.pings_callbacks) {
                tracing::debug!(%conn, "callback silent for a whole lease; closing it");
                let after = self.callback_idle();
                self.close_callback_because(conn, CallbackClosure::Silent { after });
            } else {
                // Be liberal [D-16]: a server that has never pinged a
                // callback may not implement [D-4], and its quiet callback
                // is its only way to deliver. Look again after another lease.
                tracing::debug!(%conn, "callback quiet for a lease; kept open (this server has not pinged its callbacks)");
                let idle = self.callback_idle();
                if let Some(i) = self.callback_index(conn) {
                    self.callbacks[i].deadline = now + idle;
                }
            }
        }
    }

    /// Closes an authenticated callback and tells the application why.
    fn close_callback_because(&mut self, conn: ConnId, reason: CallbackClosure) {
        if let Some(i) = self.callback_index(conn) {
            let peer = self.callbacks[i].peer;
            self.close_callback(conn);
            self.out.event(Event::CallbackClosed { conn, peer, reason });
        }
    }

    /// Closes a callback without an ERROR.
    pub(super) fn close_callback(&mut self, conn: ConnId) {
        if let Some(i) = self.callback_index(conn) {
            let cb = self.callbacks.remove(i);
            self.out.close_with(conn, cb.close_kind());
        }
    }

    pub(super) fn close_all_callbacks(&mut self) {
        for cb in self.callbacks.drain(..) {
            self.out.close_with(cb.conn, cb.close_kind());
        }
    }

    /// Refuses a callback in its handshake: ERROR (if `code`), close, event.
    fn reject_callback(
        &mut self,
        conn: ConnId,
        code: Option<ErrorCode>,
        reason: CallbackRejection,
    ) {
        let Some(i) = self.callback_index(conn) else {
            return;
        };
        let peer = self.callbacks[i].peer;
        tracing::debug!(%conn, %peer, %reason, "callback connection rejected");
        if let Some(code) = code {
            let message = reason.to_string();
            self.out.frame(conn, &error_frame(code, &message));
        }
        self.close_callback(conn);
        self.out
            .event(Event::CallbackRejected { conn, peer, reason });
    }

    /// The server broke the protocol on a callback: ERROR, close, event.
    /// The session goes on.
    fn callback_protocol_error(&mut self, conn: ConnId, error: ProtocolError) {
        let Some(i) = self.callback_index(conn) else {
            return;
        };
        let peer = self.callbacks[i].peer();
        tracing::debug!(%conn, ?peer, %error, "protocol error on a callback");
        let message = error.to_string();
        self.out.frame(conn, &error_frame(error.code(), &message));
        self.close_callback(conn);
        self.out.event(Event::ProtocolError {
            conn,
            connection: ConnectionKind::Callback,
            peer,
            error,
        });
    }
}
