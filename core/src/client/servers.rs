//! The server addresses the client dials, in turn: failover [D-17].

use std::net::SocketAddr;

/// The configured servers and the one the client is on (or dials next).
///
/// The client stays on a server while it works and moves to the next,
/// round robin, whenever its control connection fails or is lost; the
/// reconnect backoff is the client's, not per server, so a cluster that is
/// down as a whole is retried no faster than a single server would be.
#[derive(Debug)]
pub(crate) struct ServerList {
    /// Not empty ([`ClientConfig::validate`](super::ClientConfig::validate)).
    addrs: Vec<SocketAddr>,
    current: usize,
}

impl ServerList {
    /// The list, starting on its first address. `addrs` is not empty.
    pub(crate) fn new(addrs: Vec<SocketAddr>) -> Self {
        debug_assert!(!addrs.is_empty(), "validated by ClientConfig::validate");
        Self { addrs, current: 0 }
    }

    /// The server the client is on: the one it dialled last, or dials next.
    pub(crate) fn current(&self) -> SocketAddr {
        // `current` is always an index of the non-empty list.
        self.addrs[self.current]
    }

    /// Moves on to the next server (round robin) and returns it.
    pub(crate) fn advance(&mut self) -> SocketAddr {
        self.current = (self.current + 1) % self.addrs.len();
        self.current()
    }

    /// Every configured server, in order.
    pub(crate) fn all(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, i], 4580))
    }

    #[test]
    fn rotates_round_robin_and_wraps() {
        let mut list = ServerList::new(vec![addr(1), addr(2), addr(3)]);
        assert_eq!(list.current(), addr(1));
        assert_eq!(list.advance(), addr(2));
        assert_eq!(list.current(), addr(2));
        assert_eq!(list.advance(), addr(3));
        assert_eq!(list.advance(), addr(1));
    }

    #[test]
    fn one_server_stays_put() {
        let mut list = ServerList::new(vec![addr(1)]);
        assert_eq!(list.advance(), addr(1));
        assert_eq!(list.current(), addr(1));
    }
}
