//! The control connection: login, advertisement, keepalive, backchannel
//! delivery, BYE and ERROR handling (spec sections 5 and 6).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::{
    ByeReason, CallbackState, CallbackStatus, ErrorCode, Frame, FrameType, LoginChallenge, LoginOk,
    MAX_FRAME_LEN, MAX_PRELOGIN_FRAME_LEN, Notification, ServerHello, SharedDecoder, SharedNotify,
};
use crate::{ConnId, SessionId};

use super::delivery::PendingAck;
use super::events::{
    ConnectionKind, DisconnectReason, Event, Peer, ProtocolError, SessionEndReason, StopReason,
};
use super::hints::callback_hint;
use super::login::{self, LoginOkError, ProvenLogin};
use super::outbox::error_frame;
use super::timers::{Lease, backoff_delay, earliest};
use super::{Client, ConnectError, InputError, Output, Phase, Session};

/// One control connection, from dial to close.
#[derive(Debug)]
pub(crate) struct Control {
    conn: ConnId,
    decoder: SharedDecoder,
    phase: ControlPhase,
    /// ADVERTISE_OK must arrive by then [C-9].
    handshake_deadline: Instant,
    last_sent: Instant,
    last_received: Instant,
    /// When the last PING went out: unanswered while nothing has been
    /// received since ([D-18]).
    last_ping: Option<Instant>,
    /// The session this connection tries to resume.
    resume: Option<SessionId>,
    server_name: String,
    callback_state: Option<CallbackState>,
    callback_addr: Option<SocketAddr>,
}

#[derive(Debug)]
enum ControlPhase {
    Dialling,
    AwaitHello,
    AwaitChallenge {
        hello_body: Vec<u8>,
        login_body: Vec<u8>,
    },
    AwaitLoginOk(ProvenLogin),
    AwaitAdvertiseOk {
        resumed: bool,
    },
    Established,
}

/// The phase without its data, to match on while the connection is borrowed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PhaseKind {
    Dialling,
    AwaitHello,
    AwaitChallenge,
    AwaitLoginOk,
    AwaitAdvertiseOk,
    Established,
}

impl ControlPhase {
    fn kind(&self) -> PhaseKind {
        match self {
            ControlPhase::Dialling => PhaseKind::Dialling,
            ControlPhase::AwaitHello => PhaseKind::AwaitHello,
            ControlPhase::AwaitChallenge { .. } => PhaseKind::AwaitChallenge,
            ControlPhase::AwaitLoginOk(_) => PhaseKind::AwaitLoginOk,
            ControlPhase::AwaitAdvertiseOk { .. } => PhaseKind::AwaitAdvertiseOk,
            ControlPhase::Established => PhaseKind::Established,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            ControlPhase::Dialling => "before the connection was up",
            ControlPhase::AwaitHello => "while awaiting SERVER_HELLO",
            ControlPhase::AwaitChallenge { .. } => "while awaiting LOGIN_CHALLENGE",
            ControlPhase::AwaitLoginOk(_) => "while awaiting LOGIN_OK",
            ControlPhase::AwaitAdvertiseOk { .. } => "while awaiting ADVERTISE_OK",
            ControlPhase::Established => "on the control connection",
        }
    }
}

impl Control {
    fn new(conn: ConnId, now: Instant, deadline: Instant, resume: Option<SessionId>) -> Self {
        Self {
            conn,
            decoder: SharedDecoder::new(MAX_PRELOGIN_FRAME_LEN),
            phase: ControlPhase::Dialling,
            handshake_deadline: deadline,
            last_sent: now,
            last_received: now,
            last_ping: None,
            resume,
            server_name: String::new(),
            callback_state: None,
            callback_addr: None,
        }
    }

    pub(crate) fn conn(&self) -> ConnId {
        self.conn
    }

    /// After LOGIN_OK (ADVERTISE is sent at once with it).
    pub(crate) fn is_logged_in(&self) -> bool {
        matches!(
            self.phase,
            ControlPhase::AwaitAdvertiseOk { .. } | ControlPhase::Established
        )
    }

    /// After ADVERTISE_OK.
    pub(crate) fn is_established(&self) -> bool {
        matches!(self.phase, ControlPhase::Established)
    }

    pub(crate) fn callback_state(&self) -> Option<CallbackState> {
        self.callback_state
    }

    pub(crate) fn resuming(&self) -> Option<SessionId> {
        self.resume
    }

    /// NOTIFY is accepted here only while the last CALLBACK_STATUS was
    /// `backchannel` [D-2].
    fn backchannel(&self) -> bool {
        self.callback_state == Some(CallbackState::Backchannel)
    }

    pub(crate) fn next_deadline(&self, lease: Option<Lease>, phase: Phase) -> Option<Instant> {
        if phase != Phase::Running {
            return None; // the logout deadline governs
        }
        let mut next = (!self.is_established()).then_some(self.handshake_deadline);
        if let Some(lease) = lease
            && self.is_logged_in()
        {
            next = earliest(next, Some(self.last_received + lease.lease));
            next = earliest(next, Some(self.last_sent + lease.ping_after));
            next = earliest(next, self.unanswered_ping().map(|at| at + lease.ping_after));
        }
        next
    }

    /// When the PING that nothing has answered yet went out, if one has.
    /// Anything received counts as an answer: a PONG queued behind other
    /// frames is not late when those frames arrive. A frame received at
    /// the very instant the PING went out counts too (with a clock that
    /// does not move between two inputs, as in tests and the simulator,
    /// "at once" cannot tell before from after).
    fn unanswered_ping(&self) -> Option<Instant> {
        self.last_ping.filter(|&at| at > self.last_received)
    }
}

impl Client {
    pub(super) fn is_control(&self, conn: ConnId) -> bool {
        self.control.as_ref().is_some_and(|c| c.conn == conn)
    }

    /// Dials the server, to resume the current session if there is one.
    pub(super) fn start_control(&mut self, now: Instant) {
        let conn = self.allocate_conn();
        let resume = self.session.as_ref().map(|s| s.id);
        let server = self.servers.current();
        tracing::debug!(%conn, %server, ?resume, "dialling the server");
        self.control = Some(Control::new(
            conn,
            now,
            now + self.tunables.handshake_timeout,
            resume,
        ));
        self.out.push(Output::Connect { conn, addr: server });
    }

    pub(super) fn on_control_connected(&mut self, now: Instant) -> Result<(), InputError> {
        let Some(control) = self.control.as_mut() else {
            return Ok(());
        };
        if control.phase.kind() != PhaseKind::Dialling {
            return Err(InputError::AlreadyConnected { conn: control.conn });
        }
        control.phase = ControlPhase::AwaitHello;
        control.last_received = now;
        control.last_sent = now;
        let conn = control.conn;
        // [T-1]: TLS from the first byte; the ClientHello goes out now.
        self.start_tls(now, conn);
        Ok(())
    }

    pub(super) fn on_control_connect_failed(
        &mut self,
        now: Instant,
        error: ConnectError,
    ) -> Result<(), InputError> {
        if let Some(control) = &self.control
            && !matches!(control.phase, ControlPhase::Dialling)
        {
            return Err(InputError::AlreadyConnected { conn: control.conn });
        }
        self.control_lost(now, DisconnectReason::ConnectFailed { error }, false);
        Ok(())
    }

    pub(super) fn on_control_closed(&mut self, now: Instant) {
        tracing::debug!("control connection closed by the server");
        self.control_lost(now, DisconnectReason::Closed, false);
    }

    /// The control connection is gone: schedule a reconnect (which resumes
    /// the session if there still is one), or finish a logout.
    pub(super) fn control_lost(
        &mut self,
        now: Instant,
        reason: DisconnectReason,
        emit_close: bool,
    ) {
        if let Some(control) = self.control.take()
            && emit_close
        {
            self.out.close(control.conn);
        }
        match self.phase {
            Phase::Running => {}
            Phase::LoggingOut { .. } => return self.finish_logout(false),
            Phase::LoggedOut | Phase::Stopped => return,
        }
        // One backoff for the whole list, never reset by moving on: a
        // cluster that is down as a whole is retried no faster than one
        // server [D-17].
        self.failures = self.failures.saturating_add(1);
        let delay = backoff_delay(&mut self.rng, &self.tunables.backoff, self.failures);
        // Whatever failed, the next attempt goes to the next server: the
        // session, if any, resumes there [C-6] [D-17].
        let server = self.servers.current();
        let next_server = self.servers.advance();
        tracing::debug!(
            ?reason,
            %server,
            %next_server,
            attempt = self.failures,
            ?delay,
            "control connection lost"
        );
        self.reconnect_at = Some(now + delay);
        self.out.event(Event::ConnectionLost {
            reason,
            attempt: self.failures,
            retry_in: delay,
            server,
            next_server,
        });
    }

    /// Sends a frame on the control connection (renewing the keepalive timer).
    pub(super) fn send_control(&mut self, now: Instant, frame: &Frame<'_>) {
        if let Some(control) = self.control.as_mut() {
            control.last_sent = now;
            self.out.frame(control.conn, frame);
        }
    }

    /// Sends the owed ACK, if any, on the control connection. Only a frame
    /// actually sent restarts the keepalive timer [D-4].
    fn flush_control_ack(&mut self, now: Instant, ack: &mut PendingAck) {
        if let Some(control) = self.control.as_mut()
            && ack.is_owed()
        {
            control.last_sent = now;
            let conn = control.conn;
            self.flush_ack(conn, ack);
        }
    }

    pub(super) fn on_control_received(
        &mut self,
        now: Instant,
        data: &[u8],
    ) -> Result<(), InputError> {
        let Some(control) = self.control.as_mut() else {
            return Ok(());
        };
        let conn = control.conn;
        if matches!(control.phase, ControlPhase::Dialling) {
            return Err(InputError::NotConnected { conn });
        }
        // The frames are slices of the decoder's buffer (see
        // `on_callback_received`); it is taken out while they are handled.
        let mut decoder = std::mem::take(&mut control.decoder);
        decoder.extend(data);
        let mut ack = PendingAck::default();
        let mut decoded = None;
        loop {
            let split = match decoder.next_split(&mut decoded) {
                Ok(Some(split)) => split,
                Ok(None) => break,
                Err(err) => {
                    self.flush_control_ack(now, &mut ack);
                    self.control_protocol_error(now, err.into());
                    break;
                }
            };
            // A NOTIFY's payload takes over the frame's bytes; any other
            // frame is parsed borrowing them.
            let parsed = match split {
                Ok(notify) => {
                    self.on_control_notify(now, notify, &mut decoded, &mut ack);
                    Ok(())
                }
                Err(bytes) => Frame::parse(bytes[0], &bytes[1..]).map(|frame| {
                    self.flush_control_ack(now, &mut ack);
                    self.on_control_frame(now, frame);
                }),
            };
            if let Err(err) = parsed {
                self.flush_control_ack(now, &mut ack);
                self.control_protocol_error(now, err.into());
                break;
            }
            match &self.control {
                Some(control) if control.conn == conn => {
                    // [F-1]: the pre-login limit ends with LOGIN_OK.
                    if control.is_logged_in() {
                        decoder.set_max_frame_len(MAX_FRAME_LEN);
                    }
                }
                // The frame closed the connection (any ACK was sent first).
                _ => return Ok(()),
            }
        }
        self.flush_control_ack(now, &mut ack);
        if let Some(control) = self.control.as_mut()
            && control.conn == conn
        {
            control.decoder = decoder;
        }
        Ok(())
    }

    /// A NOTIFY on the control connection: delivered while the server
    /// announces the backchannel, a protocol error otherwise [D-2].
    fn on_control_notify(
        &mut self,
        now: Instant,
        notify: SharedNotify,
        decoded: &mut Option<Notification>,
        ack: &mut PendingAck,
    ) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        control.last_received = now;
        let established = control.is_established();
        if established && control.backchannel() {
            if let Err(err) = self.accept_notify(notify, decoded, ack) {
                self.flush_control_ack(now, ack);
                self.control_protocol_error(now, err);
            }
            return;
        }
        let state = if established {
            "on the control connection, which is not the backchannel [D-2]"
        } else {
            control.phase.describe()
        };
        self.control_protocol_error(
            now,
            ProtocolError::UnexpectedFrame {
                frame: FrameType::Notify,
                state,
            },
        );
    }

    fn on_control_frame(&mut self, now: Instant, frame: Frame<'_>) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        control.last_received = now;
        let state = control.phase.describe();
        let logged_in = control.is_logged_in();
        let established = control.is_established();
        match (control.phase.kind(), frame) {
            (_, Frame::Error(e)) => self.on_control_error(now, e.code, &e.message),
            (PhaseKind::AwaitHello, Frame::ServerHello(hello)) => self.on_server_hello(now, hello),
            (PhaseKind::AwaitChallenge, Frame::LoginChallenge(challenge)) => {
                self.on_login_challenge(now, &challenge)
            }
            (PhaseKind::AwaitLoginOk, Frame::LoginOk(ok)) => self.on_login_ok(now, &ok),
            (PhaseKind::AwaitAdvertiseOk, Frame::AdvertiseOk { callback }) => {
                self.on_advertise_ok(callback)
            }
            (_, Frame::Bye { reason }) if logged_in => self.on_control_bye(now, reason),
            (_, Frame::CallbackStatus(status)) if established => self.on_callback_status(status),
            (_, Frame::Ping { nonce }) if established => {
                self.send_control(now, &Frame::Pong { nonce })
            }
            // Any PONG renews liveness; an unknown nonce is ignored [B-7].
            (_, Frame::Pong { .. }) if established => {}
            (_, other) => self.control_protocol_error(
                now,
                ProtocolError::UnexpectedFrame {
                    frame: other.frame_type(),
                    state,
                },
            ),
        }
    }

    fn on_server_hello(&mut self, now: Instant, hello: ServerHello<'_>) {
        if let Err(reason) = login::check_version(&hello) {
            return self.control_fatal(now, ErrorCode::UnsupportedVersion, reason);
        }
        let client_nonce = self.rng.nonce();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let login = login::login_frame(
            Cow::Owned(self.creds.user().to_owned()),
            client_nonce,
            self.tunables.caps,
            control.resume,
        );
        let login_body = login::body(&login);
        let hello_body = login::body(&Frame::ServerHello(hello.clone()));
        control.server_name = hello.server_name.into_owned();
        control.phase = ControlPhase::AwaitChallenge {
            hello_body,
            login_body,
        };
        self.send_control(now, &login);
    }

    fn on_login_challenge(&mut self, now: Instant, challenge: &LoginChallenge<'_>) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let ControlPhase::AwaitChallenge {
            hello_body,
            login_body,
        } = std::mem::replace(&mut control.phase, ControlPhase::AwaitHello)
        else {
            return debug_assert!(false, "checked by the caller");
        };
        let conn = control.conn;
        let binding = match self.out.tls(conn) {
            None => None,
            Some(tls) => match tls.channel_binding() {
                Some(b) => Some(b),
                // Unreachable: frames arrive only after the handshake.
                None => return,
            },
        };
        let Some(control) = self.control.as_mut() else {
            return;
        };
        match login::answer_challenge(
            &mut self.creds,
            self.tunables.iteration_cap,
            &hello_body,
            &login_body,
            challenge,
            binding.as_ref(),
        ) {
            Ok((proof, proven)) => {
                control.phase = ControlPhase::AwaitLoginOk(proven);
                self.send_control(now, &Frame::LoginProof { proof });
            }
            // refused with AUTH_FAILED.
            Err(reason) => self.control_fatal(now, ErrorCode::AuthFailed, reason),
        }
    }

    fn on_login_ok(&mut self, now: Instant, ok: &LoginOk) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let ControlPhase::AwaitLoginOk(proven) =
            std::mem::replace(&mut control.phase, ControlPhase::AwaitHello)
        else {
            return debug_assert!(false, "checked by the caller");
        };
        let resume = control.resume;
        let (id, key) = match login::verify_login_ok(&proven, ok) {
            Ok(verified) => verified,
            Err(LoginOkError::BadSignature) => {
                return self.control_fatal(
                    now,
                    ErrorCode::AuthFailed,
                    StopReason::ServerSignatureInvalid,
                );
            }
            Err(LoginOkError::LeaseTooShort(lease_ms)) => {
                return self.control_fatal(
                    now,
                    ErrorCode::Malformed,
                    StopReason::LeaseTooShort { lease_ms },
                );
            }
            Err(LoginOkError::ZeroSession) => {
                return self.control_protocol_error(now, ProtocolError::ZeroSessionId);
            }
        };
        let resumed = resume == Some(id);
        if !resumed {
            // A resume that yields another session lost the old one: start
            // the new one's sequence numbers from 0 [B-2].
            self.end_session(SessionEndReason::ResumeRefused);
        }
        tracing::debug!(session = %id, resumed, lease_ms = ok.lease_ms, "LOGIN_OK verified");
        self.session = Some(Session {
            id,
            key,
            role: ok.role,
            caps: ok.caps,
            lease: Lease::from_ms(ok.lease_ms),
            pings_callbacks: false,
        });
        if let Some(control) = self.control.as_mut() {
            control.phase = ControlPhase::AwaitAdvertiseOk { resumed };
        }
        // [C-3]: exactly one ADVERTISE, right after LOGIN_OK.
        let advertise = Frame::Advertise(self.listener.advertise());
        self.send_control(now, &advertise);
    }

    fn on_advertise_ok(&mut self, callback: SocketAddr) {
        let (Some(control), Some(session)) = (self.control.as_mut(), self.session.as_ref()) else {
            return;
        };
        let ControlPhase::AwaitAdvertiseOk { resumed } =
            std::mem::replace(&mut control.phase, ControlPhase::Established)
        else {
            return debug_assert!(false, "checked by the caller");
        };
        if callback.port() != self.listener.advertised_port() {
            tracing::warn!(%callback, "ADVERTISE_OK names another port than the one advertised");
        }
        control.callback_addr = Some(callback);
        self.failures = 0;
        self.out.event(Event::LoggedIn {
            session: session.id,
            role: session.role,
            resumed,
            caps: session.caps,
            lease: session.lease.lease,
            callback,
            server_name: control.server_name.clone(),
            server: self.servers.current(),
        });
    }

    fn on_callback_status(&mut self, status: CallbackStatus<'_>) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        control.callback_state = Some(status.state);
        let port = self.listener.advertised_port();
        let hint = callback_hint(
            status.state,
            self.listener.policy(),
            port,
            control.callback_addr,
        );
        tracing::debug!(state = %status.state, detail = &*status.detail, "CALLBACK_STATUS");
        self.out.event(Event::CallbackStatus {
            state: status.state,
            detail: status.detail.into_owned(),
            hint,
        });
    }

    fn on_control_bye(&mut self, now: Instant, reason: ByeReason) {
        tracing::debug!(%reason, "BYE on the control connection");
        if let Phase::LoggingOut { .. } = self.phase {
            return self.finish_logout(true);
        }
        let end = SessionEndReason::from_bye(reason);
        let Some(session) = self.session.as_ref().map(|s| s.id) else {
            return self.control_lost(now, DisconnectReason::SessionEnded, true);
        };
        self.end_session(end);
        match reason {
            // The server is going away or forgot us: come back with a new session.
            ByeReason::LeaseExpired | ByeReason::Shutdown => {
                self.control_lost(now, DisconnectReason::SessionEnded, true)
            }
            // Someone else took over, or the server's side wants us gone:
            // logging in again would undo that.
            _ => self.stop(StopReason::SessionEnded {
                session,
                reason: end,
            }),
        }
    }

    /// An ERROR from the server on the control connection [F-6].
    fn on_control_error(&mut self, now: Instant, code: ErrorCode, message: &str) {
        let Some(control) = self.control.as_ref() else {
            return;
        };
        // Not `message`: that field is logged as is, the others escaped
        // (before LOGIN_OK this text is not even the proven server's).
        tracing::debug!(%code, text = message, "ERROR on the control connection");
        let logged_in = control.is_logged_in();
        let resume = control.resume;
        let over_tls = self.tls.is_some();
        self.out.event(Event::ErrorReceived {
            conn: control.conn,
            connection: ConnectionKind::Control,
            // Proven by LOGIN_OK's signature; before it, whoever
            // answered at the server's address.
            peer: Peer::new(self.servers.current(), logged_in),
            code,
            message: message.to_owned(),
        });
        if let Phase::LoggingOut { .. } = self.phase {
            return self.finish_logout(false);
        }
        if logged_in {
            // An ERROR after LOGIN_OK ends the session like LOGOUT [F-6].
            self.end_session(SessionEndReason::ControlError { code });
            if code == ErrorCode::BadPort {
                return self.stop(StopReason::AdvertiseRefused {
                    message: message.to_owned(),
                });
            }
            return self.control_lost(now, DisconnectReason::ErrorReceived { code }, true);
        }
        match code {
            ErrorCode::AuthFailed if over_tls => self.stop(StopReason::AuthFailedOverTls {
                message: message.to_owned(),
            }),
            ErrorCode::AuthFailed => self.stop(StopReason::AuthFailed {
                message: message.to_owned(),
            }),
            ErrorCode::UnsupportedVersion => self.stop(StopReason::VersionRefused {
                message: message.to_owned(),
            }),
            ErrorCode::UnknownSession if resume.is_some() => {
                // [C-6]: log in anew at once, and say what may have been lost.
                if let Some(control) = self.control.take() {
                    self.out.close(control.conn);
                }
                self.end_session(SessionEndReason::ResumeRefused);
                self.start_control(now);
            }
            _ => self.control_lost(now, DisconnectReason::ErrorReceived { code }, true),
        }
    }

    /// The server broke the protocol: ERROR, close, and (after LOGIN_OK)
    /// the session is over [F-6].
    fn control_protocol_error(&mut self, now: Instant, error: ProtocolError) {
        let Some(control) = self.control.as_ref() else {
            return;
        };
        let conn = control.conn;
        let logged_in = control.is_logged_in();
        let code = error.code();
        tracing::debug!(%error, "protocol error on the control connection");
        let message = error.to_string();
        self.send_control(now, &error_frame(code, &message));
        self.control = None;
        self.out.close(conn);
        self.out.event(Event::ProtocolError {
            conn,
            connection: ConnectionKind::Control,
            peer: Peer::new(self.servers.current(), logged_in),
            error,
        });
        if logged_in && !matches!(self.phase, Phase::LoggingOut { .. }) {
            self.end_session(SessionEndReason::ControlError { code });
        }
        self.control_lost(now, DisconnectReason::ProtocolError, false);
    }

    /// A fatal login failure: ERROR with `code`, then stop.
    fn control_fatal(&mut self, now: Instant, code: ErrorCode, reason: StopReason) {
        let message = reason.to_string();
        self.send_control(now, &error_frame(code, &message));
        self.stop(reason);
    }

    /// Handshake timeout, keepalive and the server's silence.
    pub(super) fn control_timers(&mut self, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let lease = self.session_lease();
        let Some(control) = self.control.as_ref() else {
            return;
        };
        if !control.is_established() && now >= control.handshake_deadline {
            let conn = control.conn;
            if matches!(control.phase, ControlPhase::Dialling) {
                // The dial itself hung (a firewall dropping SYNs): say so,
                // not that a login was slow.
                let error = ConnectError::TimedOut;
                return self.control_lost(now, DisconnectReason::ConnectFailed { error }, true);
            }
            if let Some(failure) = self.tls_handshaking(conn) {
                // [T-8]: the TLS handshake itself did not finish.
                return self.tls_failed(now, conn, failure);
            }
            tracing::debug!("login did not complete within the handshake timeout");
            // No ERROR: after LOGIN_OK it would end the session, which a
            // resume can still save.
            return self.control_lost(now, DisconnectReason::HandshakeTimeout, true);
        }
        let Some(lease) = lease else {
            return;
        };
        if !control.is_logged_in() {
            return;
        }
        if now >= control.last_received + lease.lease {
            tracing::debug!("nothing from the server for a whole lease");
            return self.control_lost(now, DisconnectReason::ServerSilent, true);
        }
        // [D-18]: a PING unanswered for a third of the lease means the path
        // died without a word (a dropped route, a firewall that lost its
        // state). The server's lease, counted from our last frame it read,
        // then still has a third to run: reconnecting now resumes the
        // session before the server ends it, where waiting for a whole
        // lease of silence would lose the race (both sides' leases end at
        // once) and the session with it.
        if control
            .unanswered_ping()
            .is_some_and(|at| now >= at + lease.ping_after)
        {
            tracing::debug!("the server did not answer a PING within a third of the lease");
            return self.control_lost(now, DisconnectReason::ServerSilent, true);
        }
        if now >= control.last_sent + lease.ping_after {
            let nonce = self.rng.next_u64();
            if let Some(control) = self.control.as_mut() {
                control.last_ping = Some(now);
            }
            self.send_control(now, &Frame::Ping { nonce });
        }
    }
}
