//! A notification encoded once, to be queued for any number of sessions.

use bytes::Bytes;

use super::MAX_PAYLOAD_LEN;
use super::error::EncodeError;
use super::notification::Notification;

/// A NOTIFY's kind and payload, encoded and checked to fit in a frame.
///
/// Encoding is the costly part of notifying, so an application encodes on
/// its own thread ([`EncodedNotification::encode`]) and hands this to the
/// server's event loop; there every session's queue holds a clone of the
/// same [`Bytes`] (a reference count, no copy), and the buffer is freed
/// once, by whoever drops the last clone.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EncodedNotification {
    kind: u8,
    payload: Bytes,
}

impl EncodedNotification {
    /// Encodes `notification` into one shared buffer.
    pub fn encode(notification: &Notification) -> Result<Self, EncodeError> {
        Ok(Self {
            kind: notification.kind(),
            payload: notification.to_payload()?,
        })
    }

    /// A payload the application encoded itself (or relays unparsed), for
    /// `kind`. Refuses payloads over 65 523 bytes, which no NOTIFY can carry.
    pub fn from_payload(kind: u8, payload: Bytes) -> Result<Self, EncodeError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(EncodeError::PayloadTooLarge { len: payload.len() });
        }
        Ok(Self { kind, payload })
    }

    /// A payload whose length was checked while it was encoded.
    pub(super) fn checked(kind: u8, payload: Bytes) -> Self {
        debug_assert!(payload.len() <= MAX_PAYLOAD_LEN);
        Self { kind, payload }
    }

    /// The kind byte NOTIFY carries.
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// The payload: at most [`MAX_PAYLOAD_LEN`] bytes.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The kind byte and the payload, taken apart (no reference count
    /// changes, unlike cloning the payload).
    pub fn into_parts(self) -> (u8, Bytes) {
        (self.kind, self.payload)
    }

    /// The notification as the receiving client decodes it.
    pub fn decode(&self) -> Notification {
        Notification::decode_bytes(self.kind, self.payload.clone())
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
    }

    #[test]
    fn encoding_round_trips() {
        let n = Notification::server_message("the fax server restarts at 22:00");
        let encoded = EncodedNotification::encode(&n).unwrap();
        assert_eq!(encoded.kind(), 3);
        assert_eq!(encoded.payload().len(), n.payload_len());
        assert_eq!(encoded.decode(), n);
    }
}
