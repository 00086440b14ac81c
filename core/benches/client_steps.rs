//! The client's cost of receiving notifications: a read holding NOTIFYs on
//! an established callback → the notifications handed to the application
//! (decoded) → one cumulative ACK transmitted (its buffer recycled).
//!
//! - `one_per_read`: one NOTIFY per read, as with a window of 1 (or a quiet
//!   server): one ACK per notification.
//! - `64_per_read`: 64 NOTIFYs per read, as with the default window of 64
//!   under load: one ACK per 64 notifications.
//!
//! each with FAX_RECEIVED (two strings: the usual notification) and
//! SERVER_MESSAGE (one string), and the heap allocations per notification
//! in steady state, counted with a counting global allocator and printed
//! before the timings. The client is logged in against a scripted server
//! (real SCRAM, see `core/tests/client_harness/server.rs`).
//!
//! Run: `cargo bench -p faxnotify-core --bench client_steps` (under
//! `cargo test` it runs small, as a smoke test of the same paths).

#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub)]

#[allow(dead_code)] // the benchmark uses a subset of the scripted server
#[path = "../tests/client_harness/server.rs"]
mod scripted;

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use faxnotify_core::ConnId;
use faxnotify_core::client::{
    self, Client, ClientConfig, Event, ListenPolicy, NetworkSettings, Output,
};
use faxnotify_core::wire::{FaxReceived, Frame, Notification, Notify};
use faxnotify_testkit::Endpoint;
use faxnotify_testkit::alloc::{Counting, allocations};

use scripted::ScriptedServer;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SESSION: u64 = 0x0123_4567_89ab_cdef;

/// A client logged in with a working callback connection.
fn established() -> (Client, ConnId, Instant) {
    let now = Instant::now();
    let config = ClientConfig::new(
        "192.0.2.1:4580".parse().unwrap(),
        scripted::USER,
        scripted::PASSWORD,
        NetworkSettings::new(ListenPolicy::Fixed { port: 6003 }),
    );
    let mut client = Endpoint::new(Client::new(config, [7; 32], now).unwrap());
    let Some(Output::Listen { addr }) = client.next_output() else {
        panic!("the client listens first");
    };
    client.input(now, client::Input::Bound { local: addr });
    let (ctl, _) = client.take_connects()[0];
    client.discard_outputs();
    client.input(now, client::Input::Connected { conn: ctl });

    let mut server = ScriptedServer::new();
    client.receive_frames(now, ctl, &[server.hello()]);
    let login = client.take_frames(ctl).remove(0);
    client.receive_frames(now, ctl, &[server.challenge_for(&login)]);
    let proof = client.take_frames(ctl).remove(0);
    client.receive_frames(now, ctl, &[server.login_ok(&proof, SESSION, 30_000)]);
    let advertise = client.take_frames(ctl).remove(0);
    assert!(matches!(advertise, Frame::Advertise(_)), "{advertise}");
    let callback = SocketAddr::from(([192, 0, 2, 10], 6003));
    client.receive_frames(now, ctl, &[Frame::AdvertiseOk { callback }]);

    let cb = client.accept(now, SocketAddr::from(([192, 0, 2, 1], 50_000)));
    let challenge = client.take_frames(cb).remove(0);
    let (hello, _, _) = server.cb_hello(&challenge);
    client.receive_frames(now, cb, &[hello]);
    let ready = client.take_frames(cb).remove(0);
    assert!(matches!(ready, Frame::CbReady(_)), "{ready}");
    client.discard_outputs();
    (client.core, cb, now)
}

/// A realistic FAX_RECEIVED payload (two short strings).
fn fax_received() -> Vec<u8> {
    Notification::FaxReceived(FaxReceived {
        job: 4711,
        from: "+1 555 0100".into(),
        to: "sales".into(),
        pages: 3,
        received_at_ms: 1_700_000_000_000,
    })
    .to_payload()
    .unwrap()
    .to_vec()
}

fn server_message() -> Vec<u8> {
    Notification::server_message("fax received from +1 555 0100")
        .to_payload()
        .unwrap()
        .to_vec()
}

/// An established client and a read of `per_read` NOTIFYs whose seqs are
/// rewritten in place for each step.
struct Receiver {
    client: Endpoint<Client>,
    cb: ConnId,
    now: Instant,
    read: Vec<u8>,
    /// Offsets of the seq field of each frame in `read`.
    seq_at: Vec<usize>,
    next_seq: u64,
}

impl Receiver {
    fn new(kind: u8, payload: &[u8], per_read: usize) -> Self {
        let (client, cb, now) = established();
        let client = Endpoint::new(client);
        let frame = Frame::Notify(Notify {
            seq: 0,
            kind,
            payload: payload.into(),
        });
        let len = frame.encoded_len();
        let mut read = Vec::with_capacity(len * per_read);
        let mut seq_at = Vec::with_capacity(per_read);
        for _ in 0..per_read {
            seq_at.push(read.len() + 5); // length (4) + type (1)
            frame.encode(&mut read).unwrap();
        }
        Self {
            client,
            cb,
            now,
            read,
            seq_at,
            next_seq: 1,
        }
    }

    /// One read in, every output handled; returns the notifications delivered.
    // Never inlined: callgrind counts instructions per call of it.
    #[inline(never)]
    fn step(&mut self) -> usize {
        for &at in &self.seq_at {
            self.read[at..at + 8].copy_from_slice(&self.next_seq.to_be_bytes());
            self.next_seq += 1;
        }
        self.client
            .handle_input(
                self.now,
                client::Input::Received {
                    conn: self.cb,
                    data: &self.read,
                },
            )
            .unwrap();
        let mut delivered = 0;
        // Straight from the core to the closure: no queue in between.
        self.client.drain_into(|client, output| match output {
            Output::Event(Event::Notification { notification, .. }) => {
                black_box(notification);
                delivered += 1;
            }
            Output::Transmit { data, .. } => client.recycle(data),
            other => panic!("unexpected output {other:?}"),
        });
        delivered
    }
}

struct Case {
    name: &'static str,
    kind: u8,
    payload: Vec<u8>,
    per_read: usize,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for per_read in [1, 64] {
        cases.push(Case {
            name: "fax_received",
            kind: 1,
            payload: fax_received(),
            per_read,
        });
        cases.push(Case {
            name: "server_message",
            kind: 3,
            payload: server_message(),
            per_read,
        });
    }
    cases
}

impl Case {
    /// Its benchmark id, e.g. `fax_received/one_per_read`.
    fn id(&self) -> String {
        if self.per_read == 1 {
            format!("{}/one_per_read", self.name)
        } else {
            format!("{}/{}_per_read", self.name, self.per_read)
        }
    }
}

/// The cases whose id contains `filter` (all without one): run without
/// `--bench` and with a filter, only that case's steps run, which is what
/// an instruction count of `Receiver::step` needs (see docs/performance.md).
fn selected(filter: Option<&str>) -> Vec<Case> {
    cases()
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.id().contains(f)))
        .collect()
}

fn count_allocations(full: bool, filter: Option<&str>) {
    println!(
        "client: heap allocations per notification (NOTIFY read -> event -> ACK), steady state"
    );
    for case in selected(filter) {
        let mut r = Receiver::new(case.kind, &case.payload, case.per_read);
        for _ in 0..100 {
            r.step(); // warm up: output queue and transmit buffers reach their size
        }
        let reads = if full { 100_000 / case.per_read } else { 100 };
        let before = allocations();
        let mut delivered = 0;
        for _ in 0..reads {
            delivered += r.step();
        }
        assert_eq!(delivered, reads * case.per_read);
        let per_notification = (allocations() - before) as f64 / delivered as f64;
        // The notification's strings are slices of the reused receive
        // buffer: nothing on this path may allocate.
        assert!(
            per_notification == 0.0,
            "{}: {per_notification} allocations per notification",
            case.name
        );
        println!(
            "  {:<15} {:>2} per read: {per_notification:.3}",
            case.name, case.per_read
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` everything runs once, small.
    let full = std::env::args().any(|a| a == "--bench");
    // Outside `cargo bench`, the first argument that is not an option
    // picks cases, as criterion's filter does under `cargo bench`.
    let filter = if full {
        None
    } else {
        std::env::args().skip(1).find(|a| !a.starts_with('-'))
    };
    count_allocations(full, filter.as_deref());
    if !full {
        for case in selected(filter.as_deref()) {
            let mut r = Receiver::new(case.kind, &case.payload, case.per_read);
            assert_eq!(r.step(), case.per_read);
        }
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("client_notify_ack");
    for case in cases() {
        group.throughput(Throughput::Elements(case.per_read as u64));
        let mut r = Receiver::new(case.kind, &case.payload, case.per_read);
        group.bench_function(case.id(), |b| b.iter(|| black_box(r.step())));
    }
    group.finish();
    c.final_summary();
}
