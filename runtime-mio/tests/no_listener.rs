//! A client with the `none` listen policy: no listener, delivery over the
//! control connection (the backchannel) [C-2] [D-7].

mod common;

use faxnotify_core::client::{self, ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{ServerConfig, Target};
use faxnotify_core::wire::{CallbackState, Notification};
use faxnotify_mio::{Client, LoopOptions};

use common::{server, session_opened, wait_for};

#[test]
fn a_client_without_a_listener_gets_its_notifications_over_the_backchannel() {
    let server = server(
        ServerConfig::new([7; 32]),
        &["alice"],
        LoopOptions::default(),
    );
    let config = ClientConfig::new(
        server.local_addr(),
        "alice",
        "pw-alice",
        NetworkSettings::new(ListenPolicy::None),
    );
    let client = Client::builder(config)
        .seed([4; 32])
        .start()
        .expect("starts without binding anything");
    assert_eq!(client.callback_addr().port(), 0, "port 0 is advertised");
    let callback = wait_for(client.events(), "LoggedIn", |e| match e {
        client::Event::LoggedIn { callback, .. } => Some(*callback),
        _ => None,
    });
    assert_eq!(callback.port(), 0);
    wait_for(client.events(), "CallbackStatus backchannel", |e| {
        matches!(
            e,
            client::Event::CallbackStatus {
                state: CallbackState::Backchannel,
                ..
            }
        )
        .then_some(())
    });
    session_opened(&server);
    let report = server
        .notify(Target::All, &Notification::server_message("over control"))
        .expect("notify");
    assert_eq!(report.accepted.len(), 1);
    let got = wait_for(client.events(), "Notification", |e| match e {
        client::Event::Notification { notification, .. } => Some(notification.clone()),
        _ => None,
    });
    assert_eq!(got, Notification::server_message("over control"));
    client.logout().expect("logout");
    client.join().expect("the loop ends after BYE");
}
