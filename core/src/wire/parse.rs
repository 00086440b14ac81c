//! Parsing one complete frame (type byte + body) into a [`Frame`].

use std::borrow::Cow;

use super::codes::{ByeReason, CallbackState, Caps, ErrorCode, FrameType, PolicyKind, Role};
use super::error::DecodeError;
use super::frame::{
    Advertise, CallbackStatus, CbHello, CbReady, ErrorFrame, Frame, Login, LoginChallenge, LoginOk,
    Notify, ServerHello,
};
use super::reader::BodyReader;
use super::{MAX_SALT_LEN, MIN_SALT_LEN};

impl<'a> Frame<'a> {
    /// Parses a frame from its type byte and body (the bytes after the length
    /// prefix), borrowing strings and blobs from `body`.
    ///
    /// This checks the body only ([F-3] unknown type, [F-4] size, field
    /// encodings and enum values); whether the frame is allowed in the
    /// receiver's state is the state machine's business.
    pub fn parse(frame_type: u8, body: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        // An ACK, the most frequent frame a server reads, without the
        // general reader: its body is exactly a seq. Any other length takes
        // the general path and its error.
        if frame_type == FrameType::Ack.to_wire()
            && let Ok(seq) = <[u8; 8]>::try_from(body)
        {
            return Ok(Frame::Ack {
                seq: u64::from_be_bytes(seq),
            });
        }
        let ty =
            FrameType::from_wire(frame_type).ok_or(DecodeError::UnknownFrameType(frame_type))?;
        let mut r = BodyReader::new(ty, body);
        let frame = match ty {
            FrameType::ServerHello => Frame::ServerHello(ServerHello {
                version_min: r.u16("version_min")?,
                version_max: r.u16("version_max")?,
                caps: Caps::from_bits(r.u32("caps")?),
                server_name: r.str("server_name")?,
            }),
            FrameType::Login => Frame::Login(Login {
                version: r.u16("version")?,
                user: r.str("user")?,
                client_nonce: r.n32("client_nonce")?,
                caps: Caps::from_bits(r.u32("caps")?),
                resume_session: r.u64("resume_session")?,
            }),
            FrameType::LoginChallenge => {
                let server_nonce = r.n32("server_nonce")?;
                let salt = r.blob("salt")?;
                if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
                    return Err(DecodeError::BadSaltLength { len: salt.len() });
                }
                Frame::LoginChallenge(LoginChallenge {
                    server_nonce,
                    salt: Cow::Borrowed(salt),
                    iterations: r.u32("iterations")?,
                })
            }
            FrameType::LoginProof => Frame::LoginProof {
                proof: r.n32("proof")?,
            },
            FrameType::LoginOk => Frame::LoginOk(LoginOk {
                session_id: r.u64("session_id")?,
                role: r.enum_u8("role", Role::from_wire)?,
                lease_ms: r.u32("lease_ms")?,
                caps: Caps::from_bits(r.u32("caps")?),
                server_signature: r.n32("server_signature")?,
            }),
            FrameType::Advertise => Frame::Advertise(Advertise {
                port: r.u16("port")?,
                policy: r.enum_u8("policy", PolicyKind::from_wire)?,
                range_lo: r.u16("range_lo")?,
                range_hi: r.u16("range_hi")?,
            }),
            FrameType::AdvertiseOk => Frame::AdvertiseOk {
                callback: r.addr("callback")?,
            },
            FrameType::CallbackStatus => Frame::CallbackStatus(CallbackStatus {
                state: r.enum_u8("state", CallbackState::from_wire)?,
                detail: r.str("detail")?,
            }),
            FrameType::Ping => Frame::Ping {
                nonce: r.u64("nonce")?,
            },
            FrameType::Pong => Frame::Pong {
                nonce: r.u64("nonce")?,
            },
            FrameType::Logout => Frame::Logout,
            FrameType::Bye => Frame::Bye {
                reason: r.enum_u8("reason", ByeReason::from_wire)?,
            },
            FrameType::CbChallenge => Frame::CbChallenge {
                client_nonce: r.n32("client_nonce")?,
            },
            FrameType::CbHello => Frame::CbHello(CbHello {
                session_id: r.u64("session_id")?,
                server_nonce: r.n32("server_nonce")?,
                proof: r.n32("proof")?,
            }),
            FrameType::CbReady => Frame::CbReady(CbReady {
                last_seq: r.u64("last_seq")?,
                proof: r.n32("proof")?,
            }),
            FrameType::Notify => Frame::Notify(Notify {
                seq: r.u64("seq")?,
                kind: r.u8("kind")?,
                payload: Cow::Borrowed(r.blob("payload")?),
            }),
            FrameType::Ack => Frame::Ack { seq: r.u64("seq")? },
            FrameType::Error => {
                let raw = r.u16("code")?;
                let code = ErrorCode::from_wire(raw).ok_or(DecodeError::BadEnumValue {
                    frame: ty,
                    field: "code",
                    value: u32::from(raw),
                })?;
                Frame::Error(ErrorFrame {
                    code,
                    message: r.str("message")?,
                })
            }
        };
        r.finish()?;
        Ok(frame)
    }
}
