//! Frames to bytes and back, for scripted peers and assertions.

use faxnotify_core::wire::{Decoder, Frame, decode_whole_frames};

/// Every frame in `data`, which must hold whole, valid frames (what a core
/// hands out in one `Transmit`, or several of them concatenated).
///
/// # Panics
/// If `data` holds a bad or a cut frame: a test's failure report.
pub fn frames(data: &[u8]) -> Vec<Frame<'static>> {
    decode_whole_frames(data).unwrap_or_else(|err| panic!("the transmitted bytes: {err}"))
}

/// The first frame in `data`.
///
/// # Panics
/// If `data` does not start with a whole, valid frame.
pub fn first_frame(data: &[u8]) -> Frame<'static> {
    let mut decoder = Decoder::new(faxnotify_core::wire::MAX_FRAME_LEN);
    let mut input = data;
    match decoder.decode(&mut input) {
        Ok(Some(frame)) => frame.into_owned(),
        Ok(None) => panic!("no whole frame in {} bytes", data.len()),
        Err(err) => panic!("the transmitted bytes: {err}"),
    }
}

/// Decodes every chunk in turn with `decoder` (frames may span chunks) and
/// passes each frame, borrowed, to `each`; returns how many there were.
/// Allocates nothing itself, so the allocation tests can count the
/// decoder's own.
///
/// # Panics
/// If the bytes hold a bad frame.
pub fn for_each_frame(
    decoder: &mut Decoder,
    chunks: &[&[u8]],
    mut each: impl FnMut(&Frame<'_>),
) -> usize {
    let mut n = 0;
    for chunk in chunks {
        let mut input = *chunk;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    each(&frame);
                    n += 1;
                }
                Ok(None) => break,
                Err(err) => panic!("bad frame after {n}: {err}"),
            }
        }
    }
    n
}

/// `frames` encoded back to back, as one read.
///
/// # Panics
/// If a frame cannot be encoded (a field over its limit): a test's mistake.
pub fn encode(frames: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        frame
            .encode(&mut out)
            .unwrap_or_else(|err| panic!("{frame} does not encode: {err}"));
    }
    out
}
