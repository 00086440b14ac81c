//! Encoding many notifications: small ones inline, larger ones into one
//! shared buffer.

use bytes::BytesMut;

use super::encoded::EncodedNotification;
use super::error::EncodeError;
use super::notification::Notification;

/// How much arena a new chunk holds: many notifications share one
/// allocation, so encoding costs no allocation per notification. Small
/// enough that a notification held long (a session that does not
/// acknowledge) pins little with it.
const CHUNK: usize = 16 * 1024;

/// Encodes notifications on the application's thread, for a server's
/// `post` (or `notify_encoded`): a payload of at most
/// [`INLINE_PAYLOAD_LEN`](super::INLINE_PAYLOAD_LEN) bytes straight into
/// the notification itself (no buffer, no reference count: see
/// [`EncodedNotification`]), a larger one into a slice of one shared
/// buffer.
///
/// Each larger [`EncodedNotification`] is a [`bytes::Bytes`] slice of the
/// encoder's current 16 KiB chunk, not an allocation of its own. A chunk is
/// freed once, when the last notification in it has been delivered (or the
/// application drops it); until then the encoder starts a new chunk, and it
/// reuses a chunk in place once every notification in it is gone. So the
/// event loop frees one allocation per chunk — hundreds of notifications —
/// instead of one per notification.
///
/// A notification kept for long (an unacknowledged session's queue) keeps
/// its whole chunk alive: memory stays bounded by the sessions' queue
/// limits, times a chunk at worst instead of a payload.
///
/// ```
/// use faxnotify_core::wire::{Notification, NotificationEncoder};
///
/// let mut encoder = NotificationEncoder::new();
/// let a = encoder.encode(&Notification::server_message("one"))?;
/// let b = encoder.encode(&Notification::server_message("two"))?;
/// assert_eq!(a.payload(), &Notification::server_message("one").to_payload()?[..]);
/// assert_ne!(a, b);
/// assert!(a.is_inline(), "a small payload needs no buffer");
/// let long = encoder.encode(&Notification::server_message("x".repeat(100)))?;
/// assert!(!long.is_inline());
/// # Ok::<(), faxnotify_core::wire::EncodeError>(())
/// ```
#[derive(Debug, Default)]
pub struct NotificationEncoder {
    arena: BytesMut,
}

impl NotificationEncoder {
    /// An encoder; its first chunk is allocated by the first `encode`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `notification` into the arena. Refuses what no NOTIFY can
    /// carry (a string over 4 096 bytes, a payload over 65 523 bytes).
    ///
    /// The limits are checked and the length found in one pass, and the
    /// payload is written straight into the notification (small) or the
    /// arena (larger): on the event loop of a server that notifies from an
    /// application handler, this is part of every notification's cost.
    pub fn encode(
        &mut self,
        notification: &Notification,
    ) -> Result<EncodedNotification, EncodeError> {
        let mut out = EncodedNotification::default();
        self.encode_to(notification, &mut out)?;
        Ok(out)
    }

    /// [`NotificationEncoder::encode`] into `out`, in place of what it
    /// held (unchanged on error): for a caller that collects notifications
    /// (a batch for `post_batch`), which pushes a placeholder
    /// ([`EncodedNotification::default`]) and encodes into it where it
    /// stays. That spares moving a small payload right after writing it,
    /// which costs more than writing it (the processor waits for the
    /// payload's stores to land before it can read them back).
    ///
    /// ```
    /// use faxnotify_core::wire::{EncodedNotification, Notification, NotificationEncoder};
    ///
    /// let mut encoder = NotificationEncoder::new();
    /// let mut batch = vec![EncodedNotification::default()];
    /// encoder.encode_to(&Notification::server_message("one"), &mut batch[0])?;
    /// assert_eq!(batch[0].decode(), Notification::server_message("one"));
    /// # Ok::<(), faxnotify_core::wire::EncodeError>(())
    /// ```
    pub fn encode_to(
        &mut self,
        notification: &Notification,
        out: &mut EncodedNotification,
    ) -> Result<(), EncodeError> {
        // On error nothing was written, so the arena stays empty.
        let len = notification.checked_payload_len()?;
        if out.encode_inline_to(notification, len) {
            // No split of the arena: splitting and later dropping a slice
            // of it were the largest user-space cost of a server fed at
            // window 64 (two atomic operations on a shared count).
            return Ok(());
        }
        if self.arena.capacity() < len {
            // `reserve` reuses the chunk in place when nothing else holds
            // it any more, and otherwise starts a new one.
            self.arena.reserve(len.max(CHUNK));
        }
        notification.write_payload(&mut self.arena);
        *out = EncodedNotification::checked(notification.kind(), self.arena.split().freeze());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::INLINE_PAYLOAD_LEN;

    #[test]
    fn each_payload_is_what_the_core_encodes() {
        let mut encoder = NotificationEncoder::new();
        for i in 0..2_000 {
            let n = Notification::server_message(format!("message {i}"));
            let encoded = encoder.encode(&n).expect("encode");
            assert_eq!(encoded.kind(), n.kind());
            assert_eq!(encoded.payload(), &n.to_payload().expect("payload")[..]);
        }
    }

    #[test]
    fn small_payloads_skip_the_arena_and_larger_ones_use_it() {
        let mut encoder = NotificationEncoder::new();
        // A server message's payload is its text and a 2-byte length.
        for (len, inline) in [
            (2, true),
            (INLINE_PAYLOAD_LEN, true),
            (INLINE_PAYLOAD_LEN + 1, false),
            (4_098, false),
        ] {
            let n = Notification::server_message("x".repeat(len - 2));
            let encoded = encoder.encode(&n).expect("encode");
            assert_eq!(encoded.is_inline(), inline, "{len} bytes");
            assert_eq!(encoded.payload(), &n.to_payload().expect("payload")[..]);
            assert_eq!(encoded, EncodedNotification::encode(&n).expect("encode"));
        }
    }

    #[test]
    fn a_refused_notification_leaves_the_arena_usable() {
        let mut encoder = NotificationEncoder::new();
        let long = Notification::server_message("x".repeat(5_000));
        assert!(encoder.encode(&long).is_err());
        // Longer than an inline payload, so that it goes into the arena.
        let fine = Notification::server_message("fine ".repeat(20));
        let ok = encoder.encode(&fine).expect("encode");
        assert!(!ok.is_inline());
        assert_eq!(ok.payload(), &fine.to_payload().expect("payload")[..]);
    }

    #[test]
    fn encoding_in_place_replaces_what_was_there_and_a_refusal_changes_nothing() {
        let mut encoder = NotificationEncoder::new();
        let small = Notification::server_message("small");
        let large = Notification::server_message("large ".repeat(20));
        let mut out = EncodedNotification::default();
        // Inline over inline, shared over inline, inline over shared.
        for n in [&small, &large, &small] {
            encoder.encode_to(n, &mut out).expect("encode");
            assert_eq!(out, EncodedNotification::encode(n).expect("encode"));
            assert_eq!(out.decode(), *n);
        }
        let refused = Notification::server_message("x".repeat(5_000));
        assert!(encoder.encode_to(&refused, &mut out).is_err());
        assert_eq!(out.decode(), small, "a refusal leaves it as it was");
    }

    #[test]
    fn a_payload_too_large_is_refused() {
        let mut encoder = NotificationEncoder::new();
        let payload = bytes::Bytes::from(vec![0; crate::wire::MAX_PAYLOAD_LEN + 1]);
        let big = Notification::Unknown { kind: 200, payload };
        assert_eq!(
            encoder.encode(&big),
            Err(EncodeError::PayloadTooLarge {
                len: crate::wire::MAX_PAYLOAD_LEN + 1
            })
        );
    }
}
