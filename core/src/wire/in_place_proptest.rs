//! Property tests of the client's two ways of decoding a NOTIFY payload:
//! in place (short strings copied into the `Text`s, nothing split off the
//! receive buffer) and from shared bytes (strings sliced from them).
//!
//! The client takes the in-place way whenever it says yes, so where it
//! does it must give exactly the notification the shared way gives, for
//! any bytes; and it must say yes to every well-formed payload whose
//! strings fit in place, or the atomics it exists to save come back
//! unnoticed. Run with `PROPTEST_CASES=100000` to soak.

use bytes::Bytes;
use proptest::prelude::*;

use super::notification::{
    DeviceState, DeviceStatus, FaxChange, FaxReceived, FaxUpdated, JobState, JobStatus,
    Notification, ServerMessage,
};
use super::text::{INLINE_LEN, Text};

/// Strings on both sides of the in-place bound, in any Unicode (so a
/// string of few chars may still be too many bytes).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(any::<char>(), 0..8)
            .prop_map(|c| c.into_iter().collect::<String>()),
        3 => (0..=INLINE_LEN + 4).prop_map(|len| "7".repeat(len)),
    ]
}

/// A known notification of any kind, its strings from `text()`: one draw
/// of every field any kind has, then the kind picks what it needs.
fn notification() -> impl Strategy<Value = Notification> {
    let t = || text().prop_map(Text::from);
    (0..5u8, any::<u64>(), any::<(u8, [u16; 3], u64)>(), t(), t()).prop_map(
        |(kind, job, (code, [a, b, c], at), first, second)| match kind {
            0 => Notification::FaxReceived(FaxReceived {
                job,
                from: first,
                to: second,
                pages: a,
                received_at_ms: at,
            }),
            1 => Notification::JobStatus(JobStatus {
                job,
                state: JobState::from_wire(code),
                page: a,
                pages: b,
                attempt: c,
                detail: first,
            }),
            2 => Notification::ServerMessage(ServerMessage { text: first }),
            3 => Notification::DeviceStatus(DeviceStatus {
                device: first,
                state: DeviceState::from_wire(code),
                detail: second,
            }),
            _ => Notification::FaxUpdated(FaxUpdated {
                job,
                change: FaxChange::from_wire(code),
                by: first,
                comment: second,
            }),
        },
    )
}

/// Whether every string of `n` fits in place.
fn all_strings_fit(n: &Notification) -> bool {
    let texts: &[&Text] = match n {
        Notification::FaxReceived(f) => &[&f.from, &f.to],
        Notification::JobStatus(j) => &[&j.detail],
        Notification::ServerMessage(m) => &[&m.text],
        Notification::DeviceStatus(d) => &[&d.device, &d.detail],
        Notification::FaxUpdated(f) => &[&f.by, &f.comment],
        _ => &[],
    };
    texts.iter().all(|t| t.len() <= INLINE_LEN)
}

/// One change to a well-formed payload: cut it short, flip a byte, or add
/// bytes after it.
#[derive(Clone, Debug)]
enum Edit {
    Truncate(usize),
    Flip(usize, u8),
    Append(Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1..=u8::MAX).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        proptest::collection::vec(any::<u8>(), 1..8).prop_map(Edit::Append),
    ]
}

fn apply(mut payload: Vec<u8>, edit: &Edit) -> Vec<u8> {
    match edit {
        Edit::Truncate(at) => payload.truncate(at % (payload.len() + 1)),
        Edit::Flip(at, mask) if !payload.is_empty() => {
            let at = at % payload.len();
            payload[at] ^= mask;
        }
        Edit::Flip(..) => {}
        Edit::Append(tail) => payload.extend_from_slice(tail),
    }
    payload
}

/// Asserts that where the in-place decoding answers, it is the shared one,
/// and that bytes after the payload change nothing.
fn agrees(kind: u8, payload: &[u8], after: &[u8]) -> Result<(), TestCaseError> {
    let in_place = in_place(kind, payload, after);
    prop_assert_eq!(&in_place, &in_place_alone(kind, payload));
    if let Some(in_place) = in_place {
        let shared = Notification::decode_bytes(kind, Bytes::copy_from_slice(payload));
        prop_assert_eq!(in_place, shared);
    }
    Ok(())
}

/// `payload` decoded in place with nothing after it (strings near its end
/// copied by their length).
fn in_place_alone(kind: u8, payload: &[u8]) -> Option<Notification> {
    in_place(kind, payload, &[])
}

/// `payload` decoded in place with `after` following it in the received
/// bytes (strings read as a fixed 20 bytes where those reach).
fn in_place(kind: u8, payload: &[u8], after: &[u8]) -> Option<Notification> {
    let received = [payload, after].concat();
    // Empty before, as the decoder hands it: the answer after.
    let mut decoded = None;
    let yes = Notification::decode_in_place(kind, &received, payload.len(), &mut decoded);
    assert_eq!(yes, decoded.is_some());
    decoded
}

/// Bytes after a payload: the next frames of a read, here any bytes.
fn after() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=INLINE_LEN + 4)
}

proptest! {
    #[test]
    fn well_formed_short_strings_are_decoded_in_place(n in notification(), after in after()) {
        let kind = n.kind();
        let payload = n.to_payload().expect("strings are far below the limit");
        let expected = all_strings_fit(&n).then_some(n);
        prop_assert_eq!(&in_place_alone(kind, &payload), &expected);
        prop_assert_eq!(&in_place(kind, &payload, &after), &expected);
    }

    #[test]
    fn edited_payloads_decode_in_place_as_from_shared_bytes(
        n in notification(),
        edits in proptest::collection::vec(edit(), 1..4),
        after in after(),
    ) {
        let kind = n.kind();
        let mut payload = n.to_payload().expect("strings are far below the limit").to_vec();
        for e in &edits {
            payload = apply(payload, e);
        }
        agrees(kind, &payload, &after)?;
    }

    #[test]
    fn any_bytes_of_any_kind_decode_in_place_as_from_shared_bytes(
        kind in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..80),
        after in after(),
    ) {
        agrees(kind, &payload, &after)?;
    }
}
