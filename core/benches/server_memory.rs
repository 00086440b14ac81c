//! Heap bytes per idle logged-in session, at 10 000 and 100 000 sessions.
//!
//! A counting global allocator measures the bytes the server holds after
//! logging N clients in (each on its own IPv6 address: the worst case for
//! the per-address tables), minus what it held before. Requested sizes are
//! counted, not the system allocator's overhead.
//!
//! Run: `cargo bench -p faxnotify-core --bench server_memory` (under
//! `cargo test` it runs once at 2 000 sessions as a smoke test).

#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub)]

#[path = "server_support/driver.rs"]
mod driver;

use std::time::Duration;

use bytes::Bytes;

use driver::{Client, Driver};
use faxnotify_testkit::alloc::{Counting, live_bytes};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Figures {
    idle: f64,
    after_traffic: f64,
}

fn measure(n: usize, callback: bool) -> Figures {
    let mut d = Driver::new(n, |_| {});
    let mut clients: Vec<Client> = Vec::with_capacity(n);
    let before = live_bytes();
    for i in 0..n {
        clients.push(d.open(i, callback));
    }
    d.server.discard_outputs();
    // Settle: the handshake deadlines (10 s) pass and the callbacks get
    // their first keepalive PING, as on a real server after a while.
    d.now += Duration::from_secs(11);
    d.server.handle_timeout(d.now);
    d.server.discard_outputs();
    let idle = (live_bytes() - before) as f64 / n as f64;
    assert_eq!(d.server.session_count(), n);

    // One notification to everyone, acknowledged: queues keep a little capacity.
    let payload = Bytes::from_static(b"\x00\x05hello");
    d.notify_each_and_ack(&clients, &payload);
    let after_traffic = (live_bytes() - before) as f64 / n as f64;
    Figures {
        idle,
        after_traffic,
    }
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` this is a quick smoke run.
    let sizes: &[usize] = if std::env::args().any(|a| a == "--bench") {
        &[10_000, 100_000]
    } else {
        &[2_000]
    };
    println!("heap bytes per idle logged-in session (server state only)");
    println!(
        "{:>9} {:>24} {:>12} {:>22}",
        "sessions", "delivery path", "idle", "idle after 1 notify"
    );
    for &n in sizes {
        for callback in [true, false] {
            let f = measure(n, callback);
            let path = if callback {
                "callback (2 conns)"
            } else {
                "backchannel (1 conn)"
            };
            println!(
                "{n:>9} {path:>24} {:>10.0} B {:>20.0} B",
                f.idle, f.after_traffic
            );
        }
    }
}
