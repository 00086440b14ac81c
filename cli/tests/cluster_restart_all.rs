//! Every faxnotify server of the cluster restarted at once (issue 19): all
//! stopped gracefully, then new processes on new ports; the clients, whose
//! relays now lead to the new servers, resume their sessions and get every
//! accepted notification exactly once, those accepted before the stop and
//! not yet acknowledged included (one client is stopped, SIGSTOP, until
//! the new servers run).

mod cluster_support;
mod common;

use cluster_support::wait_for_text;
use cluster_support::{Admin, Bed, Relay, assert_exactly, first_session, nats};
use common::{Stream, json, start_json_client};
use faxnotify_testkit::process::signal;

const PASSWORD: &str = "correct horse battery";
/// Notifications per user before and after the restart.
const PER_PHASE: usize = 20;

/// Notifies `PER_PHASE` texts "USER-PHASE-n" to each user through `admin`;
/// every one must be accepted. Returns them per user.
fn publish(admin: &mut Admin, phase: &str) -> [Vec<String>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for n in 1..=PER_PHASE {
        for (i, user) in ["alice", "bob"].into_iter().enumerate() {
            let text = format!("{user}-{phase}-{n}");
            let reply = admin.notify(user, &text);
            assert_eq!(reply["ok"], true, "{text}: {reply}");
            out[i].push(text);
        }
    }
    out
}

#[test]
fn every_server_restarted_at_once_clients_resume_with_nothing_lost_or_repeated() {
    let Some(nats) = nats("every_server_restarted_at_once_clients_resume") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD), ("bob", PASSWORD)]);
    let dir = &bed.dir;
    let mut a = bed.server("a", &nats, &[]);
    let mut b = bed.server("b", &nats, &[]);
    // One address per client, as a load balancer gives it.
    let to_alice = Relay::start(a.addr);
    let to_bob = Relay::start(b.addr);
    let mut alice = start_json_client(dir.path(), "tokio", to_alice.addr, "alice", PASSWORD);
    let mut bob = start_json_client(dir.path(), "tokio", to_bob.addr, "bob", PASSWORD);
    let sessions = [first_session(&alice), first_session(&bob)];

    // Bob's client stands still (SIGSTOP): what is accepted for him now is
    // certainly not acknowledged when every server goes. Accepted through
    // A; the stop follows at once.
    signal(bob.pid(), "STOP");
    let mut admin = Admin::connect(&a.admin);
    let [mut for_alice, mut for_bob] = publish(&mut admin, "before");
    drop(admin);
    a.process.interrupt();
    b.process.interrupt();
    assert!(a.process.wait_exit().success(), "{}", a.process.dump());
    assert!(b.process.wait_exit().success(), "{}", b.process.dump());

    // New processes, new ports; the relays lead there from now on.
    let c = bed.server("c", &nats, &[]);
    let d = bed.server("d", &nats, &[]);
    to_alice.point_to(c.addr);
    to_bob.point_to(d.addr);
    signal(bob.pid(), "CONT");
    for (client, session) in [(&mut alice, &sessions[0]), (&mut bob, &sessions[1])] {
        let resumed = client.wait_line(Stream::Out, "the resume", |l| {
            json(l).is_some_and(|v| v["event"] == "logged_in" && v["resumed"] == true)
        });
        assert_eq!(
            json(&resumed).map(|v| v["session"].clone()).as_ref(),
            Some(session)
        );
    }

    let mut admin = Admin::connect(&c.admin);
    let [after_alice, after_bob] = publish(&mut admin, "after");
    for_alice.extend(after_alice);
    for_bob.extend(after_bob);
    wait_for_text(&mut alice, for_alice.last().expect("some"));
    wait_for_text(&mut bob, for_bob.last().expect("some"));
    assert_exactly(&alice, &for_alice);
    assert_exactly(&bob, &for_bob);
    drop((c, d, nats));
}
