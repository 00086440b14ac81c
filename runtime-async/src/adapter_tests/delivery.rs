//! A server and clients on loopback: login, delivery in order and exactly
//! once, targeting, `notify_batch`, posts, a client without a listener (delivery
//! over the backchannel), logout, and a server dropped by its handles.

use faxnotify_core::SessionId;
use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::server::{self, CloseReason, DeliveryPath, Refused, Target};
use faxnotify_core::wire::CallbackState;

use super::Harness;
use super::support::*;

/// A notification arrives once over the callback the server dials [C-1]; the
/// server reports its delivery; logout is confirmed and ends the session.
pub fn a_notification_arrives_once_and_logout_ends_the_session<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, events) = start_server(&h, loopback(), &["alice"]).await;
        let client = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        let listen = client.listen_addr();
        assert_ne!(listen.port(), 0);

        let Event::LoggedIn {
            session, resumed, ..
        } = expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        assert!(!resumed);
        expect(&client, "reachable callback", |e| {
            matches!(
                e,
                Event::CallbackStatus {
                    state: CallbackState::Reachable,
                    ..
                }
            )
        })
        .await;

        // The server dials the client's address at its listener's port [C-1].
        let info = server
            .session(session)
            .await
            .expect("server running")
            .expect("session listed");
        assert_eq!(info.callback.map(|a| a.port()), Some(listen.port()));
        assert!(matches!(info.path, DeliveryPath::Callback(_)));

        let report = server
            .notify(Target::All, message("fax from +1 555 0100"))
            .await
            .expect("notify");
        assert_eq!(report.accepted.len(), 1);
        assert_eq!(report.accepted[0].session, session);
        assert_eq!(report.accepted[0].seq, 1);

        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "fax from +1 555 0100".to_owned())]
        );
        expect_server::<H::Rt>(&events, "delivery", |e| {
            matches!(
                e,
                server::Event::Delivered {
                    first_seq: 1,
                    last_seq: 1,
                    ..
                }
            )
        })
        .await;

        assert!(
            logout(client).await,
            "the server confirms the logout with BYE"
        );
        let closed = expect_server::<H::Rt>(&events, "session end", |e| {
            matches!(e, server::Event::SessionClosed { .. })
        })
        .await;
        assert!(matches!(
            closed,
            server::Event::SessionClosed {
                reason: CloseReason::Logout,
                ..
            }
        ));
        assert!(server.sessions().await.expect("running").is_empty());
        server.shutdown().await;
        assert!(events.next().await.is_none(), "events end with the server");
        assert!(
            server.sessions().await.is_err(),
            "a stopped server answers Closed"
        );
    });
}

/// 300 notifications (more than the window) arrive in order, exactly once.
pub fn many_notifications_arrive_in_order_exactly_once<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events, client) = alice_logged_in(&h).await;
        // More than the window (64) so acknowledgements must flow.
        let expected = notify_numbered(&server, 300).await;
        assert_eq!(notifications(&client, 300).await, expected);
        assert_no_notification_waiting(&client);
        logout(client).await;
        server.shutdown().await;
    });
}

/// Events taken in batches (`Client::next_events`, `ServerEvents::next_many`)
/// are the same events in the same order: 300 notifications arrive in
/// order, exactly once, no batch is larger than asked, the server's
/// delivery reports cover every seq once, and both streams end with 0.
pub fn events_taken_in_batches_are_every_event_in_order<H: Harness>() {
    const LIMIT: usize = 50;
    let h = setup::<H>();
    h.block_on(async {
        let (server, events, client) = alice_logged_in(&h).await;
        let expected = notify_numbered(&server, 300).await;
        let mut got = Vec::new();
        let mut batch = Vec::new();
        within::<H::Rt, _>(WAIT, "300 notifications in batches", async {
            while got.len() < 300 {
                let n = client.next_events(&mut batch, LIMIT).await;
                assert!((1..=LIMIT).contains(&n), "a batch of {n}");
                assert_eq!(batch.len(), n, "appended to the empty vector");
                for event in batch.drain(..) {
                    if let Event::Notification { seq, notification } = event {
                        got.push((seq, text_of(&notification)));
                    }
                }
            }
        })
        .await;
        assert_eq!(got, expected);
        assert_eq!(client.next_events(&mut batch, 0).await, 0, "limit 0");

        // The server's reports, in batches: every seq acknowledged once.
        let mut acked = 0u64;
        let mut reports = Vec::new();
        within::<H::Rt, _>(WAIT, "every delivery report", async {
            while acked < 300 {
                assert!(events.next_many(&mut reports, LIMIT).await > 0);
                for event in reports.drain(..) {
                    if let server::Event::Delivered {
                        first_seq,
                        last_seq,
                        ..
                    } = event
                    {
                        assert_eq!(first_seq, acked + 1, "reports in order, none twice");
                        acked = last_seq;
                    }
                }
            }
        })
        .await;
        client.logout().await.expect("logout accepted");
        within::<H::Rt, _>(WAIT, "the end of the client's events", async {
            while client.next_events(&mut batch, LIMIT).await > 0 {
                batch.clear();
            }
        })
        .await;
        server.shutdown().await;
        within::<H::Rt, _>(WAIT, "the end of the server's events", async {
            while events.next_many(&mut reports, LIMIT).await > 0 {
                reports.clear();
            }
        })
        .await;
    });
}

/// Twenty instances of eight users on one host, each with its own callback
/// port: a broadcast reaches all, a user's notification only that user's.
pub fn twenty_clients_broadcast_and_per_user_targeting<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let names = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
        let (server, _events) = start_server(&h, loopback(), &names).await;
        // 20 instances on one host: every user runs two or three of them.
        let mut clients = Vec::new();
        for i in 0..20 {
            let user = names[i % names.len()];
            let config = client_config(server.local_addr(), user, ListenPolicy::Dynamic);
            clients.push((user, start_client(&h, config).await));
        }
        for (_, client) in &clients {
            expect(client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        }
        let ports: std::collections::HashSet<u16> = clients
            .iter()
            .map(|(_, c)| c.listen_addr().port())
            .collect();
        assert_eq!(ports.len(), 20, "every instance has its own callback port");

        let report = server
            .notify(Target::All, message("broadcast"))
            .await
            .expect("notify");
        assert_eq!(report.accepted.len(), 20);
        let report = server
            .notify(Target::user("U3").expect("name"), message("for u3"))
            .await
            .expect("notify");
        assert_eq!(report.accepted.len(), 3, "u3 runs clients 3, 11 and 19");

        for (user, client) in &clients {
            let mut expected = vec![(1, "broadcast".to_owned())];
            if *user == "u3" {
                expected.push((2, "for u3".to_owned()));
            }
            assert_eq!(
                notifications(client, expected.len()).await,
                expected,
                "{user}"
            );
        }
        // Nothing else arrives: a last broadcast is the next notification everywhere.
        server
            .notify(Target::All, message("last"))
            .await
            .expect("notify");
        for (user, client) in &clients {
            let next = if *user == "u3" { 3 } else { 2 };
            assert_eq!(
                notifications(client, 1).await,
                vec![(next, "last".to_owned())]
            );
        }
        for (_, client) in clients {
            logout(client).await;
        }
        server.shutdown().await;
    });
}

/// Dropping the last `Server` handle shuts the server down: its sessions end
/// with BYE, reported to both sides, and its events end.
pub fn dropping_every_server_handle_shuts_the_server_down<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, events, client) = alice_logged_in(&h).await;
        let clone = server.clone();
        drop(server);
        assert_eq!(clone.stats().await.expect("still running").sessions, 1);
        drop(clone);
        // The session ends with BYE shutdown, reported to both sides.
        expect_server::<H::Rt>(&events, "shutdown", |e| {
            matches!(
                e,
                server::Event::SessionClosed {
                    reason: CloseReason::Shutdown,
                    ..
                }
            )
        })
        .await;
        expect(&client, "session end", |e| {
            matches!(
                e,
                Event::SessionEnded {
                    reason: faxnotify_core::client::SessionEndReason::Shutdown,
                    ..
                }
            )
        })
        .await;
        assert!(events.next().await.is_none());
    });
}

/// `notify_batch` gives one report per notification, and they arrive in order.
pub fn a_batch_gets_one_report_per_notification_and_arrives_in_order<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let alice = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        expect(&alice, "callback", |e| {
            matches!(e, Event::CallbackEstablished { .. })
        })
        .await;
        let reports = server
            .notify_batch(vec![
                (Target::All, message("one")),
                (Target::user("carol").expect("name"), message("nobody")),
                (Target::user("alice").expect("name"), message("two")),
            ])
            .await
            .expect("running");
        let seqs: Vec<Vec<u64>> = reports
            .into_iter()
            .map(|r| {
                r.expect("encodable")
                    .accepted
                    .iter()
                    .map(|a| a.seq)
                    .collect()
            })
            .collect();
        assert_eq!(seqs, vec![vec![1], vec![], vec![2]]);
        assert_eq!(
            notifications(&alice, 2).await,
            vec![(1, "one".to_owned()), (2, "two".to_owned())]
        );
        logout(alice).await;
        server.shutdown().await;
    });
}

/// Posted notifications (encoded on the caller's thread, fire and forget)
/// arrive in order; a refusal adds up in the post report, which a round
/// trip makes complete; a batch larger than the inbox is refused whole.
pub fn posts_arrive_in_order_and_refusals_add_up_in_the_report<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let mut options = options(&h, 1);
        options.post_capacity = 64;
        let (server, _events) =
            crate::Server::bind_with(loopback(), server_config(), users(&["alice"]), options)
                .await
                .expect("server binds");
        let alice = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        expect(&alice, "callback", |e| {
            matches!(e, Event::CallbackEstablished { .. })
        })
        .await;
        let mut encoder = crate::NotificationEncoder::new();
        for i in 1..=50 {
            let encoded = encoder
                .encode(&message(format!("post {i}")))
                .expect("encodable");
            server
                .post(Target::user("alice").expect("name"), encoded)
                .expect("room in the inbox");
        }
        let stray = encoder.encode(&message("nobody")).expect("encodable");
        server
            .post(Target::user("carol").expect("name"), stray)
            .expect("room in the inbox");
        let missing = SessionId::new(u64::MAX).expect("non-zero");
        let lost = encoder.encode(&message("lost")).expect("encodable");
        server
            .post_batch([(Target::Session(missing), lost)])
            .expect("room in the inbox");
        // A round trip: the driver takes every earlier post before answering.
        server.stats().await.expect("running");
        let report = server.take_post_report();
        assert_eq!(report.posted, 52);
        assert_eq!(report.accepted, 50, "carol has no session: nobody refused");
        assert_eq!(report.refused, 1);
        assert_eq!(report.refusals, vec![(missing, Refused::NoSuchSession)]);
        let expected: Vec<(u64, String)> = (1..=50).map(|i| (i, format!("post {i}"))).collect();
        assert_eq!(notifications(&alice, 50).await, expected);

        let too_many: Vec<_> = (0..65)
            .map(|_| {
                (
                    Target::All,
                    encoder.encode(&message("x")).expect("encodable"),
                )
            })
            .collect();
        assert_eq!(
            server.post_batch(too_many),
            Err(crate::PostError::Full { capacity: 64 })
        );
        server.stats().await.expect("running");
        assert_eq!(server.take_post_report().posted, 0, "nothing was queued");
        logout(alice).await;
        server.shutdown().await;
        let late = encoder.encode(&message("late")).expect("encodable");
        assert_eq!(
            server.post(Target::All, late),
            Err(crate::PostError::Closed)
        );
    });
}

/// A client with the `none` policy advertises port 0 and gets its
/// notifications over the backchannel.
pub fn a_client_without_a_listener_gets_its_notifications_over_the_backchannel<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let alice = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::None),
        )
        .await;
        assert_eq!(alice.listen_addr().port(), 0, "port 0 is advertised");
        expect(&alice, "backchannel", |e| {
            matches!(
                e,
                Event::CallbackStatus {
                    state: CallbackState::Backchannel,
                    ..
                }
            )
        })
        .await;
        server
            .notify(Target::All, message("over control"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&alice, 1).await,
            vec![(1, "over control".to_owned())]
        );
        logout(alice).await;
        server.shutdown().await;
    });
}
