//! The server's connections by handle, and the last bytes of those it
//! closed while their output was still queued.
//!
//! The table issues the handles, so it can tell a handle it never issued
//! (the adapter broke the contract) from one it has closed (an input that
//! raced with `Output::Close`). A handle is live or closing, never both, and
//! a closing one holds bytes until its queued `Flush` takes them.

use super::conn::Conn;
use super::idhash::IdMap;
use super::outbox::Outbox;
use crate::ConnId;
use crate::conn::ConnIdAllocator;

#[derive(Debug, Default)]
pub(crate) struct ConnTable {
    ids: ConnIdAllocator,
    /// The highest handle issued: anything above was never issued.
    last: u64,
    /// Boxed: the map's spare capacity then costs a pointer per slot, not a whole connection.
    live: IdMap<ConnId, Box<Conn>>,
    /// Connections removed so far (wrapping), for `Server::prune_timers`.
    removed: u64,
    /// The last bytes of connections closed while their Flush was queued.
    closing: IdMap<ConnId, Vec<u8>>,
}

impl ConnTable {
    /// A handle that was never issued before (for a connection to insert).
    pub(crate) fn allocate(&mut self) -> ConnId {
        let conn = self.ids.allocate();
        self.last = conn.into_raw();
        conn
    }

    /// Whether this table issued `conn` (live, closing or gone since).
    pub(crate) fn was_issued(&self, conn: ConnId) -> bool {
        (1..=self.last).contains(&conn.into_raw())
    }

    /// Adds the connection of a freshly allocated handle.
    pub(crate) fn insert(&mut self, conn: ConnId, c: Conn) {
        debug_assert!(self.was_issued(conn), "{conn} was never allocated");
        debug_assert!(
            !self.live.contains_key(&conn) && !self.closing.contains_key(&conn),
            "{conn} is reused"
        );
        self.live.insert(conn, Box::new(c));
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&Conn> {
        self.live.get(&conn).map(|c| &**c)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.live.get_mut(&conn).map(|c| &mut **c)
    }

    /// Forgets a live connection and hands it back; its unsent bytes stay
    /// in it (see [`ConnTable::retire`]).
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<Conn> {
        let c = self.live.remove(&conn)?;
        self.removed = self.removed.wrapping_add(1);
        Some(*c)
    }

    /// How many connections were removed so far (wrapping).
    pub(crate) fn removed(&self) -> u64 {
        self.removed
    }

    /// Keeps the last bytes of a removed connection for the `Flush` that is
    /// already queued for it, so that they leave before its `Close`.
    pub(crate) fn retire(&mut self, conn: ConnId, last_bytes: Vec<u8>) {
        debug_assert!(!self.live.contains_key(&conn), "{conn} is still live");
        if !last_bytes.is_empty() {
            self.closing.insert(conn, last_bytes);
        }
    }

    /// What a queued `Flush` of `conn` transmits: a live connection's
    /// pending output (sealed on TLS), or a closed one's last bytes (once).
    pub(crate) fn take_output(&mut self, conn: ConnId, outbox: &mut Outbox) -> Vec<u8> {
        match self.live.get_mut(&conn) {
            Some(c) => c.take_output(outbox),
            None => self.closing.remove(&conn).unwrap_or_default(),
        }
    }

    /// Live connections.
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The live handles, oldest first (a deterministic order for shutdown).
    pub(crate) fn handles_in_order(&self) -> Vec<ConnId> {
        let mut handles: Vec<ConnId> = self.live.keys().copied().collect();
        handles.sort_unstable();
        handles
    }

    /// Closed connections whose last bytes are not handed out yet.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn closing_len(&self) -> usize {
        self.closing.len()
    }

    /// Panics unless every handle is issued, and live or closing, not both.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn assert_consistent(&self) {
        for conn in self.live.keys() {
            assert!(self.was_issued(*conn), "{conn} live but never issued");
        }
        for conn in self.closing.keys() {
            assert!(self.was_issued(*conn), "{conn} closing but never issued");
            assert!(!self.live.contains_key(conn), "{conn} is live and closing");
        }
        assert!(self.closing.values().all(|b| !b.is_empty()));
    }

    /// Live connections with their handles, in no particular order.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn)> + '_ {
        self.live.iter().map(|(id, c)| (*id, &**c))
    }

    /// Bytes held by live connections: partial frames and unsent output.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn buffered(&self) -> usize {
        self.live
            .values()
            .map(|c| c.decoder.buffered() + c.out.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use super::*;

    fn control() -> Conn {
        let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        Conn::control(peer, Instant::now())
    }

    fn assert_consistent(t: &ConnTable) {
        t.assert_consistent();
    }

    #[test]
    fn handles_are_fresh_and_known_only_once_issued() {
        let mut t = ConnTable::default();
        assert!(!t.was_issued(ConnId::from_raw(0)));
        assert!(!t.was_issued(ConnId::from_raw(1)));
        let a = t.allocate();
        let b = t.allocate();
        assert_ne!(a, b);
        assert!(t.was_issued(a) && t.was_issued(b));
        assert!(!t.was_issued(ConnId::from_raw(b.into_raw() + 1)));
        assert!(!t.was_issued(ConnId::from_raw(0)));
        // Issued but never inserted (a refused accept): known, not live.
        assert!(t.get(a).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn a_removed_connection_keeps_its_last_bytes_for_one_flush() {
        let mut t = ConnTable::default();
        let a = t.allocate();
        t.insert(a, control());
        t.get_mut(a).unwrap().out.extend_from_slice(b"bye");
        assert_eq!(t.len(), 1);
        let mut c = t.remove(a).unwrap();
        assert!(t.remove(a).is_none(), "removed once");
        t.retire(a, std::mem::take(&mut c.out));
        assert_consistent(&t);
        assert_eq!((t.len(), t.closing_len()), (0, 1));
        assert_eq!(t.take_output(a, &mut Outbox::default()), b"bye");
        assert_eq!(
            t.take_output(a, &mut Outbox::default()),
            b"",
            "handed out once"
        );
        assert_eq!(t.closing_len(), 0);
        assert!(t.was_issued(a), "a closed handle stays known");
    }

    #[test]
    fn nothing_is_kept_for_a_connection_with_nothing_to_send() {
        let mut t = ConnTable::default();
        let a = t.allocate();
        t.insert(a, control());
        t.remove(a).unwrap();
        t.retire(a, Vec::new());
        assert_eq!(t.closing_len(), 0);
    }

    #[test]
    fn a_live_connection_flushes_its_pending_output() {
        let mut t = ConnTable::default();
        let a = t.allocate();
        t.insert(a, control());
        t.get_mut(a).unwrap().out.extend_from_slice(b"hello");
        assert_eq!(t.take_output(a, &mut Outbox::default()), b"hello");
        assert_eq!(t.take_output(a, &mut Outbox::default()), b"");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn handles_come_out_in_order_whatever_was_removed() {
        let mut t = ConnTable::default();
        let handles: Vec<ConnId> = (0..50).map(|_| t.allocate()).collect();
        for &h in handles.iter().rev() {
            t.insert(h, control());
        }
        for h in handles.iter().step_by(3) {
            let c = t.remove(*h).unwrap();
            t.retire(*h, c.out);
        }
        assert_consistent(&t);
        let expected: Vec<ConnId> = handles
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, h)| *h)
            .collect();
        assert_eq!(t.handles_in_order(), expected);
        assert_eq!(t.len(), expected.len());
    }
}
