//! The server's delivery step allocates nothing in steady state: an
//! encoded notification is queued for every recipient (a small payload
//! copied inline, a larger one as a shared payload),
//! each NOTIFY is written into a recycled transmit buffer, and the ACK
//! that acknowledges it frees the queue entry without allocating.
//!
//! Allocations are counted on the test's thread only. This checks a count,
//! not a speed.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

#[allow(unreachable_pub)] // written with `pub` for the benchmarks
#[path = "../benches/server_support/driver.rs"]
mod driver;

use faxnotify_core::server::{Input, Output, Refused, Target};
use faxnotify_core::wire::{EncodedNotification, Notification};
use faxnotify_testkit::alloc::{Counting, allocations_during};

use driver::{Client, Driver, ack};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Held inline: a small payload.
fn message() -> EncodedNotification {
    let n = EncodedNotification::encode(&Notification::server_message("fax from +1 555 0100"));
    assert!(n.as_ref().unwrap().is_inline());
    n.unwrap()
}

/// Held in a shared buffer: longer than an inline payload.
fn long_message() -> EncodedNotification {
    let text = "fax from +1 555 0100 to the sales team, 3 pages, received at 10:02";
    let n = EncodedNotification::encode(&Notification::server_message(text)).unwrap();
    assert!(!n.is_inline());
    n
}

/// One notification to `target`, every NOTIFY transmitted (buffers handed
/// back), every ACK read; returns the allocations made and the transmits.
fn step(
    d: &mut Driver,
    clients: &[Client],
    target: &Target,
    notification: &EncodedNotification,
    seq: u64,
) -> (u64, usize) {
    let now = d.now;
    let mut transmits = 0;
    let allocs = allocations_during(|| {
        let summary = d.server.notify_encoded(now, target, notification);
        assert!(summary.all_accepted());
        d.server.drain_into(|server, output| {
            if let Output::Transmit { data, .. } = output {
                transmits += 1;
                server.recycle(data);
            }
        });
        let ack = ack(seq);
        for c in clients {
            let conn = c.callback.unwrap();
            d.server
                .handle_input(now, Input::Received { conn, data: &ack })
                .unwrap();
        }
        d.server.drain_into(|_, output| {
            assert!(matches!(output, Output::Event(_)), "{output:?}");
        });
    });
    (allocs, transmits)
}

#[test]
fn notify_transmit_ack_allocates_nothing() {
    notify_transmit_ack_allocates_nothing_with(message());
}

#[test]
fn notify_transmit_ack_of_a_shared_payload_allocates_nothing() {
    notify_transmit_ack_allocates_nothing_with(long_message());
}

fn notify_transmit_ack_allocates_nothing_with(notification: EncodedNotification) {
    let mut d = Driver::new(1, |_| {});
    let clients = [d.open(0, true)];
    d.server.discard_outputs();
    let target = Target::Session(clients[0].session);
    // Warm up: the queue, the output queue and the buffer pool reach their size.
    step(&mut d, &clients, &target, &notification, 1);
    for seq in 2..100 {
        assert_eq!(
            step(&mut d, &clients, &target, &notification, seq),
            (0, 1),
            "step {seq}"
        );
    }

    // The same through the single-session forms: `notify_session` (given
    // `Bytes`, which it queues shared), and `notify_encoded_owned`, which
    // moves the notification into the queue.
    let now = d.now;
    let conn = clients[0].callback.unwrap();
    let session = clients[0].session;
    // Made outside the counted steps: for an inline payload it is a copy,
    // and a `Bytes` made from a `Vec` allocates its shared count at its
    // first clone, which the notification's own steps above made for a
    // shared one.
    let shared = notification.payload_bytes();
    drop(shared.clone());
    let single = |d: &mut Driver, seq: u64, notify: &mut dyn FnMut(&mut Driver)| {
        let allocs = allocations_during(|| {
            notify(d);
            d.server.drain_into(|server, output| {
                if let Output::Transmit { data, .. } = output {
                    server.recycle(data);
                }
            });
            let data = &ack(seq);
            d.server
                .handle_input(now, Input::Received { conn, data })
                .unwrap();
            d.server.discard_outputs();
        });
        assert_eq!(allocs, 0, "seq {seq}");
    };
    for seq in 100..110 {
        single(&mut d, seq, &mut |d| {
            let payload = shared.clone();
            let got = d
                .server
                .notify_session(now, session, notification.kind(), payload);
            assert_eq!(got, Ok(seq));
        });
    }
    for seq in 110..120 {
        let mut owned = Some(notification.clone());
        single(&mut d, seq, &mut |d| {
            let owned = owned.take().expect("once");
            let summary = d.server.notify_encoded_owned(now, &target, owned);
            assert!(summary.all_accepted());
        });
    }
    assert_eq!(d.server.session(clients[0].session).unwrap().acked_seq, 119);
}

#[test]
fn a_broadcast_shares_one_payload_and_allocates_nothing() {
    a_broadcast_allocates_nothing_with(long_message());
}

#[test]
fn a_broadcast_copies_an_inline_payload_and_allocates_nothing() {
    a_broadcast_allocates_nothing_with(message());
}

fn a_broadcast_allocates_nothing_with(notification: EncodedNotification) {
    // Fewer sessions than the server's pool of transmit buffers, so every
    // NOTIFY of a broadcast goes into a recycled buffer.
    let mut d = Driver::new(8, |_| {});
    let clients: Vec<Client> = (0..8).map(|i| d.open(i, true)).collect();
    d.server.discard_outputs();
    step(&mut d, &clients, &Target::All, &notification, 1);
    for seq in 2..50 {
        assert_eq!(
            step(&mut d, &clients, &Target::All, &notification, seq),
            (0, 8),
            "broadcast {seq}"
        );
    }
}

#[test]
fn the_summary_counts_acceptances_and_lists_refusals() {
    let mut d = Driver::new(2, |c| c.queue_limit = 2);
    let a = d.open(0, true);
    let b = d.open(1, true);
    d.server.discard_outputs();
    let now = d.now;
    let notification = message();
    // Nothing is acknowledged: both queues fill after two.
    for _ in 0..2 {
        let summary = d.server.notify_encoded(now, &Target::All, &notification);
        assert_eq!((summary.accepted, summary.recipients()), (2, 2));
    }
    // `a` acknowledges its two; only `b` stays full.
    d.server
        .handle_input(
            now,
            Input::Received {
                conn: a.callback.unwrap(),
                data: &ack(2),
            },
        )
        .unwrap();
    let summary = d.server.notify_encoded(now, &Target::All, &notification);
    assert_eq!(summary.accepted, 1);
    assert_eq!(
        summary.refused,
        [(b.session, Refused::QueueFull { limit: 2 })]
    );
    assert!(!summary.all_accepted());

    // `notify` reports the same per session, with seqs.
    let report = d
        .server
        .notify(now, Target::All, &Notification::server_message("again"))
        .unwrap();
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(report.accepted[0].session, a.session);
    assert_eq!(report.accepted[0].seq, 4);
    assert_eq!(
        report.refused,
        [(b.session, Refused::QueueFull { limit: 2 })]
    );
}
