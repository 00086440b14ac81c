//! The typed form of every FNP/1 frame (spec section 3).

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use super::codes::{ByeReason, CallbackState, Caps, ErrorCode, FrameType, PolicyKind, Role};
use super::hexfmt::Hex;

/// 32 random bytes: a client or server nonce.
pub type Nonce = [u8; 32];

/// 32 bytes of HMAC-SHA256 output: a proof or signature.
pub type Mac = [u8; 32];

/// One FNP/1 frame.
///
/// Strings and blobs are [`Cow`]s so that the [`Decoder`](super::Decoder) can
/// hand out frames that borrow the received bytes (no allocation), while code
/// that builds frames can own them. [`Frame::into_owned`] detaches a frame.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// 0x01, server → client on control.
    ServerHello(ServerHello<'a>),
    /// 0x02, client → server on control.
    Login(Login<'a>),
    /// 0x03, server → client on control.
    LoginChallenge(LoginChallenge<'a>),
    /// 0x04, client → server on control.
    LoginProof {
        /// ClientKey XOR ClientSignature.
        proof: Mac,
    },
    /// 0x05, server → client on control.
    LoginOk(LoginOk),
    /// 0x06, client → server on control.
    Advertise(Advertise),
    /// 0x07, server → client on control: the address the server will dial (informational).
    AdvertiseOk {
        /// The callback endpoint.
        callback: SocketAddr,
    },
    /// 0x08, server → client on control.
    CallbackStatus(CallbackStatus<'a>),
    /// 0x10, either way on control; server → client on a callback.
    Ping {
        /// Echoed by the PONG.
        nonce: u64,
    },
    /// 0x11, answers a PING.
    Pong {
        /// The PING's nonce.
        nonce: u64,
    },
    /// 0x12, client → server on control.
    Logout,
    /// 0x13, server → client on either connection.
    Bye {
        /// Why the server closes.
        reason: ByeReason,
    },
    /// 0x20, client → server on a callback (the listener speaks first).
    CbChallenge {
        /// Fresh nonce of the callback listener.
        client_nonce: Nonce,
    },
    /// 0x21, server → client on a callback.
    CbHello(CbHello),
    /// 0x22, client → server on a callback.
    CbReady(CbReady),
    /// 0x23, server → client on the active path.
    Notify(Notify<'a>),
    /// 0x24, client → server on the active path.
    Ack {
        /// Cumulative: every seq up to and including this one was delivered.
        seq: u64,
    },
    /// 0x7F, either way; the sender closes the connection after it.
    Error(ErrorFrame<'a>),
}

/// SERVER_HELLO body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ServerHello<'a> {
    /// Lowest protocol version the server speaks.
    pub version_min: u16,
    /// Highest protocol version the server speaks.
    pub version_max: u16,
    /// Server capabilities.
    pub caps: Caps,
    /// A name for logs and user interfaces.
    pub server_name: Cow<'a, str>,
}

/// LOGIN body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Login<'a> {
    /// The protocol version the client speaks.
    pub version: u16,
    /// The user name, prepared with RFC 8265 UsernameCaseMapped.
    pub user: Cow<'a, str>,
    /// Fresh nonce of the client.
    pub client_nonce: Nonce,
    /// Client capabilities.
    pub caps: Caps,
    /// The session to resume, or 0 for a new one.
    pub resume_session: u64,
}

/// LOGIN_CHALLENGE body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LoginChallenge<'a> {
    /// Fresh nonce of the server.
    pub server_nonce: Nonce,
    /// The user's PBKDF2 salt, 16 to 64 bytes.
    pub salt: Cow<'a, [u8]>,
    /// The user's PBKDF2 iteration count.
    pub iterations: u32,
}

/// LOGIN_OK body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LoginOk {
    /// The session's id (random, non-zero).
    pub session_id: u64,
    /// The user's role.
    pub role: Role,
    /// Lease in milliseconds (at least 3 000).
    pub lease_ms: u32,
    /// Negotiated capabilities.
    pub caps: Caps,
    /// HMAC-SHA256(ServerKey, AuthMessage || this body up to this field).
    pub server_signature: Mac,
}

/// ADVERTISE body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Advertise {
    /// The callback port, or 0 for no listener.
    pub port: u16,
    /// How the port was chosen.
    pub policy: PolicyKind,
    /// Lowest port of the range (0 unless policy is range).
    pub range_lo: u16,
    /// Highest port of the range (0 unless policy is range).
    pub range_hi: u16,
}

/// CALLBACK_STATUS body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallbackStatus<'a> {
    /// The new delivery state.
    pub state: CallbackState,
    /// Human-readable detail (never reveals refused vs. timed out).
    pub detail: Cow<'a, str>,
}

/// CB_HELLO body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CbHello {
    /// The session this callback belongs to.
    pub session_id: u64,
    /// Fresh nonce of the server.
    pub server_nonce: Nonce,
    /// HMAC-SHA256(session_key, "FNP/1 callback" || 0 || client_nonce || server_nonce || session_id).
    pub proof: Mac,
}

/// CB_READY body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CbReady {
    /// The highest seq the client has handed to its application.
    pub last_seq: u64,
    /// HMAC-SHA256(session_key, "FNP/1 ready" || 0 || client_nonce || server_nonce || session_id || last_seq).
    pub proof: Mac,
}

/// NOTIFY body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Notify<'a> {
    /// Sequence number (from 1, per session).
    pub seq: u64,
    /// Notification kind (section 7); unknown kinds are legal.
    pub kind: u8,
    /// The kind's fields, see [`Notification`](super::Notification).
    pub payload: Cow<'a, [u8]>,
}

/// ERROR body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ErrorFrame<'a> {
    /// What went wrong.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: Cow<'a, str>,
}

impl<'a> Frame<'a> {
    /// The frame's type byte.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::ServerHello(_) => FrameType::ServerHello,
            Frame::Login(_) => FrameType::Login,
            Frame::LoginChallenge(_) => FrameType::LoginChallenge,
            Frame::LoginProof { .. } => FrameType::LoginProof,
            Frame::LoginOk(_) => FrameType::LoginOk,
            Frame::Advertise(_) => FrameType::Advertise,
            Frame::AdvertiseOk { .. } => FrameType::AdvertiseOk,
            Frame::CallbackStatus(_) => FrameType::CallbackStatus,
            Frame::Ping { .. } => FrameType::Ping,
            Frame::Pong { .. } => FrameType::Pong,
            Frame::Logout => FrameType::Logout,
            Frame::Bye { .. } => FrameType::Bye,
            Frame::CbChallenge { .. } => FrameType::CbChallenge,
            Frame::CbHello(_) => FrameType::CbHello,
            Frame::CbReady(_) => FrameType::CbReady,
            Frame::Notify(_) => FrameType::Notify,
            Frame::Ack { .. } => FrameType::Ack,
            Frame::Error(_) => FrameType::Error,
        }
    }

    /// An ERROR frame with a borrowed or owned message.
    pub fn error(code: ErrorCode, message: impl Into<Cow<'a, str>>) -> Self {
        Frame::Error(ErrorFrame {
            code,
            message: message.into(),
        })
    }

    /// Detaches the frame from the buffer it was decoded from.
    pub fn into_owned(self) -> Frame<'static> {
        fn own_str(s: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(s.into_owned())
        }
        fn own_bytes(b: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
            Cow::Owned(b.into_owned())
        }
        match self {
            Frame::ServerHello(h) => Frame::ServerHello(ServerHello {
                version_min: h.version_min,
                version_max: h.version_max,
                caps: h.caps,
                server_name: own_str(h.server_name),
            }),
            Frame::Login(l) => Frame::Login(Login {
                version: l.version,
                user: own_str(l.user),
                client_nonce: l.client_nonce,
                caps: l.caps,
                resume_session: l.resume_session,
            }),
            Frame::LoginChallenge(c) => Frame::LoginChallenge(LoginChallenge {
                server_nonce: c.server_nonce,
                salt: own_bytes(c.salt),
                iterations: c.iterations,
            }),
            Frame::LoginProof { proof } => Frame::LoginProof { proof },
            Frame::LoginOk(ok) => Frame::LoginOk(ok),
            Frame::Advertise(a) => Frame::Advertise(a),
            Frame::AdvertiseOk { callback } => Frame::AdvertiseOk { callback },
            Frame::CallbackStatus(s) => Frame::CallbackStatus(CallbackStatus {
                state: s.state,
                detail: own_str(s.detail),
            }),
            Frame::Ping { nonce } => Frame::Ping { nonce },
            Frame::Pong { nonce } => Frame::Pong { nonce },
            Frame::Logout => Frame::Logout,
            Frame::Bye { reason } => Frame::Bye { reason },
            Frame::CbChallenge { client_nonce } => Frame::CbChallenge { client_nonce },
            Frame::CbHello(h) => Frame::CbHello(h),
            Frame::CbReady(r) => Frame::CbReady(r),
            Frame::Notify(n) => Frame::Notify(Notify {
                seq: n.seq,
                kind: n.kind,
                payload: own_bytes(n.payload),
            }),
            Frame::Ack { seq } => Frame::Ack { seq },
            Frame::Error(e) => Frame::Error(ErrorFrame {
                code: e.code,
                message: own_str(e.message),
            }),
        }
    }
}

/// A one-line, human-readable rendering used in logs and transcripts:
/// `NAME field=value ...`, binary fields in hex.
impl fmt::Display for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.frame_type())?;
        match self {
            Frame::ServerHello(h) => write!(
                f,
                " version={}..={} caps={} server_name={:?}",
                h.version_min, h.version_max, h.caps, h.server_name
            ),
            Frame::Login(l) => write!(
                f,
                " version={} user={:?} client_nonce={} caps={} resume_session={:#x}",
                l.version,
                l.user,
                Hex(&l.client_nonce),
                l.caps,
                l.resume_session
            ),
            Frame::LoginChallenge(c) => write!(
                f,
                " server_nonce={} salt={} iterations={}",
                Hex(&c.server_nonce),
                Hex(&c.salt),
                c.iterations
            ),
            Frame::LoginProof { proof } => write!(f, " proof={}", Hex(proof)),
            Frame::LoginOk(ok) => write!(
                f,
                " session_id={:#018x} role={} lease_ms={} caps={} server_signature={}",
                ok.session_id,
                ok.role,
                ok.lease_ms,
                ok.caps,
                Hex(&ok.server_signature)
            ),
            Frame::Advertise(a) => write!(
                f,
                " port={} policy={} range={}-{}",
                a.port, a.policy, a.range_lo, a.range_hi
            ),
            Frame::AdvertiseOk { callback } => write!(f, " callback={callback}"),
            Frame::CallbackStatus(s) => write!(f, " state={} detail={:?}", s.state, s.detail),
            Frame::Ping { nonce } | Frame::Pong { nonce } => write!(f, " nonce={nonce:#x}"),
            Frame::Logout => Ok(()),
            Frame::Bye { reason } => write!(f, " reason={reason}"),
            Frame::CbChallenge { client_nonce } => {
                write!(f, " client_nonce={}", Hex(client_nonce))
            }
            Frame::CbHello(h) => write!(
                f,
                " session_id={:#018x} server_nonce={} proof={}",
                h.session_id,
                Hex(&h.server_nonce),
                Hex(&h.proof)
            ),
            Frame::CbReady(r) => write!(f, " last_seq={} proof={}", r.last_seq, Hex(&r.proof)),
            Frame::Notify(n) => write!(
                f,
                " seq={} kind={} payload={}",
                n.seq,
                n.kind,
                Hex(&n.payload)
            ),
            Frame::Ack { seq } => write!(f, " seq={seq}"),
            Frame::Error(e) => write!(f, " code={} message={:?}", e.code, e.message),
        }
    }
}
