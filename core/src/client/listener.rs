//! Choosing and binding the callback port by the listen policy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::wire::Advertise;

use super::config::ClientConfig;
use super::errors::InputError;
use super::events::StopReason;
use super::settings::{ListenAddress, ListenPolicy};
use crate::io::BindError;

/// The listener's progress through its policy.
#[derive(Debug)]
pub(crate) struct Listener {
    policy: ListenPolicy,
    /// The address to bind, by [`ListenAddress`].
    ip: IpAddr,
    state: ListenState,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ListenState {
    Idle,
    /// The `none` policy: no listener, ever.
    Disabled,
    Requested(SocketAddr),
    Bound(SocketAddr),
    /// The client stopped while this bind was under way.
    Abandoned(SocketAddr),
    Done,
}

/// The address the listener binds: see [`ListenAddress`].
fn listen_ip(config: &ClientConfig) -> IpAddr {
    // The servers' family ([`ClientConfig::validate`] checked that they
    // share one; an empty list, refused there, is taken as IPv4).
    let v4 = config
        .servers
        .first()
        .is_none_or(|s| s.ip().to_canonical().is_ipv4());
    let (any, loopback) = if v4 {
        (Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::LOCALHOST.into())
    } else {
        (Ipv6Addr::UNSPECIFIED.into(), Ipv6Addr::LOCALHOST.into())
    };
    // Loopback servers are reached from the loopback address (also
    // 127.0.0.5 is reached from 127.0.0.1): no route to ask. One server
    // elsewhere needs a listener it can reach.
    let all_loopback = config
        .servers
        .iter()
        .all(|s| s.ip().to_canonical().is_loopback());
    match config.settings.listen_address {
        ListenAddress::Ip(ip) => ip.to_canonical(),
        ListenAddress::Route => match config.local_ip {
            Some(ip) => ip.to_canonical(),
            None if all_loopback => loopback,
            None => any,
        },
        _ => any,
    }
}

/// What to do after a failed bind.
#[derive(Debug)]
pub(crate) enum BindStep {
    /// Try this address next (the next port of a range).
    Retry(SocketAddr),
    /// Give up.
    Stop(StopReason),
    /// Nothing to do: the client stopped while the bind was under way.
    Ignore,
}

impl Listener {
    /// A listener by the configuration's policy and listen address, in the
    /// address family of the server (an IPv4-mapped IPv6 address counts as
    /// IPv4). [`ClientConfig::validate`] has checked the families.
    pub(crate) fn new(config: &ClientConfig) -> Self {
        Self {
            policy: config.settings.listen,
            ip: listen_ip(config),
            state: ListenState::Idle,
        }
    }

    /// The first address to bind, or `None` for the `none` policy.
    pub(crate) fn start(&mut self) -> Option<SocketAddr> {
        let port = match self.policy {
            ListenPolicy::None => {
                self.state = ListenState::Disabled;
                return None;
            }
            ListenPolicy::Range { lo, .. } => lo,
            ListenPolicy::Fixed { port } => port,
            _ => 0,
        };
        let addr = SocketAddr::new(self.ip, port);
        self.state = ListenState::Requested(addr);
        Some(addr)
    }

    fn requested(&self) -> Result<SocketAddr, InputError> {
        match self.state {
            ListenState::Requested(addr) | ListenState::Abandoned(addr) => Ok(addr),
            _ => Err(InputError::NoListenPending),
        }
    }

    /// The adapter bound the listener. `Ok(false)`: the client stopped while
    /// the bind was under way, so the listener must be closed again.
    pub(crate) fn on_bound(&mut self, local: SocketAddr) -> Result<bool, InputError> {
        let requested = self.requested()?;
        let port_ok = if requested.port() == 0 {
            local.port() != 0
        } else {
            local.port() == requested.port()
        };
        if !port_ok {
            return Err(InputError::ListenMismatch {
                requested,
                reported: local,
            });
        }
        if matches!(self.state, ListenState::Abandoned(_)) {
            self.state = ListenState::Done;
            return Ok(false);
        }
        self.state = ListenState::Bound(local);
        Ok(true)
    }

    /// The adapter could not bind `addr`.
    pub(crate) fn on_bind_failed(
        &mut self,
        addr: SocketAddr,
        error: BindError,
    ) -> Result<BindStep, InputError> {
        let requested = self.requested()?;
        if requested != addr {
            return Err(InputError::ListenMismatch {
                requested,
                reported: addr,
            });
        }
        if matches!(self.state, ListenState::Abandoned(_)) {
            self.state = ListenState::Done;
            return Ok(BindStep::Ignore);
        }
        let port = addr.port();
        let taken = matches!(error, BindError::AddrInUse | BindError::PermissionDenied);
        let step = match self.policy {
            // The OS may also refuse a port it reserved (e.g. Windows'
            // excluded port ranges): for a range that is just another taken port.
            ListenPolicy::Range { hi, .. } if taken && port < hi => {
                let next = SocketAddr::new(self.ip, port + 1);
                self.state = ListenState::Requested(next);
                return Ok(BindStep::Retry(next));
            }
            ListenPolicy::Range { lo, hi } if taken => StopReason::RangeExhausted { lo, hi },
            ListenPolicy::Fixed { port } if error == BindError::AddrInUse => {
                StopReason::FixedPortInUse { port }
            }
            _ => StopReason::ListenFailed { addr, error },
        };
        self.state = ListenState::Done;
        Ok(BindStep::Stop(step))
    }

    /// Whether a `Listen` awaits its answer.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.state, ListenState::Requested(_))
    }

    /// The bound address.
    pub(crate) fn local(&self) -> Option<SocketAddr> {
        match self.state {
            ListenState::Bound(addr) => Some(addr),
            _ => None,
        }
    }

    /// Marks the listener closed; returns whether it was bound (so that the
    /// adapter must be told to stop listening).
    pub(crate) fn close(&mut self) -> bool {
        match self.state {
            ListenState::Bound(_) => {
                self.state = ListenState::Done;
                true
            }
            ListenState::Requested(addr) => {
                self.state = ListenState::Abandoned(addr);
                false
            }
            _ => false,
        }
    }

    /// The policy.
    pub(crate) fn policy(&self) -> ListenPolicy {
        self.policy
    }

    /// The port ADVERTISE carries: the bound port, or 0 without a listener.
    pub(crate) fn advertised_port(&self) -> u16 {
        self.local().map_or(0, |a| a.port())
    }

    /// The ADVERTISE for the bound port ([C-2], [D-6]: range fields only
    /// for the range policy; port 0 for the `none` policy [D-7]).
    pub(crate) fn advertise(&self) -> Advertise {
        let port = self.advertised_port();
        let (range_lo, range_hi) = match self.policy {
            ListenPolicy::Range { lo, hi } => (lo, hi),
            _ => (0, 0),
        };
        Advertise {
            port,
            policy: self.policy.kind(),
            range_lo,
            range_hi,
        }
    }
}
