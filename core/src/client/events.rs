//! What the client tells its application.

use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::{
    ByeReason, CallbackState, Caps, DecodeError, ErrorCode, FrameType, Notification, Role,
};
use crate::{ConnId, SessionId};

use super::settings::ListenPolicy;
use crate::io::{BindError, ConnectError};

/// Something the application should know, delivered as
/// [`Output::Event`](super::Output::Event) in the order it happened.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// The callback listener is bound (once, at start-up, before any
    /// network traffic). It stays bound for the client's whole life.
    Listening {
        /// The bound address (the OS-assigned port for `dynamic`).
        local: SocketAddr,
        /// The policy the port was chosen by.
        policy: ListenPolicy,
    },
    /// A login completed: LOGIN_OK was verified and the server accepted the
    /// callback advertisement (ADVERTISE_OK).
    LoggedIn {
        /// The session.
        session: SessionId,
        /// The user's role.
        role: Role,
        /// Whether this resumed the previous session (its queue was kept, so
        /// nothing was missed) rather than starting a new one.
        resumed: bool,
        /// The negotiated capabilities.
        caps: Caps,
        /// The session's lease.
        lease: Duration,
        /// The address the server will dial for callbacks (informational).
        callback: SocketAddr,
        /// The server's name from SERVER_HELLO.
        server_name: String,
        /// The address of the server the client is logged in to (one of
        /// [`ClientConfig::servers`](super::ClientConfig::servers)).
        server: SocketAddr,
    },
    /// The server reported how it delivers: over the callback, not at all
    /// for now, or over the control connection (CALLBACK_STATUS).
    CallbackStatus {
        /// The new delivery state.
        state: CallbackState,
        /// The server's text.
        detail: String,
        /// What to do about it, for unreachable and backchannel states (e.g.
        /// which port to open on the firewall).
        hint: Option<String>,
    },
    /// A callback connection completed its handshake: the server proved it
    /// holds the session key [B-1].
    ///
    /// The first one of a login may come just before [`Event::LoggedIn`]:
    /// the server dials as soon as it reads ADVERTISE, and the callback
    /// handshake can finish before ADVERTISE_OK is read from the control
    /// connection. Wait for the two in either order.
    CallbackEstablished {
        /// The callback connection.
        conn: ConnId,
        /// Where it came from.
        peer: SocketAddr,
    },
    /// A callback connection was closed without delivering anything. Its
    /// peer never proved it is the server (it is anyone who can reach the
    /// callback port): a stranger, a forged CB_HELLO, or a server that
    /// took too long.
    CallbackRejected {
        /// The callback connection.
        conn: ConnId,
        /// Where it came from.
        peer: SocketAddr,
        /// Why.
        reason: CallbackRejection,
    },
    /// An authenticated callback connection (one that had an
    /// [`Event::CallbackEstablished`]) was closed, and no other event says
    /// why. Notifications keep coming on a newer callback, after a redial
    /// or over the control connection; this says what happened to this one.
    CallbackClosed {
        /// The callback connection.
        conn: ConnId,
        /// Where it came from.
        peer: SocketAddr,
        /// Why it was closed.
        reason: CallbackClosure,
    },
    /// A notification, handed over exactly once and in sequence order [B-3].
    Notification {
        /// Its sequence number in the session.
        seq: u64,
        /// The notification; unknown kinds and unparseable payloads come
        /// through raw [N-1].
        notification: Notification,
    },
    /// A session ended while notifications may still have been queued for
    /// it on the server: re-read whatever state the application mirrors
    /// (e.g. the received-fax list). Follows every [`Event::SessionEnded`]
    /// except a logout.
    NotificationsMayHaveBeenMissed {
        /// The session that ended.
        session: SessionId,
        /// The last sequence number handed to the application in it.
        last_delivered_seq: u64,
    },
    /// The server-side session ended (the next events say what the client
    /// does about it: log in anew, or stop).
    SessionEnded {
        /// The session.
        session: SessionId,
        /// Why it ended.
        reason: SessionEndReason,
    },
    /// The control connection is down (or could not be made); the client
    /// retries after a backoff, resuming its session if it has one.
    ConnectionLost {
        /// What happened.
        reason: DisconnectReason,
        /// Failed attempts in a row, this one included.
        attempt: u32,
        /// Delay until the next attempt.
        retry_in: Duration,
        /// The server the connection was to (or was being dialled).
        server: SocketAddr,
        /// The server the next attempt dials: the next of
        /// [`ClientConfig::servers`](super::ClientConfig::servers), round
        /// robin (the same one when there is only one) [D-17].
        next_server: SocketAddr,
    },
    /// The peer broke the protocol: the client sent it an ERROR (with
    /// [`ProtocolError::code`]) and closed the connection.
    ProtocolError {
        /// The connection.
        conn: ConnId,
        /// Which kind it is.
        connection: ConnectionKind,
        /// Who the peer is: on a callback that has not completed its
        /// handshake, anyone who can reach the callback port.
        peer: Peer,
        /// What the peer did.
        error: ProtocolError,
    },
    /// The peer sent an ERROR; the connection is closed [F-6].
    ErrorReceived {
        /// The connection.
        conn: ConnId,
        /// Which kind it is.
        connection: ConnectionKind,
        /// Who sent it: the message of a [`Peer::Unauthenticated`] must not
        /// be shown as the server's.
        peer: Peer,
        /// The code.
        code: ErrorCode,
        /// The peer's message: arbitrary UTF-8 from the network (control
        /// characters included), to be escaped before it is displayed.
        message: String,
    },
    /// [`Client::logout`](super::Client::logout) finished. The client is done.
    LoggedOut {
        /// Whether the server confirmed the end of the session with BYE.
        /// `false` when the client gave up waiting or was not logged in.
        confirmed: bool,
    },
    /// A TLS session failed: its handshake (the certificate, a peer that
    /// does not speak TLS, a timeout) or the records after it [T-9]. The
    /// connection is closed; nothing was sent in plaintext. The events that
    /// follow say what the client does about it ([`Event::Stopped`] with
    /// [`StopReason::Tls`] for a certificate it cannot trust, else
    /// [`Event::ConnectionLost`] or [`Event::CallbackRejected`]).
    TlsFailed {
        /// The connection.
        conn: ConnId,
        /// Which kind it is.
        connection: ConnectionKind,
        /// Why, for a person.
        reason: crate::tls::TlsFailure,
    },
    /// The client stopped for good; it will not reconnect.
    Stopped {
        /// Why (its `Display` is a complete explanation for the user).
        reason: StopReason,
    },
}

/// The kind of a connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ConnectionKind {
    /// The client's connection to the server.
    Control,
    /// A connection the server made to the callback listener.
    Callback,
}

/// The other end of a connection, and whether it proved it is the server.
///
/// Only a proof makes a peer the server: the control connection's peer is
/// the address the client dialled, but until LOGIN_OK's signature is
/// verified it may be anyone on the path; a callback's peer is anyone
/// who can reach the callback port until its CB_HELLO is verified [B-1].
/// What an unauthenticated peer says (ERROR texts) is not the server's word.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Peer {
    /// The proven server: the control connection after LOGIN_OK was
    /// verified, or a callback after its CB_HELLO was.
    Server {
        /// Its address.
        addr: SocketAddr,
    },
    /// A peer that has not proven it is the server.
    Unauthenticated {
        /// Its address.
        addr: SocketAddr,
    },
}

impl Peer {
    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        match *self {
            Peer::Server { addr } | Peer::Unauthenticated { addr } => addr,
        }
    }

    /// Whether the peer proved it is the server.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Peer::Server { .. })
    }

    pub(crate) fn new(addr: SocketAddr, authenticated: bool) -> Self {
        if authenticated {
            Peer::Server { addr }
        } else {
            Peer::Unauthenticated { addr }
        }
    }
}

/// Why a callback connection was refused [B-1] [B-7].
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackRejection {
    /// CB_HELLO named another session (ERROR AUTH_FAILED sent).
    #[error("CB_HELLO names session {received:016x}, not this client's")]
    WrongSession {
        /// The session id received.
        received: u64,
    },
    /// CB_HELLO's proof is wrong (ERROR AUTH_FAILED sent).
    #[error("CB_HELLO proof is wrong")]
    BadProof,
    /// CB_HELLO arrived while the client had no session (ERROR AUTH_FAILED sent).
    #[error("CB_HELLO arrived while no session is established")]
    NoSession,
    /// No CB_HELLO within the callback handshake timeout (ERROR TIMEOUT sent).
    #[error("no CB_HELLO within the callback handshake timeout")]
    HandshakeTimeout,
    /// Over TLS, CB_HELLO named this client's session but its proof is
    /// wrong (ERROR AUTH_FAILED sent): either the dialler does not hold the
    /// session key, or the proof was made for another TLS connection [T-7].
    #[error(
        "channel binding failed: someone is relaying this connection (or the dialler does not hold the session key)"
    )]
    ChannelBindingFailed,
    /// The TLS session failed (see the preceding [`Event::TlsFailed`]).
    #[error("the TLS handshake failed")]
    TlsFailed,
    /// Too many callback connections were awaiting their handshake: this
    /// one, the oldest of them, was closed to make room for a newer one,
    /// nothing sent.
    #[error("too many callback connections awaiting their handshake")]
    TooManyPending,
    /// Accepted while the client is not listening (it has stopped, or the
    /// listener is not bound yet): closed at once, nothing sent.
    #[error("the client is not listening")]
    NotListening,
}

/// Why an authenticated callback connection was closed
/// ([`Event::CallbackClosed`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackClosure {
    /// The server closed the connection.
    #[error("the server closed it")]
    ClosedByServer,
    /// The server said BYE on it (e.g. `replaced` after a resume).
    #[error("the server said goodbye ({reason})")]
    Bye {
        /// The BYE's reason.
        reason: ByeReason,
    },
    /// A newer callback took its place: the client keeps at most
    /// `max_callbacks` of them, and the server uses only the newest [D-9].
    #[error("a newer callback connection took its place")]
    Superseded,
    /// Nothing came on it for a whole lease although this server has sent
    /// PING on its callbacks in this session, which it does every third of
    /// a lease when it has nothing else to send [D-4]: the connection is
    /// presumed dead. (From a server that was never seen to ping, a quiet
    /// callback is kept open: such a server may simply have nothing to say.)
    #[error("silent for {}s although the server pings its callbacks; presumed dead", .after.as_secs())]
    Silent {
        /// How long it had been silent.
        after: Duration,
    },
}

/// How the peer broke the protocol.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes are not a valid frame [F-1]..[F-4].
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A known frame in the wrong state or direction [F-3].
    #[error("unexpected {frame} {state}")]
    UnexpectedFrame {
        /// The frame received.
        frame: FrameType,
        /// Where it arrived, e.g. "while awaiting LOGIN_CHALLENGE".
        state: &'static str,
    },
    /// A NOTIFY skipped sequence numbers [B-3].
    #[error("NOTIFY seq {received} skips ahead: the next expected is {expected}")]
    SequenceGap {
        /// The next seq the client could deliver.
        expected: u64,
        /// The seq received.
        received: u64,
    },
    /// LOGIN_OK with session id 0, which never names a session.
    #[error("LOGIN_OK carries session id 0")]
    ZeroSessionId,
}

impl ProtocolError {
    /// The ERROR code the client sent for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::Decode(e) => e.code(),
            ProtocolError::UnexpectedFrame { .. } | ProtocolError::SequenceGap { .. } => {
                ErrorCode::UnexpectedFrame
            }
            ProtocolError::ZeroSessionId => ErrorCode::Malformed,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SessionEndReason {
    /// BYE: the server says the session logged out without the client
    /// asking (the client stops).
    LoggedOutByServer,
    /// BYE: the lease ran out on the server (the client logs in anew).
    LeaseExpired,
    /// BYE: another connection took the session or its endpoint over
    /// [C-4] [C-6] (the client stops).
    Replaced,
    /// BYE: the server is shutting down (the client logs in anew when it is back).
    Shutdown,
    /// BYE: the server's application ended the session (the client stops).
    EndedByServer,
    /// The server refused to resume the session (UNKNOWN_SESSION, or a new
    /// session id in LOGIN_OK) [C-6] [B-2] (the client logs in anew).
    ResumeRefused,
    /// An ERROR was sent or received on the control connection after
    /// LOGIN_OK, which ends the session [F-6] (the client logs in anew,
    /// unless the error is fatal).
    ControlError {
        /// The ERROR's code.
        code: ErrorCode,
    },
}

impl SessionEndReason {
    pub(crate) fn from_bye(reason: ByeReason) -> Self {
        match reason {
            ByeReason::LeaseExpired => SessionEndReason::LeaseExpired,
            ByeReason::Replaced => SessionEndReason::Replaced,
            ByeReason::Shutdown => SessionEndReason::Shutdown,
            ByeReason::EndedByServer => SessionEndReason::EndedByServer,
            // Logout, and any reason a later version adds.
            _ => SessionEndReason::LoggedOutByServer,
        }
    }
}

/// Why the control connection is down.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The dial failed.
    ConnectFailed {
        /// What the OS said.
        error: ConnectError,
    },
    /// The server closed the connection, or it broke.
    Closed,
    /// The login did not reach ADVERTISE_OK within the handshake timeout [C-9].
    HandshakeTimeout,
    /// The server went silent: a PING unanswered for a third of the lease
    /// [D-18], or nothing at all for a whole lease [C-5].
    ServerSilent,
    /// The server sent ERROR with this code.
    ErrorReceived {
        /// The code.
        code: ErrorCode,
    },
    /// The server broke the protocol (see the preceding [`Event::ProtocolError`]).
    ProtocolError,
    /// The TLS session failed (see the preceding [`Event::TlsFailed`]).
    TlsFailed,
    /// The session ended (see the preceding [`Event::SessionEnded`]).
    SessionEnded,
}

/// Why the client stopped for good.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopReason {
    /// The fixed listen port is taken.
    #[error(
        "callback port {port} is already in use. With a fixed port only one client per \
         machine can run (on a shared host such as a Terminal Server, another user's client \
         may hold it); choose `dynamic` or a port range (e.g. range:6000-6010) so that \
         several users on one host can run clients"
    )]
    FixedPortInUse {
        /// The port.
        port: u16,
    },
    /// Every port of the listen range is taken (or refused by the OS).
    #[error(
        "every port of the callback range {lo}-{hi} is in use: at most {count} client{s} can \
         run on this host with it; widen the range (and open it on the firewall) or use \
         `dynamic`",
        count = u32::from(.hi - .lo) + 1,
        s = if .hi == .lo { "" } else { "s" }
    )]
    RangeExhausted {
        /// Lowest port of the range.
        lo: u16,
        /// Highest port of the range.
        hi: u16,
    },
    /// Binding the listener failed for another reason.
    #[error("cannot listen on {addr}: {error}")]
    ListenFailed {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        error: BindError,
    },
    /// The server refused the user name or password.
    #[error("login refused: wrong user name or password (server said: {message:?})")]
    AuthFailed {
        /// The server's message.
        message: String,
    },
    /// Over TLS, the server refused the login proof: the password is
    /// wrong, or the proof was made for another TLS connection — a relay
    /// that terminates TLS with a certificate this client trusts [T-6].
    #[error(
        "login refused: wrong user name or password, or channel binding failed: someone may be \
         relaying this connection (server said: {message:?})"
    )]
    AuthFailedOverTls {
        /// The server's message.
        message: String,
    },
    /// The server's TLS certificate cannot be trusted, or the server does
    /// not speak TLS [T-9]: retrying will not help until a setting changes.
    #[error("{0}")]
    Tls(crate::tls::TlsFailure),
    /// LOGIN_OK's server signature is wrong: the server does not know the
    /// password's keys, or the handshake was tampered with.
    #[error(
        "the server's signature is wrong: it may not be the real server, or the login was \
         tampered with"
    )]
    ServerSignatureInvalid,
    /// The server asked for a PBKDF2 iteration count outside what the
    /// client accepts.
    #[error(
        "the server asked for {iterations} PBKDF2 iterations; this client accepts {min} to {cap}"
    )]
    IterationsOutOfBounds {
        /// The count asked for.
        iterations: u32,
        /// The protocol minimum.
        min: u32,
        /// The client's cap.
        cap: u32,
    },
    /// The server does not speak protocol version 1 [C-8] [D-10].
    #[error(
        "the server speaks protocol versions {server_min} to {server_max}; this client \
         speaks only version 1"
    )]
    UnsupportedVersion {
        /// SERVER_HELLO.version_min.
        server_min: u16,
        /// SERVER_HELLO.version_max.
        server_max: u16,
    },
    /// The server refused the client's protocol version.
    #[error("the server refused protocol version 1: {message:?}")]
    VersionRefused {
        /// The server's message.
        message: String,
    },
    /// LOGIN_OK's lease is below 3 000 ms [D-3].
    #[error("the server granted a lease of {lease_ms} ms; at least 3000 ms are required")]
    LeaseTooShort {
        /// The lease received.
        lease_ms: u32,
    },
    /// The server refused the callback advertisement (BAD_PORT) [C-2].
    #[error("the server refused the callback port: {message:?}")]
    AdvertiseRefused {
        /// The server's message.
        message: String,
    },
    /// The session ended in a way that the client must not undo by logging
    /// in again: replaced, ended by the server, or logged out by it.
    #[error("{}", session_end_text(*.reason, *.session))]
    SessionEnded {
        /// The session.
        session: SessionId,
        /// Why it ended.
        reason: SessionEndReason,
    },
}

fn session_end_text(reason: SessionEndReason, session: SessionId) -> String {
    match reason {
        SessionEndReason::Replaced => format!(
            "session {session} was taken over by another connection (another client with \
             the same callback endpoint, or another instance resuming it)"
        ),
        SessionEndReason::EndedByServer => {
            format!("the server's administrator ended session {session}")
        }
        SessionEndReason::LoggedOutByServer => {
            format!("the server logged session {session} out")
        }
        other => format!("session {session} ended: {other}"),
    }
}
