//! A one-way black hole between a server and NATS: what the server sends
//! arrives, nothing comes back (an asymmetric route, a firewall dropping
//! one direction). A notification published then is stored by JetStream,
//! but its ack never reaches the server: `notify` must not say that
//! nothing was accepted — the user gets it — but that its outcome is not
//! known, with its own exit status, so that nobody sends it again on the
//! strength of a refusal that was none.

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::valve::{Flow, Valve};
use cluster_support::{Bed, nats, wait_for_text};
use common::{Stream, faxnotify, start_json_client};

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_notification_whose_ack_is_lost_is_not_called_refused() {
    let Some(nats) = nats("a_notification_whose_ack_is_lost_is_not_called_refused") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    // A reaches the bus through a valve to one node; B directly.
    let urls = nats.urls();
    let valve = Valve::start(&urls[0]);
    let mut a = bed.server_on("a", &[valve.url()], &[]);
    let b = bed.server("b", &nats, &[]);
    let mut alice = start_json_client(bed.dir.path(), "tokio", b.addr, "alice", PASSWORD);

    valve.set(Flow::HeldOnTheWayBack);
    let started = Instant::now();
    let out = faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&a.admin)
        .args(["--user", "alice", "message", "sent into the dark"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("notify runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("notify: {:?} after {took:?}: {stderr}", out.status.code());

    // It was stored: the user gets it, through B.
    wait_for_text(&mut alice, "sent into the dark");
    assert!(
        !stderr.contains("nothing was accepted"),
        "notify said nothing was accepted, yet alice got it: {stderr}"
    );
    assert!(
        stderr.contains("not known to be durable") && stderr.contains("may"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    // Bounded: the two attempts' bounds, not the time the route stays bad.
    assert!(took < Duration::from_secs(30), "{took:?}");

    // The server noticed it has no bus, and says so.
    a.process
        .wait_line(Stream::Err, "the bus loss noticed", |l| {
            l.contains("the cluster bus is unreachable: refusing logins and notifications")
        });
    valve.set(Flow::Open);
}
