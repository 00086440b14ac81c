//! The client's configuration.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::auth::{DEFAULT_ITERATION_CAP, MIN_ITERATIONS};
use crate::wire::Caps;

use super::errors::ConfigError;
use super::settings::{ListenAddress, NetworkSettings};

/// Exponential backoff between reconnection attempts of the control
/// connection: `initial`, doubling per failed attempt up to `max`, each delay
/// scaled by a random factor in `1 ± jitter_percent/100` drawn from the
/// client's seeded RNG (so runs with the same seed are identical).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Backoff {
    /// The delay before the first retry (default 0.5 s).
    pub initial: Duration,
    /// The largest delay (default 30 s).
    pub max: Duration,
    /// Spread of the random factor, in percent (default 20).
    pub jitter_percent: u8,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter_percent: 20,
        }
    }
}

impl Backoff {
    /// A backoff from `initial` doubling to `max` with `jitter_percent` of jitter.
    pub const fn new(initial: Duration, max: Duration, jitter_percent: u8) -> Self {
        Self {
            initial,
            max,
            jitter_percent,
        }
    }

    /// The un-jittered delay before retry number `attempt` (1-based).
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// Everything a [`Client`](super::Client) needs, fixed when it is created.
///
/// Make one with [`ClientConfig::new`] and adjust the public fields:
///
/// ```
/// use std::time::Duration;
/// use faxnotify_core::client::{ClientConfig, ListenPolicy, NetworkSettings};
///
/// let mut config = ClientConfig::new(
///     "192.0.2.1:4580".parse().unwrap(),
///     "alice",
///     "correct horse",
///     NetworkSettings::new(ListenPolicy::Range { lo: 6000, hi: 6010 }),
/// );
/// config.handshake_timeout = Duration::from_secs(20);
/// // Two more servers of the same cluster to fail over to [D-17].
/// config.servers.push("192.0.2.2:4580".parse().unwrap());
/// config.servers.push("192.0.2.3:4580".parse().unwrap());
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The fax servers' control addresses, tried in turn: the client dials
    /// the first, and after a failed dial, a lost control connection or a
    /// refused login (SHUTTING_DOWN, ...) its next attempt goes to the next
    /// address, round robin, under the one [`Backoff`] of
    /// [`ClientConfig::reconnect`]. A session resumes on whichever server
    /// answers ([C-6]; in cluster mode any server of the cluster holds it,
    /// [D-17]). Not empty, all of one address family: the callback listener
    /// uses it [C-1]. [`ClientConfig::new`] gives a list of one.
    pub servers: Vec<SocketAddr>,
    /// The user name (prepared with RFC 8265 UsernameCaseMapped by the client).
    pub user: String,
    /// The password (prepared with RFC 8265 OpaqueString by the client).
    /// Never printed by `Debug`.
    pub password: String,
    /// The listen policy and address; fixed for the client's life.
    pub settings: NetworkSettings,
    /// The local address of this host's route to the servers (the address
    /// the control connection will come from), filled in by the adapter before
    /// it creates the client; the runtimes do it themselves when it is
    /// `None`. With [`ListenAddress::Route`] the callback listener binds it.
    /// Left `None`, loopback servers get a loopback listener and any other
    /// servers the unspecified address (every interface). The runtimes
    /// leave it `None` when the servers are reached from different local
    /// addresses, since the listener must take callbacks from each.
    pub local_ip: Option<IpAddr>,
    /// Capabilities offered in LOGIN (default BACKCHANNEL).
    pub caps: Caps,
    /// The largest PBKDF2 iteration count accepted from a server
    /// (default 1 000 000) [A-4].
    pub iteration_cap: u32,
    /// From dialling the control connection to ADVERTISE_OK (default 10 s) [C-9].
    pub handshake_timeout: Duration,
    /// From accepting a callback connection to a verified CB_HELLO
    /// (default 5 s) [B-7].
    pub callback_handshake_timeout: Duration,
    /// Callback connections that may await their handshake at once; more are
    /// closed as soon as they are accepted (default 8) [B-7].
    pub max_pending_callbacks: usize,
    /// Authenticated callback connections kept open at once; when another
    /// completes its handshake the oldest is closed (default 4). The server
    /// keeps only one [D-9]; this bounds what a faulty one can cost.
    pub max_callbacks: usize,
    /// How long to wait for the server's BYE after LOGOUT before closing
    /// anyway (default 5 s).
    pub logout_timeout: Duration,
    /// Delays between reconnection attempts of the control connection.
    pub reconnect: Backoff,
    /// FNP/1 over TLS 1.3 (docs/protocol.md section 12): with settings, the
    /// control connection and every accepted callback connection run TLS
    /// from their first byte, this client being the TLS client on both
    /// [T-1] [T-2]; `None` keeps plain TCP (loopback tests, legacy servers).
    pub tls: Option<crate::tls::ClientTls>,
    /// The wall clock the server's certificate validity is checked against
    /// (default: the system clock; tests and the simulator inject a fixed
    /// one, see [`crate::tls::FixedClock`]).
    pub tls_clock: std::sync::Arc<dyn crate::tls::TimeProvider>,
}

impl ClientConfig {
    /// A configuration for one server with the defaults listed on each
    /// field (push onto [`ClientConfig::servers`] to add servers to fail
    /// over to).
    pub fn new(
        server: SocketAddr,
        user: impl Into<String>,
        password: impl Into<String>,
        settings: NetworkSettings,
    ) -> Self {
        Self {
            servers: vec![server],
            user: user.into(),
            password: password.into(),
            settings,
            local_ip: None,
            caps: Caps::BACKCHANNEL,
            iteration_cap: DEFAULT_ITERATION_CAP,
            handshake_timeout: Duration::from_secs(10),
            callback_handshake_timeout: Duration::from_secs(5),
            max_pending_callbacks: 8,
            max_callbacks: 4,
            logout_timeout: Duration::from_secs(5),
            reconnect: Backoff::default(),
            tls: None,
            tls_clock: crate::tls::system_clock(),
        }
    }

    /// Checks everything but the user name and password (which the client
    /// prepares when it is created, [`Client::new`](super::Client::new)),
    /// TLS included: the server name must be a DNS name or an IP address,
    /// and the trust usable (roots of which at least one parses). So a
    /// configuration that passes here fails `Client::new` (and a
    /// runtime's start) only for its user name or password.
    /// [`check_server_name`](super::check_server_name) checks a name on its
    /// own.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_without_tls()?;
        if let Some(tls) = &self.tls {
            crate::tls::ClientTlsConfig::new(tls, std::sync::Arc::clone(&self.tls_clock))?;
        }
        Ok(())
    }

    /// [`ClientConfig::validate`] but for TLS, which
    /// [`Client::new`](super::Client::new) checks by building its TLS
    /// configuration (once, not twice).
    pub(crate) fn validate_without_tls(&self) -> Result<(), ConfigError> {
        self.settings.validate()?;
        let Some(&first) = self.servers.first() else {
            return Err(ConfigError::NoServer);
        };
        let server_v4 = is_v4(first);
        for &server in &self.servers {
            if server.port() == 0 {
                return Err(ConfigError::ServerPortZero(server));
            }
            // One callback listener serves every server, in one family [C-1].
            if is_v4(server) != server_v4 {
                return Err(ConfigError::ServerFamiliesMixed {
                    first,
                    other: server,
                });
            }
        }
        let fixed_ip = match self.settings.listen_address {
            ListenAddress::Ip(ip) => Some(ip),
            ListenAddress::Route => self.local_ip,
            _ => None,
        };
        if let Some(ip) = fixed_ip
            && ip.to_canonical().is_ipv4() != server_v4
        {
            return Err(ConfigError::ListenAddressFamily { ip, server: first });
        }
        if self.iteration_cap < MIN_ITERATIONS {
            return Err(ConfigError::IterationCapTooLow {
                cap: self.iteration_cap,
                min: MIN_ITERATIONS,
            });
        }
        for (name, d) in [
            ("handshake_timeout", self.handshake_timeout),
            (
                "callback_handshake_timeout",
                self.callback_handshake_timeout,
            ),
            ("logout_timeout", self.logout_timeout),
            ("reconnect.initial", self.reconnect.initial),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration { name });
            }
        }
        if self.reconnect.initial > self.reconnect.max {
            return Err(ConfigError::BackoffInverted {
                initial: self.reconnect.initial,
                max: self.reconnect.max,
            });
        }
        if self.reconnect.jitter_percent >= 100 {
            return Err(ConfigError::JitterTooLarge(self.reconnect.jitter_percent));
        }
        if self.max_pending_callbacks == 0 {
            return Err(ConfigError::ZeroLimit {
                name: "max_pending_callbacks",
            });
        }
        if self.max_callbacks == 0 {
            return Err(ConfigError::ZeroLimit {
                name: "max_callbacks",
            });
        }
        Ok(())
    }
}

/// Whether `addr` is IPv4, an IPv4-mapped IPv6 address counting as IPv4.
fn is_v4(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_ipv4()
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("servers", &self.servers)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("settings", &self.settings)
            .field("local_ip", &self.local_ip)
            .field("caps", &self.caps)
            .field("iteration_cap", &self.iteration_cap)
            .field("handshake_timeout", &self.handshake_timeout)
            .field(
                "callback_handshake_timeout",
                &self.callback_handshake_timeout,
            )
            .field("max_pending_callbacks", &self.max_pending_callbacks)
            .field("max_callbacks", &self.max_callbacks)
            .field("logout_timeout", &self.logout_timeout)
            .field("reconnect", &self.reconnect)
            .field("tls", &self.tls)
            .finish()
    }
}
