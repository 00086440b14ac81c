//! The runtime under another executor: async-std's `block_on` (async-std is
//! discontinued and only a dev-dependency here). `caller_executor.rs` and
//! `dedicated_thread.rs` check the two task runners (each alone in its test
//! binary, so that counting the process's threads means something).

use faxnotify_async::adapter_tests::support::*;
use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::server::Target;
use faxnotify_smol::{Client, Server};

/// Logs alice in, delivers one notification, logs out, shuts down.
pub async fn round_trip(
    server_options: faxnotify_smol::Options,
    client_options: faxnotify_smol::Options,
) {
    let (server, _events) = Server::bind_with(
        loopback(),
        server_config(),
        users(&["alice"]),
        server_options,
    )
    .await
    .expect("bind");
    let client = Client::start_with(
        client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        client_options,
    )
    .await
    .expect("start");
    expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
    server
        .notify(Target::All, message("hello"))
        .await
        .expect("notify");
    assert_eq!(
        notifications(&client, 1).await,
        vec![(1, "hello".to_owned())]
    );
    assert!(logout(client).await);
    server.shutdown().await;
}

#[test]
fn runs_unchanged_inside_async_std_block_on() {
    init_tracing();
    async_std::task::block_on(round_trip(test_options(1), test_options(2)));
}
