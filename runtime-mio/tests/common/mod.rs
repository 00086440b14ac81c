//! Shared set-up of the runtime's own tests.
#![allow(dead_code)]

use std::time::Duration;

use faxnotify_core::client::{self, ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{self, MemoryUserStore, ServerConfig};
use faxnotify_core::wire::Role;
use faxnotify_mio::{Client, Events, LoopOptions, Server};

/// Generous: CI is a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn users(names: &[&str]) -> MemoryUserStore {
    let mut users = MemoryUserStore::new();
    for name in names {
        users
            .add_password(name, &format!("pw-{name}"), &[0x5a; 16], 4096, Role::User)
            .expect("valid user");
    }
    users
}

pub fn server(config: ServerConfig, names: &[&str], options: LoopOptions) -> Server {
    Server::builder(config, users(names))
        .listen("127.0.0.1:0".parse().expect("addr"))
        .seed([3; 32])
        .options(options)
        .start()
        .expect("server starts")
}

pub fn client(server: &Server, user: &str, options: LoopOptions) -> Client {
    let config = ClientConfig::new(
        server.local_addr(),
        user,
        format!("pw-{user}"),
        NetworkSettings::new(ListenPolicy::Dynamic),
    );
    Client::builder(config)
        .seed([4; 32])
        .options(options)
        .start()
        .expect("client starts")
}

/// Reads events until `pick` accepts one; panics after [`WAIT`].
pub fn wait_for<E: std::fmt::Debug, T>(
    events: &Events<E>,
    what: &str,
    mut pick: impl FnMut(&E) -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match events.recv_timeout(left) {
            Ok(event) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
            Err(e) => panic!("no {what}: {e}"),
        }
    }
}

/// Waits until the client is logged in and its callback is up, in either
/// order: the server dials as soon as it reads ADVERTISE, so the callback
/// handshake can complete before the client reads ADVERTISE_OK (which
/// makes LoggedIn). Waiting for one and then the other dropped the
/// CallbackEstablished that came first and then waited for nothing.
pub fn logged_in_with_callback(client: &Client) {
    let (mut logged_in, mut callback) = (false, false);
    while !(logged_in && callback) {
        wait_for(client.events(), "LoggedIn and CallbackEstablished", |e| {
            logged_in |= matches!(e, client::Event::LoggedIn { .. });
            callback |= matches!(e, client::Event::CallbackEstablished { .. });
            (logged_in && callback).then_some(())
        });
    }
}

/// Waits for the server's SessionOpened.
pub fn session_opened(server: &Server) {
    wait_for(server.events(), "SessionOpened", |e| {
        matches!(e, server::Event::SessionOpened { .. }).then_some(())
    });
}
