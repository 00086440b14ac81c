//! Two servers racing to resume the same session (issue 19, [D-17]): the
//! server holding alice's session goes; two clients of alice with her
//! session id log in at the same moment, one on each of two other servers.
//! Exactly one gets LOGIN_OK for that session, the other is refused with
//! SHUTTING_DOWN (try again), and the winner gets the notifications.
//!
//! Twice: the server killed (kill -9: the session's owner lease must run
//! out first, the racers are refused until then), and stopped gracefully
//! (the session is given back in the store: both servers take it over by
//! compare-and-set in the very first round).

mod cluster_support;
mod common;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use cluster_support::raw::{Answer, receive_until, resume};
use cluster_support::{Admin, Bed, first_session, nats, wait_for_text};
use common::{WAIT, start_json_client};

const PASSWORD: &str = "correct horse battery";

/// What a winner received: (seq, text).
type Received = Vec<(u64, String)>;

/// How the server holding the session goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Goes {
    /// kill -9.
    Killed,
    /// Ctrl-C, waited for.
    Stopped,
}

#[test]
fn two_servers_racing_to_resume_a_crashed_servers_session_let_exactly_one_win() {
    let Some(nats) = nats("two_servers_racing_to_resume_a_crashed_servers_session") else {
        return;
    };
    race(&nats, Goes::Killed);
}

#[test]
fn two_servers_racing_to_resume_a_stopped_servers_session_let_exactly_one_win() {
    let Some(nats) = nats("two_servers_racing_to_resume_a_stopped_servers_session") else {
        return;
    };
    race(&nats, Goes::Stopped);
}

fn race(nats: &faxnotify_cluster::harness::NatsCluster, goes: Goes) {
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let dir = &bed.dir;
    let mut a = bed.server("a", nats, &[]);
    let b = bed.server("b", nats, &[]);
    let c = bed.server("c", nats, &[]);
    let mut alice = start_json_client(dir.path(), "tokio", a.addr, "alice", PASSWORD);
    let session = first_session(&alice);
    let id = session
        .as_str()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .or_else(|| session.as_u64())
        .unwrap_or_else(|| panic!("a session id: {session}"));
    Admin::connect(&a.admin).notify("alice", "alice-1");
    wait_for_text(&mut alice, "alice-1");

    // Her client goes away without a word (the session lives on in the
    // cluster), and so does her server, killed (A owns the session until
    // its lease ends) or stopped (A gives it back).
    alice.kill();
    match goes {
        Goes::Killed => a.process.kill(),
        Goes::Stopped => {
            a.process.interrupt();
            assert!(a.process.wait_exit().success(), "{}", a.process.dump());
        }
    }

    // Two clients resume it at once, on B and on C, round after round
    // while the lease of dead A still holds it (both refused), until a
    // round in which one wins.
    let targets = [(b.addr, &b.admin), (c.addr, &c.admin)];
    let deadline = Instant::now() + WAIT * 2;
    let mut rounds = 0;
    let (answers, got) = loop {
        rounds += 1;
        let barrier = Barrier::new(2);
        let results: Vec<(Answer, Option<Received>)> = std::thread::scope(|s| {
            let racers: Vec<_> = targets
                .iter()
                .enumerate()
                .map(|(i, (addr, _))| {
                    let barrier = &barrier;
                    // The winner has the other server accept the next one.
                    let other = targets[1 - i].1.clone();
                    s.spawn(move || {
                        resume(
                            *addr,
                            "alice",
                            PASSWORD,
                            id,
                            1 + i as u8,
                            barrier,
                            |session| {
                                let notify = || {
                                    let reply = Admin::connect(&other).notify("alice", "alice-2");
                                    assert_eq!(reply["ok"], true, "{reply}");
                                };
                                receive_until(session, 1, notify, "alice-2")
                            },
                        )
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("a racer"))
                .collect()
        });
        let refused = |a: &Answer| matches!(a, Answer::Refused(code, _) if code == "SHUTTING_DOWN");
        if results.iter().all(|(a, _)| refused(a)) {
            assert!(
                Instant::now() < deadline,
                "still refused after {rounds} rounds: {results:?}"
            );
            // A client's retry interval, not a wait for a race.
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let (answers, got): (Vec<Answer>, Vec<_>) = results.into_iter().unzip();
        break (answers, got.into_iter().flatten().next());
    };

    // Exactly one LOGIN_OK, for that very session; the other refused with
    // SHUTTING_DOWN, as a client told to try again.
    let winners = answers
        .iter()
        .filter(|a| matches!(a, Answer::LoggedIn(s) if *s == id))
        .count();
    let losers = answers
        .iter()
        .filter(|a| matches!(a, Answer::Refused(code, _) if code == "SHUTTING_DOWN"))
        .count();
    assert_eq!(
        (winners, losers),
        (1, 1),
        "after {rounds} rounds: {answers:?}"
    );

    // The winner gets what is accepted from now on (and alice-1 again only
    // if her acknowledgement had not reached the store), with its seq.
    let got = got.expect("the winner's notifications");
    assert_eq!(got.last(), Some(&(2, "alice-2".to_owned())), "{got:?}");
    assert!(
        got.len() == 1 || got == [(1, "alice-1".to_owned()), (2, "alice-2".to_owned())],
        "{got:?}"
    );
    eprintln!("{goes:?}: won in round {rounds}: {answers:?}");
    drop((b, c));
}
