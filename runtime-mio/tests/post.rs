//! `post`: fire-and-forget notifications, encoded on the application's
//! thread, delivered in order, with refusals in the aggregated report and
//! a full inbox refused at once.

mod common;

use faxnotify_core::SessionId;
use faxnotify_core::client;
use faxnotify_core::server::{self, Refused, ServerConfig, Target};
use faxnotify_core::wire::Notification;
use faxnotify_mio::{LoopOptions, NotificationEncoder, PostError};

use common::{client, logged_in_with_callback, server, wait_for};

#[test]
fn posts_arrive_in_order_and_refusals_add_up_in_the_report() {
    let server = server(
        ServerConfig::new([7; 32]),
        &["alice"],
        LoopOptions::default(),
    );
    let alice = client(&server, "alice", LoopOptions::default());
    logged_in_with_callback(&alice);
    let session = wait_for(server.events(), "SessionOpened", |e| match e {
        server::Event::SessionOpened { session, .. } => Some(*session),
        _ => None,
    });

    let mut encoder = NotificationEncoder::new();
    let msg = |i: usize| Notification::server_message(format!("post {i}"));
    let nobody = SessionId::new(u64::MAX).expect("non-zero");
    for i in 0..100 {
        let encoded = encoder.encode(&msg(i)).expect("encodable");
        server
            .post(Target::Session(session), encoded)
            .expect("room in the inbox");
    }
    let stray = encoder.encode(&msg(999)).expect("encodable");
    server
        .post_batch([(Target::Session(nobody), stray)])
        .expect("room in the inbox");
    // A round trip: the loop takes every earlier post before answering.
    server.sessions().expect("the loop runs");
    let report = server.take_post_report();
    assert_eq!(report.posted, 101);
    assert_eq!(report.accepted, 100);
    assert_eq!(report.refused, 1);
    assert_eq!(report.refusals, vec![(nobody, Refused::NoSuchSession)]);
    assert_eq!(
        server.take_post_report().posted,
        0,
        "taking the report resets it"
    );

    for i in 0..100 {
        let (seq, notification) = wait_for(alice.events(), "Notification", |e| match e {
            client::Event::Notification { seq, notification } => Some((*seq, notification.clone())),
            _ => None,
        });
        assert_eq!((seq, notification), (i as u64 + 1, msg(i)));
    }
    // Every post is acknowledged: the same Delivered events as `notify`.
    let mut acked = 0;
    while acked < 100 {
        acked = wait_for(server.events(), "Delivered", |e| match e {
            server::Event::Delivered { last_seq, .. } => Some(*last_seq),
            _ => None,
        });
    }
}

#[test]
fn a_batch_larger_than_the_inbox_is_refused_whole() {
    let mut options = LoopOptions::default();
    options.post_capacity = 2;
    let server = server(ServerConfig::new([7; 32]), &["alice"], options);
    let mut encoder = NotificationEncoder::new();
    let batch: Vec<_> = (0..3)
        .map(|i| {
            let n = Notification::server_message(format!("{i}"));
            (Target::All, encoder.encode(&n).expect("encodable"))
        })
        .collect();
    assert_eq!(
        server.post_batch(batch),
        Err(PostError::Full { capacity: 2 })
    );
    server.sessions().expect("the loop runs");
    assert_eq!(server.take_post_report().posted, 0, "nothing was queued");
}

#[test]
fn posting_to_a_stopped_server_fails() {
    let server = server(
        ServerConfig::new([7; 32]),
        &["alice"],
        LoopOptions::default(),
    );
    let handle = server.handle();
    server.shutdown().expect("clean shutdown");
    let encoded = NotificationEncoder::new()
        .encode(&Notification::server_message("late"))
        .expect("encodable");
    assert_eq!(handle.post(Target::All, encoded), Err(PostError::Closed));
}
