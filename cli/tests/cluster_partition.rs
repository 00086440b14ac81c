//! One server cut from the bus while the other is not (issue 19): every
//! connection between server A and NATS goes through a relay that the test
//! cuts. A stops accepting and says why, its client moves to B and resumes
//! its session there, and B keeps accepting throughout.

mod cluster_support;
mod common;

use cluster_support::wait_for_text;
use cluster_support::{Admin, Bed, CutRelay, assert_exactly, cluster_client, first_session, nats};
use common::{Stream, faxnotify, json, sample, start_json_client};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";

/// Notifies `text` to `user` through `admin`; it must be accepted.
fn accepted(admin: &mut Admin, user: &str, text: &str) {
    let reply = admin.notify(user, text);
    assert_eq!(reply["ok"], true, "{text}: {reply}");
}

#[test]
fn a_server_partitioned_from_the_bus_stops_and_its_clients_move_to_the_other() {
    let Some(nats) = nats("a_server_partitioned_from_the_bus_stops_and_its_clients_move") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD), ("bob", PASSWORD)]);
    let dir = &bed.dir;
    // A reaches every NATS node through a relay of its own; B directly.
    let relays: Vec<CutRelay> = nats.urls().iter().map(|u| CutRelay::start(u)).collect();
    let relay_urls: Vec<String> = relays.iter().map(CutRelay::url).collect();
    let metrics = ["--metrics", "127.0.0.1:0"];
    let mut a = bed.server_on("a", &relay_urls, &metrics);
    let b = bed.server("b", &nats, &metrics);
    assert_eq!(
        sample(&a.scrape(), "faxnotify_cluster_bus_available"),
        Some(1.0)
    );
    let mut alice = cluster_client(dir.path(), "alice", PASSWORD, &[a.addr, b.addr]);
    let mut bob = start_json_client(dir.path(), "tokio", b.addr, "bob", PASSWORD);
    let session = first_session(&alice);
    let mut on_b = Admin::connect(&b.admin);
    accepted(&mut on_b, "alice", "alice-1");
    accepted(&mut on_b, "bob", "bob-1");
    wait_for_text(&mut alice, "alice-1");
    wait_for_text(&mut bob, "bob-1");

    // The partition: A loses the bus, the NATS cluster itself is whole.
    for relay in &relays {
        relay.cut();
    }
    a.process
        .wait_line(Stream::Err, "the bus loss noticed", |l| {
            l.contains("the cluster bus is unreachable: refusing logins and notifications")
        });
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&a.admin)
        .args(["--user", "alice", "message", "lost?"])
        .assert()
        .code(6)
        .stderr(contains("not durable: the cluster bus is unreachable"));
    // An operator sees it in the metrics too: A without the bus, and its
    // refusal counted; B with it.
    let on_a = a.scrape();
    assert_eq!(
        sample(&on_a, "faxnotify_cluster_bus_available"),
        Some(0.0),
        "{on_a}"
    );
    assert_eq!(
        sample(
            &on_a,
            "faxnotify_cluster_publish_refused_total{reason=\"bus_unavailable\"}"
        ),
        Some(1.0),
        "{on_a}"
    );
    assert_eq!(
        sample(&b.scrape(), "faxnotify_cluster_bus_available"),
        Some(1.0)
    );

    // B keeps accepting, for its own client and for A's (queued in the
    // cluster until she is back).
    accepted(&mut on_b, "bob", "bob-2");
    accepted(&mut on_b, "alice", "alice-2");
    wait_for_text(&mut bob, "bob-2");

    // Alice's session is let go by A; she resumes it on B (once A's lease
    // has run out: A could not give it back) and gets what B accepted.
    alice.wait_line(Stream::Out, "the connection closed", |l| {
        json(l).is_some_and(|v| v["event"] == "connection_lost")
    });
    let resumed = alice.wait_line(Stream::Out, "the resume", |l| {
        json(l).is_some_and(|v| v["event"] == "logged_in" && v["resumed"] == true)
    });
    assert_eq!(json(&resumed).map(|v| v["session"].clone()), Some(session));
    // alice-2 was stored after the cut: only B can have read it.
    wait_for_text(&mut alice, "alice-2");
    accepted(&mut on_b, "alice", "alice-3");
    wait_for_text(&mut alice, "alice-3");
    let texts: Vec<String> = (1..=3).map(|n| format!("alice-{n}")).collect();
    assert_exactly(&alice, &texts);
    assert_exactly(&bob, &["bob-1".to_owned(), "bob-2".to_owned()]);
    // B published all five and holds both sessions.
    let on_b = b.scrape();
    assert_eq!(
        sample(&on_b, "faxnotify_cluster_notifications_published_total"),
        Some(5.0),
        "{on_b}"
    );
    assert_eq!(
        sample(&on_b, "faxnotify_cluster_held_sessions"),
        Some(2.0),
        "{on_b}"
    );
    drop((a, b, relays, nats));
}
