//! The incremental frame decoder [F-1]..[F-5].

use std::num::NonZeroU32;

use super::MAX_FRAME_LEN;
use super::error::DecodeError;
use super::frame::Frame;

/// Above this many bytes of capacity, the reassembly buffer is released after
/// use, so an idle connection that once received a large frame does not keep
/// 64 KiB around.
const KEEP_CAPACITY: usize = 4096;

/// The frame lying whole at the front of `input`, parsed in place, with
/// `input` advanced past it; `None` (and `input` untouched) when the front
/// is not a whole frame with a length prefix within `limit`: a partial frame
/// or a bad prefix is the [`Decoder`]'s business. This is the decoder's
/// fastest path, open to a caller whose decoder
/// [is between frames](Decoder::is_between_frames): the usual read (whole
/// frames) then never touches the decoder.
pub(crate) fn whole_frame_at_front<'i>(
    input: &mut &'i [u8],
    limit: u32,
) -> Option<Result<Frame<'i>, DecodeError>> {
    let (header, rest) = input.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*header);
    if len == 0 || len > limit || rest.len() < len as usize {
        return None;
    }
    let (frame_bytes, rest) = rest.split_at(len as usize);
    *input = rest;
    Some(Frame::parse(frame_bytes[0], &frame_bytes[1..]))
}

/// Turns a byte stream, split anywhere, into frames.
///
/// Feed it whatever a socket read returned: [`Decoder::decode`] takes bytes
/// from the front of the input only as far as the next frame needs, so the
/// decoder never holds more than one partial frame. A frame that arrives whole
/// in one input is parsed in place, borrowing from the input without copying;
/// a frame split across inputs is reassembled in an internal buffer that grows
/// only as its bytes arrive and never beyond the frame-length limit.
///
/// The length prefix is checked against the limit as soon as its four bytes
/// are in, before any of the body is buffered [F-1].
///
/// After an error the decoder is spent: the connection must be closed (after
/// an ERROR frame [F-6]), and every further call returns the same error.
///
/// ```
/// use faxnotify_core::wire::{Decoder, Frame, MAX_FRAME_LEN};
///
/// let bytes = Frame::Ack { seq: 7 }.to_vec().unwrap();
/// let mut decoder = Decoder::new(MAX_FRAME_LEN);
/// let (first, second) = bytes.split_at(3);
///
/// let mut input = first;
/// assert_eq!(decoder.decode(&mut input), Ok(None)); // needs more bytes
/// let mut input = second;
/// assert_eq!(decoder.decode(&mut input), Ok(Some(Frame::Ack { seq: 7 })));
/// assert!(input.is_empty());
/// ```
#[derive(Debug)]
pub struct Decoder {
    limit: u32,
    header: [u8; 4],
    header_len: u8,
    /// Length (type + body) of the frame being reassembled, once its header
    /// is in. Never zero (an error), which keeps the `Option` at 4 bytes.
    expected: Option<NonZeroU32>,
    /// Bytes of a frame split across inputs.
    partial: Vec<u8>,
    /// The previous call returned a frame borrowing `partial`; clear it first.
    partial_consumed: bool,
    /// Boxed: a failure is rare, and inline it would make every connection
    /// that holds a decoder 24 bytes larger (the server's boxed connection
    /// then falls into a larger allocation class).
    failed: Option<Box<DecodeError>>,
}

impl Default for Decoder {
    /// A decoder with the protocol's maximum limit (65 535).
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl Decoder {
    /// A decoder refusing frames whose length prefix exceeds `max_frame_len`
    /// (clamped to 65 535). Use [`MAX_PRELOGIN_FRAME_LEN`](super::MAX_PRELOGIN_FRAME_LEN)
    /// on a control connection until LOGIN_OK.
    pub fn new(max_frame_len: u32) -> Self {
        Self {
            limit: max_frame_len.min(MAX_FRAME_LEN),
            header: [0; 4],
            header_len: 0,
            expected: None,
            partial: Vec::new(),
            partial_consumed: false,
            failed: None,
        }
    }

    /// Changes the limit for frames whose length prefix has not been read yet
    /// (clamped to 65 535).
    pub fn set_max_frame_len(&mut self, max_frame_len: u32) {
        self.limit = max_frame_len.min(MAX_FRAME_LEN);
    }

    /// The limit in force.
    pub fn max_frame_len(&self) -> u32 {
        self.limit
    }

    /// Bytes of an incomplete frame held: those of its length prefix while
    /// that is incomplete, then those of its body.
    pub fn buffered(&self) -> usize {
        usize::from(self.header_len)
            + if self.partial_consumed {
                0
            } else {
                self.partial.len()
            }
    }

    /// Whether the decoder holds nothing of a frame and has not failed: the
    /// next bytes start a frame, so a caller may parse whole frames at the
    /// front of a read itself ([`whole_frame_at_front`]) and leave the
    /// decoder alone.
    pub(crate) fn is_between_frames(&self) -> bool {
        self.failed.is_none() && self.expected.is_none() && self.header_len == 0
    }

    /// Whether the decoder is between frames (nothing partial is held).
    pub fn is_idle(&self) -> bool {
        self.buffered() == 0 && self.expected.is_none()
    }

    /// Takes bytes from the front of `input` and returns the next complete
    /// frame, or `Ok(None)` once `input` is used up without completing one.
    ///
    /// Call it in a loop until it returns `Ok(None)`: `input` then is empty.
    /// The returned frame borrows from `input` or from the decoder, so drop it
    /// before the next call.
    pub fn decode<'o, 's: 'o, 'i: 'o>(
        &'s mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Frame<'o>>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(DecodeError::clone(err));
        }
        if self.partial_consumed {
            self.partial_consumed = false;
            self.release_partial();
        }
        // Fastest path: between frames, with a whole frame at the front of
        // the input (the usual read), parse it in place without touching
        // the decoder's reassembly state.
        if self.expected.is_none()
            && self.header_len == 0
            && let Some(parsed) = whole_frame_at_front(input, self.limit)
        {
            return match parsed {
                Ok(frame) => Ok(Some(frame)),
                Err(err) => Err(self.fail(err)),
            };
        }
        let len = match self.expected {
            Some(len) => len.get(),
            None => match self.read_header(input) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.fail(err)),
            },
        };
        let len_usize = len as usize;

        // Fast path: the whole frame is in the input; parse it in place.
        if self.partial.is_empty() && input.len() >= len_usize {
            let (frame_bytes, rest) = input.split_at(len_usize);
            *input = rest;
            self.expected = None;
            return match Frame::parse(frame_bytes[0], &frame_bytes[1..]) {
                Ok(frame) => Ok(Some(frame)),
                Err(err) => Err(self.fail(err)),
            };
        }

        if self.partial.is_empty() {
            // One allocation for the usual frame instead of repeated growth;
            // larger frames grow only as their bytes arrive.
            self.partial.reserve(len_usize.min(KEEP_CAPACITY));
        }
        let want = len_usize - self.partial.len();
        let take = want.min(input.len());
        self.partial.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if self.partial.len() < len_usize {
            return Ok(None);
        }
        self.expected = None;
        self.partial_consumed = true;
        let parsed = Frame::parse(self.partial[0], &self.partial[1..]);
        if let Err(err) = &parsed {
            // Disjoint from `partial`, which the frame borrows.
            self.failed = Some(Box::new(err.clone()));
        }
        parsed.map(Some)
    }

    /// Reads the 4-byte length prefix, possibly across inputs, and checks it.
    fn read_header(&mut self, input: &mut &[u8]) -> Result<Option<u32>, DecodeError> {
        let have = usize::from(self.header_len);
        let take = (4 - have).min(input.len());
        self.header[have..have + take].copy_from_slice(&input[..take]);
        *input = &input[take..];
        self.header_len += take as u8;
        if self.header_len < 4 {
            return Ok(None);
        }
        self.header_len = 0;
        let Some(len) = NonZeroU32::new(u32::from_be_bytes(self.header)) else {
            return Err(DecodeError::EmptyFrame);
        };
        if len.get() > self.limit {
            return Err(DecodeError::FrameTooLarge {
                length: len.get(),
                limit: self.limit,
            });
        }
        self.expected = Some(len);
        Ok(Some(len.get()))
    }

    fn release_partial(&mut self) {
        if self.partial.capacity() > KEEP_CAPACITY {
            self.partial = Vec::new();
        } else {
            self.partial.clear();
        }
    }

    fn fail(&mut self, err: DecodeError) -> DecodeError {
        self.failed = Some(Box::new(err.clone()));
        err
    }
}
