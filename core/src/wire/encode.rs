//! Encoding frames into a caller-owned buffer.

use std::net::SocketAddr;

use bytes::BufMut;

use super::error::EncodeError;
use super::frame::Frame;
use super::{MAX_FRAME_LEN, MAX_PAYLOAD_LEN, MAX_SALT_LEN, MAX_STR_LEN, MIN_SALT_LEN};

/// Size of a `str` or `blob` field: u16 length + bytes.
const fn var_len(bytes: usize) -> usize {
    2 + bytes
}

/// Size of an `addr` field: family + address + port.
const fn addr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}

fn check_str(field: &'static str, s: &str) -> Result<(), EncodeError> {
    if s.len() > MAX_STR_LEN {
        Err(EncodeError::StringTooLong {
            field,
            len: s.len(),
        })
    } else {
        Ok(())
    }
}

pub(crate) fn put_str(out: &mut impl BufMut, s: &str) {
    debug_assert!(s.len() <= MAX_STR_LEN);
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

pub(crate) fn put_blob(out: &mut impl BufMut, b: &[u8]) {
    debug_assert!(b.len() <= usize::from(u16::MAX));
    out.put_u16(b.len() as u16);
    out.put_slice(b);
}

fn put_addr(out: &mut impl BufMut, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            out.put_u8(4);
            out.put_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out.put_u8(6);
            out.put_slice(&a.ip().octets());
        }
    }
    out.put_u16(addr.port());
}

impl Frame<'_> {
    /// Checks every field against the protocol's limits.
    fn validate(&self) -> Result<(), EncodeError> {
        match self {
            Frame::ServerHello(h) => check_str("server_name", &h.server_name),
            Frame::Login(l) => check_str("user", &l.user),
            Frame::LoginChallenge(c) => {
                if (MIN_SALT_LEN..=MAX_SALT_LEN).contains(&c.salt.len()) {
                    Ok(())
                } else {
                    Err(EncodeError::BadSaltLength { len: c.salt.len() })
                }
            }
            Frame::CallbackStatus(s) => check_str("detail", &s.detail),
            Frame::Error(e) => check_str("message", &e.message),
            Frame::Notify(n) if n.payload.len() > MAX_PAYLOAD_LEN => {
                Err(EncodeError::PayloadTooLarge {
                    len: n.payload.len(),
                })
            }
            _ => Ok(()),
        }?;
        let len = 1 + self.body_len();
        if len > MAX_FRAME_LEN as usize {
            return Err(EncodeError::FrameTooLarge { len });
        }
        Ok(())
    }

    /// Length of the body in bytes (the length prefix is this plus one).
    pub fn body_len(&self) -> usize {
        match self {
            Frame::ServerHello(h) => 2 + 2 + 4 + var_len(h.server_name.len()),
            Frame::Login(l) => 2 + var_len(l.user.len()) + 32 + 4 + 8,
            Frame::LoginChallenge(c) => 32 + var_len(c.salt.len()) + 4,
            Frame::LoginProof { .. } => 32,
            Frame::LoginOk(_) => 8 + 1 + 4 + 4 + 32,
            Frame::Advertise(_) => 2 + 1 + 2 + 2,
            Frame::AdvertiseOk { callback } => addr_len(callback),
            Frame::CallbackStatus(s) => 1 + var_len(s.detail.len()),
            Frame::Ping { .. } | Frame::Pong { .. } => 8,
            Frame::Logout => 0,
            Frame::Bye { .. } => 1,
            Frame::CbChallenge { .. } => 32,
            Frame::CbHello(_) => 8 + 32 + 32,
            Frame::CbReady(_) => 8 + 32,
            Frame::Notify(n) => 8 + 1 + var_len(n.payload.len()),
            Frame::Ack { .. } => 8,
            Frame::Error(e) => 2 + var_len(e.message.len()),
        }
    }

    /// Length of the whole encoded frame: 4-byte prefix, type byte and body.
    pub fn encoded_len(&self) -> usize {
        4 + 1 + self.body_len()
    }

    /// Appends the whole frame (length prefix, type, body) to `out`.
    /// On error nothing is written.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.validate()?;
        out.put_u32(1 + self.body_len() as u32);
        out.put_u8(self.frame_type().to_wire());
        self.put_body(out);
        Ok(())
    }

    /// Appends only the body (what the AuthMessage of section 4 is built
    /// from). On error nothing is written.
    pub fn encode_body(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.validate()?;
        self.put_body(out);
        Ok(())
    }

    /// Encodes the whole frame into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }

    fn put_body(&self, out: &mut impl BufMut) {
        match self {
            Frame::ServerHello(h) => {
                out.put_u16(h.version_min);
                out.put_u16(h.version_max);
                out.put_u32(h.caps.bits());
                put_str(out, &h.server_name);
            }
            Frame::Login(l) => {
                out.put_u16(l.version);
                put_str(out, &l.user);
                out.put_slice(&l.client_nonce);
                out.put_u32(l.caps.bits());
                out.put_u64(l.resume_session);
            }
            Frame::LoginChallenge(c) => {
                out.put_slice(&c.server_nonce);
                put_blob(out, &c.salt);
                out.put_u32(c.iterations);
            }
            Frame::LoginProof { proof } => out.put_slice(proof),
            Frame::LoginOk(ok) => {
                out.put_u64(ok.session_id);
                out.put_u8(ok.role.to_wire());
                out.put_u32(ok.lease_ms);
                out.put_u32(ok.caps.bits());
                out.put_slice(&ok.server_signature);
            }
            Frame::Advertise(a) => {
                out.put_u16(a.port);
                out.put_u8(a.policy.to_wire());
                out.put_u16(a.range_lo);
                out.put_u16(a.range_hi);
            }
            Frame::AdvertiseOk { callback } => put_addr(out, callback),
            Frame::CallbackStatus(s) => {
                out.put_u8(s.state.to_wire());
                put_str(out, &s.detail);
            }
            Frame::Ping { nonce } | Frame::Pong { nonce } => out.put_u64(*nonce),
            Frame::Logout => {}
            Frame::Bye { reason } => out.put_u8(reason.to_wire()),
            Frame::CbChallenge { client_nonce } => out.put_slice(client_nonce),
            Frame::CbHello(h) => {
                out.put_u64(h.session_id);
                out.put_slice(&h.server_nonce);
                out.put_slice(&h.proof);
            }
            Frame::CbReady(r) => {
                out.put_u64(r.last_seq);
                out.put_slice(&r.proof);
            }
            Frame::Notify(n) => {
                out.put_u64(n.seq);
                out.put_u8(n.kind);
                put_blob(out, &n.payload);
            }
            Frame::Ack { seq } => out.put_u64(*seq),
            Frame::Error(e) => {
                out.put_u16(e.code.to_wire());
                put_str(out, &e.message);
            }
        }
    }
}

/// The LOGIN_OK body up to (not including) `server_signature`: the bytes the
/// server signature covers after the AuthMessage (spec section 4).
pub fn login_ok_signed_prefix(ok: &super::frame::LoginOk) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[..8].copy_from_slice(&ok.session_id.to_be_bytes());
    out[8] = ok.role.to_wire();
    out[9..13].copy_from_slice(&ok.lease_ms.to_be_bytes());
    out[13..17].copy_from_slice(&ok.caps.bits().to_be_bytes());
    out
}

/// An encoded ACK: the same bytes as encoding `Frame::Ack { seq }`,
/// without the general encoder (a client writes one per read of NOTIFYs).
pub(crate) fn ack_bytes(seq: u64) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[..4].copy_from_slice(&9u32.to_be_bytes()); // type + seq
    out[4] = super::codes::FrameType::Ack.to_wire();
    out[5..].copy_from_slice(&seq.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_bytes_are_what_the_encoder_writes() {
        for seq in [0, 1, 0x0102_0304_0506_0708, u64::MAX] {
            let expected = Frame::Ack { seq }.to_vec().unwrap();
            assert_eq!(ack_bytes(seq).as_slice(), expected);
        }
    }
}
