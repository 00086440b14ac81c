//! Decoding a buffer that must hold whole frames only: one `Transmit` of a
//! faxnotify core, or a captured write. Harnesses, simulators and
//! conformance tools all check the cores' outputs this way.

use super::{DecodeError, Decoder, Frame, MAX_FRAME_LEN};

/// Why [`decode_whole_frames`] refused a buffer.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WholeFramesError {
    /// A frame does not decode.
    #[error("does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The buffer ends inside a frame.
    #[error("ends inside a frame ({buffered} bytes left over)")]
    Partial {
        /// Bytes of the unfinished frame held by the decoder (after its
        /// length prefix, once that is complete).
        buffered: usize,
    },
}

/// Decodes `data`, which must consist of whole frames (up to
/// [`MAX_FRAME_LEN`] each), into owned frames, in order. An empty buffer
/// gives no frames.
pub fn decode_whole_frames(data: &[u8]) -> Result<Vec<Frame<'static>>, WholeFramesError> {
    let mut decoder = Decoder::new(MAX_FRAME_LEN);
    let mut input = data;
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut input)? {
        frames.push(frame.into_owned());
    }
    if !decoder.is_idle() {
        return Err(WholeFramesError::Partial {
            buffered: decoder.buffered(),
        });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frames_decode_and_a_cut_or_bad_one_is_refused() {
        let mut bytes = Frame::Ping { nonce: 7 }.to_vec().unwrap();
        bytes.extend(Frame::Ack { seq: 3 }.to_vec().unwrap());
        assert_eq!(
            decode_whole_frames(&bytes),
            Ok(vec![Frame::Ping { nonce: 7 }, Frame::Ack { seq: 3 }])
        );
        assert_eq!(decode_whole_frames(&[]), Ok(Vec::new()));
        // The ACK (13 bytes) cut by 2: its 4-byte length prefix is read, 7
        // of its 9 body bytes are held.
        assert_eq!(
            decode_whole_frames(&bytes[..bytes.len() - 2]),
            Err(WholeFramesError::Partial { buffered: 7 })
        );
        assert!(matches!(
            decode_whole_frames(&[0, 0, 0, 0]),
            Err(WholeFramesError::Decode(_))
        ));
    }
}
