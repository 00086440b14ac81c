//! Per-address bookkeeping: unauthenticated connections and sessions per IP
//! [A-5] [C-7], the failed-login records [A-5] [D-15], and the callback dial
//! slots per destination IP [B-5].
//!
//! An address has an entry only while something is counted against it, so
//! the table's size follows live connections and recent failures, not every
//! address ever seen.
//!
//! What a peer can do from many addresses is counted under its
//! [`address_key`]: an IPv6 host has a whole /64 to send from, so
//! unauthenticated connections and failed logins are counted per /64
//! (IPv4 per address: a NAT's users share one). Sessions [C-7] and dial
//! slots [B-5] stay per exact IP.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use super::failed_logins::FailedLogins;
use crate::{ConnId, SessionId};

/// The key that limits of unauthenticated peers count under: an IPv4
/// address itself, an IPv6 address's /64.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// What is counted against one IP address.
#[derive(Debug, Default)]
pub(crate) struct IpEntry {
    /// Control connections under this [`address_key`] that have not reached LOGIN_OK.
    unauthenticated: usize,
    /// Sessions whose (latest) control connection comes from it.
    sessions: usize,
    /// Callback dials to it whose TCP connect is in progress, with their
    /// session's user (slots are shared fairly between users [D-15]).
    dials_active: Vec<(ConnId, Arc<str>)>,
    /// Sessions waiting for a dial slot, first come first served among
    /// those whose user may dial.
    dials_waiting: VecDeque<SessionId>,
    /// Failed logins under this [`address_key`], until forgiven (boxed:
    /// most entries never have any).
    pub(crate) failed: Option<Box<FailedLogins>>,
    /// The scheduled timer that forgets `failed` once it is all forgiven.
    pub(crate) timer: Option<Instant>,
}

impl IpEntry {
    fn is_unused(&self, now: Instant) -> bool {
        self.unauthenticated == 0
            && self.sessions == 0
            && self.dials_active.is_empty()
            && self.dials_waiting.is_empty()
            && self
                .failed
                .as_ref()
                .is_none_or(|f| f.forgotten_at().is_none_or(|t| t <= now))
    }

    /// Dials in progress to this IP for `user`.
    fn dials_of(&self, user: &str) -> usize {
        self.dials_active
            .iter()
            .filter(|(_, u)| &**u == user)
            .count()
    }

    /// Whether `user` may start a dial to this IP now, with `max` slots per
    /// destination IP [B-5]: up to `max` per user, and up to `max` in all —
    /// except that a user with no dial in progress here always gets one, so
    /// one user's black-holed callbacks cannot hold another's back [D-15].
    fn may_dial(&self, user: &str, max: usize) -> bool {
        let own = self.dials_of(user);
        own < max && (own == 0 || self.dials_active.len() < max)
    }
}

/// Entries by IP address (IPv4-mapped IPv6 addresses are stored as IPv4).
#[derive(Debug, Default)]
pub(crate) struct IpTable {
    map: HashMap<IpAddr, IpEntry>,
    /// Entries removed so far (wrapping; a clear counts as one), for
    /// `Server::prune_timers`.
    removed: u64,
}

impl IpTable {
    pub(crate) fn get(&self, ip: &IpAddr) -> Option<&IpEntry> {
        self.map.get(ip)
    }

    pub(crate) fn get_mut(&mut self, ip: &IpAddr) -> Option<&mut IpEntry> {
        self.map.get_mut(ip)
    }

    pub(crate) fn entry(&mut self, ip: IpAddr) -> &mut IpEntry {
        self.map.entry(ip).or_default()
    }

    /// Control connections under `key` (an [`address_key`]) that have not
    /// logged in.
    pub(crate) fn unauthenticated_at(&self, key: IpAddr) -> usize {
        self.map.get(&key).map_or(0, |e| e.unauthenticated)
    }

    /// Whether `user` may start a dial to `ip` now (see [`IpEntry::may_dial`]).
    pub(crate) fn may_dial(&self, ip: IpAddr, user: &str, max: usize) -> bool {
        self.map.get(&ip).map_or(max > 0, |e| e.may_dial(user, max))
    }

    /// Counts a dial to `ip` whose connect is in progress [B-5].
    pub(crate) fn add_dial(&mut self, ip: IpAddr, conn: ConnId, user: Arc<str>) {
        self.entry(ip).dials_active.push((conn, user));
    }

    /// The connect `conn` to `ip` finished; false if nothing is counted
    /// against `ip`. The caller starts waiting dials, then releases.
    pub(crate) fn end_dial(&mut self, ip: IpAddr, conn: ConnId) -> bool {
        let Some(e) = self.map.get_mut(&ip) else {
            return false;
        };
        e.dials_active.retain(|(c, _)| *c != conn);
        true
    }

    /// Queues a session's dial behind `ip`'s slots.
    pub(crate) fn wait_for_dial(&mut self, ip: IpAddr, sid: SessionId) {
        self.entry(ip).dials_waiting.push_back(sid);
    }

    /// The `at`-th session waiting for a slot at `ip`.
    pub(crate) fn waiting(&self, ip: IpAddr, at: usize) -> Option<SessionId> {
        self.map.get(&ip)?.dials_waiting.get(at).copied()
    }

    /// Takes the `at`-th session out of `ip`'s queue.
    pub(crate) fn take_waiting(&mut self, ip: IpAddr, at: usize) {
        if let Some(e) = self.map.get_mut(&ip) {
            e.dials_waiting.remove(at);
        }
    }

    /// A session stops waiting for a slot at `ip` (it ended or moved on).
    pub(crate) fn stop_waiting(&mut self, ip: IpAddr, sid: SessionId, now: Instant) {
        if let Some(e) = self.map.get_mut(&ip) {
            e.dials_waiting.retain(|&id| id != sid);
        }
        self.release(&ip, now);
    }

    /// Sessions whose (latest) control connection comes from `ip` [C-7].
    pub(crate) fn sessions_at(&self, ip: IpAddr) -> usize {
        self.map.get(&ip).map_or(0, |e| e.sessions)
    }

    /// Counts a session from `ip` [C-7].
    pub(crate) fn add_session(&mut self, ip: IpAddr) {
        self.entry(ip).sessions += 1;
    }

    /// Uncounts a session from `ip` (it ended or moved away).
    pub(crate) fn remove_session(&mut self, ip: IpAddr, now: Instant) {
        if let Some(e) = self.map.get_mut(&ip) {
            e.sessions = e.sessions.saturating_sub(1);
        }
        self.release(&ip, now);
    }

    /// A session resumed from another address: it counts there now.
    pub(crate) fn move_session(&mut self, from: IpAddr, to: IpAddr, now: Instant) {
        if from != to {
            self.remove_session(from, now);
            self.add_session(to);
        }
    }

    /// Counts a control connection under `key` (an [`address_key`]) that
    /// has not logged in.
    pub(crate) fn add_unauthenticated(&mut self, key: IpAddr) {
        self.entry(key).unauthenticated += 1;
    }

    /// Uncounts one that logged in or closed.
    pub(crate) fn remove_unauthenticated(&mut self, key: IpAddr, now: Instant) {
        if let Some(e) = self.map.get_mut(&key) {
            e.unauthenticated = e.unauthenticated.saturating_sub(1);
        }
        self.release(&key, now);
    }

    /// Drops the entry if nothing is counted against the address any more.
    pub(crate) fn release(&mut self, ip: &IpAddr, now: Instant) {
        if self.map.get(ip).is_some_and(|e| e.is_unused(now)) {
            self.map.remove(ip);
            self.removed = self.removed.wrapping_add(1);
        }
    }

    /// How many entries were removed so far (wrapping).
    pub(crate) fn removed(&self) -> u64 {
        self.removed
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Panics unless the sessions and unauthenticated connections counted
    /// per address are exactly those listed (each by the key it counts under).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn assert_counts(
        &self,
        sessions: impl Iterator<Item = IpAddr>,
        unauthenticated: impl Iterator<Item = IpAddr>,
    ) {
        let mut expected: HashMap<IpAddr, (usize, usize)> = HashMap::new();
        for ip in sessions {
            expected.entry(ip).or_default().0 += 1;
        }
        for ip in unauthenticated {
            expected.entry(address_key(ip)).or_default().1 += 1;
        }
        for (ip, e) in &self.map {
            let (s, u) = expected.remove(ip).unwrap_or_default();
            assert_eq!((e.sessions, e.unauthenticated), (s, u), "counts of {ip}");
        }
        assert!(
            expected.is_empty(),
            "counted but without an entry: {expected:?}"
        );
    }

    pub(crate) fn clear(&mut self) {
        self.removed = self.removed.wrapping_add(1);
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_dropped_when_unused() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut table = IpTable::default();
        table.entry(ip).unauthenticated += 1;
        table.release(&ip, t0);
        assert_eq!(table.len(), 1);
        table.entry(ip).unauthenticated -= 1;
        table.release(&ip, t0);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn sessions_move_between_addresses_and_release_their_entries() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut table = IpTable::default();
        table.add_session(a);
        table.add_session(a);
        table.add_unauthenticated(b);
        assert_eq!((table.sessions_at(a), table.sessions_at(b)), (2, 0));
        table.move_session(a, a, t0);
        assert_eq!(
            table.sessions_at(a),
            2,
            "a resume from the same address moves nothing"
        );
        table.move_session(a, b, t0);
        assert_eq!((table.sessions_at(a), table.sessions_at(b)), (1, 1));
        table.remove_session(a, t0);
        assert_eq!(table.len(), 1, "nothing is counted against a any more");
        table.remove_unauthenticated(b, t0);
        assert_eq!(table.len(), 1, "b still has a session");
        table.remove_session(b, t0);
        assert_eq!(table.len(), 0);
        // Uncounting what was never counted changes nothing and leaves nothing.
        table.remove_session(a, t0);
        table.remove_unauthenticated(a, t0);
        assert_eq!((table.len(), table.sessions_at(a)), (0, 0));
    }

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        let key = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn a_user_without_a_dial_always_gets_a_slot() {
        let (alice, bob): (Arc<str>, Arc<str>) = ("alice".into(), "bob".into());
        let mut e = IpEntry::default();
        for i in 0..4 {
            assert!(e.may_dial(&alice, 4));
            e.dials_active
                .push((ConnId::from_raw(i + 1), Arc::clone(&alice)));
        }
        assert!(!e.may_dial(&alice, 4), "alice has her 4");
        assert!(e.may_dial(&bob, 4), "bob has none in progress");
        e.dials_active.push((ConnId::from_raw(9), Arc::clone(&bob)));
        assert!(!e.may_dial(&bob, 4), "bob has one and the IP is full");
        e.dials_active.retain(|(c, _)| c.into_raw() > 1);
        assert!(!e.may_dial(&alice, 4), "alice 3 + bob 1: alice waits");
        e.dials_active.retain(|(c, _)| c.into_raw() > 2);
        assert!(e.may_dial(&alice, 4) && e.may_dial(&bob, 4));
    }
}
