//! A slow route between a server and NATS (250 ms each way, a 500 ms round
//! trip: a congested WAN link): the server keeps the bus, accepts every
//! notification it is given (each once its ack has come back), and its
//! client gets every one once, in order, in one session.

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::valve::Valve;
use cluster_support::{Admin, Bed, assert_exactly, cluster_client, nats, wait_for_text};

const PASSWORD: &str = "correct horse battery";
const COUNT: usize = 20;

#[test]
fn a_server_on_a_slow_bus_loses_and_repeats_nothing() {
    let Some(nats) = nats("a_server_on_a_slow_bus_loses_and_repeats_nothing") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let valve = Valve::start(&nats.urls()[0]);
    let mut a = bed.server_on("a", &[valve.url()], &[]);
    let b = bed.server("b", &nats, &[]);
    let mut alice = cluster_client(bed.dir.path(), "alice", PASSWORD, &[a.addr, b.addr]);

    valve.delay(Duration::from_millis(250));
    let mut on_a = Admin::connect(&a.admin);
    let texts: Vec<String> = (1..=COUNT).map(|i| format!("slow-{i}")).collect();
    let started = Instant::now();
    for text in &texts {
        let reply = on_a.notify("alice", text);
        assert_eq!(reply["ok"], true, "{text}: {reply}");
    }
    eprintln!(
        "{COUNT} accepted one at a time in {:?} (a 500 ms round trip)",
        started.elapsed()
    );
    wait_for_text(&mut alice, &texts[COUNT - 1]);
    eprintln!("all delivered after {:?}", started.elapsed());
    assert_exactly(&alice, &texts);
    // The bus was slow, never lost.
    a.process.collect_for(Duration::from_millis(200));
    assert!(
        a.process
            .lines_with("the cluster bus is unreachable")
            .is_empty(),
        "{}",
        a.process.dump()
    );
}
