//! The cost of delivering notifications:
//! - one step `notify_session` → NOTIFY transmit → ACK for one session;
//! - a broadcast (`notify(Target::All)`) to 10 000 sessions, every NOTIFY
//!   transmitted and acknowledged;
//!
//! and the heap allocations each makes in steady state, counted with a
//! counting global allocator (printed before the timings).
//!
//! Run: `cargo bench -p faxnotify-core --bench server_steps` (under
//! `cargo test` it runs small, as a smoke test of the same paths).

#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub)]

#[path = "server_support/driver.rs"]
mod driver;

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use faxnotify_core::server::{Input, Output, Target};
use faxnotify_core::wire::Notification;

use driver::{Client, Driver, ack};
use faxnotify_testkit::alloc::{Counting, allocations};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BROADCAST_SESSIONS: usize = 10_000;

/// One session with a working callback, and the next seq it will get.
struct One {
    d: Driver,
    client: Client,
    seq: u64,
    payload: Bytes,
}

impl One {
    fn new() -> Self {
        let mut d = Driver::new(1, |_| {});
        let client = d.open(0, true);
        let payload = Notification::server_message("fax received from +1 555 0100")
            .to_payload()
            .unwrap();
        Self {
            d,
            client,
            seq: 0,
            payload,
        }
    }

    /// notify → drain (the NOTIFY) → ACK → drain (the Delivered event).
    fn step(&mut self) -> usize {
        let now = self.d.now;
        let seq = self
            .d
            .server
            .notify_session(now, self.client.session, 3, self.payload.clone())
            .unwrap();
        self.seq += 1;
        debug_assert_eq!(seq, self.seq);
        let mut bytes = 0;
        self.d.server.drain_into(|_, output| {
            if let Output::Transmit { data, .. } = output {
                bytes += data.len();
            }
        });
        let conn = self.client.callback.unwrap();
        let ack = ack(seq);
        self.d
            .server
            .handle_input(now, Input::Received { conn, data: &ack })
            .unwrap();
        self.d.server.drain_into(|_, output| {
            black_box(output);
        });
        bytes
    }
}

/// Many sessions with working callbacks.
struct Many {
    d: Driver,
    clients: Vec<Client>,
    seq: u64,
    notification: Notification,
}

impl Many {
    fn new(n: usize) -> Self {
        let mut d = Driver::new(n, |_| {});
        let clients = (0..n).map(|i| d.open(i, true)).collect();
        d.server.discard_outputs();
        Self {
            d,
            clients,
            seq: 0,
            notification: Notification::server_message("the fax server restarts at 22:00"),
        }
    }

    /// One broadcast, every NOTIFY transmitted, then every ACK.
    fn broadcast(&mut self) -> usize {
        let now = self.d.now;
        let report = self
            .d
            .server
            .notify(now, Target::All, &self.notification)
            .unwrap();
        self.seq += 1;
        debug_assert_eq!(report.accepted.len(), self.clients.len());
        drop(report);
        let mut transmits = 0;
        self.d.server.drain_into(|_, output| {
            if matches!(output, Output::Transmit { .. }) {
                transmits += 1;
            }
        });
        let ack = ack(self.seq);
        for c in &self.clients {
            let conn = c.callback.unwrap();
            self.d
                .server
                .handle_input(now, Input::Received { conn, data: &ack })
                .unwrap();
        }
        self.d.server.drain_into(|_, output| {
            black_box(output);
        });
        transmits
    }
}

fn count_allocations(full: bool) {
    let mut one = One::new();
    for _ in 0..1_000 {
        one.step(); // warm up: the queue and output buffers reach their size
    }
    let rounds = if full { 100_000u64 } else { 1_000 };
    let before = allocations();
    for _ in 0..rounds {
        black_box(one.step());
    }
    let per_step = (allocations() - before) as f64 / rounds as f64;
    // Deterministic, not timed: a new allocation on this path is a regression.
    assert!(per_step <= 1.0, "{per_step} allocations per step");
    println!(
        "allocations per notify -> NOTIFY transmit -> ACK step: {per_step:.3} \
         (the NOTIFY frame's bytes handed to the adapter are one)"
    );

    let sessions = if full { BROADCAST_SESSIONS } else { 500 };
    let mut many = Many::new(sessions);
    for _ in 0..3 {
        many.broadcast();
    }
    let rounds = 20u64;
    let before = allocations();
    for _ in 0..rounds {
        assert_eq!(many.broadcast(), sessions);
    }
    let per_broadcast = (allocations() - before) as f64 / rounds as f64;
    println!(
        "allocations per broadcast to {sessions} sessions (with every ACK): \
         {per_broadcast:.1} = {:.4} per session",
        per_broadcast / sessions as f64
    );
    // One frame per session, plus the payload, its shared header and the report.
    assert!(per_broadcast <= sessions as f64 + 3.0, "{per_broadcast}");
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` everything runs once, small.
    let full = std::env::args().any(|a| a == "--bench");
    count_allocations(full);
    if !full {
        // Criterion's test mode still runs each benchmark once; keep the broadcast small.
        let mut one = One::new();
        one.step();
        let mut many = Many::new(100);
        assert_eq!(many.broadcast(), 100);
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("server");
    group.throughput(Throughput::Elements(1));
    let mut one = One::new();
    group.bench_function("notify_transmit_ack_one_session", |b| {
        b.iter(|| black_box(one.step()))
    });
    group.throughput(Throughput::Elements(BROADCAST_SESSIONS as u64));
    group.sample_size(20);
    let mut many = Many::new(BROADCAST_SESSIONS);
    group.bench_function("broadcast_10k_sessions_with_acks", |b| {
        b.iter(|| black_box(many.broadcast()))
    });
    group.finish();
    c.final_summary();
}
