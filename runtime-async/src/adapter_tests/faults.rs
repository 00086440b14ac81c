//! Faults on real sockets: a dying callback listener, a server restart,
//! wrong passwords, unreachable callbacks with and without the backchannel.

use faxnotify_core::client::{Event, ListenPolicy, SessionEndReason, StopReason};
use faxnotify_core::server::{self, DeliveryPath, Target};
use faxnotify_core::wire::{CallbackState, Caps};

use super::Harness;
use super::support::*;
use crate::{Client, Server};

/// A client whose callback port is chosen and advertised but closed.
async fn start_closed<H: Harness>(
    harness: &H,
    config: faxnotify_core::client::ClientConfig,
) -> Client<H::Rt> {
    let mut closed = options(harness, 6);
    closed.suspend_listener_at_start = true;
    Client::start_with(config, closed).await.expect("start")
}

fn is_status(e: &Event, want: CallbackState) -> bool {
    matches!(e, Event::CallbackStatus { state, .. } if *state == want)
}

/// The callback listener dies mid-stream and comes back: every notification
/// arrives exactly once, in order.
pub fn killing_the_callback_listener_mid_stream_loses_and_repeats_nothing<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let mut config = client_config(server.local_addr(), "alice", ListenPolicy::Dynamic);
        config.caps = Caps::NONE; // no backchannel: everything must wait for the callback
        let client = start_client(&h, config).await;
        expect(&client, "reachable", |e| {
            is_status(e, CallbackState::Reachable)
        })
        .await;

        let mut expected = Vec::new();
        let mut seq = 0;
        let mut send = |n: usize, server: &Server<H::Rt>| {
            let server = server.clone();
            let batch: Vec<String> = (0..n).map(|i| format!("m{}", seq + i + 1)).collect();
            seq += n;
            async move {
                for text in batch {
                    let report = server
                        .notify(Target::All, message(text))
                        .await
                        .expect("notify");
                    assert!(report.all_accepted());
                }
            }
        };
        send(20, &server).await;
        expected.extend((1..=20).map(|i| (i as u64, format!("m{i}"))));
        let mut got = notifications(&client, 5).await;

        // Mid-stream: the listener dies with its connections.
        client.suspend_listener().await.expect("running");
        expect_keeping(&client, &mut got, "unreachable", |e| {
            is_status(e, CallbackState::Unreachable)
        })
        .await;
        send(20, &server).await;
        expected.extend((21..=40).map(|i| (i as u64, format!("m{i}"))));
        client
            .resume_listener()
            .await
            .expect("rebind the same port");
        expect_keeping(&client, &mut got, "reachable again", |e| {
            is_status(e, CallbackState::Reachable)
        })
        .await;
        send(10, &server).await;
        expected.extend((41..=50).map(|i| (i as u64, format!("m{i}"))));

        let rest = 50 - got.len();
        got.extend(notifications(&client, rest).await);
        assert_eq!(got, expected, "every notification exactly once, in order");
        assert_no_notification_waiting(&client);
        logout(client).await;
        server.shutdown().await;
    });
}

/// A server shut down and started again on its port: the client is told it
/// may have missed notifications and logs in to a new session.
pub fn a_restarted_server_means_a_lost_session_and_a_new_login<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        // The restart binds the same port: held for the whole test.
        let reserved = reserve_ports(1);
        let (server, _events) = start_server(&h, reserved.loopback(), &["alice"]).await;
        let addr = server.local_addr();
        let client = start_client(&h, client_config(addr, "alice", ListenPolicy::Dynamic)).await;
        let Event::LoggedIn { session: first, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        server
            .notify(Target::All, message("before"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "before".to_owned())]
        );

        server.shutdown().await;
        expect(&client, "session end", |e| {
            matches!(
                e,
                Event::SessionEnded {
                    reason: SessionEndReason::Shutdown,
                    ..
                }
            )
        })
        .await;
        let missed = expect(&client, "missed warning", |e| {
            matches!(e, Event::NotificationsMayHaveBeenMissed { .. })
        })
        .await;
        assert_eq!(
            missed,
            Event::NotificationsMayHaveBeenMissed {
                session: first,
                last_delivered_seq: 1
            }
        );

        // A new server process on the same port (another seed: new session ids).
        let (server, _events) =
            Server::bind_with(addr, server_config(), users(&["alice"]), options(&h, 42))
                .await
                .expect("rebind the server port");
        let Event::LoggedIn {
            session: second,
            resumed,
            ..
        } = expect(&client, "new login", |e| {
            matches!(e, Event::LoggedIn { .. })
        })
        .await
        else {
            unreachable!()
        };
        assert!(!resumed);
        assert_ne!(first, second);
        server
            .notify(Target::All, message("after"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "after".to_owned())]
        );
        logout(client).await;
        server.shutdown().await;
    });
}

/// A wrong password stops the client and the server reports the failed login.
pub fn a_wrong_password_stops_the_client<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, events) = start_server(&h, loopback(), &["alice"]).await;
        let mut config = client_config(server.local_addr(), "alice", ListenPolicy::Dynamic);
        config.password = "not the password".into();
        let client = start_client(&h, config).await;
        let stopped = expect(&client, "stop", |e| matches!(e, Event::Stopped { .. })).await;
        assert!(
            matches!(
                stopped,
                Event::Stopped {
                    reason: StopReason::AuthFailed { .. }
                }
            ),
            "{stopped:?}"
        );
        assert!(
            client.next_event().await.is_none(),
            "the client has finished"
        );
        expect_server::<H::Rt>(&events, "login failure", |e| {
            matches!(
                e,
                server::Event::LoginFailed {
                    reason: server::LoginFailure::BadCredentials,
                    ..
                }
            )
        })
        .await;
        assert!(server.sessions().await.expect("running").is_empty());
        server.shutdown().await;
    });
}

/// Without the backchannel, notifications for an unreachable callback wait in
/// the queue until the port opens.
pub fn an_unreachable_callback_without_backchannel_queues_until_the_port_opens<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let mut config = client_config(server.local_addr(), "alice", ListenPolicy::Dynamic);
        config.caps = Caps::NONE;
        let client = start_closed(&h, config).await;
        let Event::LoggedIn { session, caps, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        assert!(!caps.contains(Caps::BACKCHANNEL));
        expect(&client, "unreachable", |e| {
            is_status(e, CallbackState::Unreachable)
        })
        .await;
        server
            .notify(Target::All, message("queued"))
            .await
            .expect("notify");
        let info = server
            .session(session)
            .await
            .expect("running")
            .expect("listed");
        assert_eq!(info.path, DeliveryPath::None);
        assert_eq!(info.queue_depth, 1);
        assert_no_notification_waiting(&client);

        client.resume_listener().await.expect("rebind");
        // CALLBACK_STATUS comes on the control connection and the queued
        // NOTIFY on the new callback: either may be read first [D-2].
        let mut got = Vec::new();
        expect_keeping(&client, &mut got, "reachable", |e| {
            is_status(e, CallbackState::Reachable)
        })
        .await;
        let rest = 1 - got.len();
        got.extend(notifications(&client, rest).await);
        assert_eq!(got, vec![(1, "queued".to_owned())]);
        assert_no_notification_waiting(&client);
        logout(client).await;
        server.shutdown().await;
    });
}

/// With the backchannel, an unreachable callback gets its notifications over
/// the control connection, and delivery moves back once the port opens.
pub fn an_unreachable_callback_with_backchannel_delivers_on_control_then_moves_back<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let client = start_closed(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        let Event::LoggedIn { session, caps, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        assert!(caps.contains(Caps::BACKCHANNEL));
        expect(&client, "backchannel", |e| {
            is_status(e, CallbackState::Backchannel)
        })
        .await;
        server
            .notify(Target::All, message("over control"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "over control".to_owned())]
        );
        let info = server
            .session(session)
            .await
            .expect("running")
            .expect("listed");
        assert!(
            matches!(info.path, DeliveryPath::Backchannel(_)),
            "{:?}",
            info.path
        );

        // The port opens: the server's redial succeeds and delivery moves back.
        client.resume_listener().await.expect("rebind");
        expect(&client, "reachable", |e| {
            is_status(e, CallbackState::Reachable)
        })
        .await;
        let info = server
            .session(session)
            .await
            .expect("running")
            .expect("listed");
        assert!(
            matches!(info.path, DeliveryPath::Callback(_)),
            "{:?}",
            info.path
        );
        server
            .notify(Target::All, message("over callback"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(2, "over callback".to_owned())]
        );
        logout(client).await;
        server.shutdown().await;
    });
}

/// A client started before its server retries until the server is there.
pub fn a_server_that_is_not_there_is_retried_until_it_is<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        // Held (nothing listens: connections are refused) until the server
        // binds it; no other process can take it meanwhile.
        let reserved = reserve_ports(1);
        let addr = reserved.loopback();
        let client = Client::start_with(
            client_config(addr, "alice", ListenPolicy::Dynamic),
            options(&h, 8),
        )
        .await
        .expect("starts without a server");
        expect(&client, "connection lost", |e| {
            matches!(e, Event::ConnectionLost { .. })
        })
        .await;
        let (server, _events) = start_server(&h, addr, &["alice"]).await;
        expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        logout(client).await;
        server.shutdown().await;
    });
}

/// After a crash, the server started again does not know the session: the
/// resume is refused [C-6] and the client logs in anew.
pub fn a_crashed_server_means_a_lost_connection_then_a_refused_resume<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        // The restart binds the same port: held for the whole test.
        let reserved = reserve_ports(1);
        let (server, _) = start_server(&h, reserved.loopback(), &["alice"]).await;
        let addr = server.local_addr();
        let client = start_client(&h, client_config(addr, "alice", ListenPolicy::Dynamic)).await;
        let Event::LoggedIn { session, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        server.kill().await;
        expect(&client, "connection lost", |e| {
            matches!(e, Event::ConnectionLost { .. })
        })
        .await;
        // The port is free again as soon as kill returns.
        let (server, _) =
            Server::bind_with(addr, server_config(), users(&["alice"]), options(&h, 43))
                .await
                .expect("rebind after a crash");
        // The new server does not know the session: the resume is refused [C-6].
        expect(&client, "refused resume", |e| {
            matches!(
                e,
                Event::SessionEnded {
                    reason: SessionEndReason::ResumeRefused,
                    session: s,
                } if *s == session
            )
        })
        .await;
        let Event::LoggedIn { resumed, .. } = expect(&client, "new login", |e| {
            matches!(e, Event::LoggedIn { .. })
        })
        .await
        else {
            unreachable!()
        };
        assert!(!resumed);
        logout(client).await;
        server.shutdown().await;
    });
}
