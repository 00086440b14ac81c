//! A frame decoder whose frames are shared bytes [F-1]..[F-5].

use bytes::{Buf, Bytes, BytesMut};

use super::MAX_FRAME_LEN;
use super::codes::FrameType;
use super::error::DecodeError;
use super::frame::Frame;
use super::notification::Notification;

/// Above this many bytes of capacity, the receive buffer is released once it
/// is empty, so an idle connection that once took a large read does not keep
/// it. A full delivery window of usual notifications (64 × about 60 bytes)
/// fits, so steady delivery reuses its buffer; reads larger than this cost
/// one allocation per read, never one per notification.
const KEEP_CAPACITY: usize = 16 * 1024;

/// The least room the receive buffer grows by. Frames are split off its
/// front, so its free room moves toward the end; when a read no longer
/// fits, `BytesMut` moves the (usually empty) remainder back to the start
/// of its allocation, checking first that no frame still uses it. With
/// room for several reads that check and move come once every several
/// reads instead of at every read of one small NOTIFY (about 60 bytes).
const MIN_GROWTH: usize = 512;

/// Turns a byte stream, split anywhere, into frames held in shared
/// [`Bytes`], so that what is decoded from a frame (a notification's
/// strings) can keep slices of it instead of copies.
///
/// Each read is copied once into a receive buffer
/// ([`SharedDecoder::extend`]); [`SharedDecoder::next_frame`] splits whole
/// frames off its front without copying. Once every frame split from the
/// buffer has been dropped, the buffer is reused for the next reads, so in
/// steady state (frames dropped before the next read) decoding allocates
/// nothing. A frame still held when the buffer runs out keeps its part of
/// the old buffer alive and the decoder starts a new one.
///
/// Like [`Decoder`](super::Decoder), it checks the length prefix against the
/// limit as soon as its four bytes are in, buffers a partial frame only as
/// its bytes arrive, and after an error is spent: every further call
/// returns the same error.
///
/// ```
/// use faxnotify_core::wire::{Frame, MAX_FRAME_LEN, SharedDecoder};
///
/// let bytes = Frame::Ack { seq: 7 }.to_vec().unwrap();
/// let mut decoder = SharedDecoder::new(MAX_FRAME_LEN);
/// decoder.extend(&bytes[..3]);
/// assert_eq!(decoder.next_frame(), Ok(None)); // needs more bytes
/// decoder.extend(&bytes[3..]);
/// let frame = decoder.next_frame().unwrap().unwrap();
/// assert_eq!(Frame::parse(frame[0], &frame[1..]), Ok(Frame::Ack { seq: 7 }));
/// ```
#[derive(Debug)]
pub struct SharedDecoder {
    buf: BytesMut,
    limit: u32,
    failed: Option<DecodeError>,
}

impl Default for SharedDecoder {
    /// A decoder with the largest limit (65 535).
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl SharedDecoder {
    /// A decoder refusing frames longer than `max_frame_len` (clamped to 65 535).
    pub fn new(max_frame_len: u32) -> Self {
        Self {
            buf: BytesMut::new(),
            limit: max_frame_len.min(MAX_FRAME_LEN),
            failed: None,
        }
    }

    /// Changes the limit for frames whose length prefix has not been read
    /// yet (clamped to 65 535).
    pub fn set_max_frame_len(&mut self, max_frame_len: u32) {
        self.limit = max_frame_len.min(MAX_FRAME_LEN);
    }

    /// The limit in force.
    pub fn max_frame_len(&self) -> u32 {
        self.limit
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends a read. Nothing is kept once the decoder has failed.
    pub fn extend(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            if self.buf.capacity() - self.buf.len() < data.len() {
                self.buf.reserve(data.len().max(MIN_GROWTH));
            }
            self.buf.extend_from_slice(data);
        }
    }

    /// The next complete frame (its type byte and body, without the length
    /// prefix; parse it with [`Frame::parse`](super::Frame::parse)), or
    /// `Ok(None)` until more bytes arrive.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if self.used_up() {
            return Ok(None);
        }
        self.split_frame()
    }

    /// Whether the reads so far are used up (nothing buffered, no error to
    /// give), releasing a large buffer then. A read is usually used up by
    /// its frames: the call that finds nothing left is inlined, only the
    /// one that splits a frame is not.
    #[inline]
    fn used_up(&mut self) -> bool {
        let used_up = self.buf.is_empty() && self.failed.is_none();
        if used_up {
            self.release_if_large();
        }
        used_up
    }

    fn split_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let Some(header) = self.buf.first_chunk::<4>() else {
            self.release_if_large();
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header);
        if len == 0 {
            return Err(self.fail(DecodeError::EmptyFrame));
        }
        if len > self.limit {
            return Err(self.fail(DecodeError::FrameTooLarge {
                length: len,
                limit: self.limit,
            }));
        }
        let len = len as usize;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        // The prefix is dropped from the frozen `Bytes` (a pointer bump)
        // rather than from the `BytesMut` (which re-encodes its offset).
        let mut frame = self.buf.split_to(4 + len).freeze();
        frame.advance(4);
        Ok(Some(frame))
    }

    /// The next complete frame as [`split_notify`] gives it: a NOTIFY split
    /// into its fields and its payload, any other frame unparsed; or
    /// `Ok(None)` until more bytes arrive. A NOTIFY whose strings are all
    /// short comes without a payload, decoded into `decoded`.
    #[inline]
    pub(crate) fn next_split(
        &mut self,
        decoded: &mut Option<Notification>,
    ) -> Result<Option<Split>, DecodeError> {
        if self.used_up() {
            return Ok(None);
        }
        self.split_next(decoded)
    }

    fn split_next(
        &mut self,
        decoded: &mut Option<Notification>,
    ) -> Result<Option<Split>, DecodeError> {
        // The client's most frequent frame: a well-formed NOTIFY whole at
        // the front has its fields read in place, and its notification
        // too when its strings are short (then the frame's bytes are
        // dropped where they lie: no `Bytes` split off, so no atomic
        // reference count taken and dropped); else its payload is split
        // off at once, without a `Bytes` of its frame looked at again.
        if self.failed.is_none()
            && let Some((seq, kind, len)) = self.front_notify()
        {
            let at = 4 + NOTIFY_PAYLOAD_AT;
            if Notification::decode_in_place(kind, &self.buf[at..], len, decoded) {
                self.buf.advance(at + len);
                return Ok(Some(Ok(SharedNotify {
                    seq,
                    kind,
                    payload: None,
                })));
            }
            let mut payload = self.buf.split_to(at + len).freeze();
            payload.advance(at);
            return Ok(Some(Ok(SharedNotify {
                seq,
                kind,
                payload: Some(payload),
            })));
        }
        match self.split_frame()? {
            Some(frame) => split_notify(frame).map(Some),
            None => Ok(None),
        }
    }

    /// The fields of a whole, well-formed NOTIFY within the limit at the
    /// front of the buffer; `None` for anything else, which the general
    /// path then gives its exact verdict (and error).
    fn front_notify(&self) -> Option<(u64, u8, usize)> {
        let (prefix, rest) = self.buf.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*prefix);
        if len > self.limit {
            return None;
        }
        let frame = rest.get(..len as usize)?;
        if frame.first() != Some(&FrameType::Notify.to_wire()) {
            return None;
        }
        notify_header(frame)
    }

    fn release_if_large(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
    }

    fn fail(&mut self, err: DecodeError) -> DecodeError {
        self.failed = Some(err.clone());
        self.buf = BytesMut::new();
        err
    }
}

/// Where a NOTIFY's payload starts in its frame's bytes: after the type
/// byte, `seq` (8), `kind` (1) and the blob's length (2).
const NOTIFY_PAYLOAD_AT: usize = 1 + 8 + 1 + 2;

/// The seq, kind and payload length of a NOTIFY frame (type byte and
/// body) whose payload's length prefix says it ends the frame exactly; `None`
/// for anything else, short or long.
fn notify_header(frame: &[u8]) -> Option<(u64, u8, usize)> {
    let (header, payload) = frame.split_first_chunk::<NOTIFY_PAYLOAD_AT>()?;
    let [_, seq @ .., kind, len_hi, len_lo] = *header;
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    (len == payload.len()).then_some((u64::from_be_bytes(seq), kind, len))
}

/// A frame from [`SharedDecoder::next_split`]: a NOTIFY, or any other
/// frame's type byte and body, unparsed.
pub(crate) type Split = Result<SharedNotify, Bytes>;

/// A NOTIFY whose payload is its frame's own bytes, or (`None`) was
/// decoded in place into the `decoded` of [`SharedDecoder::next_split`].
#[derive(Debug)]
pub(crate) struct SharedNotify {
    pub(crate) seq: u64,
    pub(crate) kind: u8,
    pub(crate) payload: Option<Bytes>,
}

impl SharedNotify {
    /// The notification: decoded from the payload, or taken from
    /// `decoded` where the decoder put it when it gave no payload.
    #[inline]
    pub(crate) fn notification(self, decoded: &mut Option<Notification>) -> Notification {
        match self.payload {
            Some(payload) => Notification::decode_bytes(self.kind, payload),
            // The decoder fills `decoded` whenever it gives no payload;
            // the empty payload is only a fallback that cannot happen.
            None => decoded
                .take()
                .unwrap_or_else(|| Notification::decode(self.kind, &[])),
        }
    }
}

/// If `frame` (type byte and body, from [`SharedDecoder::next_frame`]) is
/// a NOTIFY, checks it like [`Frame::parse`] and returns it with the
/// payload taking over the frame's handle (no reference count changes
/// hands); any other frame comes back unchanged, unparsed.
pub(crate) fn split_notify(frame: Bytes) -> Result<Split, DecodeError> {
    if frame.first() != Some(&FrameType::Notify.to_wire()) {
        return Ok(Err(frame));
    }
    let fields = match notify_header(&frame) {
        // The usual NOTIFY: its fields and a payload that ends the frame,
        // which is all `Frame::parse` would check.
        Some(fields) => Some(fields),
        // Anything else gets the parser's verdict (and its exact error).
        None => match Frame::parse(frame[0], &frame[1..])? {
            Frame::Notify(n) => Some((n.seq, n.kind, n.payload.len())),
            _ => None,
        },
    };
    let Some((seq, kind, len)) = fields else {
        return Ok(Err(frame));
    };
    let mut payload = frame;
    // [F-4]: the parse checked that the payload ends the frame.
    payload.advance(NOTIFY_PAYLOAD_AT);
    debug_assert_eq!(payload.len(), len);
    Ok(Ok(SharedNotify {
        seq,
        kind,
        payload: Some(payload),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Frame;

    fn frames(decoder: &mut SharedDecoder) -> Vec<Frame<'static>> {
        let mut out = Vec::new();
        while let Some(bytes) = decoder.next_frame().unwrap() {
            out.push(Frame::parse(bytes[0], &bytes[1..]).unwrap().into_owned());
        }
        out
    }

    #[test]
    fn a_stream_split_anywhere_gives_the_same_frames() {
        let sent = [
            Frame::Ack { seq: 1 },
            Frame::Ping { nonce: 9 },
            Frame::Ack { seq: 2 },
        ];
        let mut stream = Vec::new();
        for f in &sent {
            f.encode(&mut stream).unwrap();
        }
        for chunk in 1..stream.len() {
            let mut decoder = SharedDecoder::default();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                decoder.extend(piece);
                got.extend(frames(&mut decoder));
            }
            assert_eq!(got, sent, "reads of {chunk} bytes");
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn the_length_prefix_is_checked_before_the_body_arrives() {
        let mut decoder = SharedDecoder::new(100);
        decoder.extend(&101u32.to_be_bytes());
        let err = DecodeError::FrameTooLarge {
            length: 101,
            limit: 100,
        };
        assert_eq!(decoder.next_frame(), Err(err.clone()));
        decoder.extend(&[0; 10]);
        assert_eq!(decoder.next_frame(), Err(err), "spent after an error");
        assert_eq!(decoder.buffered(), 0, "nothing kept after an error");

        let mut decoder = SharedDecoder::default();
        decoder.extend(&[0, 0, 0, 0]);
        assert_eq!(decoder.next_frame(), Err(DecodeError::EmptyFrame));
    }

    #[test]
    fn frames_are_slices_of_one_buffer() {
        let mut stream = Vec::new();
        Frame::Ack { seq: 1 }.encode(&mut stream).unwrap();
        Frame::Ack { seq: 2 }.encode(&mut stream).unwrap();
        let mut decoder = SharedDecoder::default();
        decoder.extend(&stream);
        let first = decoder.next_frame().unwrap().unwrap();
        let second = decoder.next_frame().unwrap().unwrap();
        // Contiguous: the second frame's body follows the first's and the
        // second's length prefix, in the same allocation.
        assert_eq!(
            second.as_ptr() as usize,
            first.as_ptr() as usize + first.len() + 4
        );
    }

    #[test]
    fn small_reads_fill_the_room_before_it_is_moved_back() {
        let ack = Frame::Ack { seq: 1 }.to_vec().unwrap();
        let mut decoder = SharedDecoder::default();
        decoder.extend(&ack);
        let first = decoder.next_frame().unwrap().unwrap();
        let first_at = first.as_ptr() as usize;
        drop(first);
        // The next read goes after the last one in the same allocation,
        // not back to its start: the buffer grew with room to spare.
        decoder.extend(&ack);
        let second = decoder.next_frame().unwrap().unwrap();
        assert_eq!(second.as_ptr() as usize, first_at + ack.len());
    }

    /// Every `next_split` answer of a decoder fed `stream` in reads of
    /// `chunk` bytes, up to and including the first error.
    fn splits(stream: &[u8], chunk: usize, general: bool) -> Vec<String> {
        let mut decoded = None;
        let describe = |r: Split, decoded: &mut Option<Notification>| match r {
            Ok(n) => {
                let seq = n.seq;
                format!("notify {seq} {:?}", n.notification(decoded))
            }
            Err(b) => format!("frame {b:?}"),
        };
        let mut decoder = SharedDecoder::default();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.extend(piece);
            loop {
                let next = if general {
                    // What the fast path must agree with.
                    decoder
                        .next_frame()
                        .and_then(|f| f.map(split_notify).transpose())
                } else {
                    decoder.next_split(&mut decoded)
                };
                match next {
                    Ok(Some(r)) => out.push(describe(r, &mut decoded)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(format!("error {e}"));
                        return out;
                    }
                }
            }
        }
        out
    }

    /// (kind, payload) of NOTIFYs for the paths of `next_split`.
    fn notifications() -> Vec<(u8, Vec<u8>)> {
        let fax = |from: &str| {
            Notification::FaxReceived(crate::wire::FaxReceived {
                job: 4711,
                from: from.into(),
                to: "sales".into(),
                pages: 3,
                received_at_ms: 1_700_000_000_000,
            })
        };
        let encoded = |n: Notification| (n.kind(), n.to_payload().unwrap().to_vec());
        let mut not_utf8 = encoded(fax("+1 555 0100")).1;
        not_utf8[8 + 2] = 0xff;
        vec![
            encoded(fax("+1 555 0100")),
            encoded(fax("Müller\0")),
            encoded(Notification::server_message(
                "fax received from +1 555 0100",
            )),
            (1, not_utf8),
            (200, b"raw".to_vec()),
            encoded(Notification::server_message("x".repeat(20))),
        ]
    }

    #[test]
    fn short_strings_are_decoded_in_place_and_long_ones_split_off() {
        let mut decoder = SharedDecoder::default();
        let mut decoded = None;
        let mut in_place = Vec::new();
        for (seq, (kind, payload)) in (1..).zip(notifications()) {
            let frame = Frame::Notify(crate::wire::Notify {
                seq,
                kind,
                payload: payload.clone().into(),
            });
            decoder.extend(&frame.to_vec().unwrap());
            let Ok(notify) = decoder.next_split(&mut decoded).unwrap().unwrap() else {
                panic!("not a NOTIFY");
            };
            in_place.push(notify.payload.is_none());
            assert_eq!(decoded.is_some(), notify.payload.is_none());
            let notification = notify.notification(&mut decoded);
            assert_eq!(notification, Notification::decode(kind, &payload));
        }
        assert_eq!(in_place, [true, true, false, false, false, true]);
    }

    #[test]
    fn next_split_agrees_with_next_frame_and_split_notify() {
        let notify = |seq| {
            Frame::Notify(crate::wire::Notify {
                seq,
                kind: 3,
                payload: (&b"payload"[..]).into(),
            })
        };
        let mut stream = Vec::new();
        notify(1).encode(&mut stream).unwrap();
        Frame::Ping { nonce: 9 }.encode(&mut stream).unwrap();
        notify(2).encode(&mut stream).unwrap();
        // Decoded in place (short strings, also non-ASCII or with a NUL),
        // split off (a long string), raw (a short string that is not
        // UTF-8, an unknown kind): the same notifications either way.
        for (seq, (kind, payload)) in (3..).zip(notifications()) {
            let frame = Frame::Notify(crate::wire::Notify {
                seq,
                kind,
                payload: payload.into(),
            });
            frame.encode(&mut stream).unwrap();
        }
        // A NOTIFY whose blob length overstates its frame: the general
        // path's exact error, not a fast-path guess.
        let mut bad = Vec::new();
        notify(20).encode(&mut bad).unwrap();
        bad[4 + 1 + 8 + 1 + 1] += 1;
        stream.extend_from_slice(&bad);
        for chunk in 1..=stream.len() {
            let got = splits(&stream, chunk, false);
            assert_eq!(got, splits(&stream, chunk, true), "reads of {chunk} bytes");
            assert_eq!(got.len(), 10, "reads of {chunk} bytes: {got:?}");
            assert!(got[0].starts_with("notify 1 Malformed"), "{got:?}");
            assert!(got[1].starts_with("frame"), "{got:?}");
            assert!(got[3].contains("\"+1 555 0100\""), "{got:?}");
            assert!(got[4].contains("\"Müller\\0\""), "{got:?}");
            assert!(got[5].contains("fax received from"), "{got:?}");
            assert!(got[6].contains("InvalidUtf8"), "{got:?}");
            assert!(got[7].contains("Unknown"), "{got:?}");
            assert!(got[8].contains("x".repeat(20).as_str()), "{got:?}");
            assert!(got[9].starts_with("error"), "{got:?}");
        }
    }

    #[test]
    fn a_notify_is_split_into_its_fields_and_its_own_payload() {
        let frame = |f: &Frame<'_>| Bytes::from(f.to_vec().unwrap()).slice(4..);
        let notify = Frame::Notify(crate::wire::Notify {
            seq: 7,
            kind: 3,
            payload: (&b"payload"[..]).into(),
        });
        let split = split_notify(frame(&notify)).unwrap().unwrap();
        assert_eq!((split.seq, split.kind), (7, 3));
        assert_eq!(split.payload.unwrap(), &b"payload"[..]);

        let ack = frame(&Frame::Ack { seq: 1 });
        assert_eq!(split_notify(ack.clone()).unwrap().unwrap_err(), ack);

        // A NOTIFY with a byte after its payload is refused [F-4].
        let mut long = frame(&notify).to_vec();
        long.push(0);
        assert!(matches!(
            split_notify(Bytes::from(long)),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }
}
