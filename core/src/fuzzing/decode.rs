//! The `decode` harness: arbitrary bytes in arbitrary chunks.

use crate::wire::{DecodeError, Decoder, Frame, MAX_FRAME_LEN, MAX_PRELOGIN_FRAME_LEN};

/// Everything one decoding run produced: the frames (re-encoded, which also
/// checks that every decoded frame is encodable) and the error that ended it.
#[derive(PartialEq, Eq, Debug)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    error: Option<DecodeError>,
}

fn run(limit: u32, chunks: impl Iterator<Item = impl AsRef<[u8]>>) -> Outcome {
    let mut decoder = Decoder::new(limit);
    let mut frames = Vec::new();
    for chunk in chunks {
        let mut input = chunk.as_ref();
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => frames.push(reencode(&frame)),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                    };
                }
            }
            assert!(
                decoder.buffered() <= 4 + limit as usize,
                "decoder holds {} bytes with a limit of {limit}",
                decoder.buffered()
            );
        }
        assert!(input.is_empty(), "Ok(None) must mean the input was used up");
    }
    Outcome {
        frames,
        error: None,
    }
}

/// Re-encodes a decoded frame and checks it decodes to the same frame.
fn reencode(frame: &Frame<'_>) -> Vec<u8> {
    let bytes = match frame.to_vec() {
        Ok(bytes) => bytes,
        Err(err) => panic!("decoded frame {frame} does not re-encode: {err}"),
    };
    let mut decoder = Decoder::new(MAX_FRAME_LEN);
    let mut input = bytes.as_slice();
    match decoder.decode(&mut input) {
        Ok(Some(again)) => assert_eq!(&again, frame, "round trip changed the frame"),
        other => panic!("re-encoded {frame} does not decode: {other:?}"),
    }
    bytes
}

/// Decodes `data` twice — once whole and once cut into chunks whose sizes
/// come from the input itself — and checks that segmentation changes nothing
/// [F-5], that the decoder never holds more than one frame's worth of bytes,
/// and that every decoded frame re-encodes to an identical frame.
///
/// Layout of `data`: byte 0 picks the limit (bit 0: pre-login) and a chunk
/// pattern seed; the rest is the byte stream.
pub fn decode(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let limit = if control & 1 == 1 {
        MAX_PRELOGIN_FRAME_LEN
    } else {
        MAX_FRAME_LEN
    };
    let whole = run(limit, std::iter::once(stream));

    // Chunk sizes cycle through a pattern derived from the control byte,
    // always including 1-byte chunks.
    let pattern = [1usize, 2 + usize::from(control >> 1) % 9, 1, 64, 3];
    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = pattern[i % pattern.len()].min(rest.len());
        let (head, tail) = rest.split_at(n);
        chunks.push(head);
        rest = tail;
        i += 1;
    }
    let chunked = run(limit, chunks.into_iter());
    assert_eq!(whole, chunked, "segmentation changed the decoded frames");
}
