//! Helpers shared by the integration tests: users, configurations, and
//! waiting on events with generous timeouts (never sleeping for correctness).
#![allow(dead_code)] // each test file uses a subset

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use faxnotify_core::client::{Backoff, ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{self, MemoryUserStore, ServerConfig};
use faxnotify_core::wire::{Notification, Role, ServerMessage};
use faxnotify_tokio::{Client, Options, Server, ServerEvents};

/// How long any single expected thing may take (CI is a loaded 2-core machine).
pub const WAIT: Duration = Duration::from_secs(30);

/// `RUST_LOG=faxnotify_async=debug` shows the runtime's lifecycle events.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn password(user: &str) -> String {
    format!("{user}-secret")
}

/// Users with the protocol's minimum iteration count, so logins are fast.
pub fn users(names: &[&str]) -> MemoryUserStore {
    let mut store = MemoryUserStore::new();
    for name in names {
        store
            .add_password(name, &password(name), &[0x5a; 16], 4096, Role::User)
            .expect("add user");
    }
    store
}

/// A server configuration that redials failed callbacks quickly.
pub fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new([9; 32]);
    config.server_name = "tokio-test".into();
    config.dial_backoff.initial = Duration::from_millis(100);
    config.dial_backoff.max = Duration::from_millis(800);
    config
}

pub fn test_options(seed: u8) -> Options {
    let mut options = Options::default();
    options.seed = Some([seed; 32]);
    options
}

pub async fn start_server(names: &[&str]) -> (Server, ServerEvents) {
    start_server_with(server_config(), names).await
}

pub async fn start_server_with(config: ServerConfig, names: &[&str]) -> (Server, ServerEvents) {
    init_tracing();
    Server::bind_with(loopback(), config, users(names), test_options(1))
        .await
        .expect("server binds")
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

pub fn client_config(server: SocketAddr, user: &str) -> ClientConfig {
    let settings = NetworkSettings::new(ListenPolicy::Dynamic);
    let mut config = ClientConfig::new(server, user, password(user), settings);
    config.reconnect = Backoff::new(Duration::from_millis(100), Duration::from_millis(800), 20);
    config
}

pub async fn start_client(config: ClientConfig) -> Client {
    Client::start_with(config, test_options(2))
        .await
        .expect("client starts")
}

/// Fails the test instead of hanging when `f` never completes.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {WAIT:?}"))
}

/// Waits for the first event matching `pred`, skipping others, which must
/// not be notifications (they would be lost).
pub async fn expect(client: &Client, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = client.next_event().await {
            if pred(&event) {
                return Some(event);
            }
            assert!(
                !matches!(event, Event::Notification { .. }),
                "notification skipped while waiting for {what}: {event:?}"
            );
            seen.push(format!("{event:?}"));
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        _ => panic!("no {what} within {WAIT:?}; saw: {seen:#?}"),
    }
}

/// The same for server events.
pub async fn expect_server(
    events: &ServerEvents,
    what: &str,
    mut pred: impl FnMut(&server::Event) -> bool,
) -> server::Event {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = events.next().await {
            if pred(&event) {
                return Some(event);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        _ => panic!("no server {what} within {WAIT:?}"),
    }
}

/// Collects `count` notifications (skipping other events) as (seq, text).
pub async fn notifications(client: &Client, count: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < count {
        let event = expect(client, "notification", |e| {
            matches!(e, Event::Notification { .. })
        })
        .await;
        if let Event::Notification { seq, notification } = event {
            got.push((seq, text_of(&notification)));
        }
    }
    got
}

pub fn message(text: impl Into<String>) -> Notification {
    Notification::ServerMessage(ServerMessage { text: text.into() })
}

pub fn text_of(notification: &Notification) -> String {
    match notification {
        Notification::ServerMessage(m) => m.text.clone(),
        other => format!("{other:?}"),
    }
}

/// Logs out and waits for the end of the event stream; whether the server
/// confirmed it.
pub async fn logout(client: Client) -> bool {
    client.logout().await.expect("logout accepted");
    within("the end of the client after logout", async {
        let mut confirmed = None;
        while let Some(event) = client.next_event().await {
            if let Event::LoggedOut { confirmed: c } = event {
                confirmed = Some(c);
            }
        }
        confirmed.expect("LoggedOut event")
    })
    .await
}
