//! The FNP/1 wire format: frames, the incremental decoder, and notification payloads.
//!
//! Every frame is `length: u32 BE` (type + body, 1..=65 535), `type: u8`, body.
//! [`Frame::encode`] writes one into any [`bytes::BufMut`]; a [`Decoder`] turns
//! a byte stream split anywhere back into frames; [`Notification`] is the typed
//! form of a NOTIFY payload.

mod arena;
mod codes;
mod decoder;
mod encode;
mod encoded;
mod error;
mod frame;
mod hexfmt;
#[cfg(test)]
mod in_place_proptest;
mod notification;
mod parse;
mod reader;
mod shared_decoder;
mod text;
pub(crate) mod utc;
mod whole;

pub use arena::NotificationEncoder;
pub use codes::{
    ByeReason, CallbackState, Caps, ErrorCode, FrameType, NotificationKind, PolicyKind, Role,
};
pub use decoder::Decoder;
pub(crate) use decoder::whole_frame_at_front;
pub(crate) use encode::ack_bytes;
pub use encode::login_ok_signed_prefix;
pub use encoded::{EncodedNotification, INLINE_PAYLOAD_LEN};
pub use error::{DecodeError, EncodeError};
pub use frame::{
    Advertise, CallbackStatus, CbHello, CbReady, ErrorFrame, Frame, Login, LoginChallenge, LoginOk,
    Mac, Nonce, Notify, ServerHello,
};
pub use notification::{
    DeviceState, DeviceStatus, FaxChange, FaxReceived, FaxUpdated, JobState, JobStatus,
    Notification, PayloadError, ServerMessage,
};
pub use shared_decoder::SharedDecoder;
pub(crate) use shared_decoder::SharedNotify;
pub use text::Text;
pub use whole::{WholeFramesError, decode_whole_frames};

/// The protocol version this crate speaks (FNP/1).
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame length (type + body) anyone may send [F-1].
pub const MAX_FRAME_LEN: u32 = 65_535;

/// Largest frame length accepted on a control connection before LOGIN_OK [F-1]:
/// the size of the largest LOGIN (a 4 096-byte user name).
pub const MAX_PRELOGIN_FRAME_LEN: u32 = 4_145;

/// Largest `str` field in bytes.
pub const MAX_STR_LEN: usize = 4_096;

/// Longest ERROR message this crate sends, in bytes (client and server
/// alike). The wire allows any `str` ([`MAX_STR_LEN`]) and receivers accept
/// that; a sender's message is for a person to read, and keeping it short
/// bounds what a peer's input quoted in it can make the sender write.
pub const MAX_ERROR_MESSAGE_LEN: usize = 512;

/// `message` cut to at most [`MAX_ERROR_MESSAGE_LEN`] bytes, on a character
/// boundary: what an ERROR this crate sends carries.
pub(crate) fn bounded_error_message(message: &str) -> &str {
    let mut end = message.len().min(MAX_ERROR_MESSAGE_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// Largest notification payload: a NOTIFY frame of exactly 65 535 bytes.
pub const MAX_PAYLOAD_LEN: usize = 65_523;

/// Shortest LOGIN_CHALLENGE salt.
pub const MIN_SALT_LEN: usize = 16;

/// Longest LOGIN_CHALLENGE salt.
pub const MAX_SALT_LEN: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded_error_message("short"), "short");
        let exact = "x".repeat(MAX_ERROR_MESSAGE_LEN);
        assert_eq!(bounded_error_message(&exact), exact);
        // 'é' is 2 bytes: 511 ASCII bytes then 'é' straddles the bound.
        let straddling = format!("{}é and more", "x".repeat(MAX_ERROR_MESSAGE_LEN - 1));
        let cut = bounded_error_message(&straddling);
        assert_eq!(cut.len(), MAX_ERROR_MESSAGE_LEN - 1);
        let long = "€".repeat(MAX_STR_LEN);
        let cut = bounded_error_message(&long);
        assert!(cut.len() <= MAX_ERROR_MESSAGE_LEN && cut.len() > MAX_ERROR_MESSAGE_LEN - 3);
        assert!(cut.chars().all(|c| c == '€'));
        const { assert!(MAX_ERROR_MESSAGE_LEN <= MAX_STR_LEN) };
    }
}
