//! The NOTIFY → ACK step allocates nothing beyond the notification's own
//! strings: the NOTIFY is decoded borrowed from the input, the ACK goes into
//! a recycled buffer, and one cumulative ACK covers a whole read.
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
use faxnotify_core::wire::{Frame, Notification};
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
fn notify_to_ack_allocates_only_the_strings() {
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

    // Warm up: the output queue and the transmit buffer pool reach their size.
    step(&mut client, 3, &message, 64);
    // A read of 64 SERVER_MESSAGEs: one allocation each, for its text.
    assert_eq!(step(&mut client, 3, &message, 64), 64);
    // One NOTIFY per read: still only its text.
    for _ in 0..10 {
        assert_eq!(step(&mut client, 3, &message, 1), 1);
    }
    // Unknown kinds: one copy of the raw payload each [N-1].
    assert_eq!(step(&mut client, 200, b"\x01\x02", 16), 16);
}
