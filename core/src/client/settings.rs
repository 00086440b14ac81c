//! Network settings: the listen policy of the callback port, its text form,
//! its validation, and the settings lock (spec section 1).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::SessionId;
use crate::wire::PolicyKind;

/// The lowest port a listen policy may name: [C-2] refuses 0 < port < 1024.
pub const MIN_LISTEN_PORT: u16 = 1024;

/// How the client chooses its callback port (spec section 1, "Listen policies").
///
/// The text form (used by the CLI and the settings file) is `dynamic`,
/// `range:LO-HI`, `fixed:P` or `none` (also spelt `backchannel`);
/// [`FromStr`] parses and validates it and [`Display`](fmt::Display)
/// writes it back.
///
/// ```
/// use faxnotify_core::client::ListenPolicy;
///
/// let policy: ListenPolicy = "range:6000-6010".parse().unwrap();
/// assert_eq!(policy, ListenPolicy::Range { lo: 6000, hi: 6010 });
/// assert_eq!(policy.to_string(), "range:6000-6010");
/// assert!("range:6010-6000".parse::<ListenPolicy>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[non_exhaustive]
pub enum ListenPolicy {
    /// Bind port 0: the OS assigns a free port. Any number of clients per host.
    #[default]
    Dynamic,
    /// The first free port of `lo..=hi`, so a firewall need open only that
    /// range. Up to `hi - lo + 1` clients per host.
    Range {
        /// Lowest port of the range (at least 1024).
        lo: u16,
        /// Highest port of the range (at least `lo`).
        hi: u16,
    },
    /// Exactly `port`; start-up fails if it is taken. One client per host.
    Fixed {
        /// The port (at least 1024).
        port: u16,
    },
    /// No callback listener: the client advertises port 0 and takes every
    /// notification over its control connection, the *backchannel* ([C-2],
    /// [D-7]). For hosts the server cannot connect back to (NAT, a firewall
    /// that opens no inbound port); any number of clients per host, one
    /// socket each. Needs a server that offers the backchannel: one that
    /// does not refuses the advertisement (BAD_PORT) and the client stops
    /// with [`StopReason::AdvertiseRefused`](super::StopReason::AdvertiseRefused).
    None,
}

impl ListenPolicy {
    /// Checks the policy: ports are at least 1024 [C-2], a range is not empty
    /// and a fixed port is not 0.
    pub fn validate(&self) -> Result<(), SettingsError> {
        match *self {
            ListenPolicy::Dynamic => Ok(()),
            ListenPolicy::Fixed { port: 0 } => Err(SettingsError::FixedPortZero),
            ListenPolicy::Fixed { port } if port < MIN_LISTEN_PORT => {
                Err(SettingsError::ReservedPort { port })
            }
            ListenPolicy::Fixed { .. } => Ok(()),
            ListenPolicy::Range { lo, hi } if lo > hi => Err(SettingsError::EmptyRange { lo, hi }),
            ListenPolicy::Range { lo, .. } if lo < MIN_LISTEN_PORT => {
                Err(SettingsError::ReservedPort { port: lo })
            }
            ListenPolicy::Range { .. } => Ok(()),
            ListenPolicy::None => Ok(()),
        }
    }

    /// The policy's wire value in ADVERTISE (`none` advertises port 0
    /// with the `dynamic` value: [C-2] gives "no listener" no policy of its own).
    pub fn kind(&self) -> PolicyKind {
        match self {
            ListenPolicy::Dynamic | ListenPolicy::None => PolicyKind::Dynamic,
            ListenPolicy::Range { .. } => PolicyKind::Range,
            ListenPolicy::Fixed { .. } => PolicyKind::Fixed,
        }
    }

    /// How many client instances can run on one host with this policy
    /// (`None`: no limit).
    pub fn instances_per_host(&self) -> Option<u32> {
        match *self {
            ListenPolicy::Dynamic | ListenPolicy::None => None,
            ListenPolicy::Range { lo, hi } => Some(u32::from(hi.saturating_sub(lo)) + 1),
            ListenPolicy::Fixed { .. } => Some(1),
        }
    }
}

impl fmt::Display for ListenPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenPolicy::Dynamic => f.write_str("dynamic"),
            ListenPolicy::Range { lo, hi } => write!(f, "range:{lo}-{hi}"),
            ListenPolicy::Fixed { port } => write!(f, "fixed:{port}"),
            ListenPolicy::None => f.write_str("none"),
        }
    }
}

impl FromStr for ListenPolicy {
    type Err = SettingsError;

    /// Parses `dynamic`, `range:LO-HI`, `fixed:P` or `none` / `backchannel`
    /// (surrounding whitespace ignored) and validates the result.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = |expected: &'static str| SettingsError::Syntax {
            input: text.to_owned(),
            expected,
        };
        let port = |s: &str, expected: &'static str| -> Result<u16, SettingsError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax(expected));
            }
            s.parse::<u16>().map_err(|_| SettingsError::PortOutOfRange {
                input: s.to_owned(),
            })
        };
        let trimmed = text.trim();
        let (name, arg) = match trimmed.split_once(':') {
            Some((name, arg)) => (name.trim(), Some(arg)),
            None => (trimmed, None),
        };
        let policy = match (name, arg) {
            ("dynamic", None) => ListenPolicy::Dynamic,
            ("dynamic", Some(_)) => return Err(syntax("`dynamic` takes no port")),
            ("range", Some(arg)) => {
                const EXPECTED: &str = "`range:LO-HI`, e.g. `range:6000-6010`";
                let (lo, hi) = arg.split_once('-').ok_or_else(|| syntax(EXPECTED))?;
                ListenPolicy::Range {
                    lo: port(lo, EXPECTED)?,
                    hi: port(hi, EXPECTED)?,
                }
            }
            ("range", None) => return Err(syntax("`range:LO-HI`, e.g. `range:6000-6010`")),
            ("fixed", Some(arg)) => ListenPolicy::Fixed {
                port: port(arg, "`fixed:PORT`, e.g. `fixed:6003`")?,
            },
            ("fixed", None) => return Err(syntax("`fixed:PORT`, e.g. `fixed:6003`")),
            ("none" | "backchannel", None) => ListenPolicy::None,
            ("none" | "backchannel", Some(_)) => return Err(syntax("`none` takes no port")),
            _ => {
                return Err(syntax(
                    "`dynamic`, `range:LO-HI`, `fixed:PORT` or `none` (no listener)",
                ));
            }
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// Which local address the callback listener binds (spec section 1,
/// "Listen policies"; the port comes from the [`ListenPolicy`]).
///
/// The server dials the address the control connection comes from [C-1],
/// so that is the only address the listener needs: binding every interface
/// would let anyone who reaches the host on another one (a LAN, a VPN, a
/// container network) knock on the callback port.
///
/// The text form is `route`, `any` or an IP address.
///
/// ```
/// use faxnotify_core::client::ListenAddress;
///
/// assert_eq!("route".parse::<ListenAddress>().unwrap(), ListenAddress::Route);
/// assert_eq!("any".parse::<ListenAddress>().unwrap(), ListenAddress::Any);
/// let ip: ListenAddress = "10.0.0.5".parse().unwrap();
/// assert_eq!(ip.to_string(), "10.0.0.5");
/// assert!("10.0.0.300".parse::<ListenAddress>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[non_exhaustive]
pub enum ListenAddress {
    /// The local address of the route to the server: the one the control
    /// connection uses, so the one the server dials. The adapter finds it
    /// before the client starts ([`ClientConfig::local_ip`]); the runtimes
    /// do so by connecting a UDP socket to the server, which sends nothing.
    ///
    /// [`ClientConfig::local_ip`]: super::ClientConfig::local_ip
    #[default]
    Route,
    /// Every interface (the unspecified address of the server's family):
    /// for hosts where the server's callbacks arrive on another address than
    /// the one the control connection leaves from (a port forwarded to
    /// another interface, a route that changes while the client runs).
    Any,
    /// This address, which must be of the server's address family.
    Ip(IpAddr),
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Route => f.write_str("route"),
            ListenAddress::Any => f.write_str("any"),
            ListenAddress::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl FromStr for ListenAddress {
    type Err = SettingsError;

    /// Parses `route`, `any` or an IP address (surrounding whitespace ignored).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "route" => Ok(ListenAddress::Route),
            "any" => Ok(ListenAddress::Any),
            other => {
                other
                    .parse::<IpAddr>()
                    .map(ListenAddress::Ip)
                    .map_err(|_| SettingsError::Syntax {
                        input: text.to_owned(),
                        expected: "`route` (the address the server is reached from), `any` \
                               (every interface) or an IP address",
                    })
            }
        }
    }
}

/// The client's network settings, read once when it starts and fixed for its
/// whole life (spec section 1, "Settings lock").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[non_exhaustive]
pub struct NetworkSettings {
    /// How the callback port is chosen.
    pub listen: ListenPolicy,
    /// Which local address the callback listener binds (default: the
    /// address the server is reached from).
    pub listen_address: ListenAddress,
}

impl NetworkSettings {
    /// Settings with the given listen policy, on the default listen address.
    pub const fn new(listen: ListenPolicy) -> Self {
        Self {
            listen,
            listen_address: ListenAddress::Route,
        }
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.listen.validate()
    }
}

/// Why network settings are refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A range whose low port is above its high port contains no port.
    #[error(
        "listen range {lo}-{hi} is empty: the low port must not be above the high port \
         (did you mean range:{hi}-{lo}?)"
    )]
    EmptyRange {
        /// The low port given.
        lo: u16,
        /// The high port given.
        hi: u16,
    },
    /// A port below 1024, which the server refuses as a callback port [C-2].
    #[error(
        "listen port {port} is below 1024: the server refuses privileged callback ports; \
         use a port from 1024 to 65535"
    )]
    ReservedPort {
        /// The port given.
        port: u16,
    },
    /// `fixed:0`, which would not be a fixed port.
    #[error("fixed port 0 is not a port: use `dynamic` to let the operating system choose")]
    FixedPortZero,
    /// A port number above 65535.
    #[error("{input:?} is not a port number: ports are 1024 to 65535")]
    PortOutOfRange {
        /// The text given.
        input: String,
    },
    /// Text that is not a listen policy.
    #[error("{input:?} is not a listen policy: expected {expected}")]
    Syntax {
        /// The text given.
        input: String,
        /// What the parser expected.
        expected: &'static str,
    },
}

/// What a settings change on a running client did (see [`Client::change_settings`]).
///
/// [`Client::change_settings`]: super::Client::change_settings
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SettingsChange {
    /// The new settings equal the ones in force: nothing to do.
    Unchanged,
    /// Accepted, but the running client keeps its settings: they take effect
    /// when the client is restarted (save them with the settings file).
    RestartRequired,
}

/// Why a settings change on a running client was refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeSettingsError {
    /// The client is logged in: its session advertised the callback once
    /// [C-3], so new settings need a new session. Log out, then change them.
    #[error(
        "settings are locked while logged in (session {session}): log out first; \
         the change takes effect when the client restarts"
    )]
    SettingsLocked {
        /// The session that holds the lock.
        session: SessionId,
    },
    /// The new settings are invalid.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
}
