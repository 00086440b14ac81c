//! The fuzzing harness of the `hylafax` cargo-fuzz target (and the corpus
//! replay test): arbitrary bytes drive a [`Bridge`] through connects,
//! stream chunks, queue and receive queue listings, timeouts and
//! disconnects, and every notification it
//! produces must encode and stay within the text bounds.

use crate::bridge::{Bridge, Output};
use crate::config::Routing;
use crate::text::{MAX_DETAIL, MAX_PARTY};

/// One input: the first byte of each step picks the operation, the next
/// two a length, then that many bytes of data.
pub fn bridge(data: &[u8]) {
    let mut routing = Routing::default();
    routing.route.insert("5550001".into(), vec!["alice".into()]);
    routing.unrouted = vec!["frontdesk".into()];
    let mut bridge = Bridge::new(routing);
    let mut now_ms = 1_796_525_000_000u64;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let len = match tail {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => tail.len(),
        };
        let body = tail.get(2..).unwrap_or(&[]);
        let chunk = &body[..len.min(body.len())];
        rest = &body[chunk.len()..];
        now_ms += 1000;
        match op % 8 {
            0 => bridge.handle_connected(),
            1 => bridge.handle_listing(now_ms, chunk),
            2 => bridge.handle_listing_failed(),
            3 => bridge.handle_disconnected(),
            5 => bridge.handle_timeout(now_ms + 60_000),
            6 => bridge.handle_received_listing(chunk),
            7 => bridge.handle_received_listing_failed(),
            _ => bridge.handle_stream(now_ms, chunk),
        }
        while let Some(output) = bridge.poll_output() {
            check(&output);
        }
    }
}

fn check(output: &Output) {
    use faxnotify_core::wire::Notification as N;
    let Output::Notify { notification, .. } = output else {
        return;
    };
    assert!(
        notification.to_payload().is_ok(),
        "{notification} does not encode"
    );
    let strings: Vec<&str> = match notification {
        N::FaxReceived(f) => vec![&f.from, &f.to],
        N::JobStatus(j) => vec![&j.detail],
        N::DeviceStatus(d) => vec![&d.device, &d.detail],
        N::FaxUpdated(f) => vec![&f.by, &f.comment],
        _ => vec![],
    };
    for s in strings {
        assert!(s.len() <= MAX_DETAIL.max(MAX_PARTY), "{s:?} is too long");
        assert!(
            !s.chars().any(char::is_control),
            "{s:?} holds a control character"
        );
    }
}
