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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use client_harness::server::{ScriptedServer, notify_raw};
use client_harness::{Harness, SESSION, config};
use faxnotify_core::client::{Event, Input, ListenPolicy, Output};
use faxnotify_core::wire::{FaxReceived, Frame, Notification};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only bumps a thread-local counter (const-initialised, no destructor,
// so touching it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

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
    let mut step =
        |client: &mut faxnotify_core::client::Client, kind: u8, payload: &[u8], n: u64| {
            let data = batch(next, n, kind, payload);
            next += n;
            let mut delivered = 0;
            let mut acks = Vec::with_capacity(4); // allocated before counting
            let allocs = allocations_during(|| {
                client
                    .handle_input(
                        now,
                        Input::Received {
                            conn: cb,
                            data: &data,
                        },
                    )
                    .unwrap();
                while let Some(out) = client.poll_output() {
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
        let data = batch(seq, 1, 3, &payload);
        client
            .handle_input(
                now,
                Input::Received {
                    conn: cb,
                    data: &data,
                },
            )
            .unwrap();
        while let Some(out) = client.poll_output() {
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
