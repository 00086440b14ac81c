//! Notifications as read back from the log.

use bytes::Bytes;
use faxnotify_core::wire::EncodedNotification;

use crate::error::ReadError;
use crate::ids::{LogPos, LogSeq, ServerId};
use crate::log_format;

/// A notification in a user's log, with where it is and who accepted it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogEntry {
    /// The seq of its message in the log: the same on every server.
    pub log_seq: LogSeq,
    /// Its index in that message (a message may hold several, [D-17]).
    pub index: u16,
    /// The NOTIFY kind and payload.
    pub notification: EncodedNotification,
    /// The faxnotify server that accepted it (`None` when published by
    /// something else, e.g. a fax engine, or with an unreadable header).
    pub origin: Option<ServerId>,
}

impl LogEntry {
    /// Where it is in the log.
    pub fn position(&self) -> LogPos {
        LogPos {
            seq: self.log_seq,
            index: self.index,
        }
    }

    /// Parses a log message into its notifications, in order (one, or a
    /// batch: cluster/src/log_format.rs). A malformed message yields none.
    pub(crate) fn parse(
        log_seq: LogSeq,
        body: &Bytes,
        origin: Option<&str>,
    ) -> Result<Vec<Self>, ReadError> {
        // Only the form servers write (ServerId's Display): from_str_radix
        // alone also takes "+" and upper case, so two headers would name
        // one server.
        let origin = origin
            .filter(|o| o.len() == 16 && o.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|o| u64::from_str_radix(o, 16).ok())
            .map(ServerId);
        log_format::decode(body, |notification, index| Self {
            log_seq,
            index,
            notification,
            origin,
        })
        .map_err(|reason| ReadError::Malformed { log_seq, reason })
    }
}

/// The run a session is handed (`notify_session_run_at`): the
/// notifications of `entries`, in order.
pub(crate) fn run_of(entries: &[LogEntry]) -> Vec<EncodedNotification> {
    entries
        .iter()
        // As the log's decoder made them: a small payload copied inline,
        // a larger one shared (a reference count).
        .map(|e| e.notification.clone())
        .collect()
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
        let entries =
            LogEntry::parse(LogSeq(5), &Bytes::from(body), Some("00000000000000ff")).unwrap();
        let [entry] = &entries[..] else {
            panic!("one notification: {entries:?}");
        };
        assert_eq!(entry.notification.decode(), n);
        assert_eq!(entry.origin, Some(ServerId(0xff)));
        assert_eq!(entry.position(), LogPos::start_of(LogSeq(5)));

        for odd in [
            "+0000000000000ff",
            "00000000000000FF",
            "ff",
            " 00000000000000f",
        ] {
            let entry = LogEntry::parse(LogSeq(5), &Bytes::from_static(&[3, 0, 0]), Some(odd));
            assert_eq!(entry.unwrap()[0].origin, None, "{odd:?}");
        }

        let engine = LogEntry::parse(LogSeq(6), &Bytes::from_static(&[3, 0, 0]), None).unwrap();
        assert_eq!(engine[0].origin, None);
        assert_eq!(engine[0].notification.kind(), 3);

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

    #[test]
    fn a_batch_gives_each_notification_its_index() {
        let a = EncodedNotification::encode(&Notification::server_message("a")).unwrap();
        let b = EncodedNotification::encode(&Notification::server_message("b")).unwrap();
        let body = log_format::encode(&[&a, &b]);
        let entries = LogEntry::parse(LogSeq(9), &body, Some("0000000000000001")).unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.position().to_string(), e.notification.clone(), e.origin))
            .collect();
        let origin = Some(ServerId(1));
        assert_eq!(
            got,
            vec![("9.0".into(), a, origin), ("9.1".into(), b, origin)]
        );
    }

    /// A log message decoded and made into the run a session is handed:
    /// two lists a message (the entries, the run), for payloads of at
    /// most INLINE_PAYLOAD_LEN bytes nothing per notification, and for
    /// larger ones two a message, whatever their number. (Before small
    /// ones were copied inline: 35 for this batch of 16, a copy and a
    /// reference count's first clone each; large ones still cost that
    /// until they shared one buffer.)
    #[test]
    fn small_payloads_from_the_log_allocate_nothing_per_notification() {
        use faxnotify_testkit::alloc::allocations_during;
        let server_message = |text: String| {
            EncodedNotification::encode(&Notification::server_message(text)).unwrap()
        };
        let small: Vec<_> = (0..16)
            .map(|i| server_message(format!("fax {i}")))
            .collect();
        let large: Vec<_> = (0..16)
            .map(|i| server_message(format!("{i:>60}")))
            .collect();
        assert!(small.iter().all(|n| n.is_inline()) && !large.iter().any(|n| n.is_inline()));
        let cost = |body: Bytes| {
            let mut run = Vec::new();
            let allocations = allocations_during(|| {
                let entries = LogEntry::parse(LogSeq(1), &body, None).unwrap();
                run = run_of(&entries);
            });
            (allocations, run)
        };
        let batch = log_format::encode(&small.iter().collect::<Vec<_>>());
        assert_eq!(cost(batch), (2, small.clone()));
        let one = log_format::encode(&[&small[0]]);
        assert_eq!(cost(one), (2, vec![small[0].clone()]));
        // The larger payloads of a message are copied into one buffer,
        // shared from the first slice on (`bytes` allocates its reference
        // count then): two allocations for all 16, where a buffer each
        // cost 2 + 2 × 16 = 34. Every session's clone only counts.
        let batch = log_format::encode(&large.iter().collect::<Vec<_>>());
        assert_eq!(cost(batch), (2 + 2, large.clone()));
        // Mixed: the small ones inline, the large ones in the one buffer.
        let mixed: Vec<_> = small.iter().zip(&large).flat_map(|(s, l)| [s, l]).collect();
        let expected: Vec<_> = mixed.iter().map(|&n| n.clone()).collect();
        assert_eq!(cost(log_format::encode(&mixed)), (2 + 2, expected));
        // Alone in its message, a large payload still costs its own two.
        let one = log_format::encode(&[&large[0]]);
        assert_eq!(cost(one), (2 + 2, vec![large[0].clone()]));
    }
}
