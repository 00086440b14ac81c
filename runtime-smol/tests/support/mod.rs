//! Helpers shared by the integration tests: users, configurations, free
//! ports, and waiting on events with generous timeouts (never sleeping for
//! correctness).
#![allow(dead_code)] // each test file uses a subset

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use async_io::Timer;
use faxnotify_core::client::{Backoff, ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{self, MemoryUserStore, ServerConfig};
use faxnotify_core::wire::{Notification, Role, ServerMessage, Text};
use faxnotify_smol::{Client, Options, Server, ServerEvents};
use futures_lite::future;

/// How long any single expected thing may take (CI is a loaded 2-core machine).
pub const WAIT: Duration = Duration::from_secs(30);

pub fn block_on<T>(f: impl Future<Output = T>) -> T {
    init_tracing();
    async_io::block_on(f)
}

/// `RUST_LOG=faxnotify_smol=debug` shows the runtime's lifecycle events.
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
        let mut salt = [0u8; 16];
        salt[..name.len().min(16)].copy_from_slice(&name.as_bytes()[..name.len().min(16)]);
        store
            .add_password(name, &password(name), &salt, 4096, Role::User)
            .expect("add user");
    }
    store
}

/// A server configuration that redials failed callbacks quickly.
pub fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new([9; 32]);
    config.server_name = "smol-test".into();
    config.dial_backoff.initial = Duration::from_millis(100);
    config.dial_backoff.max = Duration::from_millis(800);
    config
}

pub fn test_options(seed: u8) -> Options {
    let mut options = Options::default();
    options.seed = Some([seed; 32]);
    options
}

pub async fn start_server(addr: SocketAddr, names: &[&str]) -> (Server, ServerEvents) {
    start_server_with(addr, server_config(), names).await
}

pub async fn start_server_with(
    addr: SocketAddr,
    config: ServerConfig,
    names: &[&str],
) -> (Server, ServerEvents) {
    Server::bind_with(addr, config, users(names), test_options(1))
        .await
        .expect("server binds")
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

pub fn client_config(server: SocketAddr, user: &str, policy: ListenPolicy) -> ClientConfig {
    let mut config = ClientConfig::new(server, user, password(user), NetworkSettings::new(policy));
    config.reconnect = Backoff::new(Duration::from_millis(100), Duration::from_millis(800), 20);
    config
}

pub async fn start_client(config: ClientConfig) -> Client {
    Client::start_with(config, test_options(2))
        .await
        .expect("client starts")
}

/// Waits for the first event matching `pred`, skipping others; panics
/// (listing what came) on timeout or when the client stops. A notification
/// skipped on the way is a test bug (it would be lost): it panics too; use
/// [`expect_keeping`] where notifications may arrive meanwhile.
pub async fn expect(client: &Client, what: &str, pred: impl FnMut(&Event) -> bool) -> Event {
    let mut kept = Vec::new();
    let event = expect_keeping(client, &mut kept, what, pred).await;
    assert!(
        kept.is_empty(),
        "notifications skipped while waiting for {what}: {kept:?}"
    );
    event
}

/// [`expect`], appending the notifications that arrive meanwhile to `kept`.
pub async fn expect_keeping(
    client: &Client,
    kept: &mut Vec<(u64, String)>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let mut seen = Vec::new();
    let deadline = Timer::after(WAIT);
    let found = future::or(
        async {
            while let Some(event) = client.next_event().await {
                if pred(&event) {
                    return Some(event);
                }
                if let Event::Notification { seq, notification } = &event {
                    kept.push((*seq, text_of(notification)));
                }
                seen.push(format!("{event:?}"));
            }
            None
        },
        async {
            deadline.await;
            None
        },
    )
    .await;
    found.unwrap_or_else(|| panic!("no {what} within {WAIT:?}; saw: {seen:#?}"))
}

/// The same for server events.
pub async fn expect_server(
    events: &mut ServerEvents,
    what: &str,
    mut pred: impl FnMut(&server::Event) -> bool,
) -> server::Event {
    let mut seen = Vec::new();
    let found = future::or(
        async {
            while let Some(event) = events.next().await {
                if pred(&event) {
                    return Some(event);
                }
                seen.push(format!("{event:?}"));
            }
            None
        },
        async {
            Timer::after(WAIT).await;
            None
        },
    )
    .await;
    found.unwrap_or_else(|| panic!("no server {what} within {WAIT:?}; saw: {seen:#?}"))
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
    Notification::ServerMessage(ServerMessage {
        text: Text::from(text.into()),
    })
}

pub fn text_of(notification: &Notification) -> String {
    match notification {
        Notification::ServerMessage(m) => m.text.to_string(),
        other => format!("{other:?}"),
    }
}

/// Asserts that no notification is waiting right now.
pub fn assert_no_notification_waiting(client: &Client) {
    while let Some(event) = client.try_next_event() {
        assert!(
            !matches!(event, Event::Notification { .. }),
            "unexpected {event:?}"
        );
    }
}

/// Logs out and waits for the end of the event stream.
pub async fn logout(client: Client) -> bool {
    client.logout().await.expect("logout accepted");
    let mut confirmed = None;
    let done = future::or(
        async {
            while let Some(event) = client.next_event().await {
                if let Event::LoggedOut { confirmed: c } = event {
                    confirmed = Some(c);
                }
            }
            true
        },
        async {
            Timer::after(WAIT).await;
            false
        },
    )
    .await;
    assert!(done, "the client did not finish after logout");
    confirmed.expect("LoggedOut event")
}

/// Port numbers held for a test, each bound with `SO_REUSEADDR` but not
/// listening, for as long as the value lives: other sockets cannot take them
/// and connections to them are refused, yet the runtime's listeners (also
/// `SO_REUSEADDR`) can bind and listen beside the holder. A number picked and
/// released before the code under test binds it (or binds it again after a
/// restart) would race with every other process on the machine.
pub struct ReservedPorts {
    lo: u16,
    held: Vec<socket2::Socket>,
}

impl ReservedPorts {
    /// The first (or only) reserved port.
    pub fn port(&self) -> u16 {
        self.lo
    }

    /// The last reserved port.
    pub fn hi(&self) -> u16 {
        self.lo + u16::try_from(self.held.len() - 1).expect("at most a u16 of ports")
    }

    /// `127.0.0.1:port()`.
    pub fn loopback(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.lo))
    }
}

fn hold(port: u16) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(socket)
}

/// Reserves `n` consecutive free ports on every IPv4 address.
pub fn reserve_ports(n: u16) -> ReservedPorts {
    for _ in 0..200 {
        let first = hold(0).expect("reserve a free port");
        let lo = first
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("the reserved port's address")
            .port();
        if lo.checked_add(n - 1).is_none() {
            continue;
        }
        let mut held = vec![first];
        held.extend((lo + 1..lo + n).map_while(|p| hold(p).ok()));
        if held.len() == usize::from(n) {
            return ReservedPorts { lo, held };
        }
    }
    panic!("no {n} consecutive free ports found");
}

/// Whether this machine can use IPv6 loopback.
pub fn has_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}
