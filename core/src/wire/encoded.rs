//! A notification encoded once, to be queued for any number of sessions.

use std::fmt;

use bytes::Bytes;

use super::MAX_PAYLOAD_LEN;
use super::error::EncodeError;
use super::notification::Notification;

/// Payloads of at most this many bytes are held inline by an
/// [`EncodedNotification`], with no shared buffer.
///
/// 45 makes the whole notification 48 bytes (a tag, the kind, the length
/// and the bytes): the size of a session's queue entry, which every queued
/// notification of every session costs. The load's FAX_RECEIVED payload is
/// 38 bytes and most real payloads (a job status, a short caller and
/// recipient) fit; a longer one is shared as before.
pub const INLINE_PAYLOAD_LEN: usize = 45;

/// A NOTIFY's kind and payload, encoded and checked to fit in a frame.
///
/// Encoding is the costly part of notifying, so an application encodes on
/// its own thread ([`EncodedNotification::encode`], or a
/// [`NotificationEncoder`](super::NotificationEncoder)) and hands this to
/// the server's event loop, where a session's queue holds it until the
/// client acknowledges it.
///
/// A payload of at most [`INLINE_PAYLOAD_LEN`] bytes is held inline: moving
/// or cloning the notification copies those bytes and nothing else, and
/// dropping it frees nothing. A shared buffer would cost an atomic
/// reference count taken on the application's thread and dropped on the
/// event loop's, a cache line the two threads pass back and forth for
/// every notification (docs/performance.md). A larger payload is a shared
/// [`Bytes`]: every session's queue holds a clone (a reference count, no
/// copy), and the buffer is freed once, by whoever drops the last clone.
///
/// Two notifications are equal when their kinds and payload bytes are,
/// however each holds its payload.
#[derive(Clone)]
pub struct EncodedNotification {
    repr: Repr,
}

/// How the payload is held. The kind sits in each variant, beside the tag,
/// so that the whole fits in 48 bytes.
#[derive(Clone)]
enum Repr {
    Inline {
        kind: u8,
        /// At most [`INLINE_PAYLOAD_LEN`].
        len: u8,
        bytes: [u8; INLINE_PAYLOAD_LEN],
    },
    Shared {
        kind: u8,
        payload: Bytes,
    },
}

impl EncodedNotification {
    /// Encodes `notification`: inline if its payload is small, otherwise
    /// into a buffer of its own.
    pub fn encode(notification: &Notification) -> Result<Self, EncodeError> {
        let len = notification.checked_payload_len()?;
        let mut small = Self::default();
        if small.encode_inline_to(notification, len) {
            return Ok(small);
        }
        Ok(Self::checked(
            notification.kind(),
            notification.to_payload()?,
        ))
    }

    /// A payload the application encoded itself (or relays unparsed), for
    /// `kind`, kept as it is given: shared, not copied, whatever its size.
    /// Refuses payloads over 65 523 bytes, which no NOTIFY can carry.
    pub fn from_payload(kind: u8, payload: Bytes) -> Result<Self, EncodeError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(EncodeError::PayloadTooLarge { len: payload.len() });
        }
        Ok(Self::checked(kind, payload))
    }

    /// A payload copied from `payload`, for `kind`: inline if it is at most
    /// [`INLINE_PAYLOAD_LEN`] bytes (no allocation), otherwise into a
    /// buffer of its own. Refuses payloads over 65 523 bytes, which no
    /// NOTIFY can carry.
    pub fn from_slice(kind: u8, payload: &[u8]) -> Result<Self, EncodeError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(EncodeError::PayloadTooLarge { len: payload.len() });
        }
        let mut small = Self::default();
        if let Some(out) = small.inline_in_place(kind, payload.len()) {
            out.copy_from_slice(payload);
            return Ok(small);
        }
        Ok(Self::checked(kind, Bytes::copy_from_slice(payload)))
    }

    /// A shared payload whose length was checked to fit in a NOTIFY.
    pub(crate) fn checked(kind: u8, payload: Bytes) -> Self {
        debug_assert!(payload.len() <= MAX_PAYLOAD_LEN);
        Self {
            repr: Repr::Shared { kind, payload },
        }
    }

    /// Makes this an inline notification of `kind` with `len` zeroed
    /// payload bytes, and lends them to be written; `None` (and unchanged)
    /// if `len` is over [`INLINE_PAYLOAD_LEN`].
    ///
    /// Written where the notification already is rather than built and
    /// moved: a payload written with many small stores and read back at
    /// once by the move's wide loads stalls the processor until the
    /// stores land (store-to-load forwarding fails), which the profile of
    /// a server at window 64 showed as the encoder's largest cost.
    fn inline_in_place(&mut self, kind: u8, len: usize) -> Option<&mut [u8]> {
        let short = u8::try_from(len)
            .ok()
            .filter(|&l| usize::from(l) <= INLINE_PAYLOAD_LEN)?;
        self.repr = Repr::Inline {
            kind,
            len: short,
            bytes: [0; INLINE_PAYLOAD_LEN],
        };
        match &mut self.repr {
            Repr::Inline { bytes, .. } => Some(&mut bytes[..len]),
            Repr::Shared { .. } => None,
        }
    }

    /// Encodes `notification`, whose payload was checked to be `len`
    /// bytes, inline into `self`; `false` (and `self` unchanged) if it is
    /// too long for that.
    pub(super) fn encode_inline_to(&mut self, notification: &Notification, len: usize) -> bool {
        let Some(mut out) = self.inline_in_place(notification.kind(), len) else {
            return false;
        };
        notification.write_payload(&mut out);
        // `len` is exactly what it writes: nothing is left over.
        debug_assert!(out.is_empty());
        true
    }

    /// The kind byte NOTIFY carries.
    #[inline]
    pub fn kind(&self) -> u8 {
        match &self.repr {
            Repr::Inline { kind, .. } | Repr::Shared { kind, .. } => *kind,
        }
    }

    /// The payload: at most [`MAX_PAYLOAD_LEN`] bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        match &self.repr {
            Repr::Inline { len, bytes, .. } => &bytes[..usize::from(*len)],
            Repr::Shared { payload, .. } => payload,
        }
    }

    /// The payload as [`Bytes`]: a reference count for a shared payload,
    /// a copy (an allocation) for an inline one.
    pub fn payload_bytes(&self) -> Bytes {
        match &self.repr {
            Repr::Inline { .. } => Bytes::copy_from_slice(self.payload()),
            Repr::Shared { payload, .. } => payload.clone(),
        }
    }

    /// Whether the payload is held inline (at most [`INLINE_PAYLOAD_LEN`]
    /// bytes, encoded or copied here) rather than in a shared buffer.
    pub fn is_inline(&self) -> bool {
        matches!(self.repr, Repr::Inline { .. })
    }

    /// The notification as the receiving client decodes it.
    pub fn decode(&self) -> Notification {
        Notification::decode_bytes(self.kind(), self.payload_bytes())
    }
}

/// An empty payload of kind 0, held inline: a place to encode into
/// ([`NotificationEncoder::encode_to`](super::NotificationEncoder::encode_to)).
impl Default for EncodedNotification {
    fn default() -> Self {
        Self {
            repr: Repr::Inline {
                kind: 0,
                len: 0,
                bytes: [0; INLINE_PAYLOAD_LEN],
            },
        }
    }
}

impl PartialEq for EncodedNotification {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.payload() == other.payload()
    }
}

impl Eq for EncodedNotification {}

impl fmt::Debug for EncodedNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedNotification")
            .field("kind", &self.kind())
            .field("payload", &self.payload())
            .field("inline", &self.is_inline())
            .finish()
    }
}

impl TryFrom<&Notification> for EncodedNotification {
    type Error = EncodeError;

    fn try_from(notification: &Notification) -> Result<Self, EncodeError> {
        Self::encode(notification)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_that_fit_no_frame_are_refused() {
        let at_limit = Bytes::from(vec![0; MAX_PAYLOAD_LEN]);
        assert!(EncodedNotification::from_payload(200, at_limit).is_ok());
        let over = Bytes::from(vec![0; MAX_PAYLOAD_LEN + 1]);
        assert_eq!(
            EncodedNotification::from_payload(200, over),
            Err(EncodeError::PayloadTooLarge {
                len: MAX_PAYLOAD_LEN + 1
            })
        );
        let at_limit = vec![7; MAX_PAYLOAD_LEN];
        let encoded = EncodedNotification::from_slice(200, &at_limit).unwrap();
        assert!(!encoded.is_inline());
        assert_eq!(encoded.payload(), &at_limit[..]);
        assert_eq!(
            EncodedNotification::from_slice(200, &[0; MAX_PAYLOAD_LEN + 1]),
            Err(EncodeError::PayloadTooLarge {
                len: MAX_PAYLOAD_LEN + 1
            })
        );
    }

    #[test]
    fn encoding_round_trips() {
        let n = Notification::server_message("the fax server restarts at 22:00");
        let encoded = EncodedNotification::encode(&n).unwrap();
        assert_eq!(encoded.kind(), 3);
        assert_eq!(encoded.payload().len(), n.payload_len());
        assert_eq!(encoded.decode(), n);
    }

    /// A server message whose payload is exactly `len` bytes (2 of length).
    fn message_of(len: usize) -> Notification {
        Notification::server_message("m".repeat(len - 2))
    }

    #[test]
    fn small_payloads_are_inline_up_to_the_capacity() {
        for (len, inline) in [
            (2, true),
            (INLINE_PAYLOAD_LEN, true),
            (INLINE_PAYLOAD_LEN + 1, false),
            (4_098, false),
        ] {
            let n = message_of(len);
            let encoded = EncodedNotification::encode(&n).unwrap();
            assert_eq!(encoded.is_inline(), inline, "{len} bytes");
            assert_eq!(encoded.payload(), &n.to_payload().unwrap()[..]);
            assert_eq!(encoded.decode(), n);
            let copied = EncodedNotification::from_slice(3, encoded.payload()).unwrap();
            assert_eq!(copied.is_inline(), inline, "{len} bytes copied");
            assert_eq!(copied, encoded);
        }
    }

    #[test]
    fn an_empty_payload_is_inline_and_empty() {
        let encoded = EncodedNotification::from_slice(200, &[]).unwrap();
        assert!(encoded.is_inline());
        assert_eq!(encoded.payload(), &[] as &[u8]);
        assert!(encoded.payload_bytes().is_empty());
        assert_eq!(
            encoded,
            EncodedNotification::from_payload(200, Bytes::new()).unwrap()
        );
    }

    #[test]
    fn equality_is_by_kind_and_bytes_however_held() {
        let inline = EncodedNotification::from_slice(3, b"abc").unwrap();
        let shared = EncodedNotification::from_payload(3, Bytes::from_static(b"abc")).unwrap();
        assert!(inline.is_inline() && !shared.is_inline());
        assert_eq!(inline, shared);
        assert_eq!(inline.payload_bytes(), shared.payload_bytes());
        assert_ne!(
            inline,
            EncodedNotification::from_slice(4, b"abc").unwrap(),
            "another kind"
        );
        assert_ne!(inline, EncodedNotification::from_slice(3, b"abd").unwrap());
    }

    #[test]
    fn a_notification_fits_a_queue_entry_of_48_bytes() {
        // Every queued notification of every session costs this much.
        assert_eq!(std::mem::size_of::<EncodedNotification>(), 48);
    }
}
