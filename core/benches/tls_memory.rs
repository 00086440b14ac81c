//! Heap bytes the server holds for one idle logged-in session over TLS,
//! beside the same session over plain TCP (server state only).
//!
//! A client core and a server core run the whole login and callback
//! handshake in memory (the testkit's `Net`); the server is built first, its
//! live heap read, and after the session has settled (handshake deadlines
//! passed, first keepalive sent) everything but the server is dropped and
//! the heap read again. The counting allocator counts requested sizes.
//! Allocation counts are exact; nothing here is timed.
//!
//! Run: `cargo bench -p faxnotify-core --bench tls_memory` (under
//! `cargo test` it runs the same single measurement).

#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub, dead_code)]

#[path = "../tests/tls/certs.rs"]
mod certs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use faxnotify_core::client::{self, Client, ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{MemoryUserStore, Server, ServerConfig};
use faxnotify_core::tls::{ClientTls, FixedClock, Trust, UnixTime};
use faxnotify_core::wire::Role;

use faxnotify_testkit::alloc::{Counting, live_bytes};
use faxnotify_testkit::{Net, SERVER_ADDR};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const NAME: &str = "fax.example.org";

fn measure(tls: bool) -> usize {
    let ca = certs::Ca::new("Test CA");
    let clock = Arc::new(FixedClock(UnixTime::since_unix_epoch(Duration::from_secs(
        1_780_272_000,
    ))));
    let now = Instant::now();
    let mut users = MemoryUserStore::new();
    users
        .add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)
        .unwrap();
    let mut config = ServerConfig::new([9; 32]);
    config.tls = tls.then(|| ca.leaf(NAME, false));
    config.tls_clock = clock.clone();
    let server = Server::new(config, Box::new(users), [2; 32]).unwrap();
    let before = live_bytes();

    let mut config = ClientConfig::new(
        SERVER_ADDR,
        "alice",
        "correct horse",
        NetworkSettings::new(ListenPolicy::Fixed { port: 6000 }),
    );
    config.tls = tls.then(|| ClientTls {
        server_name: NAME.to_owned(),
        trust: Trust::Roots(vec![ca.cert.clone()]),
    });
    config.tls_clock = clock;
    let mut net = Net::pair(Client::new(config, [3; 32], now).unwrap(), server, now);
    // The server's pool of written buffers is per server, not per session.
    net.recycle = false;
    net.run_for(Duration::from_secs(15));
    assert!(
        net.client()
            .events
            .iter()
            .any(|e| matches!(e, client::Event::CallbackEstablished { .. })),
        "the session must be up"
    );
    let server = keep_server(net);
    assert_eq!(server.session_count(), 1);
    let held = live_bytes() - before;
    drop(server);
    held
}

/// Drops everything of the network but the server.
fn keep_server(net: Net) -> Server {
    net.server.core
}

fn main() {
    println!("heap bytes the server holds for one idle session with a callback (2 connections)");
    let plain = measure(false);
    let tls = measure(true);
    println!("plain TCP: {plain:>7} B");
    println!(
        "TLS 1.3:   {tls:>7} B  ({} B more, {:.1} KiB per TLS connection)",
        tls - plain,
        (tls - plain) as f64 / 2.0 / 1024.0
    );
}
