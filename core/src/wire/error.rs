//! Errors of decoding and encoding frames.

use super::codes::{ErrorCode, FrameType};

/// Why received bytes are not a valid frame. Each maps to the ERROR code the
/// receiver must answer with ([`DecodeError::code`]).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// [F-1]: the length prefix is over the receiver's limit (checked before
    /// any of the body is buffered).
    #[error("frame length {length} exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The length prefix received.
        length: u32,
        /// The limit in force (65 535, or 4 145 before login).
        limit: u32,
    },
    /// [F-2]: a length prefix of zero.
    #[error("frame length is zero")]
    EmptyFrame,
    /// [F-3]: a type byte the protocol does not define.
    #[error("unknown frame type {0:#04x}")]
    UnknownFrameType(u8),
    /// [F-4]: the body ends before `field`.
    #[error("{frame} body is truncated: it ends inside {field}")]
    Truncated {
        /// The frame being decoded.
        frame: FrameType,
        /// The field that did not fit.
        field: &'static str,
    },
    /// [F-4]: bytes left after the last field.
    #[error("{frame} body has {extra} bytes after its last field")]
    TrailingBytes {
        /// The frame being decoded.
        frame: FrameType,
        /// How many bytes were left over.
        extra: usize,
    },
    /// A `str` field is not UTF-8.
    #[error("{frame}.{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The frame being decoded.
        frame: FrameType,
        /// The offending field.
        field: &'static str,
    },
    /// A `str` field is longer than 4 096 bytes.
    #[error("{frame}.{field} is {len} bytes long; strings are at most 4096 bytes")]
    StringTooLong {
        /// The frame being decoded.
        frame: FrameType,
        /// The offending field.
        field: &'static str,
        /// Its declared length.
        len: usize,
    },
    /// An `addr` field whose family is neither 4 nor 6.
    #[error("{frame}.{field} has address family {family}; only 4 and 6 exist")]
    BadAddressFamily {
        /// The frame being decoded.
        frame: FrameType,
        /// The offending field.
        field: &'static str,
        /// The family byte received.
        family: u8,
    },
    /// An enum field holding a value the protocol does not define.
    #[error("{frame}.{field} has value {value}, which the protocol does not define")]
    BadEnumValue {
        /// The frame being decoded.
        frame: FrameType,
        /// The offending field.
        field: &'static str,
        /// The value received.
        value: u32,
    },
    /// a LOGIN_CHALLENGE salt outside 16..=64 bytes.
    #[error("LOGIN_CHALLENGE salt is {len} bytes; it must be 16 to 64")]
    BadSaltLength {
        /// The salt's length.
        len: usize,
    },
}

impl DecodeError {
    /// The ERROR code a receiver answers this error with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::UnknownFrameType(_) => ErrorCode::UnknownFrame,
            DecodeError::EmptyFrame
            | DecodeError::Truncated { .. }
            | DecodeError::TrailingBytes { .. }
            | DecodeError::InvalidUtf8 { .. }
            | DecodeError::StringTooLong { .. }
            | DecodeError::BadAddressFamily { .. }
            | DecodeError::BadEnumValue { .. }
            | DecodeError::BadSaltLength { .. } => ErrorCode::Malformed,
        }
    }
}

/// Why a frame or payload cannot be encoded. Nothing is written when encoding fails.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A `str` field over 4 096 bytes.
    #[error("{field} is {len} bytes long; strings are at most 4096 bytes")]
    StringTooLong {
        /// The offending field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A salt outside 16..=64 bytes.
    #[error("salt is {len} bytes; it must be 16 to 64")]
    BadSaltLength {
        /// The salt's length.
        len: usize,
    },
    /// A notification payload over 65 523 bytes (a NOTIFY frame over 65 535).
    #[error("notification payload is {len} bytes; at most 65523 fit in a frame")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
    },
    /// A frame longer than 65 535 bytes (type + body).
    #[error("frame is {len} bytes long; frames are at most 65535 bytes")]
    FrameTooLarge {
        /// The frame length (type + body) that would have been written.
        len: usize,
    },
}
