//! Helpers the checks share, public for adapters' own tests: users,
//! configurations, instances started on a harness, waiting on events with
//! generous timeouts (never sleeping for correctness), and ports held for
//! the length of a test.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use faxnotify_core::client::{Backoff, ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{self, MemoryUserStore, ServerConfig, Target};
use faxnotify_core::wire::{Notification, Role};
use futures_lite::future;

use super::Harness;
use crate::runtime::sleep_until;
use crate::{Client, Options, Runtime, Server, ServerEvents};

/// How long any single expected thing may take (CI is a loaded 2-core machine).
pub const WAIT: Duration = Duration::from_secs(30);

/// A harness for one test, with logging set up first.
pub fn setup<H: Harness>() -> H {
    init_tracing();
    H::new()
}

/// `RUST_LOG=faxnotify_async=debug` shows the runtime's lifecycle events.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Sleeps on `R`'s timer (inside the runtime: see [`Harness::block_on`]).
pub async fn sleep<R: Runtime>(duration: Duration) {
    sleep_until::<R>(Instant::now() + duration).await;
}

/// Fails the test instead of hanging when `f` does not complete within `limit`.
pub async fn within<R: Runtime, T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    future::or(f, async {
        sleep::<R>(limit).await;
        panic!("{what} did not complete within {limit:?}");
    })
    .await
}

/// The password of a test user.
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
    config.server_name = "adapter-test".into();
    config.dial_backoff.initial = Duration::from_millis(100);
    config.dial_backoff.max = Duration::from_millis(800);
    config
}

/// Options with a fixed seed and the runtime's default runner.
pub fn test_options<R: Runtime>(seed: u8) -> Options<R> {
    Options {
        seed: Some([seed; 32]),
        ..Options::default()
    }
}

/// Options with a fixed seed and the harness's runner.
pub fn options<H: Harness>(harness: &H, seed: u8) -> Options<H::Rt> {
    let mut options = test_options(seed);
    options.runner = harness.runner();
    options
}

/// A server for `names` on `addr` with [`server_config`].
pub async fn start_server<H: Harness>(
    harness: &H,
    addr: SocketAddr,
    names: &[&str],
) -> (Server<H::Rt>, ServerEvents) {
    start_server_with(harness, addr, server_config(), names).await
}

/// A server for `names` on `addr` with `config`.
pub async fn start_server_with<H: Harness>(
    harness: &H,
    addr: SocketAddr,
    config: ServerConfig,
    names: &[&str],
) -> (Server<H::Rt>, ServerEvents) {
    Server::bind_with(addr, config, users(names), options(harness, 1))
        .await
        .expect("server binds")
}

/// `127.0.0.1:0`.
pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A configuration of `user` (with [`password`]) that reconnects quickly.
pub fn client_config(server: SocketAddr, user: &str, policy: ListenPolicy) -> ClientConfig {
    let mut config = ClientConfig::new(server, user, password(user), NetworkSettings::new(policy));
    config.reconnect = Backoff::new(Duration::from_millis(100), Duration::from_millis(800), 20);
    config
}

/// A client started on the harness's runner.
pub async fn start_client<H: Harness>(harness: &H, config: ClientConfig) -> Client<H::Rt> {
    Client::start_with(config, options(harness, 2))
        .await
        .expect("client starts")
}

/// A server for alice on loopback, and alice's client (a dynamic callback
/// port) once it has logged in.
pub async fn alice_logged_in<H: Harness>(
    harness: &H,
) -> (Server<H::Rt>, ServerEvents, Client<H::Rt>) {
    let (server, events) = start_server(harness, loopback(), &["alice"]).await;
    let client = start_client(
        harness,
        client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
    )
    .await;
    expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
    (server, events, client)
}

/// Waits for the first event matching `pred`, skipping others; panics
/// (listing what came) on timeout or when the client stops. A notification
/// skipped on the way is a test bug (it would be lost): it panics too; use
/// [`expect_keeping`] where notifications may arrive meanwhile.
pub async fn expect<R: Runtime>(
    client: &Client<R>,
    what: &str,
    pred: impl FnMut(&Event) -> bool,
) -> Event {
    let mut kept = Vec::new();
    let event = expect_keeping(client, &mut kept, what, pred).await;
    assert!(
        kept.is_empty(),
        "notifications skipped while waiting for {what}: {kept:?}"
    );
    event
}

/// [`expect`], appending the notifications that arrive meanwhile to `kept`.
pub async fn expect_keeping<R: Runtime>(
    client: &Client<R>,
    kept: &mut Vec<(u64, String)>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let mut seen = Vec::new();
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
            sleep::<R>(WAIT).await;
            None
        },
    )
    .await;
    found.unwrap_or_else(|| panic!("no {what} within {WAIT:?}; saw: {seen:#?}"))
}

/// The same for server events.
pub async fn expect_server<R: Runtime>(
    events: &ServerEvents,
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
            sleep::<R>(WAIT).await;
            None
        },
    )
    .await;
    found.unwrap_or_else(|| panic!("no server {what} within {WAIT:?}; saw: {seen:#?}"))
}

/// Collects `count` notifications (skipping other events) as (seq, text).
pub async fn notifications<R: Runtime>(client: &Client<R>, count: usize) -> Vec<(u64, String)> {
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

/// Notifies every session of `server` with `count` server messages "n1",
/// "n2", ..., each accepted, and returns what a session that got its
/// first notification with them receives: (seq, text), in order.
pub async fn notify_numbered<R: Runtime>(server: &Server<R>, count: u64) -> Vec<(u64, String)> {
    for i in 1..=count {
        let report = server
            .notify(Target::All, message(format!("n{i}")))
            .await
            .expect("notify");
        assert!(report.all_accepted(), "{report:?}");
    }
    (1..=count).map(|i| (i, format!("n{i}"))).collect()
}

/// A server message.
pub fn message(text: impl Into<String>) -> Notification {
    let text: String = text.into();
    Notification::server_message(text)
}

/// The text of a server message, or the notification's debug form.
pub fn text_of(notification: &Notification) -> String {
    match notification {
        Notification::ServerMessage(m) => m.text.to_string(),
        other => format!("{other:?}"),
    }
}

/// Asserts that no notification is waiting right now.
pub fn assert_no_notification_waiting<R: Runtime>(client: &Client<R>) {
    while let Some(event) = client.try_next_event() {
        assert!(
            !matches!(event, Event::Notification { .. }),
            "unexpected {event:?}"
        );
    }
}

/// Logs out and waits for the end of the event stream; whether the server
/// confirmed the logout.
pub async fn logout<R: Runtime>(client: Client<R>) -> bool {
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
            sleep::<R>(WAIT).await;
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
#[derive(Debug)]
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

/// Reserves `n` consecutive free ports on every IPv4 address, below the
/// kernel's ephemeral range ([`faxnotify_runtime::port_range`]).
pub fn reserve_ports(n: u16) -> ReservedPorts {
    match faxnotify_runtime::port_range::reserve_consecutive(n, hold) {
        Some((lo, held)) => ReservedPorts { lo, held },
        None => panic!("no {n} consecutive free ports found"),
    }
}

/// Whether this machine can use IPv6 loopback.
pub fn has_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}
