//! The server's settings and their validation.

use std::fmt;
use std::time::Duration;

use super::errors::ConfigError;
use crate::wire::{Caps, MAX_STR_LEN};

/// The smallest lease the protocol allows [C-5].
pub const MIN_LEASE: Duration = Duration::from_secs(3);

/// The longest detached grace period and failed-login window: a day.
/// Longer would only keep queues and failure records in memory for
/// nothing (and could overflow the clock arithmetic).
pub const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);

/// Everything a [`Server`](super::Server) can be tuned with.
///
/// Start from [`ServerConfig::new`], which fills in the protocol's defaults,
/// and change fields as needed; [`Server::new`](super::Server::new) checks the
/// result ([`ServerConfig::validate`]).
///
/// ```
/// use std::time::Duration;
/// use faxnotify_core::server::ServerConfig;
///
/// let mut config = ServerConfig::new([7; 32]);
/// config.server_name = "fax.example".into();
/// config.lease = Duration::from_secs(60);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// SERVER_HELLO.server_name: a name for logs and user interfaces (at most 4 096 bytes).
    pub server_name: String,
    /// LOGIN_OK.lease_ms: how long a session lives without a frame on its
    /// control connection [C-5]. At least 3 s; default 30 s.
    pub lease: Duration,
    /// How long a session whose control connection closed stays detached,
    /// queue intact, waiting for a resume [D-15]: it ends when both this
    /// (counted from the close) and its lease have run out. Separate from
    /// the lease so that a client kept out for a while — by a network
    /// glitch, or by the failed-login limiter shut by a neighbour at its
    /// address — can still resume without losing anything. Default 120 s:
    /// longer than the limiter's default window (60 s) plus the client's
    /// longest reconnect delay (30 s + 20 % jitter). Zero keeps only the
    /// lease; at most [`MAX_HOLD`].
    pub detached_grace: Duration,
    /// How many notifications may be in flight (sent, not acknowledged) on
    /// the active path [B-4]. Default 64.
    pub window: u32,
    /// How many unacknowledged notifications one session may hold [B-6];
    /// `notify` is refused for a session whose queue is full. Default 1 024.
    pub queue_limit: usize,
    /// From accepting a control connection to ADVERTISE_OK [C-9]. Default 10 s.
    pub handshake_timeout: Duration,
    /// How long a callback dial may take to connect, and then how long the
    /// callback handshake may take up to CB_READY [B-7]. Default 5 s.
    pub callback_handshake_timeout: Duration,
    /// SERVER_HELLO.caps. Only bits this crate implements are allowed
    /// ([`Caps::SUPPORTED`]). Default: BACKCHANNEL.
    pub caps: Caps,
    /// Sessions (attached or detached) one user may have at once [C-7]. Default 16.
    pub max_sessions_per_user: usize,
    /// Sessions whose control connection comes from one IP address [C-7].
    /// Terminal servers put many users behind one address, hence the
    /// generous default of 256.
    pub max_sessions_per_ip: usize,
    /// Control connections that have not reached LOGIN_OK, per IP address
    /// (an IPv6 address's whole /64 counts as one) [A-5]. Default 8.
    pub max_unauthenticated_per_ip: usize,
    /// Control connections that have not reached LOGIN_OK, in all: a bound
    /// on what unauthenticated peers can cost when they come from many
    /// addresses. Default 4 096: at worst, each holding a partial LOGIN of
    /// the largest size, about 37 MiB over plain TCP and 86 MiB over TLS
    /// (measured with `faxnotify server`; ~9 and ~21 KiB a connection, the
    /// kernel's socket buffers not counted). When it is reached,
    /// a connection from a prefix (IPv4 /24, IPv6 /64) holding fewer of
    /// them than the largest holder still gets in: the largest holder's
    /// oldest is closed to make room [D-15].
    pub max_unauthenticated: usize,
    /// The failed-login limiter [A-5].
    pub login_limiter: LoginLimiterConfig,
    /// Retry timing of callback dials [B-5].
    pub dial_backoff: BackoffConfig,
    /// Callback dials (TCP connects) in progress at once per destination IP
    /// [B-5]. Default 4. A user with no dial in progress to an IP may always
    /// start one, so one user's unreachable callbacks cannot hold back
    /// another user's at the same address [D-15].
    pub max_dials_per_ip: usize,
    /// The server secret that derives unknown users' fake salts [A-3]. The
    /// application must generate it once and persist it, so that a probe
    /// sees the same salt for a name across restarts.
    pub unknown_user_secret: [u8; 32],
    /// FNP/1 over TLS 1.3 (docs/protocol.md section 12): with an identity,
    /// every control and callback connection runs TLS from its first byte
    /// [T-1]; `None` keeps plain TCP. Replace it on a running server with
    /// [`Server::set_tls_identity`](super::Server::set_tls_identity).
    pub tls: Option<crate::tls::ServerIdentity>,
    /// The wall clock rustls may consult (it needs none for FNP/1's
    /// handshakes, which use no tickets or client certificates; a foreign
    /// client offering a ticket makes it look). Default: the system clock.
    pub tls_clock: std::sync::Arc<dyn crate::tls::TimeProvider>,
    /// Cluster mode [D-17]: `Some` makes this core one server of several
    /// sharing a log and a session store through the application (see
    /// [`Server::handle_claim`](super::Server::handle_claim)). `None`
    /// (the default) is the single server of [C-10], unchanged.
    pub cluster: Option<ClusterConfig>,
}

/// Cluster mode's settings [D-17].
///
/// In cluster mode every login with a valid proof waits for the
/// application (an [`Event::ClaimSession`](super::Event::ClaimSession)):
/// to register a new session in the shared store, or to look up and take
/// over a session this server does not hold. These bound that wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Logins waiting for the application's answer at once; the next one
    /// is refused with `LIMIT_EXCEEDED` until an answer frees a place.
    /// Default 1 024.
    pub max_pending_claims: usize,
    /// How long a login waits for the application's answer before it is
    /// refused with `SHUTTING_DOWN` (try again) [D-17]. Default 5 s; it
    /// must be below `handshake_timeout`, which still bounds the whole
    /// login [C-9].
    pub claim_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            max_pending_claims: 1_024,
            claim_timeout: Duration::from_secs(5),
        }
    }
}

/// The failed-login limiter [A-5] [D-15]: each user name may fail
/// `max_failures` logins in a row from one address (an IPv6 address's
/// whole /64 counts as one); after that, LOGIN for that name from that
/// address is refused with `LIMIT_EXCEEDED` until failures are forgiven, one
/// every `window / max_failures`. Names that do not exist are counted the
/// same way [A-3]. The address as a whole may fail
/// `max_failures_per_address` logins (any names) in a row before its new
/// connections are refused, one forgiven every
/// `window / max_failures_per_address`: one user's wrong passwords do not
/// lock the others behind a shared address out, and guessing across names
/// stays bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginLimiterConfig {
    /// Failures allowed in a burst, per user name and address. Default 5.
    pub max_failures: u32,
    /// Failures allowed in a burst per address, all names together. Default 20.
    pub max_failures_per_address: u32,
    /// The time it takes to forgive all of them. Default 60 s, at most [`MAX_HOLD`].
    pub window: Duration,
}

/// Exponential backoff with jitter for callback dials [B-5].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The delay after the first failure. Default 0.5 s.
    pub initial: Duration,
    /// The delay doubles after each failure up to this. Default 30 s.
    pub max: Duration,
    /// Each delay is scaled by a random factor within ± this percentage
    /// (0..=100). Default 20.
    pub jitter_percent: u8,
}

impl Default for LoginLimiterConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(60),
        }
    }
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter_percent: 20,
        }
    }
}

impl ServerConfig {
    /// The protocol's defaults, with the application's persisted
    /// unknown-user secret [A-3].
    pub fn new(unknown_user_secret: [u8; 32]) -> Self {
        Self {
            server_name: "faxnotify".to_owned(),
            lease: Duration::from_secs(30),
            detached_grace: Duration::from_secs(120),
            window: 64,
            queue_limit: 1_024,
            handshake_timeout: Duration::from_secs(10),
            callback_handshake_timeout: Duration::from_secs(5),
            caps: Caps::BACKCHANNEL,
            max_sessions_per_user: 16,
            max_sessions_per_ip: 256,
            max_unauthenticated_per_ip: 8,
            max_unauthenticated: 4_096,
            login_limiter: LoginLimiterConfig::default(),
            dial_backoff: BackoffConfig::default(),
            max_dials_per_ip: 4,
            unknown_user_secret,
            tls: None,
            tls_clock: crate::tls::system_clock(),
            cluster: None,
        }
    }

    /// Checks every field against the protocol and against values that
    /// would make the server useless.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server_name.len() > MAX_STR_LEN {
            return Err(ConfigError::ServerNameTooLong {
                len: self.server_name.len(),
            });
        }
        if self.lease < MIN_LEASE {
            return Err(ConfigError::LeaseTooShort { lease: self.lease });
        }
        if self.lease.as_millis() > u128::from(u32::MAX) {
            return Err(ConfigError::LeaseTooLong { lease: self.lease });
        }
        if self.window == 0 {
            return Err(ConfigError::Zero { field: "window" });
        }
        if self.queue_limit == 0 {
            return Err(ConfigError::Zero {
                field: "queue_limit",
            });
        }
        let zero_checks = [
            (self.handshake_timeout.is_zero(), "handshake_timeout"),
            (
                self.callback_handshake_timeout.is_zero(),
                "callback_handshake_timeout",
            ),
            (self.max_sessions_per_user == 0, "max_sessions_per_user"),
            (self.max_sessions_per_ip == 0, "max_sessions_per_ip"),
            (
                self.max_unauthenticated_per_ip == 0,
                "max_unauthenticated_per_ip",
            ),
            (self.max_unauthenticated == 0, "max_unauthenticated"),
            (
                self.login_limiter.max_failures == 0,
                "login_limiter.max_failures",
            ),
            (
                self.login_limiter.max_failures_per_address == 0,
                "login_limiter.max_failures_per_address",
            ),
            (self.login_limiter.window.is_zero(), "login_limiter.window"),
            (self.dial_backoff.initial.is_zero(), "dial_backoff.initial"),
            (self.max_dials_per_ip == 0, "max_dials_per_ip"),
        ];
        if let Some((_, field)) = zero_checks.iter().find(|(zero, _)| *zero) {
            return Err(ConfigError::Zero { field });
        }
        for (field, value) in [
            ("detached_grace", self.detached_grace),
            ("login_limiter.window", self.login_limiter.window),
        ] {
            if value > MAX_HOLD {
                return Err(ConfigError::TooLong {
                    field,
                    value,
                    max: MAX_HOLD,
                });
            }
        }
        if self.dial_backoff.max < self.dial_backoff.initial {
            return Err(ConfigError::BackoffMaxBelowInitial {
                initial: self.dial_backoff.initial,
                max: self.dial_backoff.max,
            });
        }
        if self.dial_backoff.jitter_percent > 100 {
            return Err(ConfigError::JitterOver100 {
                percent: self.dial_backoff.jitter_percent,
            });
        }
        if !Caps::SUPPORTED.contains(self.caps) {
            return Err(ConfigError::UnsupportedCaps { caps: self.caps });
        }
        if let Some(cluster) = &self.cluster {
            if cluster.max_pending_claims == 0 {
                return Err(ConfigError::Zero {
                    field: "cluster.max_pending_claims",
                });
            }
            if cluster.claim_timeout.is_zero() {
                return Err(ConfigError::Zero {
                    field: "cluster.claim_timeout",
                });
            }
            if cluster.claim_timeout >= self.handshake_timeout {
                return Err(ConfigError::TooLong {
                    field: "cluster.claim_timeout",
                    value: cluster.claim_timeout,
                    max: self.handshake_timeout,
                });
            }
        }
        Ok(())
    }

    /// LOGIN_OK.lease_ms (validated to fit).
    pub(crate) fn lease_ms(&self) -> u32 {
        u32::try_from(self.lease.as_millis()).unwrap_or(u32::MAX)
    }
}

/// The secret is not printed.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("server_name", &self.server_name)
            .field("lease", &self.lease)
            .field("detached_grace", &self.detached_grace)
            .field("window", &self.window)
            .field("queue_limit", &self.queue_limit)
            .field("handshake_timeout", &self.handshake_timeout)
            .field(
                "callback_handshake_timeout",
                &self.callback_handshake_timeout,
            )
            .field("caps", &self.caps)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("max_sessions_per_ip", &self.max_sessions_per_ip)
            .field(
                "max_unauthenticated_per_ip",
                &self.max_unauthenticated_per_ip,
            )
            .field("max_unauthenticated", &self.max_unauthenticated)
            .field("login_limiter", &self.login_limiter)
            .field("dial_backoff", &self.dial_backoff)
            .field("max_dials_per_ip", &self.max_dials_per_ip)
            .field("unknown_user_secret", &"<redacted>")
            .field("tls", &self.tls)
            .field("cluster", &self.cluster)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_protocols_and_valid() {
        let c = ServerConfig::new([1; 32]);
        assert_eq!(c.lease, Duration::from_secs(30));
        assert_eq!(c.detached_grace, Duration::from_secs(120));
        assert_eq!(c.login_limiter.max_failures, 5);
        assert_eq!(c.login_limiter.max_failures_per_address, 20);
        assert_eq!(c.window, 64);
        assert_eq!(c.queue_limit, 1_024);
        assert_eq!(c.handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.callback_handshake_timeout, Duration::from_secs(5));
        assert_eq!(c.dial_backoff.initial, Duration::from_millis(500));
        assert_eq!(c.dial_backoff.max, Duration::from_secs(30));
        assert_eq!(c.dial_backoff.jitter_percent, 20);
        assert_eq!(c.max_dials_per_ip, 4);
        assert_eq!(c.lease_ms(), 30_000);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn refuses_what_the_protocol_forbids() {
        let mut c = ServerConfig::new([1; 32]);
        c.lease = Duration::from_millis(2_999);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::LeaseTooShort { .. })
        ));
        c.lease = MIN_LEASE;
        assert_eq!(c.validate(), Ok(()));

        let mut c = ServerConfig::new([1; 32]);
        c.window = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero { field: "window" }));

        let mut c = ServerConfig::new([1; 32]);
        c.caps = Caps::from_bits(0b10);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::UnsupportedCaps { .. })
        ));

        let mut c = ServerConfig::new([1; 32]);
        c.server_name = "x".repeat(MAX_STR_LEN + 1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ServerNameTooLong { .. })
        ));

        let mut c = ServerConfig::new([1; 32]);
        c.detached_grace = MAX_HOLD;
        assert_eq!(c.validate(), Ok(()));
        c.detached_grace = MAX_HOLD + Duration::from_secs(1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooLong {
                field: "detached_grace",
                ..
            })
        ));

        let mut c = ServerConfig::new([1; 32]);
        c.login_limiter.max_failures_per_address = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::Zero {
                field: "login_limiter.max_failures_per_address"
            })
        );

        let mut c = ServerConfig::new([1; 32]);
        c.dial_backoff.max = Duration::from_millis(100);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::BackoffMaxBelowInitial { .. })
        ));
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = ServerConfig::new([0xab; 32]);
        let text = format!("{c:?}");
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("171"), "{text}");
    }
}
