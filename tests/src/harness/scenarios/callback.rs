//! Logins that fail, callbacks that cannot be reached, and a callback
//! listener that dies mid-stream.

use faxnotify_core::client::{self, ListenPolicy, StopReason};
use faxnotify_core::server::{self, DeliveryPath, LoginFailure};
use faxnotify_core::wire::{CallbackState, Notification};

use super::{assert_delivered, numbered, start_client, start_server};
use crate::harness::{ClientProbe, ClientSetup, Runtime, ServerProbe, ServerSetup, test_users};

/// A wrong password: the client stops with `AuthFailed`, the server
/// reports the failed login, and no session exists.
pub fn wrong_password(server_rt: &dyn Runtime, client_rt: &dyn Runtime) {
    let mut server = start_server(server_rt, ServerSetup::new(test_users(&["alice"])));
    let setup = ClientSetup::new(server.addr(), "alice", ListenPolicy::Dynamic).password("not it");
    let mut client = start_client(client_rt, "alice", setup);
    client.wait_for("Stopped(AuthFailed)", |e| match e {
        // Over TLS the client also names channel binding as a cause [T-6].
        client::Event::Stopped {
            reason: StopReason::AuthFailed { .. } | StopReason::AuthFailedOverTls { .. },
        } => Some(()),
        _ => None,
    });
    let failure = server.wait_for("LoginFailed", |e| match e {
        server::Event::LoginFailed { user, reason, .. } => Some((user.clone(), *reason)),
        _ => None,
    });
    assert_eq!(failure, ("alice".to_owned(), LoginFailure::BadCredentials));
    assert!(server.sessions().is_empty());
    assert!(
        !client
            .events()
            .iter()
            .any(|e| matches!(e, client::Event::LoggedIn { .. })),
        "{}",
        client.dump()
    );
    server.shutdown();
}

/// Waits for the client's CALLBACK_STATUS `state`; returns its hint.
fn wait_status(client: &mut ClientProbe, state: CallbackState) -> Option<String> {
    client.wait_for(&format!("CallbackStatus {state:?}"), |e| match e {
        client::Event::CallbackStatus { state: s, hint, .. } if *s == state => Some(hint.clone()),
        _ => None,
    })
}

/// Waits for the server's CallbackStatus `state` event.
fn wait_server_status(server: &mut ServerProbe, state: CallbackState) {
    server.wait_for(&format!("CallbackStatus {state:?}"), |e| match e {
        server::Event::CallbackStatus { state: s, .. } if *s == state => Some(()),
        _ => None,
    });
}

/// The callback port is closed from the start. Without the backchannel the
/// server reports `unreachable` (and the client gets a hint what to open)
/// and keeps the notifications; with it, it reports `backchannel` and
/// delivers over the control connection. Either way, once the port opens
/// the server's redial reaches it, it reports `reachable`, and every
/// notification arrives exactly once, in order.
pub fn unreachable_callback(server_rt: &dyn Runtime, client_rt: &dyn Runtime, backchannel: bool) {
    let mut server = start_server(
        server_rt,
        ServerSetup::new(test_users(&["carol"])).backchannel(backchannel),
    );
    let setup = ClientSetup::new(server.addr(), "carol", ListenPolicy::Dynamic)
        .backchannel(backchannel)
        .listener_closed_at_start();
    let mut client = start_client(client_rt, "carol", setup);
    client.wait_logged_in();
    let port = client.callback_addr().port();

    let state = if backchannel {
        CallbackState::Backchannel
    } else {
        CallbackState::Unreachable
    };
    let hint = wait_status(&mut client, state).expect("a hint for the user");
    assert!(
        hint.contains(&port.to_string()),
        "hint names the port: {hint}"
    );

    server.broadcast("while closed");
    if backchannel {
        // Delivered over the control connection at once.
        client.wait_message("while closed");
        assert!(
            !client
                .events()
                .iter()
                .any(|e| matches!(e, client::Event::CallbackEstablished { .. })),
            "no callback can have been established: {}",
            client.dump()
        );
    } else {
        let sessions = server.sessions();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].path, DeliveryPath::None);
        assert_eq!(
            sessions[0].queue_depth, 1,
            "the notification waits on the server"
        );
    }

    client.resume_listener();
    wait_status(&mut client, CallbackState::Reachable);
    client.wait_for("CallbackEstablished", |e| match e {
        client::Event::CallbackEstablished { .. } => Some(()),
        _ => None,
    });
    wait_server_status(&mut server, CallbackState::Reachable);
    server.broadcast("after opening");
    client.wait_message("after opening");
    assert_delivered(
        &client,
        1,
        &["while closed".to_owned(), "after opening".to_owned()],
    );
    server.wait_sessions("on the callback, all acknowledged", |s| {
        s.len() == 1 && matches!(s[0].path, DeliveryPath::Callback(_)) && s[0].queue_depth == 0
    });
    assert!(client.logout());
    server.shutdown();
}

/// The client's callback listener dies mid-stream (stops accepting and its
/// connections drop) and comes back: every notification arrives exactly
/// once, in order — held by the server meanwhile, or delivered over the
/// backchannel.
pub fn listener_killed_mid_stream(
    server_rt: &dyn Runtime,
    client_rt: &dyn Runtime,
    backchannel: bool,
) {
    let mut server = start_server(
        server_rt,
        ServerSetup::new(test_users(&["dave"])).backchannel(backchannel),
    );
    let setup =
        ClientSetup::new(server.addr(), "dave", ListenPolicy::Dynamic).backchannel(backchannel);
    let mut client = start_client(client_rt, "dave", setup);
    client.wait_logged_in();
    client.wait_for("CallbackEstablished", |e| match e {
        client::Event::CallbackEstablished { .. } => Some(()),
        _ => None,
    });
    // (Claimed now, so that the waits below see only later ones.)
    wait_server_status(&mut server, CallbackState::Reachable);

    let texts = numbered("n", 1..=90);
    let notify = |server: &ServerProbe, range: std::ops::Range<usize>| {
        for text in &texts[range] {
            let report = server.notify(
                faxnotify_core::server::Target::All,
                &Notification::server_message(text.clone()),
            );
            assert!(
                report.all_accepted() && report.accepted.len() == 1,
                "{report:?}"
            );
        }
    };
    // A burst, and the fault while it is still being delivered.
    notify(&server, 0..40);
    client.wait_seq(5);
    client.suspend_listener();
    let lost = if backchannel {
        CallbackState::Backchannel
    } else {
        CallbackState::Unreachable
    };
    wait_server_status(&mut server, lost);
    notify(&server, 40..60);
    client.resume_listener();
    notify(&server, 60..75);
    wait_server_status(&mut server, CallbackState::Reachable);
    notify(&server, 75..90);
    client.wait_seq(90);
    assert_delivered(&client, 1, &texts);
    client.wait_for("CallbackEstablished again", |e| match e {
        client::Event::CallbackEstablished { .. } => Some(()),
        _ => None,
    });
    assert!(client.logout());
    server.shutdown();
}
