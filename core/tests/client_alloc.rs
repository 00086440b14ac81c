//! The NOTIFY → ACK step allocates nothing in steady state: the read is
//! copied into a reused receive buffer, the notification's strings are
//! slices of it, the ACK goes into a recycled buffer, and one cumulative ACK
//! covers a whole read.
//!
//! Allocations are counted by a wrapper around the system allocator, on the
//! test's thread only. This checks a count, not a speed.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod client_harness;
#[allow(unreachable_pub)] // the shared support module is written with `pub`
mod support;

use client_harness::server::{ScriptedServer, notify_raw};
use client_harness::{Harness, SESSION, config};
use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::wire::{FaxReceived, Frame, Notification};
use faxnotify_testkit::alloc::{Counting, allocations_during};
use faxnotify_testkit::{Endpoint, Output};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `n` NOTIFYs from `first`, kind `kind`, `payload` each, as one read.
fn batch(first: u64, n: u64, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for seq in first..first + n {
        notify_raw(seq, kind, payload).encode(&mut data).unwrap();
    }
    data
}

#[test]
fn notify_to_ack_allocates_nothing() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    h.login(&mut server, SESSION);
    let (cb, _) = h.open_callback(&mut server, 50_000);
    let mut client = h.client;
    let now = h.now;

    let message = Notification::server_message("fax from +1 555 0100")
        .to_payload()
        .unwrap();
    let mut next = 1;
    let mut step = |client: &mut Endpoint<faxnotify_core::client::Client>,
                    kind: u8,
                    payload: &[u8],
                    n: u64| {
        let data = batch(next, n, kind, payload);
        next += n;
        let mut delivered = 0;
        let mut acks = Vec::with_capacity(4); // allocated before counting
        let allocs = allocations_during(|| {
            client.receive(now, cb, &data);
            while let Some(out) = client.next_output() {
                match out {
                    Output::Event(Event::Notification { .. }) => delivered += 1,
                    Output::Transmit { data, .. } => {
                        acks.push(data.len());
                        client.recycle(data);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        assert_eq!(delivered, n);
        assert_eq!(
            acks,
            [Frame::Ack { seq: 0 }.encoded_len()],
            "one ACK per read"
        );
        allocs
    };

    // FAX_RECEIVED: two strings.
    let fax = Notification::FaxReceived(FaxReceived {
        job: 4711,
        from: "+1 555 0100".into(),
        to: "sales".into(),
        pages: 3,
        received_at_ms: 1_700_000_000_000,
    })
    .to_payload()
    .unwrap();
    // Warm up with the largest read: the output queue, the transmit buffer
    // pool and the receive buffer reach their size.
    step(&mut client, 1, &fax, 64);
    // A read of 64 SERVER_MESSAGEs: their texts are slices of the read.
    assert_eq!(step(&mut client, 3, &message, 64), 0);
    // One NOTIFY per read: the receive buffer is reused once the previous
    // notification was dropped.
    for _ in 0..10 {
        assert_eq!(step(&mut client, 3, &message, 1), 0);
    }
    for n in [1, 64] {
        assert_eq!(step(&mut client, 1, &fax, n), 0);
    }
    // Unknown kinds: the raw payload is a slice too [N-1].
    assert_eq!(step(&mut client, 200, b"\x01\x02", 16), 0);
}

#[test]
fn notifications_kept_across_reads_keep_their_text() {
    let mut server = ScriptedServer::new();
    let mut h = Harness::new(config(ListenPolicy::Fixed { port: 6003 }));
    h.bind(6003);
    h.login(&mut server, SESSION);
    let (cb, _) = h.open_callback(&mut server, 50_000);
    let mut client = h.client;
    let now = h.now;

    // The application holds every notification while later reads arrive:
    // the receive buffer cannot be reused under them, and none changes.
    let mut kept = Vec::new();
    for seq in 1..=200u64 {
        let text = format!("message {seq}");
        let payload = Notification::server_message(text.as_str())
            .to_payload()
            .unwrap();
        client.receive(now, cb, &batch(seq, 1, 3, &payload));
        while let Some(out) = client.next_output() {
            if let Output::Event(Event::Notification { notification, .. }) = out {
                kept.push((text.clone(), notification));
            }
        }
    }
    assert_eq!(kept.len(), 200);
    for (text, notification) in &kept {
        assert_eq!(notification, &Notification::server_message(text.as_str()));
    }
}
