//! Hand-crafted bytes: frames with a wrong length, a short or long body, or
//! fields no encoder would write. The suite needs these to test how the
//! implementation treats invalid input.

use faxnotify_core::wire::Frame;

/// A frame with any type byte and body: length prefix (1 + body), type, body.
pub fn frame_bytes(frame_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&(1 + body.len() as u32).to_be_bytes());
    out.push(frame_type);
    out.extend_from_slice(body);
    out
}

/// Just a length prefix.
pub fn length_prefix(length: u32) -> [u8; 4] {
    length.to_be_bytes()
}

/// The body of a valid frame.
pub fn body_of(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.body_len());
    // The suite only builds frames within the protocol's limits.
    frame
        .encode_body(&mut out)
        .expect("the suite's frames are encodable");
    out
}

/// `frame` with `extra` bytes after its last field, length prefix adjusted [F-4].
pub fn with_trailing(frame: &Frame<'_>, extra: &[u8]) -> Vec<u8> {
    let mut body = body_of(frame);
    body.extend_from_slice(extra);
    frame_bytes(frame.frame_type().to_wire(), &body)
}

/// `frame` with its body cut short by `missing` bytes, length prefix adjusted [F-4].
pub fn truncated(frame: &Frame<'_>, missing: usize) -> Vec<u8> {
    let mut body = body_of(frame);
    body.truncate(body.len().saturating_sub(missing));
    frame_bytes(frame.frame_type().to_wire(), &body)
}

/// `frame` with the body byte at `offset` replaced by `value` (e.g. an enum
/// field set to an undefined value).
pub fn with_byte(frame: &Frame<'_>, offset: usize, value: u8) -> Vec<u8> {
    let mut body = body_of(frame);
    body[offset] = value;
    frame_bytes(frame.frame_type().to_wire(), &body)
}

/// A `str` field: u16 length + bytes (any bytes, valid UTF-8 or not).
pub fn str_field(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxnotify_core::wire::{DecodeError, Decoder, FrameType};

    fn decode(bytes: &[u8]) -> Result<Option<Frame<'static>>, DecodeError> {
        let mut d = Decoder::default();
        let mut input = bytes;
        d.decode(&mut input).map(|f| f.map(Frame::into_owned))
    }

    #[test]
    fn crafted_frames_fail_the_way_they_are_meant_to() {
        let ack = Frame::Ack { seq: 9 };
        assert_eq!(
            decode(&frame_bytes(0x24, &9u64.to_be_bytes())),
            Ok(Some(ack.clone()))
        );
        assert!(matches!(
            decode(&with_trailing(&ack, &[0])),
            Err(DecodeError::TrailingBytes {
                frame: FrameType::Ack,
                extra: 1
            })
        ));
        assert!(matches!(
            decode(&truncated(&ack, 1)),
            Err(DecodeError::Truncated {
                frame: FrameType::Ack,
                ..
            })
        ));
        let bye = Frame::Bye {
            reason: faxnotify_core::wire::ByeReason::Logout,
        };
        assert!(matches!(
            decode(&with_byte(&bye, 0, 9)),
            Err(DecodeError::BadEnumValue { .. })
        ));
        assert_eq!(str_field(b"ab"), [0, 2, b'a', b'b']);
        assert_eq!(length_prefix(4146), [0, 0, 0x10, 0x32]);
    }
}
