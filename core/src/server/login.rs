//! The login on a control connection: LOGIN → LOGIN_CHALLENGE →
//! LOGIN_PROOF → LOGIN_OK, with the version check [C-8], unknown users
//! indistinguishable from wrong passwords, the failed-login limiter
//! per name and address [A-5] [D-15], resume [C-6] and the session limits [C-7].

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::Server;
use super::cluster::ClaimKind;
use super::conn::{ConnKind, ControlPhase};
use super::events::{Event, LoginFailure, PeerError};
use super::failed_logins::NameKey;
use super::limits::address_key;
use super::session::{Grant, Session};
use crate::auth::{
    AuthMessage, DEFAULT_ITERATIONS, ServerKey, SessionKey, StoredKey, recover_client_key,
    server_signature, session_key, unknown_user_salt,
};
use crate::wire::{
    ByeReason, Caps, ErrorCode, Frame, Login, LoginChallenge, LoginOk, Mac, PROTOCOL_VERSION, Role,
};
use crate::{ConnId, SessionId};

/// What the server remembers between LOGIN_CHALLENGE and LOGIN_PROOF.
pub(crate) struct PendingLogin {
    pub(super) user: String,
    /// The user name's failed-login bucket [D-15].
    name_key: NameKey,
    /// Whether the user exists. An unknown user is given fake keys and
    /// goes through the same proof computation before failing.
    known: bool,
    stored_key: StoredKey,
    server_key: ServerKey,
    pub(super) role: Role,
    auth: AuthMessage,
    pub(super) resume: u64,
    /// LOGIN_OK.caps: SERVER_HELLO.caps ∩ LOGIN.caps.
    caps: Caps,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("user", &self.user)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// The message of every failed proof, real user or not.
const AUTH_FAILED_MESSAGE: &str = "authentication failed";

/// A key for a user that does not exist: stable per name, never matching.
fn fake_key(secret: &[u8; 32], label: &[u8], user: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(secret)
        .chain_update(label)
        .chain_update(user.as_bytes())
        .finalize()
        .into()
}

impl Server {
    /// A frame on a control connection before LOGIN_OK.
    pub(super) fn on_login_frame(&mut self, now: Instant, conn: ConnId, frame: Frame<'_>) {
        let (awaiting_proof, awaiting_claim) = match self.conns.get(conn).map(|c| &c.kind) {
            Some(ConnKind::Control(ctl)) => (
                matches!(ctl.phase, ControlPhase::AwaitProof(_)),
                matches!(ctl.phase, ControlPhase::AwaitClaim(_)),
            ),
            _ => (false, false),
        };
        match frame {
            Frame::Error(e) => self.abort_conn(
                now,
                conn,
                PeerError::Received {
                    code: e.code,
                    message: e.message.into_owned(),
                },
            ),
            // [D-17]: the client waits for LOGIN_OK; nothing else may come.
            other if awaiting_claim => {
                let error = Self::violation(
                    ErrorCode::UnexpectedFrame,
                    format!(
                        "expected nothing before LOGIN_OK, got {}",
                        other.frame_type()
                    ),
                );
                self.abort_conn(now, conn, error);
            }
            Frame::Login(login) if !awaiting_proof => self.on_login(now, conn, &login),
            Frame::LoginProof { proof } if awaiting_proof => self.on_login_proof(now, conn, &proof),
            other => {
                let expected = if awaiting_proof {
                    "LOGIN_PROOF"
                } else {
                    "LOGIN"
                };
                let error = Self::violation(
                    ErrorCode::UnexpectedFrame,
                    format!("expected {expected}, got {}", other.frame_type()),
                );
                self.abort_conn(now, conn, error);
            }
        }
    }

    fn control_peer(&self, conn: ConnId) -> Option<SocketAddr> {
        match &self.conns.get(conn)?.kind {
            ConnKind::Control(ctl) => Some(ctl.peer),
            ConnKind::Callback(_) => None,
        }
    }

    /// Refuses a login: event, ERROR, close (no session exists yet).
    pub(super) fn refuse_login(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: String,
        reason: LoginFailure,
        code: ErrorCode,
        message: String,
    ) {
        let Some(peer) = self.control_peer(conn) else {
            return;
        };
        tracing::debug!(%conn, %peer, user, %reason, "login refused");
        self.out.event(Event::LoginFailed {
            conn,
            peer,
            user,
            reason,
        });
        let error = Self::violation(code, message);
        self.close_with_error(now, conn, &error, false);
    }

    fn on_login(&mut self, now: Instant, conn: ConnId, login: &Login<'_>) {
        if login.version != PROTOCOL_VERSION {
            self.refuse_login(
                now,
                conn,
                login.user.clone().into_owned(),
                LoginFailure::UnsupportedVersion {
                    version: login.version,
                },
                ErrorCode::UnsupportedVersion,
                format!(
                    "version {} is not supported; this server speaks {PROTOCOL_VERSION}..={PROTOCOL_VERSION}",
                    login.version
                ),
            );
            return;
        }
        let user = login.user.as_ref();
        // [D-15]: the name's bucket at this address, for known and unknown
        // names alike, before any lookup.
        let name_key = self.limiter.name_key(user);
        let Some(peer) = self.control_peer(conn) else {
            return;
        };
        let failed = self
            .ips
            .get(&address_key(peer.ip()))
            .and_then(|e| e.failed.as_deref());
        if !self.limiter.allows_name(failed, name_key, now) {
            self.refuse_login(
                now,
                conn,
                user.to_owned(),
                LoginFailure::TooManyFailedLogins,
                ErrorCode::LimitExceeded,
                "too many failed logins for this user from this address; try again later"
                    .to_owned(),
            );
            return;
        }
        let secret = &self.config.unknown_user_secret;
        // the fake values are computed for every login, known user
        // or not, so that the challenge takes the same time either way.
        let fake_salt = unknown_user_salt(secret, user);
        let fake_stored = StoredKey::from_bytes(fake_key(secret, b"unknown user stored key", user));
        let fake_server = ServerKey::from_bytes(fake_key(secret, b"unknown user server key", user));
        let (known, salt, iterations, stored_key, server_key, role) =
            match self.users.credentials(user) {
                Some(c) => (
                    true,
                    c.salt().to_vec(),
                    c.iterations(),
                    c.stored_key().clone(),
                    c.server_key().clone(),
                    c.role(),
                ),
                // A challenge exactly like a real one.
                None => (
                    false,
                    fake_salt.to_vec(),
                    DEFAULT_ITERATIONS,
                    fake_stored,
                    fake_server,
                    Role::User,
                ),
            };
        let challenge = Frame::LoginChallenge(LoginChallenge {
            server_nonce: self.rng.nonce(),
            salt: Cow::Owned(salt),
            iterations,
        });
        // The AuthMessage is the bodies as sent; the codec is canonical, so
        // re-encoding the decoded LOGIN gives the client's bytes.
        let login_frame = Frame::Login(login.clone());
        let mut login_body = Vec::with_capacity(login_frame.body_len());
        let mut challenge_body = Vec::with_capacity(challenge.body_len());
        if login_frame.encode_body(&mut login_body).is_err()
            || challenge.encode_body(&mut challenge_body).is_err()
        {
            // Unreachable: a decoded LOGIN and a checked salt always encode.
            let error = Self::violation(ErrorCode::Malformed, "LOGIN cannot be re-encoded");
            self.abort_conn(now, conn, error);
            return;
        }
        let auth = AuthMessage::from_bodies(&self.hello[5..], &login_body, &challenge_body);
        // Over TLS the login is bound to this connection [T-6].
        let auth = match self
            .conns
            .get(conn)
            .map(|c| (c.tls.is_some(), c.channel_binding()))
        {
            Some((true, Some(binding))) => auth.bind(&binding),
            Some((false, _)) => auth,
            _ => {
                // Unreachable: LOGIN arrives only after the client's Finished.
                let error = Self::violation(
                    ErrorCode::Malformed,
                    "LOGIN before the TLS handshake completed",
                );
                self.abort_conn(now, conn, error);
                return;
            }
        };
        let pending = PendingLogin {
            user: user.to_owned(),
            name_key,
            known,
            stored_key,
            server_key,
            role,
            auth,
            resume: login.resume_session,
            caps: self.config.caps.intersection(login.caps),
        };
        self.send(now, conn, &challenge);
        if let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) {
            ctl.phase = ControlPhase::AwaitProof(Box::new(pending));
        }
    }

    fn on_login_proof(&mut self, now: Instant, conn: ConnId, proof: &Mac) {
        let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) else {
            return;
        };
        let ControlPhase::AwaitProof(pending) =
            std::mem::replace(&mut ctl.phase, ControlPhase::AwaitLogin)
        else {
            return;
        };
        let peer = ctl.peer;
        // The same HMAC work for a fake user as for a real one.
        let recovered = recover_client_key(&pending.stored_key, &pending.auth, proof);
        let client_key = match (recovered, pending.known) {
            (Some(key), true) => key,
            _ => {
                self.record_failed_login(now, peer, pending.name_key);
                self.refuse_login(
                    now,
                    conn,
                    pending.user,
                    LoginFailure::BadCredentials,
                    ErrorCode::AuthFailed,
                    AUTH_FAILED_MESSAGE.to_owned(),
                );
                return;
            }
        };
        let clustered = self.config.cluster.is_some();
        if clustered && !self.cluster.bus_available {
            // [D-17]: a server cut off from the bus serves no session.
            self.refuse_unavailable(now, conn, pending.user);
            return;
        }
        let key = session_key(&client_key, &pending.auth);
        // [C-6]: resume is checked only after a valid proof.
        if pending.resume != 0 {
            let requested = SessionId::new(pending.resume);
            let held = requested.and_then(|id| {
                self.sessions
                    .get(id)
                    .map(|s| (id, **s.user() == pending.user))
            });
            match (held, requested) {
                (Some((sid, true)), _) => self.resume(now, conn, peer, sid, *pending, key),
                // [D-17]: a session this server does not hold may live on
                // another: the application looks it up.
                (None, Some(sid)) if clustered => {
                    self.start_claim(now, conn, ClaimKind::Resume, sid, *pending, key);
                }
                _ => {
                    let requested = pending.resume;
                    self.refuse_login(
                        now,
                        conn,
                        pending.user,
                        LoginFailure::UnknownSession { requested },
                        ErrorCode::UnknownSession,
                        format!("session {requested:#018x} is not a live session of this user"),
                    );
                }
            }
            return;
        }
        // [C-7]
        let user_sessions = self.sessions.count_of_user(&pending.user);
        let ip_sessions = self.ips.sessions_at(peer.ip());
        let limit = if user_sessions >= self.config.max_sessions_per_user {
            Some((
                LoginFailure::TooManySessionsForUser,
                format!(
                    "user has {user_sessions} sessions, the limit is {}",
                    self.config.max_sessions_per_user
                ),
            ))
        } else if ip_sessions >= self.config.max_sessions_per_ip {
            Some((
                LoginFailure::TooManySessionsFromIp,
                format!(
                    "address has {ip_sessions} sessions, the limit is {}",
                    self.config.max_sessions_per_ip
                ),
            ))
        } else {
            None
        };
        if let Some((reason, message)) = limit {
            self.refuse_login(
                now,
                conn,
                pending.user,
                reason,
                ErrorCode::LimitExceeded,
                message,
            );
            return;
        }
        let sid = self.fresh_session_id();
        if clustered {
            // [D-17]: registered in the shared store before LOGIN_OK.
            self.start_claim(now, conn, ClaimKind::Open, sid, *pending, key);
        } else {
            self.open_session(now, conn, peer, sid, *pending, key);
        }
    }

    /// A session id this server has never issued and does not hold (a
    /// session restored from the cluster [D-17] came with its own id).
    pub(super) fn fresh_session_id(&mut self) -> SessionId {
        loop {
            let sid = self.sessions.next_id();
            if !self.sessions.contains(sid) {
                return sid;
            }
        }
    }

    fn record_failed_login(&mut self, now: Instant, peer: SocketAddr, name: NameKey) {
        let key = address_key(peer.ip());
        let failed = self.ips.entry(key).failed.get_or_insert_with(Box::default);
        self.limiter.record(failed, name, now);
        self.arm_ip(key);
    }

    /// Sends LOGIN_OK for `sid` and moves the connection to AwaitAdvertise.
    pub(super) fn send_login_ok(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: SessionId,
        pending: &PendingLogin,
    ) {
        let mut ok = LoginOk {
            session_id: sid.get(),
            role: pending.role,
            lease_ms: self.config.lease_ms(),
            caps: pending.caps,
            server_signature: [0; 32],
        };
        ok.server_signature = server_signature(&pending.server_key, &pending.auth, &ok);
        self.send(now, conn, &Frame::LoginOk(ok));
        if let Some(c) = self.conns.get_mut(conn)
            && let ConnKind::Control(ctl) = &mut c.kind
        {
            ctl.phase = ControlPhase::AwaitAdvertise(sid);
            let ip = ctl.peer.ip();
            self.forget_unauthenticated(now, ip, conn);
        }
    }

    /// What this login gives the session it opens or resumes.
    pub(super) fn grant(
        &self,
        now: Instant,
        conn: ConnId,
        peer: SocketAddr,
        pending: &PendingLogin,
        key: SessionKey,
    ) -> Grant {
        Grant {
            control: conn,
            peer,
            key,
            caps: pending.caps,
            role: pending.role,
            lease_deadline: now + self.config.lease,
        }
    }

    pub(super) fn open_session(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: SocketAddr,
        sid: SessionId,
        pending: PendingLogin,
        key: SessionKey,
    ) {
        let user = self.sessions.user_name(&pending.user);
        self.send_login_ok(now, conn, sid, &pending);
        let grant = self.grant(now, conn, peer, &pending, key);
        self.sessions
            .insert(Session::new(sid, Arc::clone(&user), grant));
        self.ips.add_session(peer.ip());
        self.arm_session(sid);
        tracing::debug!(session = %sid, %user, %peer, "session opened");
        self.out.event(Event::SessionOpened {
            session: sid,
            user,
            role: pending.role,
            peer,
        });
    }

    /// [C-6]: the session moves to this connection. An old control
    /// connection gets BYE replaced, the callback is closed, the queue is
    /// kept; the new login's key and capabilities replace the old ones.
    pub(super) fn resume(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: SocketAddr,
        sid: SessionId,
        pending: PendingLogin,
        key: SessionKey,
    ) {
        let Some(slot) = self.sessions.key(sid) else {
            return;
        };
        let old_ip = self.sessions[slot].peer.ip();
        if old_ip != peer.ip() {
            let ip_sessions = self.ips.sessions_at(peer.ip());
            if ip_sessions >= self.config.max_sessions_per_ip {
                let message = format!(
                    "address has {ip_sessions} sessions, the limit is {}",
                    self.config.max_sessions_per_ip
                );
                self.refuse_login(
                    now,
                    conn,
                    pending.user,
                    LoginFailure::TooManySessionsFromIp,
                    ErrorCode::LimitExceeded,
                    message,
                );
                return;
            }
        }
        self.drop_callbacks(now, slot);
        if let Some(old) = self.sessions[slot].control.take() {
            self.send(
                now,
                old,
                &Frame::Bye {
                    reason: ByeReason::Replaced,
                },
            );
            self.remove_conn(now, old, true);
        }
        self.send_login_ok(now, conn, sid, &pending);
        self.ips.move_session(old_ip, peer.ip(), now);
        let grant = self.grant(now, conn, peer, &pending, key);
        let s = &mut self.sessions[slot];
        s.resume(grant);
        let user = Arc::clone(s.user());
        self.arm_session(sid);
        tracing::debug!(session = %sid, %user, %peer, "session resumed");
        self.out.event(Event::SessionResumed {
            session: sid,
            user,
            peer,
        });
    }
}
