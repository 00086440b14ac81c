//! Property tests of notification payloads: the one-pass length check
//! (`checked_payload_len`) against what is really written, the three ways
//! of encoding a payload against each other, and decoding back.
//!
//! The encoders check the limits (4 096-byte strings, 65 523-byte payloads) once and then write without
//! checking again, so a length check that disagreed with the writer would
//! let an oversized payload through or refuse a valid one. Run with
//! `PROPTEST_CASES=100000` to soak.

use faxnotify_core::wire::{
    DeviceState, DeviceStatus, EncodeError, EncodedNotification, FaxChange, FaxReceived,
    FaxUpdated, INLINE_PAYLOAD_LEN, JobState, JobStatus, MAX_PAYLOAD_LEN, Notification,
    NotificationEncoder, ServerMessage, Text,
};
use proptest::prelude::*;

/// The longest string a payload may carry.
const MAX_STR_LEN: usize = 4096;

/// Mostly short strings, sometimes around the 4 096-byte limit (either
/// side of it), in any Unicode.
fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        6 => proptest::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| c.into_iter().collect::<String>()),
        1 => (MAX_STR_LEN - 8..MAX_STR_LEN + 8, any::<char>())
            .prop_map(|(len, c)| {
                // A multi-byte char at the end, so that the byte length and
                // the char count differ near the limit.
                let mut s = "a".repeat(len.saturating_sub(c.len_utf8()));
                s.push(c);
                s
            }),
    ]
    .prop_map(Text::from)
}

fn notification() -> impl Strategy<Value = Notification> {
    prop_oneof![
        (any::<u64>(), text(), text(), any::<u16>(), any::<u64>()).prop_map(
            |(job, from, to, pages, received_at_ms)| {
                Notification::FaxReceived(FaxReceived {
                    job,
                    from,
                    to,
                    pages,
                    received_at_ms,
                })
            }
        ),
        (
            any::<u64>(),
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            text()
        )
            .prop_map(|(job, state, page, pages, attempt, detail)| {
                Notification::JobStatus(JobStatus {
                    job,
                    state: JobState::from_wire(state),
                    page,
                    pages,
                    attempt,
                    detail,
                })
            }),
        text().prop_map(|text| Notification::ServerMessage(ServerMessage { text })),
        (text(), any::<u8>(), text()).prop_map(|(device, state, detail)| {
            Notification::DeviceStatus(DeviceStatus {
                device,
                state: DeviceState::from_wire(state),
                detail,
            })
        }),
        (any::<u64>(), any::<u8>(), text(), text()).prop_map(|(job, change, by, comment)| {
            Notification::FaxUpdated(FaxUpdated {
                job,
                change: FaxChange::from_wire(change),
                by,
                comment,
            })
        }),
        // Raw payloads around the payload limit.
        (
            6..=u8::MAX,
            prop_oneof![
                4 => 0..64usize,
                1 => MAX_PAYLOAD_LEN - 4..MAX_PAYLOAD_LEN + 4,
            ]
        )
            .prop_map(|(kind, len)| Notification::Unknown {
                kind,
                payload: vec![0x5a; len].into(),
            }),
    ]
}

/// Whether any string of `n` is over the limit.
fn has_long_string(n: &Notification) -> bool {
    let texts: Vec<&Text> = match n {
        Notification::FaxReceived(f) => vec![&f.from, &f.to],
        Notification::JobStatus(j) => vec![&j.detail],
        Notification::ServerMessage(m) => vec![&m.text],
        Notification::DeviceStatus(d) => vec![&d.device, &d.detail],
        Notification::FaxUpdated(f) => vec![&f.by, &f.comment],
        _ => vec![],
    };
    texts.iter().any(|t| t.len() > MAX_STR_LEN)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// `checked_payload_len` accepts exactly what fits, and its length is
    /// the length the writer writes.
    #[test]
    fn the_checked_length_is_the_written_length(n in notification()) {
        let mut written = Vec::new();
        match n.checked_payload_len() {
            Ok(len) => {
                prop_assert!(!has_long_string(&n));
                prop_assert!(len <= MAX_PAYLOAD_LEN);
                prop_assert_eq!(len, n.payload_len());
                n.encode_payload(&mut written).expect("a checked payload encodes");
                prop_assert_eq!(written.len(), len);
            }
            Err(EncodeError::StringTooLong { len, .. }) => {
                prop_assert!(len > MAX_STR_LEN && has_long_string(&n));
                prop_assert!(n.encode_payload(&mut written).is_err());
                prop_assert!(written.is_empty(), "a refused payload wrote {} bytes", written.len());
            }
            Err(EncodeError::PayloadTooLarge { len }) => {
                prop_assert!(!has_long_string(&n));
                prop_assert!(len > MAX_PAYLOAD_LEN);
                prop_assert_eq!(len, n.payload_len());
                prop_assert!(n.encode_payload(&mut written).is_err());
                prop_assert!(written.is_empty(), "a refused payload wrote {} bytes", written.len());
            }
            Err(other) => prop_assert!(false, "unexpected refusal: {other}"),
        }
    }

    /// The arena encoder, `EncodedNotification::encode` and `to_payload`
    /// give the same bytes or the same refusal, and what they give decodes
    /// back to the notification. The arena is reused across the sequence,
    /// refusals included.
    #[test]
    fn every_encoder_agrees_and_decodes_back(
        ns in proptest::collection::vec(notification(), 1..12),
    ) {
        let mut arena = NotificationEncoder::new();
        for n in &ns {
            let from_arena = arena.encode(n);
            let alone = EncodedNotification::encode(n);
            let payload = n.to_payload();
            match (&from_arena, &alone, &payload) {
                (Ok(a), Ok(b), Ok(p)) => {
                    prop_assert_eq!(a.payload(), &p[..]);
                    prop_assert_eq!(b.payload(), &p[..]);
                    prop_assert_eq!(a.kind(), n.kind());
                    prop_assert_eq!(&a.decode(), n);
                    prop_assert_eq!(&b.decode(), n);
                    // Inline exactly when small, from either encoder, and
                    // equal to the payload copied or kept shared.
                    let small = p.len() <= INLINE_PAYLOAD_LEN;
                    prop_assert_eq!(a.is_inline(), small);
                    prop_assert_eq!(b.is_inline(), small);
                    let copied = EncodedNotification::from_slice(n.kind(), p).unwrap();
                    prop_assert_eq!(copied.is_inline(), small);
                    prop_assert_eq!(&copied, a);
                    let shared = EncodedNotification::from_payload(n.kind(), p.clone()).unwrap();
                    prop_assert!(!shared.is_inline());
                    prop_assert_eq!(&shared, a);
                }
                (Err(a), Err(b), Err(p)) => {
                    prop_assert_eq!(a, p);
                    prop_assert_eq!(b, p);
                }
                _ => prop_assert!(
                    false,
                    "encoders disagree: arena {:?}, alone {:?}, payload {:?}",
                    from_arena.as_ref().map(|e| e.payload().len()),
                    alone.as_ref().map(|e| e.payload().len()),
                    payload.as_ref().map(|p| p.len())
                ),
            }
        }
    }
}
