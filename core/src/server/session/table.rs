//! The live sessions, by id, by user and by held callback endpoint.
//!
//! Sessions sit in a slab (dense, iterated in a deterministic order) under
//! a key that does not change while they live. The table keeps its indexes
//! in step with the slab: every live session is in `index` under its id and
//! in `by_user` under its user, and `endpoints` maps an endpoint to a
//! session exactly when that session's `held_endpoint` names it [C-4].
//! Those three fields of a [`Session`] are private to its module, so only
//! these methods change them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
use std::sync::Arc;

use slab::Slab;

use super::Session;
use super::of_user::UserSessions;
use crate::SessionId;
use crate::server::idhash::IdMap;
use crate::server::ids::SessionIds;

#[derive(Debug)]
pub(crate) struct SessionTable {
    ids: SessionIds,
    slab: Slab<Session>,
    index: IdMap<SessionId, usize>,
    /// Sessions per prepared user name, for targeting and [C-7].
    by_user: HashMap<Arc<str>, UserSessions>,
    /// Which session holds each callback endpoint [C-4].
    endpoints: HashMap<SocketAddr, SessionId>,
    /// Sessions removed so far (wrapping), for `Server::prune_timers`.
    removed: u64,
}

impl SessionTable {
    pub(crate) fn new(ids: SessionIds) -> Self {
        Self {
            ids,
            slab: Slab::new(),
            index: IdMap::default(),
            by_user: HashMap::new(),
            endpoints: HashMap::new(),
            removed: 0,
        }
    }

    /// An id never handed out before, for the session about to be inserted.
    pub(crate) fn next_id(&mut self) -> SessionId {
        self.ids.next_id()
    }

    /// The user's name, shared with the user's other sessions if any.
    pub(crate) fn user_name(&self, user: &str) -> Arc<str> {
        match self.by_user.get_key_value(user) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(user),
        }
    }

    /// Adds a session and returns its key.
    pub(crate) fn insert(&mut self, session: Session) -> usize {
        let (id, user) = (session.id, Arc::clone(&session.user));
        debug_assert!(!self.index.contains_key(&id), "session {id} is live");
        debug_assert!(session.held_endpoint.is_none());
        let key = self.slab.insert(session);
        self.index.insert(id, key);
        match self.by_user.entry(user) {
            Entry::Occupied(mut sessions) => sessions.get_mut().push(id),
            Entry::Vacant(slot) => {
                slot.insert(UserSessions::One(id));
            }
        }
        key
    }

    /// Removes a session from the slab and every index, letting go of the
    /// endpoint it held.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Session> {
        let key = self.index.remove(&id)?;
        self.removed = self.removed.wrapping_add(1);
        let s = self.slab.remove(key);
        if let Some(sessions) = self.by_user.get_mut(&s.user)
            && sessions.remove(id)
        {
            self.by_user.remove(&s.user);
        }
        if let Some(endpoint) = s.held_endpoint
            && self.endpoints.get(&endpoint) == Some(&id)
        {
            self.endpoints.remove(&endpoint);
        }
        Some(s)
    }

    /// The key of a live session.
    pub(crate) fn key(&self, id: SessionId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    pub(crate) fn contains(&self, id: SessionId) -> bool {
        self.index.contains_key(&id)
    }

    pub(crate) fn get(&self, id: SessionId) -> Option<&Session> {
        self.index.get(&id).map(|&k| &self.slab[k])
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.index.get(&id).map(|&k| &mut self.slab[k])
    }

    /// The session under `key`, if one is there.
    pub(crate) fn by_key(&self, key: usize) -> Option<&Session> {
        self.slab.get(key)
    }

    /// One past the highest key a session can have now: walking `0..` this
    /// with [`SessionTable::by_key`] visits every session in key order and
    /// needs no copy of the ids.
    pub(crate) fn key_bound(&self) -> usize {
        self.slab.capacity()
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// How many sessions were removed so far (wrapping).
    pub(crate) fn removed(&self) -> u64 {
        self.removed
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Every live session, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Session> + '_ {
        self.slab.iter().map(|(_, s)| s)
    }

    /// The ids of every live session, in key order.
    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.iter().map(|s| s.id).collect()
    }

    /// The `i`-th live session of `user` (by login order), if any: the
    /// index is stable while no session opens or ends, so callers that
    /// only queue notifications can walk it without a copy.
    pub(crate) fn of_user(&self, user: &str, i: usize) -> Option<SessionId> {
        self.by_user.get(user)?.as_slice().get(i).copied()
    }

    /// How many live sessions `user` has [C-7].
    pub(crate) fn count_of_user(&self, user: &str) -> usize {
        self.by_user.get(user).map_or(0, |s| s.as_slice().len())
    }

    /// The session holding a callback endpoint [C-4].
    pub(crate) fn holder(&self, endpoint: SocketAddr) -> Option<SessionId> {
        self.endpoints.get(&endpoint).copied()
    }

    /// The session under `key` now holds `endpoint` (a callback handshake
    /// succeeded there [C-4]); the endpoint it held before, if another, is
    /// let go. A previous holder of `endpoint` loses it: the server ends
    /// that session first, this only keeps the index exact.
    pub(crate) fn hold_endpoint(&mut self, key: usize, endpoint: SocketAddr) {
        let s = &mut self.slab[key];
        let id = s.id;
        if let Some(held) = s.held_endpoint.replace(endpoint)
            && held != endpoint
            && self.endpoints.get(&held) == Some(&id)
        {
            self.endpoints.remove(&held);
        }
        if let Some(previous) = self.endpoints.insert(endpoint, id)
            && previous != id
            && let Some(&k) = self.index.get(&previous)
        {
            debug_assert!(false, "session {previous} still held {endpoint}");
            self.slab[k].held_endpoint = None;
        }
    }

    /// The session under `key` lets go of the endpoint it held, if any.
    pub(crate) fn let_go_endpoint(&mut self, key: usize) {
        let s = &mut self.slab[key];
        if let Some(held) = s.held_endpoint.take()
            && self.endpoints.get(&held) == Some(&s.id)
        {
            self.endpoints.remove(&held);
        }
    }

    /// Users with at least one live session.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn user_count(&self) -> usize {
        self.by_user.len()
    }

    /// Endpoints held [C-4].
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// Panics unless the indexes say exactly what the slab holds.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn assert_consistent(&self) {
        assert_eq!(self.index.len(), self.slab.len(), "sessions indexed by id");
        for (key, s) in &self.slab {
            assert_eq!(self.index.get(&s.id), Some(&key), "{} indexed", s.id);
            let of_user = self.by_user.get(&s.user).map_or(0, |ids| {
                ids.as_slice().iter().filter(|&&id| id == s.id).count()
            });
            assert_eq!(of_user, 1, "{} listed once under its user", s.id);
            if let Some(e) = s.held_endpoint {
                assert_eq!(self.endpoints.get(&e), Some(&s.id), "{e} held by {}", s.id);
            }
        }
        let listed: usize = self.by_user.values().map(|s| s.as_slice().len()).sum();
        assert_eq!(listed, self.slab.len(), "no stale user entries");
        assert!(self.by_user.values().all(|ids| !ids.as_slice().is_empty()));
        for (e, id) in &self.endpoints {
            let held = self.get(*id).and_then(|s| s.held_endpoint);
            assert_eq!(
                held,
                Some(*e),
                "{e} is held by {id}, which does not hold it"
            );
        }
    }
}

impl Index<usize> for SessionTable {
    type Output = Session;

    fn index(&self, key: usize) -> &Session {
        &self.slab[key]
    }
}

/// Mutable access by key reaches only the fields that no index depends on
/// (the indexed ones are private to the session's module).
impl IndexMut<usize> for SessionTable {
    fn index_mut(&mut self, key: usize) -> &mut Session {
        &mut self.slab[key]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::ConnId;
    use crate::auth::SessionKey;
    use crate::rng::CoreRng;
    use crate::server::session::Grant;
    use crate::wire::{Caps, Role};

    fn table() -> SessionTable {
        SessionTable::new(SessionIds::new(&mut CoreRng::from_seed([7; 32])))
    }

    fn open(t: &mut SessionTable, user: &str) -> (SessionId, usize) {
        let id = t.next_id();
        let grant = Grant {
            control: ConnId::from_raw(1),
            peer: "192.0.2.1:4000".parse().unwrap(),
            key: SessionKey::from_bytes([1; 32]),
            caps: Caps::NONE,
            role: Role::User,
            lease_deadline: Instant::now(),
        };
        let key = t.insert(Session::new(id, t.user_name(user), grant));
        (id, key)
    }

    fn ep(port: u16) -> SocketAddr {
        SocketAddr::new("192.0.2.1".parse().unwrap(), port)
    }

    fn assert_consistent(t: &SessionTable) {
        t.assert_consistent();
    }

    #[test]
    fn insert_and_remove_keep_every_index() {
        let mut t = table();
        let (a1, _) = open(&mut t, "alice");
        let (b1, _) = open(&mut t, "bob");
        let (a2, _) = open(&mut t, "alice");
        assert_consistent(&t);
        assert_eq!((t.len(), t.user_count()), (3, 2));
        assert_eq!(t.count_of_user("alice"), 2);
        assert_eq!(
            (t.of_user("alice", 0), t.of_user("alice", 1)),
            (Some(a1), Some(a2))
        );
        assert!(Arc::ptr_eq(
            &t.get(a1).unwrap().user,
            &t.get(a2).unwrap().user
        ));

        assert_eq!(t.remove(a1).map(|s| s.id), Some(a1));
        assert!(t.remove(a1).is_none(), "removed once");
        assert_consistent(&t);
        assert_eq!(t.of_user("alice", 0), Some(a2));
        t.remove(a2).unwrap();
        assert_consistent(&t);
        assert_eq!((t.count_of_user("alice"), t.user_count()), (0, 1));
        assert!(t.contains(b1) && !t.contains(a2));
        assert_eq!(t.ids(), vec![b1]);
    }

    #[test]
    fn keys_stay_put_and_ids_are_never_reused() {
        let mut t = table();
        let (a, ka) = open(&mut t, "alice");
        let (b, kb) = open(&mut t, "bob");
        t.remove(a).unwrap();
        let (c, kc) = open(&mut t, "carol");
        assert!(c != a && c != b);
        assert_eq!(t.key(b), Some(kb));
        assert_eq!(kc, ka, "the slab reuses the freed key, the id is new");
        assert_eq!(t[kc].id(), c);
        assert_consistent(&t);
    }

    #[test]
    fn an_endpoint_is_held_by_one_session_and_follows_it() {
        let mut t = table();
        let (a, ka) = open(&mut t, "alice");
        let (b, kb) = open(&mut t, "bob");
        t.hold_endpoint(ka, ep(6000));
        assert_eq!(t.holder(ep(6000)), Some(a));
        // A new handshake elsewhere lets go of the old endpoint.
        t.hold_endpoint(ka, ep(6001));
        assert_eq!((t.holder(ep(6000)), t.holder(ep(6001))), (None, Some(a)));
        t.hold_endpoint(ka, ep(6001));
        assert_eq!(t.endpoint_count(), 1);
        assert_consistent(&t);
        t.hold_endpoint(kb, ep(6002));
        t.let_go_endpoint(ka);
        t.let_go_endpoint(ka);
        assert_eq!(t.holder(ep(6001)), None);
        assert_eq!(t[ka].held_endpoint(), None);
        assert_consistent(&t);
        // Ending a session lets go of what it held.
        t.remove(b).unwrap();
        assert_eq!((t.holder(ep(6002)), t.endpoint_count()), (None, 0));
        assert_consistent(&t);
    }

    #[test]
    fn many_opens_and_ends_leave_nothing_behind() {
        let mut t = table();
        let users = ["alice", "bob", "carol"];
        let mut live = Vec::new();
        for round in 0..300usize {
            let (id, key) = open(&mut t, users[round % 3]);
            if round % 4 == 0 {
                let port = 6000 + u16::try_from(round % 7).unwrap();
                if t.holder(ep(port)).is_none() {
                    t.hold_endpoint(key, ep(port));
                }
            }
            live.push(id);
            if round % 2 == 1 {
                let gone = live.remove(round % live.len());
                t.remove(gone).unwrap();
            }
            assert_consistent(&t);
        }
        for id in live {
            t.remove(id).unwrap();
        }
        assert_consistent(&t);
        assert_eq!((t.len(), t.user_count(), t.endpoint_count()), (0, 0, 0));
    }
}
