//! What the fuzzing harnesses (feature `fuzzing`) need to see inside the
//! server: how much it holds, to check that nothing grows without bound and
//! that everything is released once the peers fall silent.

use super::Server;
use super::conn::ConnKind;

/// Sizes of the server's internal tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footprint {
    /// Open connections.
    pub(crate) connections: usize,
    /// Live sessions.
    pub(crate) sessions: usize,
    /// Heap entries, live and stale.
    pub(crate) timers: usize,
    /// Addresses with something counted against them (an IPv6 peer's /64
    /// is one more, for its unauthenticated connections and failed logins).
    pub(crate) addresses: usize,
    /// Prefixes (IPv4 /24, IPv6 /64) with unauthenticated connections.
    pub(crate) prefixes: usize,
    /// Last bytes of closed connections not yet handed out.
    pub(crate) closing: usize,
    /// Outputs not yet polled.
    pub(crate) pending_outputs: bool,
    /// Bytes held by connections: partial frames in decoders and unsent output.
    pub(crate) buffered: usize,
    /// Entries in the per-user index.
    pub(crate) users: usize,
    /// Held callback endpoints [C-4].
    pub(crate) endpoints: usize,
}

impl Server {
    /// Panics unless every table's indexes agree with what it holds, and
    /// the per-address counts and the global cap's count agree with the
    /// sessions and connections [A-5] [C-7] [D-15].
    pub(crate) fn fuzz_assert_consistent(&self) {
        self.conns.assert_consistent();
        self.sessions.assert_consistent();
        let unauthenticated: Vec<_> = self
            .conns
            .iter()
            .filter_map(|(_, c)| match &c.kind {
                ConnKind::Control(ctl) if !ctl.is_authenticated() => Some(ctl.peer.ip()),
                _ => None,
            })
            .collect();
        assert_eq!(
            self.admission.total(),
            unauthenticated.len(),
            "the global cap counts every connection that has not logged in"
        );
        self.ips.assert_counts(
            self.sessions.iter().map(|s| s.peer.ip()),
            unauthenticated.into_iter(),
        );
        // [D-17]: a claim is pending exactly while its login waits for it.
        let waiting: Vec<_> = self
            .conns
            .iter()
            .filter_map(|(id, c)| match &c.kind {
                ConnKind::Control(ctl) => ctl.claim().map(|claim| (claim.id, id)),
                ConnKind::Callback(_) => None,
            })
            .collect();
        assert_eq!(waiting.len(), self.cluster.claims.len(), "pending claims");
        for (claim, conn) in waiting {
            assert_eq!(self.cluster.claims.get(&claim), Some(&conn), "{claim}");
        }
    }

    pub(crate) fn fuzz_footprint(&self) -> Footprint {
        Footprint {
            connections: self.conns.len(),
            sessions: self.sessions.len(),
            timers: self.timers.len(),
            addresses: self.ips.len(),
            prefixes: self.admission.prefixes(),
            closing: self.conns.closing_len(),
            pending_outputs: !self.out.is_empty(),
            buffered: self.conns.buffered(),
            users: self.sessions.user_count(),
            endpoints: self.sessions.endpoint_count(),
        }
    }
}
