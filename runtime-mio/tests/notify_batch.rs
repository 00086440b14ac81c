//! `notify_batch`: several notifications with one round trip, each with its
//! own report, delivered in order.

mod common;

use std::collections::HashMap;

use faxnotify_core::client;
use faxnotify_core::server::{self, ServerConfig, Target};
use faxnotify_core::wire::Notification;
use faxnotify_mio::LoopOptions;

use common::{client, logged_in_with_callback, server, wait_for};

fn texts(c: &faxnotify_mio::Client, n: usize) -> Vec<(u64, Notification)> {
    (0..n)
        .map(|_| {
            wait_for(c.events(), "Notification", |e| match e {
                client::Event::Notification { seq, notification } => {
                    Some((*seq, notification.clone()))
                }
                _ => None,
            })
        })
        .collect()
}

#[test]
fn a_batch_gets_one_report_per_notification_and_arrives_in_order() {
    let server = server(
        ServerConfig::new([7; 32]),
        &["alice", "bob"],
        LoopOptions::default(),
    );
    let alice = client(&server, "alice", LoopOptions::default());
    let bob = client(&server, "bob", LoopOptions::default());
    logged_in_with_callback(&alice);
    logged_in_with_callback(&bob);
    let mut sessions = HashMap::new();
    while sessions.len() < 2 {
        let (user, session) = wait_for(server.events(), "SessionOpened", |e| match e {
            server::Event::SessionOpened { user, session, .. } => {
                Some((user.to_string(), *session))
            }
            _ => None,
        });
        sessions.insert(user, session);
    }
    let msg = |t: &str| Notification::server_message(t);
    let reports = server
        .notify_batch(vec![
            (Target::user("alice").unwrap(), msg("for alice")),
            (Target::All, msg("for everyone")),
            (Target::Session(sessions["bob"]), msg("for bob")),
            (Target::user("carol").unwrap(), msg("for nobody")),
        ])
        .expect("the loop runs");
    let seqs: Vec<Vec<(String, u64)>> = reports
        .into_iter()
        .map(|r| {
            let mut v: Vec<(String, u64)> = r
                .expect("encodable")
                .accepted
                .iter()
                .map(|a| {
                    let user = sessions
                        .iter()
                        .find(|(_, s)| **s == a.session)
                        .map(|(u, _)| u.clone())
                        .unwrap();
                    (user, a.seq)
                })
                .collect();
            v.sort();
            v
        })
        .collect();
    let pair = |u: &str, s: u64| (u.to_owned(), s);
    assert_eq!(
        seqs,
        vec![
            vec![pair("alice", 1)],
            vec![pair("alice", 2), pair("bob", 1)],
            vec![pair("bob", 2)],
            vec![],
        ],
        "one report per notification, in order, with each session's seq"
    );
    assert_eq!(
        texts(&alice, 2),
        vec![(1, msg("for alice")), (2, msg("for everyone"))]
    );
    assert_eq!(
        texts(&bob, 2),
        vec![(1, msg("for everyone")), (2, msg("for bob"))]
    );
}
