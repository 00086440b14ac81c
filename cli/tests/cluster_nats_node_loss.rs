//! One NATS node of three killed (kill -9) while two faxnotify servers in
//! cluster mode serve clients mid-stream (issue 19): notify keeps being
//! accepted, and every accepted notification reaches its session exactly
//! once, in order, with nothing reported missed.

mod cluster_support;
mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use cluster_support::{Admin, Bed, assert_exactly, nats, notifications, wait_for_text};
use common::{WAIT, start_json_client};

const PASSWORD: &str = "correct horse battery";
/// Notifications per user.
const PER_USER: usize = 30;

/// What the publisher had accepted: texts per user, and how many were
/// accepted after the node died.
struct Published {
    /// What was sent to each user, in order: (text, whether it was
    /// accepted; if not, its outcome is unknown: perhaps stored).
    alice: Vec<(String, bool)>,
    bob: Vec<(String, bool)>,
    after_kill: usize,
    refused: Vec<String>,
    /// The longest time one notification was refused before it was accepted.
    longest_refusal: Duration,
}

/// Publishes "alice-n" / "bob-n" alternately through `admin`, one at a
/// time; a refusal (not durable while JetStream elects new leaders) is
/// tried again, as an operator would, until `WAIT` passes. A publish whose
/// outcome is unknown (`durability_unknown`: its ack was lost, it may be
/// stored) is not sent again, as the reply says: it may arrive or not.
fn publish(admin: std::path::PathBuf, killed: mpsc::Receiver<()>) -> Published {
    let mut admin = Admin::connect(&admin);
    let mut out = Published {
        alice: Vec::new(),
        bob: Vec::new(),
        after_kill: 0,
        refused: Vec::new(),
        longest_refusal: Duration::ZERO,
    };
    let mut dead = false;
    for n in 1..=PER_USER {
        for user in ["alice", "bob"] {
            let text = format!("{user}-{n}");
            let first_try = Instant::now();
            let give_up = first_try + WAIT;
            loop {
                dead = dead || killed.try_recv().is_ok();
                let reply = admin.notify(user, &text);
                let list = if user == "alice" {
                    &mut out.alice
                } else {
                    &mut out.bob
                };
                if reply["error"] == "durability_unknown" {
                    list.push((text.clone(), false));
                    break;
                }
                if reply["ok"] == true {
                    list.push((text.clone(), true));
                    if dead {
                        out.after_kill += 1;
                    }
                    out.longest_refusal = out.longest_refusal.max(first_try.elapsed());
                    break;
                }
                out.refused.push(format!("{text}: {reply}"));
                assert!(
                    Instant::now() < give_up,
                    "notify refused for {WAIT:?}: {:?}",
                    out.refused
                );
                // An operator's retry interval, not a wait for a race.
                std::thread::sleep(Duration::from_millis(200));
            }
            // Paced, so the stream still flows when the node dies.
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    out
}

#[test]
fn a_nats_node_killed_mid_stream_loses_and_repeats_nothing() {
    let Some(mut nats) = nats("a_nats_node_killed_mid_stream_loses_and_repeats_nothing") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD), ("bob", PASSWORD)]);
    let dir = &bed.dir;
    let a = bed.server("a", &nats, &[]);
    let b = bed.server("b", &nats, &[]);
    let mut alice = start_json_client(dir.path(), "tokio", a.addr, "alice", PASSWORD);
    let mut bob = start_json_client(dir.path(), "tokio", b.addr, "bob", PASSWORD);

    // Published through A: alice's on A itself, bob's cross to B.
    let (kill_tx, kill_rx) = mpsc::channel();
    let admin = a.admin.clone();
    let publisher = std::thread::spawn(move || publish(admin, kill_rx));
    wait_for_text(&mut alice, "alice-5");
    wait_for_text(&mut bob, "bob-5");

    // Mid-stream: a NATS node dies at once (the first, the others' seed).
    nats.kill(0);
    kill_tx.send(()).expect("the publisher runs");
    let published = publisher.join().expect("the publisher");
    assert!(
        published.after_kill > 0,
        "nothing accepted after the node died; refused: {:?}",
        published.refused
    );

    // Every accepted notification reached its session once, in order: a
    // last one to each user marks the end of the stream.
    let mut admin = Admin::connect(&b.admin);
    for (client, user, sent) in [
        (&mut alice, "alice", published.alice),
        (&mut bob, "bob", published.bob),
    ] {
        let end = format!("{user}-end");
        let give_up = Instant::now() + WAIT;
        while admin.notify(user, &end)["ok"] != true {
            assert!(Instant::now() < give_up, "the end marker was refused");
            std::thread::sleep(Duration::from_millis(200));
        }
        wait_for_text(client, &end);
        // Every accepted one, and those of unknown outcome that arrived,
        // each once, in the order sent.
        let got: Vec<String> = notifications(client).into_iter().map(|(_, t)| t).collect();
        let mut texts: Vec<String> = sent
            .into_iter()
            .filter(|(text, accepted)| *accepted || got.contains(text))
            .map(|(text, _)| text)
            .collect();
        texts.push(end);
        assert_exactly(client, &texts);
    }
    eprintln!(
        "accepted {} after the kill; {} refusals retried, the longest time to acceptance {:?}; alice got {}",
        published.after_kill,
        published.refused.len(),
        published.longest_refusal,
        notifications(&alice).len()
    );
    drop((a, b, nats));
}
