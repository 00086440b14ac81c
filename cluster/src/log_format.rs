//! A log message's bytes [D-17]: one notification, or a batch of them.
//!
//! - **one**: `kind u8 (not 0) | payload` — the NOTIFY kind byte and the
//!   NOTIFY payload of docs/protocol.md §8, as a fax engine publishes;
//! - **batch**: `0x00 | count u16 | count × (kind u8 | len u16 | payload)`,
//!   integers big-endian, `count` ≥ 1, nothing after the last entry. Kind
//!   0 is the one kind the log reserves for this marker, so a notification
//!   of kind 0 is always written as a batch (of one, if need be).
//!
//! A message that is neither is malformed as a whole: every server skips
//! all of it, so every server numbers the rest alike.

use bytes::{BufMut as _, Bytes, BytesMut};
use faxnotify_core::wire::{EncodedNotification, INLINE_PAYLOAD_LEN};

/// The first byte of a batch: the notification kind the log reserves.
pub(crate) const BATCH_MARKER: u8 = 0;
/// Bytes a batch adds to its first entry: the marker and the count.
pub(crate) const BATCH_HEADER: usize = 3;
/// Bytes a batch adds to each entry: its kind and its length.
pub(crate) const ENTRY_HEADER: usize = 3;

/// The bytes of one log message holding `notifications` (at least one, at
/// most `u16::MAX`), in order.
pub(crate) fn encode(notifications: &[&EncodedNotification]) -> Bytes {
    assert!(
        !notifications.is_empty() && notifications.len() <= usize::from(u16::MAX),
        "a log message holds 1 to 65535 notifications"
    );
    if let [one] = notifications
        && one.kind() != BATCH_MARKER
    {
        let mut body = BytesMut::with_capacity(1 + one.payload().len());
        body.put_u8(one.kind());
        body.put_slice(one.payload());
        return body.freeze();
    }
    let mut body = BytesMut::with_capacity(batch_len(notifications.iter().copied()));
    body.put_u8(BATCH_MARKER);
    body.put_u16(u16::try_from(notifications.len()).expect("checked above"));
    for n in notifications {
        body.put_u8(n.kind());
        // A NOTIFY payload is at most 65 523 bytes.
        body.put_u16(u16::try_from(n.payload().len()).expect("a NOTIFY payload fits a u16"));
        body.put_slice(n.payload());
    }
    body.freeze()
}

/// The size of the batch form of `notifications`.
pub(crate) fn batch_len<'a>(notifications: impl Iterator<Item = &'a EncodedNotification>) -> usize {
    BATCH_HEADER
        + notifications
            .map(|n| ENTRY_HEADER + n.payload().len())
            .sum::<usize>()
}

/// The notifications of one log message, or why it holds none.
///
/// Each payload is copied out of `body`, never a slice of it: a message
/// read from the bus is a slice of the NATS client's read buffer (64 KiB,
/// shared by whatever else arrived with it), and a notification the core
/// queues until its client acknowledges it would keep that whole buffer
/// alive. Slices made a cluster server hold one read buffer per queued
/// notification (docs/performance.md, issue 19: 134–233 MiB instead of
/// 31 MiB under `bench --cluster`). A payload of at most
/// [`INLINE_PAYLOAD_LEN`] bytes is copied inline
/// ([`EncodedNotification::from_slice`]): no allocation, and none for each
/// session it is handed to. The larger ones of a message are copied into
/// one buffer sized for all of them, each notification a slice of it: two
/// allocations a message (the buffer, and its reference count at the first
/// slice) whatever its number of large payloads, where a buffer each cost
/// two per payload. A queued notification then keeps its message's large
/// payloads alive, at most one message's worth (under NATS's 1 MiB), not
/// a read buffer of unrelated messages.
///
/// Each notification is made into a `T` by `make` as it is decoded, so
/// that the caller's list is the only one allocated.
pub(crate) fn decode<T>(
    body: &Bytes,
    mut make: impl FnMut(EncodedNotification, u16) -> T,
) -> Result<Vec<T>, String> {
    let Some(&first) = body.first() else {
        return Err("it is empty (no notification kind)".into());
    };
    if first != BATCH_MARKER {
        let one =
            EncodedNotification::from_slice(first, &body[1..]).map_err(|err| err.to_string())?;
        return Ok(vec![make(one, 0)]);
    }
    if body.len() < BATCH_HEADER {
        return Err("it ends inside its batch header".into());
    }
    let count = u16::from_be_bytes([body[1], body[2]]);
    if count == 0 {
        return Err("it is a batch of no notifications".into());
    }
    // First the framing, and the room the large payloads need together.
    let mut shared_len = 0;
    each_entry(body, count, |_, _, payload| {
        if payload.len() > INLINE_PAYLOAD_LEN {
            shared_len += payload.len();
        }
        Ok(())
    })?;
    // Sized for all of them: filling it never moves it, and each `split`
    // hands out a slice (the first makes it shared: one allocation).
    let mut shared = BytesMut::with_capacity(shared_len);
    let mut out = Vec::with_capacity(usize::from(count));
    each_entry(body, count, |index, kind, payload| {
        let n = if payload.len() > INLINE_PAYLOAD_LEN {
            shared.extend_from_slice(payload);
            EncodedNotification::from_payload(kind, shared.split().freeze())
        } else {
            EncodedNotification::from_slice(kind, payload)
        }
        .map_err(|err| format!("its entry {index}: {err}"))?;
        out.push(make(n, index));
        Ok(())
    })?;
    Ok(out)
}

/// Walks the `count` entries of a batch (`body` from its marker on),
/// checking its framing, and hands `visit` each entry's index, kind and
/// payload; nothing may follow the last entry.
fn each_entry<'a>(
    body: &'a [u8],
    count: u16,
    mut visit: impl FnMut(u16, u8, &'a [u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut at = BATCH_HEADER;
    for index in 0..count {
        let Some(header) = body.get(at..at + ENTRY_HEADER) else {
            return Err(format!("it ends inside the header of its entry {index}"));
        };
        let kind = header[0];
        let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        let start = at + ENTRY_HEADER;
        let Some(payload) = body.get(start..start + len) else {
            return Err(format!("it ends inside the payload of its entry {index}"));
        };
        visit(index, kind, payload)?;
        at = start + len;
    }
    if at != body.len() {
        return Err(format!("{} bytes after its last entry", body.len() - at));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(n: EncodedNotification, _index: u16) -> EncodedNotification {
        n
    }

    fn n(kind: u8, payload: &'static [u8]) -> EncodedNotification {
        EncodedNotification::from_payload(kind, Bytes::from_static(payload)).unwrap()
    }

    /// The vectors of docs/protocol.md [D-17].
    #[test]
    fn the_documented_vectors_encode_and_decode() {
        let one = n(3, &[0, 2, b'h', b'i']);
        assert_eq!(&encode(&[&one])[..], b"\x03\x00\x02hi");
        let two = [n(3, &[0, 2, b'h', b'i']), n(1, &[9])];
        let batch = encode(&[&two[0], &two[1]]);
        assert_eq!(
            &batch[..],
            b"\x00\x00\x02\x03\x00\x04\x00\x02hi\x01\x00\x01\x09"
        );
        assert_eq!(batch.len(), batch_len(two.iter()));
        assert_eq!(decode(&batch, keep).unwrap(), two.to_vec());
        // Kind 0 is the batch marker: alone it is a batch of one.
        let zero = n(0, b"z");
        assert_eq!(&encode(&[&zero])[..], b"\x00\x00\x01\x00\x00\x01z");
        assert_eq!(decode(&encode(&[&zero]), keep).unwrap(), vec![zero]);
        assert_eq!(decode(&encode(&[&one]), keep).unwrap(), vec![one]);
    }

    /// A decoded notification must not keep the message's buffer alive: on
    /// the bus that buffer is the NATS client's read buffer, and the core
    /// queues each notification until its client acknowledges it.
    #[test]
    fn decoded_payloads_do_not_share_the_message_buffer() {
        static LARGE: [u8; 2 * INLINE_PAYLOAD_LEN] = [0x4c; 2 * INLINE_PAYLOAD_LEN];
        let two = [n(3, b"first"), n(1, b"second")];
        let mixed = [n(3, b"small"), n(1, &LARGE), n(2, &LARGE[1..])];
        let one = n(3, b"alone");
        for message in [
            encode(&[&two[0], &two[1]]),
            encode(&[&mixed[0], &mixed[1], &mixed[2]]),
            encode(&[&one]),
            encode(&[&mixed[1]]),
        ] {
            // The message inside a larger buffer, as a read buffer holds it.
            let mut buffer = vec![0xee; 4096];
            buffer.extend_from_slice(&message);
            buffer.extend(vec![0xee; 4096]);
            let buffer = Bytes::from(buffer);
            let body = buffer.slice(4096..4096 + message.len());
            let within = buffer.as_ptr_range();
            for decoded in decode(&body, keep).unwrap() {
                let payload = decoded.payload().as_ptr_range();
                assert!(
                    payload.end <= within.start || payload.start >= within.end,
                    "the payload {:?} points into the message's buffer",
                    decoded.payload()
                );
            }
        }
    }

    #[test]
    fn malformed_messages_are_refused_whole_with_the_reason() {
        let two = [n(3, b"ab"), n(1, b"")];
        let batch = encode(&[&two[0], &two[1]]);
        // Every truncation of a batch is refused, none panics.
        for len in 0..batch.len() {
            assert!(decode(&batch.slice(..len), keep).is_err(), "len {len}");
        }
        let mut longer = batch.to_vec();
        longer.push(7);
        assert_eq!(
            decode(&Bytes::from(longer), keep),
            Err("1 bytes after its last entry".into())
        );
        assert_eq!(
            decode(&Bytes::from_static(b"\x00\x00\x00"), keep),
            Err("it is a batch of no notifications".into())
        );
        assert_eq!(
            decode(&Bytes::from_static(b"\x00\x00\x02\x03\x00\x00"), keep),
            Err("it ends inside the header of its entry 1".into())
        );
        assert_eq!(
            decode(&Bytes::from_static(b"\x00\x00\x01\x03\x00\x05ab"), keep),
            Err("it ends inside the payload of its entry 0".into())
        );
        assert_eq!(
            decode(&Bytes::new(), keep),
            Err("it is empty (no notification kind)".into())
        );
        // A single notification over the NOTIFY limit.
        let huge = Bytes::from(vec![1u8; 70_000]);
        assert!(decode(&huge, keep).is_err());
        // A batch entry over the limit (65 524..=65 535 fit the length).
        let mut over = vec![0, 0, 1, 1, 0xff, 0xff];
        over.extend(std::iter::repeat_n(0u8, 0xffff));
        let err = decode(&Bytes::from(over), keep).unwrap_err();
        assert!(err.starts_with("its entry 0: "), "{err}");
    }
}
