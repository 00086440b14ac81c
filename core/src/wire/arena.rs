//! Encoding many notifications into one shared buffer.

use bytes::BytesMut;

use super::encoded::EncodedNotification;
use super::error::EncodeError;
use super::notification::Notification;

/// How much arena a new chunk holds: many notifications share one
/// allocation, so encoding costs no allocation per notification. Small
/// enough that a notification held long (a session that does not
/// acknowledge) pins little with it.
const CHUNK: usize = 16 * 1024;

/// Encodes notifications into slices of one shared buffer, on the
/// application's thread, for a server's `post` (or `notify_encoded`).
///
/// Each [`EncodedNotification`] is a [`bytes::Bytes`] slice of the
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
/// assert_eq!(a.payload().as_ref(), Notification::server_message("one").to_payload()?.as_ref());
/// assert_ne!(a, b);
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
    /// payload is written straight into the arena: on the event loop of a
    /// server that notifies from an application handler, this is part of
    /// every notification's cost.
    pub fn encode(
        &mut self,
        notification: &Notification,
    ) -> Result<EncodedNotification, EncodeError> {
        // On error nothing was written, so the arena stays empty.
        let len = notification.checked_payload_len()?;
        if self.arena.capacity() < len {
            // `reserve` reuses the chunk in place when nothing else holds
            // it any more, and otherwise starts a new one.
            self.arena.reserve(len.max(CHUNK));
        }
        notification.write_payload(&mut self.arena);
        Ok(EncodedNotification::checked(
            notification.kind(),
            self.arena.split().freeze(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_payload_is_what_the_core_encodes() {
        let mut encoder = NotificationEncoder::new();
        for i in 0..2_000 {
            let n = Notification::server_message(format!("message {i}"));
            let encoded = encoder.encode(&n).expect("encode");
            assert_eq!(encoded.kind(), n.kind());
            assert_eq!(
                encoded.payload().as_ref(),
                n.to_payload().expect("payload").as_ref()
            );
        }
    }

    #[test]
    fn a_refused_notification_leaves_the_arena_usable() {
        let mut encoder = NotificationEncoder::new();
        let long = Notification::server_message("x".repeat(5_000));
        assert!(encoder.encode(&long).is_err());
        let ok = encoder
            .encode(&Notification::server_message("fine"))
            .expect("encode");
        assert_eq!(
            ok.payload().as_ref(),
            Notification::server_message("fine")
                .to_payload()
                .expect("payload")
                .as_ref()
        );
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
