//! One notification as read back from the log.

use bytes::Bytes;
use faxnotify_core::wire::EncodedNotification;

use crate::error::ReadError;
use crate::ids::{LogSeq, ServerId};

/// A notification in a user's log, with where it is and who accepted it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogEntry {
    /// Its seq in the log: the same on every server.
    pub log_seq: LogSeq,
    /// The NOTIFY kind and payload.
    pub notification: EncodedNotification,
    /// The faxnotify server that accepted it (`None` when published by
    /// something else, e.g. a fax engine, or with an unreadable header).
    pub origin: Option<ServerId>,
}

impl LogEntry {
    /// Parses a log message: the kind byte, then the NOTIFY payload.
    pub(crate) fn parse(
        log_seq: LogSeq,
        body: &Bytes,
        origin: Option<&str>,
    ) -> Result<Self, ReadError> {
        let malformed = |reason: String| ReadError::Malformed { log_seq, reason };
        let Some(&kind) = body.first() else {
            return Err(malformed("it is empty (no notification kind)".into()));
        };
        let notification = EncodedNotification::from_payload(kind, body.slice(1..))
            .map_err(|err| malformed(err.to_string()))?;
        // Only the form servers write (ServerId's Display): from_str_radix
        // alone also takes "+" and upper case, so two headers would name
        // one server.
        let origin = origin
            .filter(|o| o.len() == 16 && o.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|o| u64::from_str_radix(o, 16).ok())
            .map(ServerId);
        Ok(Self {
            log_seq,
            notification,
            origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use faxnotify_core::wire::Notification;

    use super::*;

    #[test]
    fn log_messages_parse_into_notifications_or_are_named_malformed() {
        let n = Notification::server_message("hello");
        let encoded = EncodedNotification::encode(&n).unwrap();
        let mut body = vec![encoded.kind()];
        body.extend_from_slice(encoded.payload());
        let entry =
            LogEntry::parse(LogSeq(5), &Bytes::from(body), Some("00000000000000ff")).unwrap();
        assert_eq!(entry.notification.decode(), n);
        assert_eq!(entry.origin, Some(ServerId(0xff)));
        assert_eq!(entry.log_seq, LogSeq(5));

        for odd in [
            "+0000000000000ff",
            "00000000000000FF",
            "ff",
            " 00000000000000f",
        ] {
            let entry = LogEntry::parse(LogSeq(5), &Bytes::from_static(&[3, 0, 0]), Some(odd));
            assert_eq!(entry.unwrap().origin, None, "{odd:?}");
        }

        let engine = LogEntry::parse(LogSeq(6), &Bytes::from_static(&[3, 0, 0]), None).unwrap();
        assert_eq!(engine.origin, None);
        assert_eq!(engine.notification.kind(), 3);

        let err = LogEntry::parse(LogSeq(7), &Bytes::new(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "log message 7 is not a notification: it is empty (no notification kind)"
        );
        let huge = Bytes::from(vec![1u8; 70_000]);
        assert!(matches!(
            LogEntry::parse(LogSeq(8), &huge, None),
            Err(ReadError::Malformed { .. })
        ));
    }
}
