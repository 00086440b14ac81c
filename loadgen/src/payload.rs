//! What travels in a load run: a FAX_RECEIVED notification whose `job`
//! field carries the `CLOCK_MONOTONIC` instant of the server's `notify`
//! (so the receiving process measures the latency against the same clock),
//! and, for the raw baselines, the very same NOTIFY bytes and a 13-byte
//! ACK, without any protocol logic around them.

use faxnotify_core::wire::{FaxReceived, Frame, Notification, Notify, Text};

/// The notification the server sends: FAX_RECEIVED with the send instant
/// (nanoseconds of `CLOCK_MONOTONIC`) in `job` and the notification's
/// number in `received_at_ms`. Its payload is 38 bytes, its NOTIFY frame 54.
///
/// The caller and recipient are the same in every notification, so they
/// are static texts, as an application's constant strings are (the
/// HylaFAX bridge's are): no allocation and no copy per notification.
pub fn notification(sent_ns: u64, number: u64) -> Notification {
    Notification::FaxReceived(FaxReceived {
        job: sent_ns,
        from: Text::from_static("+1 555 0100"),
        to: Text::from_static("sales"),
        pages: 3,
        received_at_ms: number,
    })
}

/// The send instant a received notification carries, if it is one of ours.
pub fn sent_ns(notification: &Notification) -> Option<u64> {
    match notification {
        Notification::FaxReceived(f) => Some(f.job),
        _ => None,
    }
}

/// Offset of the seq field in a NOTIFY frame (after length and type).
const SEQ_AT: usize = 5;
/// Offset of FAX_RECEIVED's `job` in a NOTIFY frame: length 4, type 1,
/// seq 8, kind 1, payload length 2.
const SENT_AT: usize = 16;

/// A NOTIFY frame of the size faxnotify sends, to patch and send raw.
#[derive(Clone, Debug)]
pub struct RawNotify {
    bytes: Vec<u8>,
}

impl Default for RawNotify {
    fn default() -> Self {
        Self::new()
    }
}

impl RawNotify {
    /// The template: the frame of `notification(0, 0)` with seq 0.
    pub fn new() -> Self {
        let payload = notification(0, 0)
            .to_payload()
            .expect("a small payload encodes");
        let frame = Frame::Notify(Notify {
            seq: 0,
            kind: 1,
            payload: payload.to_vec().into(),
        });
        Self {
            bytes: frame.to_vec().expect("a small frame encodes"),
        }
    }

    /// The frame's length on the wire (54 bytes).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the frame is empty (never).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends the frame with `seq` and the send instant `sent_ns` to `out`.
    pub fn write(&self, seq: u64, sent_ns: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        out[start + SEQ_AT..start + SEQ_AT + 8].copy_from_slice(&seq.to_be_bytes());
        out[start + SENT_AT..start + SENT_AT + 8].copy_from_slice(&sent_ns.to_be_bytes());
    }
}

/// The send instant in a whole raw NOTIFY frame.
pub fn raw_sent_ns(frame: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&frame[SENT_AT..SENT_AT + 8]);
    u64::from_be_bytes(b)
}

/// Length of an ACK frame on the wire.
pub const ACK_LEN: usize = 13;

/// Appends ACK `seq` (13 bytes) to `out`.
pub fn write_ack(seq: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&9u32.to_be_bytes());
    out.push(0x24);
    out.extend_from_slice(&seq.to_be_bytes());
}

/// Splits whole length-prefixed frames off a byte stream, keeping a
/// partial frame for the next read. No validation: this is the raw
/// baseline's whole "protocol".
#[derive(Debug, Default)]
pub struct Framer {
    partial: Vec<u8>,
}

impl Framer {
    /// Calls `frame` with every whole frame in `partial` + `data`.
    pub fn feed(&mut self, mut data: &[u8], mut frame: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let need = match self.partial.len() {
                n if n >= 4 => 4 + len_of(&self.partial),
                _ => 4,
            };
            let take = need.saturating_sub(self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < 4 {
                return;
            }
            let whole = 4 + len_of(&self.partial);
            if self.partial.len() < whole {
                let more = (whole - self.partial.len()).min(data.len());
                self.partial.extend_from_slice(&data[..more]);
                data = &data[more..];
            }
            if self.partial.len() < whole {
                return;
            }
            frame(&self.partial);
            self.partial.clear();
        }
        while data.len() >= 4 {
            let whole = 4 + len_of(data);
            if data.len() < whole {
                break;
            }
            frame(&data[..whole]);
            data = &data[whole..];
        }
        self.partial.extend_from_slice(data);
    }
}

fn len_of(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

#[cfg(test)]
mod tests {
    use faxnotify_core::wire::{Decoder, MAX_FRAME_LEN};

    use super::*;

    #[test]
    fn the_raw_frame_is_the_notify_faxnotify_sends() {
        let raw = RawNotify::new();
        assert_eq!(raw.len(), 54);
        let mut out = Vec::new();
        raw.write(7, 123_456_789, &mut out);
        let mut input = out.as_slice();
        let mut decoder = Decoder::new(MAX_FRAME_LEN);
        let Some(Frame::Notify(n)) = decoder.decode(&mut input).unwrap() else {
            panic!("not a NOTIFY");
        };
        assert_eq!(n.seq, 7);
        let decoded = Notification::decode(n.kind, &n.payload);
        assert_eq!(sent_ns(&decoded), Some(123_456_789));
        assert_eq!(raw_sent_ns(&out), 123_456_789);

        let mut ack = Vec::new();
        write_ack(7, &mut ack);
        assert_eq!(ack, Frame::Ack { seq: 7 }.to_vec().unwrap());
        assert_eq!(ack.len(), ACK_LEN);
    }

    #[test]
    fn the_framer_splits_any_segmentation() {
        let raw = RawNotify::new();
        let mut stream = Vec::new();
        for seq in 1..=20 {
            raw.write(seq, seq * 10, &mut stream);
            write_ack(seq, &mut stream);
        }
        for chunk in [1, 3, 13, 54, 55, 1000] {
            let mut framer = Framer::default();
            let mut lens = Vec::new();
            for piece in stream.chunks(chunk) {
                framer.feed(piece, |f| lens.push(f.len()));
            }
            assert_eq!(lens.len(), 40, "chunk {chunk}");
            assert!(lens.chunks(2).all(|p| p == [54, 13]), "chunk {chunk}");
        }
    }
}
