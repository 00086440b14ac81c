//! The global cap on control connections that have not logged in, shared
//! fairly between prefixes [A-5] [D-15].
//!
//! The cap bounds what unauthenticated peers can cost the server; on its
//! own it would let a flood from many addresses refuse every login. So when
//! the cap is reached, a connection from a prefix that holds fewer of them
//! than the largest holder still gets in, and the largest holder's oldest
//! connection is closed to make room. A flood then only ever displaces
//! itself, and a new address gets in while one prefix floods.
//!
//! Prefixes are IPv4 /24s and IPv6 /64s: one party commonly holds that much
//! address space (a host's SLAAC /64, a small hosting allocation), so a
//! flood from many addresses of one /24 weighs as one holder. A /24 shared
//! by unrelated users only matters while the cap is reached, and then it
//! only decides whose connection makes room.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ConnId;

/// The prefix an address shares the global cap's fair share with: its
/// IPv4 /24 or its IPv6 /64.
pub(crate) fn share_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

/// Unauthenticated control connections by prefix, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    queues: HashMap<IpAddr, VecDeque<ConnId>>,
    /// (connections held, prefix) of every prefix in `queues`: the last is
    /// the largest holder.
    by_size: BTreeSet<(usize, IpAddr)>,
    total: usize,
}

impl Admission {
    /// Unauthenticated connections in all.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Prefixes holding at least one (for the fuzzing harness's bounds).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn prefixes(&self) -> usize {
        self.queues.len()
    }

    fn held_by(&self, prefix: &IpAddr) -> usize {
        self.queues.get(prefix).map_or(0, VecDeque::len)
    }

    /// Counts a new unauthenticated connection from `ip`.
    pub(crate) fn add(&mut self, ip: IpAddr, conn: ConnId) {
        let prefix = share_key(ip);
        let queue = self.queues.entry(prefix).or_default();
        let before = queue.len();
        queue.push_back(conn);
        self.by_size.remove(&(before, prefix));
        self.by_size.insert((before + 1, prefix));
        self.total += 1;
    }

    /// Forgets a connection from `ip` that logged in or closed.
    pub(crate) fn remove(&mut self, ip: IpAddr, conn: ConnId) {
        let prefix = share_key(ip);
        let Some(queue) = self.queues.get_mut(&prefix) else {
            return;
        };
        let Some(at) = queue.iter().position(|&c| c == conn) else {
            return;
        };
        let before = queue.len();
        queue.remove(at);
        self.by_size.remove(&(before, prefix));
        if queue.is_empty() {
            self.queues.remove(&prefix);
        } else {
            self.by_size.insert((before - 1, prefix));
        }
        self.total -= 1;
    }

    /// The connection to close so that one from `ip` gets in under a full
    /// cap: the largest holder's oldest, if that holder has more than the
    /// newcomer's prefix (a prefix never displaces its equals or itself).
    pub(crate) fn displaceable_for(&self, ip: IpAddr) -> Option<ConnId> {
        let &(largest, prefix) = self.by_size.last()?;
        if largest <= self.held_by(&share_key(ip)) {
            return None;
        }
        self.queues.get(&prefix)?.front().copied()
    }

    pub(crate) fn clear(&mut self) {
        self.queues.clear();
        self.by_size.clear();
        self.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_are_ipv4_24_and_ipv6_64() {
        assert_eq!(share_key(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(share_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn the_largest_holders_oldest_makes_room_for_a_smaller_prefix() {
        let mut a = Admission::default();
        let mut n = 0;
        let mut conn = || {
            n += 1;
            ConnId::from_raw(n)
        };
        let first = conn();
        a.add(ip("203.0.113.1"), first);
        for host in 1..=3 {
            a.add(ip(&format!("203.0.113.{host}")), conn());
        }
        a.add(ip("198.51.100.1"), conn());
        assert_eq!(a.total(), 5);
        assert_eq!(a.prefixes(), 2);
        // A newcomer elsewhere displaces the flood's oldest …
        assert_eq!(a.displaceable_for(ip("192.0.2.1")), Some(first));
        assert_eq!(a.displaceable_for(ip("198.51.100.9")), Some(first));
        // … the flood itself displaces nobody.
        assert_eq!(a.displaceable_for(ip("203.0.113.200")), None);
        a.remove(ip("203.0.113.1"), first);
        assert_eq!(a.total(), 4);
        // Equal holders do not displace each other.
        let mut b = Admission::default();
        b.add(ip("192.0.2.1"), ConnId::from_raw(1));
        b.add(ip("198.51.100.1"), ConnId::from_raw(2));
        assert_eq!(b.displaceable_for(ip("198.51.100.2")), None);
        assert!(b.displaceable_for(ip("10.0.0.1")).is_some());
    }

    #[test]
    fn removing_everything_leaves_nothing() {
        let mut a = Admission::default();
        for i in 1..=100u64 {
            a.add(ip(&format!("10.0.{}.1", i % 7)), ConnId::from_raw(i));
        }
        for i in (1..=100u64).rev() {
            a.remove(ip(&format!("10.0.{}.1", i % 7)), ConnId::from_raw(i));
        }
        a.remove(ip("10.0.0.1"), ConnId::from_raw(5)); // already gone: nothing
        assert_eq!((a.total(), a.prefixes()), (0, 0));
        assert!(a.by_size.is_empty());
    }
}
