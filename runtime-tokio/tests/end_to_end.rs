//! A server and clients on tokio over loopback: login, delivery in order,
//! targeting, logout, and a server dropped by its handles.

mod support;

use faxnotify_core::client::{Event, SessionEndReason};
use faxnotify_core::server::{self, CloseReason, DeliveryPath, Target};
use faxnotify_core::wire::CallbackState;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_arrives_once_and_logout_ends_the_session() {
    let (server, events) = start_server(&["alice"]).await;
    let client = start_client(client_config(server.local_addr(), "alice")).await;
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
    assert_eq!(report.accepted[0].seq, 1);
    assert_eq!(
        notifications(&client, 1).await,
        vec![(1, "fax from +1 555 0100".to_owned())]
    );
    expect_server(&events, "delivery", |e| {
        matches!(e, server::Event::Delivered { last_seq: 1, .. })
    })
    .await;

    assert!(logout(client).await, "the server confirms the logout");
    let closed = expect_server(&events, "session end", |e| {
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
    server.shutdown().await;
    assert!(events.next().await.is_none(), "events end with the server");
    assert!(
        server.sessions().await.is_err(),
        "a stopped server answers Closed"
    );
}

/// The same on tokio's single-threaded flavour: every task of the server
/// and of the client shares the test's thread.
#[tokio::test(flavor = "current_thread")]
async fn many_notifications_arrive_in_order_exactly_once_on_one_thread() {
    let (server, _events) = start_server(&["alice"]).await;
    let client = start_client(client_config(server.local_addr(), "alice")).await;
    expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
    // More than the window (64) so acknowledgements must flow.
    for i in 1..=300u64 {
        let report = server
            .notify(Target::All, message(format!("n{i}")))
            .await
            .expect("notify");
        assert!(report.all_accepted(), "{report:?}");
    }
    let got = notifications(&client, 300).await;
    let expected: Vec<(u64, String)> = (1..=300).map(|i| (i, format!("n{i}"))).collect();
    assert_eq!(got, expected);
    logout(client).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_several_users_get_broadcasts_and_their_own() {
    let names = ["u0", "u1", "u2", "u3"];
    let (server, _events) = start_server(&names).await;
    let mut clients = Vec::new();
    for i in 0..8 {
        let user = names[i % names.len()];
        let client = start_client(client_config(server.local_addr(), user)).await;
        clients.push((user, client));
    }
    for (_, client) in &clients {
        expect(client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
    }
    let report = server
        .notify(Target::All, message("broadcast"))
        .await
        .expect("notify");
    assert_eq!(report.accepted.len(), 8);
    let report = server
        .notify(Target::user("u3").expect("name"), message("for u3"))
        .await
        .expect("notify");
    assert_eq!(report.accepted.len(), 2, "u3 runs clients 3 and 7");
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
    for (_, client) in clients {
        logout(client).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_server_handle_shuts_the_server_down() {
    let (server, events) = start_server(&["alice"]).await;
    let client = start_client(client_config(server.local_addr(), "alice")).await;
    expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
    let clone = server.clone();
    drop(server);
    assert_eq!(clone.stats().await.expect("still running").sessions, 1);
    drop(clone);
    // The session ends with BYE shutdown, reported to both sides.
    expect_server(&events, "shutdown", |e| {
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
                reason: SessionEndReason::Shutdown,
                ..
            }
        )
    })
    .await;
    assert!(
        within("the end of the events", events.next())
            .await
            .is_none()
    );
}

#[test]
fn starting_outside_a_tokio_runtime_fails_with_a_reason() {
    let started = futures_lite::future::block_on(faxnotify_tokio::Server::bind(
        loopback(),
        server_config(),
        users(&[]),
    ));
    let error = started.expect_err("no runtime to spawn on");
    assert!(
        matches!(error, faxnotify_tokio::ServerStartError::Spawn(_)),
        "{error}"
    );
    assert!(error.to_string().contains("cannot start"), "{error}");
}
