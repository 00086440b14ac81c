//! What the server tells its application.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::cluster::{ClaimId, ClaimKind};
use crate::wire::{CallbackState, ErrorCode, Role};
use crate::{ConnId, SessionId};

/// Something the application may want to know or act on, delivered as
/// [`Output::Event`](super::Output::Event).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A login succeeded and created a new session (LOGIN_OK sent).
    SessionOpened {
        /// The new session.
        session: SessionId,
        /// Its user (prepared name).
        user: Arc<str>,
        /// The user's role.
        role: Role,
        /// The control connection's peer (IPv4-mapped addresses shown as IPv4).
        peer: SocketAddr,
    },
    /// A login resumed a live session on a new control connection [C-6].
    SessionResumed {
        /// The session.
        session: SessionId,
        /// Its user.
        user: Arc<str>,
        /// The new control connection's peer.
        peer: SocketAddr,
    },
    /// Cluster mode [D-17]: a login with a valid proof waits for the
    /// application. For [`ClaimKind::Open`], register `session` in the
    /// shared store (it must not exist) and fix where it starts in the log;
    /// for [`ClaimKind::Resume`], look `session` up, check it is `user`'s
    /// and not expired, take its ownership. Then answer with
    /// [`Server::handle_claim`](super::Server::handle_claim) within
    /// `claim_timeout`.
    ClaimSession {
        /// The claim to answer.
        claim: ClaimId,
        /// What the login asks for.
        kind: ClaimKind,
        /// The session to open (a fresh id) or to resume.
        session: SessionId,
        /// The user who logged in (prepared name, proof verified).
        user: Arc<str>,
        /// The control connection's peer.
        peer: SocketAddr,
    },
    /// Cluster mode [D-17]: a session held by another server came back
    /// from its record and was attached to a login (LOGIN_OK sent). Its
    /// next seq is `acked_seq + 1`; read the log from there.
    SessionRestored {
        /// The session.
        session: SessionId,
        /// Its user.
        user: Arc<str>,
        /// The role of the login that restored it.
        role: Role,
        /// The new control connection's peer.
        peer: SocketAddr,
        /// The acknowledged seq it was restored at.
        acked_seq: u64,
    },
    /// Cluster mode [D-17]: the application released the session (or the
    /// server shut down): its connections were closed without BYE and its
    /// queue dropped unreported; it lives on in the shared store.
    SessionReleased {
        /// The session.
        session: SessionId,
        /// Its user.
        user: Arc<str>,
    },
    /// The session's control connection closed; the session keeps its queue
    /// until it is resumed or its lease runs out [C-5].
    SessionDetached {
        /// The session.
        session: SessionId,
        /// Its user.
        user: Arc<str>,
    },
    /// The session ended [C-10]. Any notifications it still held were
    /// reported just before in [`Event::Undelivered`].
    SessionClosed {
        /// The session.
        session: SessionId,
        /// Its user.
        user: Arc<str>,
        /// Why it ended.
        reason: CloseReason,
    },
    /// The server sent CALLBACK_STATUS: the session's delivery path changed [B-5].
    CallbackStatus {
        /// The session.
        session: SessionId,
        /// The state announced to the client.
        state: CallbackState,
        /// The callback endpoint the server dials (`None` when port 0 was advertised).
        endpoint: Option<SocketAddr>,
    },
    /// The client acknowledged notifications `first_seq..=last_seq` (by ACK
    /// or by CB_READY's `last_seq`).
    Delivered {
        /// The session.
        session: SessionId,
        /// The lowest newly acknowledged seq.
        first_seq: u64,
        /// The highest newly acknowledged seq.
        last_seq: u64,
    },
    /// Notifications that died with their session, unacknowledged [C-4] [C-10].
    Undelivered {
        /// The session that ended.
        session: SessionId,
        /// Its user.
        user: Arc<str>,
        /// Every notification it held, in seq order.
        notifications: Vec<Undelivered>,
    },
    /// A login was refused after LOGIN (bad credentials, version, resume or limits).
    LoginFailed {
        /// The control connection.
        conn: ConnId,
        /// Its peer.
        peer: SocketAddr,
        /// The user name the client sent (not verified: anyone can send any name).
        user: String,
        /// Why.
        reason: LoginFailure,
    },
    /// An accepted control connection was refused before SERVER_HELLO,
    /// or closed before it logged in to make room for another prefix's
    /// ([`Refusal::Displaced`]).
    ConnectionRefused {
        /// The refused connection.
        conn: ConnId,
        /// Its peer.
        peer: SocketAddr,
        /// Why.
        reason: Refusal,
    },
    /// A TLS session failed — most often its handshake: the peer does not
    /// speak TLS, refused our certificate, or did not finish in time
    /// [T-9]. The connection is closed; nothing was sent in plaintext.
    TlsFailed {
        /// The connection.
        conn: ConnId,
        /// Its peer (for a callback, the endpoint dialled).
        peer: SocketAddr,
        /// The session it belonged to, if any.
        session: Option<SessionId>,
        /// Why, for a person.
        reason: crate::tls::TlsFailure,
    },
    /// A connection was closed with an ERROR frame, sent or received [F-6].
    ProtocolError {
        /// The connection.
        conn: ConnId,
        /// Its peer (for a callback, the endpoint dialled).
        peer: SocketAddr,
        /// The session it belonged to, if any.
        session: Option<SessionId>,
        /// What happened.
        error: PeerError,
    },
}

/// Why a session ended.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent LOGOUT (BYE logout).
    Logout,
    /// No frame arrived on the control connection for a lease (BYE lease expired).
    LeaseExpired,
    /// Another session completed a callback handshake on this session's
    /// endpoint [C-4] (BYE replaced).
    Replaced {
        /// The session that took the endpoint over.
        by: SessionId,
    },
    /// The application called [`Server::end_session`](super::Server::end_session)
    /// (BYE ended by server).
    EndedByServer,
    /// The application called [`Server::shutdown`](super::Server::shutdown) (BYE shutdown).
    Shutdown,
    /// An ERROR was sent or received on the control connection after
    /// LOGIN_OK [F-6], or a sequence rule was broken on any of the session's
    /// connections [B-2].
    ProtocolError(PeerError),
}

/// An ERROR frame and its direction.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum PeerError {
    /// The server sent it because the peer broke a rule.
    Sent {
        /// The code sent.
        code: ErrorCode,
        /// The message sent.
        message: String,
    },
    /// The peer sent it.
    Received {
        /// The code received.
        code: ErrorCode,
        /// The message received.
        message: String,
    },
}

impl PeerError {
    /// The ERROR code.
    pub fn code(&self) -> ErrorCode {
        match self {
            PeerError::Sent { code, .. } | PeerError::Received { code, .. } => *code,
        }
    }

    /// The ERROR message.
    pub fn message(&self) -> &str {
        match self {
            PeerError::Sent { message, .. } | PeerError::Received { message, .. } => message,
        }
    }
}

/// Why a login failed (the client got the ERROR named in each variant).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum LoginFailure {
    /// Wrong password or unknown user: indistinguishable on purpose [A-3] (`AUTH_FAILED`).
    BadCredentials,
    /// LOGIN.version is not 1 [C-8] (`UNSUPPORTED_VERSION`).
    UnsupportedVersion {
        /// The version the client asked for.
        version: u16,
    },
    /// The session to resume does not exist or belongs to another user [C-6]
    /// (`UNKNOWN_SESSION`).
    UnknownSession {
        /// The id the client asked for.
        requested: u64,
    },
    /// The user has `max_sessions_per_user` sessions [C-7] (`LIMIT_EXCEEDED`).
    TooManySessionsForUser,
    /// The address has `max_sessions_per_ip` sessions [C-7] (`LIMIT_EXCEEDED`).
    TooManySessionsFromIp,
    /// The user name failed too many logins from the address recently, so
    /// LOGIN was refused before any challenge [A-5] [D-15] (`LIMIT_EXCEEDED`).
    /// Names that do not exist are limited the same way.
    TooManyFailedLogins,
    /// Cluster mode: the bus is unreachable, or the application could not
    /// serve the session now [D-17] (`SHUTTING_DOWN`: try again).
    ClusterUnavailable,
    /// Cluster mode: the bus answered, and another server of the cluster
    /// still holds the session (its owner lease has not run out, or it won
    /// a race for it) [D-17] (`SHUTTING_DOWN`: try again).
    HeldElsewhere,
    /// Cluster mode: the application did not answer the claim within
    /// `claim_timeout` [D-17] (`SHUTTING_DOWN`: try again).
    ClaimTimedOut,
    /// Cluster mode: `max_pending_claims` logins were already waiting for
    /// the application [D-17] (`LIMIT_EXCEEDED`).
    TooManyClaims,
}

/// Why an accepted connection was refused at once.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Refusal {
    /// The address failed too many logins recently [A-5] (`LIMIT_EXCEEDED`).
    TooManyFailedLogins,
    /// The address has `max_unauthenticated_per_ip` connections that have not
    /// logged in yet [A-5] (`LIMIT_EXCEEDED`).
    TooManyUnauthenticated,
    /// The server has `max_unauthenticated` connections that have not
    /// logged in, from all addresses (`LIMIT_EXCEEDED`).
    Busy,
    /// The server is shutting down (`SHUTTING_DOWN`).
    ShuttingDown,
    /// The connection had not logged in, its prefix held the most of the
    /// `max_unauthenticated` places, and a connection from a prefix holding
    /// fewer came: it was closed to make room [D-15] (`LIMIT_EXCEEDED`).
    Displaced,
    /// Cluster mode: the application said the bus is unreachable [D-17]
    /// (`SHUTTING_DOWN`: try again).
    ClusterUnavailable,
}

/// One notification that died with its session.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Undelivered {
    /// Its seq in the session.
    pub seq: u64,
    /// NOTIFY.kind.
    pub kind: u8,
    /// The encoded payload (decode with [`Notification::decode`](crate::wire::Notification::decode)).
    pub payload: Bytes,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Logout => f.write_str("logout"),
            CloseReason::LeaseExpired => f.write_str("lease expired"),
            CloseReason::Replaced { by } => write!(f, "replaced by session {by}"),
            CloseReason::EndedByServer => f.write_str("ended by server"),
            CloseReason::Shutdown => f.write_str("shutdown"),
            CloseReason::ProtocolError(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Sent { code, message } => write!(f, "sent {code} {message:?}"),
            PeerError::Received { code, message } => write!(f, "received {code} {message:?}"),
        }
    }
}

impl fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginFailure::BadCredentials => f.write_str("bad credentials"),
            LoginFailure::UnsupportedVersion { version } => {
                write!(f, "unsupported version {version}")
            }
            LoginFailure::UnknownSession { requested } => {
                write!(f, "unknown session {requested:016x}")
            }
            LoginFailure::TooManySessionsForUser => f.write_str("too many sessions for the user"),
            LoginFailure::TooManySessionsFromIp => {
                f.write_str("too many sessions from the address")
            }
            LoginFailure::TooManyFailedLogins => {
                f.write_str("too many failed logins for the name from the address")
            }
            LoginFailure::ClusterUnavailable => f.write_str("the cluster bus is unreachable"),
            LoginFailure::HeldElsewhere => {
                f.write_str("the session is still held by another server of the cluster")
            }
            LoginFailure::ClaimTimedOut => f.write_str("the cluster did not answer in time"),
            LoginFailure::TooManyClaims => f.write_str("too many logins waiting for the cluster"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::TooManyFailedLogins => "too many failed logins from the address",
            Refusal::TooManyUnauthenticated => {
                "too many unauthenticated connections from the address"
            }
            Refusal::Busy => "too many unauthenticated connections in all",
            Refusal::ShuttingDown => "shutting down",
            Refusal::ClusterUnavailable => "the cluster bus is unreachable",
            Refusal::Displaced => {
                "closed before logging in to make room: its network held the most unauthenticated connections"
            }
        })
    }
}

/// One line per event, for logs and transcripts.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::SessionOpened {
                session,
                user,
                role,
                peer,
            } => write!(
                f,
                "session opened {session} user={user:?} role={role} peer={peer}"
            ),
            Event::SessionResumed {
                session,
                user,
                peer,
            } => write!(f, "session resumed {session} user={user:?} peer={peer}"),
            Event::ClaimSession {
                claim,
                kind,
                session,
                user,
                peer,
            } => write!(f, "{claim}: {kind} {session} user={user:?} peer={peer}"),
            Event::SessionRestored {
                session,
                user,
                role,
                peer,
                acked_seq,
            } => write!(
                f,
                "session restored {session} user={user:?} role={role} peer={peer} acked={acked_seq}"
            ),
            Event::SessionReleased { session, user } => {
                write!(f, "session released {session} user={user:?}")
            }
            Event::SessionDetached { session, user } => {
                write!(f, "session detached {session} user={user:?}")
            }
            Event::SessionClosed {
                session,
                user,
                reason,
            } => write!(f, "session closed {session} user={user:?} reason={reason}"),
            Event::CallbackStatus {
                session,
                state,
                endpoint,
            } => {
                write!(f, "callback status {session} {state}")?;
                match endpoint {
                    Some(e) => write!(f, " endpoint={e}"),
                    None => f.write_str(" endpoint=none"),
                }
            }
            Event::Delivered {
                session,
                first_seq,
                last_seq,
            } => write!(f, "delivered {session} seq={first_seq}..={last_seq}"),
            Event::Undelivered {
                session,
                user,
                notifications,
            } => {
                write!(f, "undelivered {session} user={user:?} seqs=[")?;
                for (i, n) in notifications.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}", n.seq)?;
                }
                f.write_str("]")
            }
            Event::LoginFailed {
                conn,
                peer,
                user,
                reason,
            } => write!(f, "login failed {conn} peer={peer} user={user:?}: {reason}"),
            Event::ConnectionRefused { conn, peer, reason } => {
                write!(f, "connection refused {conn} peer={peer}: {reason}")
            }
            Event::ProtocolError {
                conn,
                peer,
                session,
                error,
            } => {
                write!(f, "protocol error {conn} peer={peer}")?;
                if let Some(s) = session {
                    write!(f, " session={s}")?;
                }
                write!(f, ": {error}")
            }
            Event::TlsFailed {
                conn,
                peer,
                session,
                reason,
            } => {
                write!(f, "TLS failed {conn} peer={peer}")?;
                if let Some(s) = session {
                    write!(f, " session={s}")?;
                }
                write!(f, ": {reason}")
            }
        }
    }
}
