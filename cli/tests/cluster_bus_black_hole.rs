//! A server whose route to NATS turns into a black hole — nothing
//! forwarded, nothing closed — or into a trickle (a byte every 100 ms),
//! where `cluster_partition.rs` closes the connections. The server must
//! notice within a bounded time and say so, refuse at once what it cannot
//! make durable (never hang a notify), and let its sessions go, so that
//! its client resumes on the other server with every accepted notification
//! once, in order.

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::valve::{Flow, Valve};
use cluster_support::{Admin, Bed, assert_exactly, cluster_client, nats, wait_for_text};
use common::{Stream, faxnotify, json};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

fn server_loses_the_bus_silently(test: &str, flow: Flow) {
    let Some(nats) = nats(test) else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    // A reaches the bus through a valve to one node; B directly.
    let valve = Valve::start(&nats.urls()[0]);
    let mut a = bed.server_on("a", &[valve.url()], &[]);
    let b = bed.server("b", &nats, &[]);
    let mut alice = cluster_client(bed.dir.path(), "alice", PASSWORD, &[a.addr, b.addr]);
    let mut on_b = Admin::connect(&b.admin);
    let mut texts = Vec::new();
    for i in 1..=3 {
        let text = format!("before-{i}");
        assert_eq!(on_b.notify("alice", &text)["ok"], true);
        texts.push(text);
    }
    wait_for_text(&mut alice, "before-3");

    valve.set(flow);
    let cut = Instant::now();
    a.process
        .wait_line(Stream::Err, "the bus loss noticed", |l| {
            l.contains("the cluster bus is unreachable: refusing logins and notifications")
        });
    let noticed = cut.elapsed();
    eprintln!("{flow:?}: A noticed after {noticed:?}");
    // The probe's bound (2 s) and a probe period, with room for a busy machine.
    assert!(noticed < Duration::from_secs(10), "{noticed:?}");

    // A refuses at once, saying why.
    let asked = Instant::now();
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&a.admin)
        .args(["--user", "alice", "message", "on A"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(6)
        .stderr(contains("not durable: the cluster bus is unreachable"));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );

    // B goes on accepting; A lets the session go and the client resumes
    // it on B, where it gets everything, once, in order.
    for i in 1..=3 {
        let text = format!("after-{i}");
        assert_eq!(on_b.notify("alice", &text)["ok"], true);
        texts.push(text);
    }
    let resumed = alice.wait_line(Stream::Out, "the resume on B", |l| {
        json(l).is_some_and(|v| v["event"] == "logged_in" && v["resumed"] == true)
    });
    assert_eq!(
        json(&resumed).map(|v| v["server"].clone()),
        Some(b.addr.to_string().into())
    );
    eprintln!(
        "{flow:?}: the client resumed on B after {:?}",
        cut.elapsed()
    );
    wait_for_text(&mut alice, "after-3");
    assert_exactly(&alice, &texts);
    valve.set(Flow::Open);
}

#[test]
fn a_server_whose_route_to_the_bus_black_holes_stops_and_its_client_moves() {
    server_loses_the_bus_silently(
        "a_server_whose_route_to_the_bus_black_holes_stops_and_its_client_moves",
        Flow::Held,
    );
}

#[test]
fn a_server_whose_route_to_the_bus_trickles_stops_and_its_client_moves() {
    server_loses_the_bus_silently(
        "a_server_whose_route_to_the_bus_trickles_stops_and_its_client_moves",
        Flow::Trickle,
    );
}
