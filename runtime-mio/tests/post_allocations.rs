//! Allocations per notification of the post path, end to end in one
//! process (server loop, client loop, the application's threads): encoding
//! into the arena, posting, delivery and acknowledgement allocate nothing
//! per notification in steady state; what remains is amortised (a new
//! arena chunk every few hundred notifications).
//!
//! Its own test binary with one test: the counting allocator counts every
//! thread of the process, so no other test may run beside it.

mod common;

use faxnotify_core::client;
use faxnotify_core::server::{self, ServerConfig, Target};
use faxnotify_core::wire::Notification;
use faxnotify_mio::{LoopOptions, NotificationEncoder};
use faxnotify_testkit::alloc::{Counting, allocations};

use common::{client, logged_in_with_callback, server, wait_for};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Posts `count` notifications one at a time (window 1 for the
/// application: each after the previous one's `Delivered`), reading the
/// client's events as they come.
fn round(
    server: &faxnotify_mio::Server,
    alice: &faxnotify_mio::Client,
    session: faxnotify_core::SessionId,
    encoder: &mut NotificationEncoder,
    notification: &Notification,
    first: u64,
    count: u64,
) {
    for seq in first..first + count {
        let encoded = encoder.encode(notification).expect("encodable");
        server
            .post(Target::Session(session), encoded)
            .expect("room in the inbox");
        wait_for(alice.events(), "Notification", |e| {
            matches!(e, client::Event::Notification { seq: s, .. } if *s == seq).then_some(())
        });
        wait_for(server.events(), "Delivered", |e| {
            matches!(e, server::Event::Delivered { last_seq, .. } if *last_seq == seq).then_some(())
        });
    }
}

#[test]
fn posting_and_delivering_allocates_nothing_per_notification() {
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
    let notification = Notification::server_message("a fax came in");
    // Warm up: buffers, pools and channels reach their steady sizes.
    round(
        &server,
        &alice,
        session,
        &mut encoder,
        &notification,
        1,
        500,
    );

    let count = 2_000;
    let before = allocations();
    round(
        &server,
        &alice,
        session,
        &mut encoder,
        &notification,
        501,
        count,
    );
    let per_notification = (allocations() - before) as f64 / count as f64;
    println!("allocations per posted notification, end to end: {per_notification:.3}");
    // Arena chunks (16 KiB for every few hundred notifications) and the
    // odd buffer that a timer or a channel grows: far below one each.
    assert!(
        per_notification < 0.1,
        "{per_notification:.3} allocations per notification"
    );
    assert!(server.take_post_report().all_accepted());

    // For comparison (printed, not asserted): the round trip `notify`,
    // whose report and reply channel are allocated per call.
    let before = allocations();
    for seq in 2_501..2_501 + count {
        let report = server
            .notify(Target::Session(session), &notification)
            .expect("running");
        assert_eq!(report.accepted.len(), 1);
        wait_for(alice.events(), "Notification", |e| {
            matches!(e, client::Event::Notification { seq: s, .. } if *s == seq).then_some(())
        });
        wait_for(server.events(), "Delivered", |e| {
            matches!(e, server::Event::Delivered { last_seq, .. } if *last_seq == seq).then_some(())
        });
    }
    let per_notify = (allocations() - before) as f64 / count as f64;
    println!("allocations per notify (round trip), end to end: {per_notify:.3}");
}
