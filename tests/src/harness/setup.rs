//! Runtime-neutral descriptions of a server and a client under test, with
//! defaults that suit scenarios: loopback, the minimum PBKDF2 count, short
//! retry delays so that recoveries happen within a test's patience.

use std::net::SocketAddr;
use std::time::Duration;

pub use super::tls::with_tls;

use faxnotify_core::auth::MIN_ITERATIONS;
use faxnotify_core::client::{Backoff, ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::server::{MemoryUserStore, ServerConfig};
use faxnotify_core::wire::{Caps, Role};

/// The password every test user has: derived from the name.
pub fn password_of(user: &str) -> String {
    format!("pw-{user}")
}

/// A user store with `names`, each with [`password_of`] its name, the
/// minimum iteration count (4 096) and a per-user salt.
pub fn test_users(names: &[&str]) -> MemoryUserStore {
    let mut users = MemoryUserStore::new();
    for (i, name) in names.iter().enumerate() {
        let mut salt = [0x5a_u8; 16];
        salt[..8].copy_from_slice(&(i as u64).to_be_bytes());
        users
            .add_password(name, &password_of(name), &salt, MIN_ITERATIONS, Role::User)
            .expect("test users are valid");
    }
    users
}

/// A server to start.
#[derive(Clone, Debug)]
pub struct ServerSetup {
    /// Where to listen (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// The core's configuration (defaults: protocol defaults, with callback
    /// dial retries from 50 ms up to 400 ms).
    pub config: ServerConfig,
    /// The users.
    pub users: MemoryUserStore,
    /// The core's seed.
    pub seed: [u8; 32],
}

impl ServerSetup {
    /// A server on `127.0.0.1:0` with `users`.
    pub fn new(users: MemoryUserStore) -> Self {
        let mut config = ServerConfig::new([0x11; 32]);
        config.server_name = "faxnotify scenario server".into();
        config.dial_backoff.initial = Duration::from_millis(50);
        config.dial_backoff.max = Duration::from_millis(400);
        // [T-1]: under `with_tls`, every scenario runs over TLS 1.3.
        config.tls = super::tls::server_identity();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            users,
            seed: [0x22; 32],
        }
    }

    /// Listen on `addr` instead.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Offer the backchannel capability (default on).
    pub fn backchannel(mut self, on: bool) -> Self {
        self.config.caps = if on { Caps::BACKCHANNEL } else { Caps::NONE };
        self
    }
}

/// A client to start.
#[derive(Clone, Debug)]
pub struct ClientSetup {
    /// The core's configuration (defaults: reconnect from 100 ms up to 1 s).
    pub config: ClientConfig,
    /// The core's seed.
    pub seed: [u8; 32],
    /// Bind the callback listener (so the port is chosen and advertised)
    /// but close it before logging in, as if a firewall blocked it; undo
    /// with [`ClientUnderTest::resume_listener`](super::ClientUnderTest::resume_listener).
    pub listener_closed_at_start: bool,
}

impl ClientSetup {
    /// `user` (with [`password_of`] it) logging in to `server`, with `policy`.
    pub fn new(server: SocketAddr, user: &str, policy: ListenPolicy) -> Self {
        let mut config = ClientConfig::new(
            server,
            user,
            password_of(user),
            NetworkSettings::new(policy),
        );
        config.reconnect = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 20);
        config.tls = super::tls::client_tls();
        let mut seed = [0x33; 32];
        seed[..user.len().min(32)].copy_from_slice(&user.as_bytes()[..user.len().min(32)]);
        Self {
            config,
            seed,
            listener_closed_at_start: false,
        }
    }

    /// Use another password.
    pub fn password(mut self, password: &str) -> Self {
        self.config.password = password.into();
        self
    }

    /// Offer the backchannel capability (default on).
    pub fn backchannel(mut self, on: bool) -> Self {
        self.config.caps = if on { Caps::BACKCHANNEL } else { Caps::NONE };
        self
    }

    /// See [`ClientSetup::listener_closed_at_start`].
    pub fn listener_closed_at_start(mut self) -> Self {
        self.listener_closed_at_start = true;
        self
    }

    /// Another seed (clients of one user should differ).
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = seed;
        self
    }
}
