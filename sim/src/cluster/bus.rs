//! A model of the cluster's shared state [D-17]: an ordered log of
//! notifications per user (JetStream's `FAXNOTIFY_LOG`, filtered by user)
//! and a key-value store of session records with compare-and-set on a
//! revision (`FAXNOTIFY_SESSIONS`). Every operation is atomic at the
//! instant it completes; the world decides when that is (bus latency) and
//! whether the node can reach the bus at all.

use std::collections::BTreeMap;

use faxnotify_core::SessionId;

/// One accepted notification: its unique id (carried in its text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: u64,
}

/// A session's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) user: String,
    /// The owning server process (`Node::owner_id`), 0 for none.
    pub(crate) owner: u64,
    /// The owner's lease, in virtual milliseconds.
    pub(crate) owner_until_ms: u64,
    /// The index in the user's log of the session's seq 1.
    pub(crate) start: usize,
    /// The highest session seq persisted as acknowledged.
    pub(crate) acked: u64,
}

/// The log and the store.
#[derive(Debug, Default)]
pub(crate) struct Bus {
    log: BTreeMap<String, Vec<Entry>>,
    kv: BTreeMap<SessionId, (u64, Record)>,
    next_revision: u64,
}

impl Bus {
    /// Appends an accepted notification to `user`'s log.
    pub(crate) fn publish(&mut self, user: &str, entry: Entry) {
        self.log.entry(user.to_owned()).or_default().push(entry);
    }

    /// `user`'s log from `from` on.
    pub(crate) fn entries(&self, user: &str, from: usize) -> &[Entry] {
        self.log
            .get(user)
            .map_or(&[][..], |l| l.get(from..).unwrap_or(&[]))
    }

    /// How many entries `user`'s log holds.
    pub(crate) fn len(&self, user: &str) -> usize {
        self.log.get(user).map_or(0, Vec::len)
    }

    /// Creates a record; `false` if the key exists.
    pub(crate) fn create(&mut self, id: SessionId, record: Record) -> bool {
        if self.kv.contains_key(&id) {
            return false;
        }
        self.next_revision += 1;
        self.kv.insert(id, (self.next_revision, record));
        true
    }

    /// The record and its revision.
    pub(crate) fn get(&self, id: SessionId) -> Option<(u64, &Record)> {
        self.kv.get(&id).map(|(rev, r)| (*rev, r))
    }

    /// Replaces the record if its revision is still `revision`.
    pub(crate) fn update(&mut self, id: SessionId, record: Record, revision: u64) -> bool {
        match self.kv.get_mut(&id) {
            Some((rev, r)) if *rev == revision => {
                self.next_revision += 1;
                *rev = self.next_revision;
                *r = record;
                true
            }
            _ => false,
        }
    }

    /// Deletes the record.
    pub(crate) fn delete(&mut self, id: SessionId) {
        self.kv.remove(&id);
    }

    /// How many records exist.
    pub(crate) fn records(&self) -> usize {
        self.kv.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(owner: u64) -> Record {
        Record {
            user: "u".into(),
            owner,
            owner_until_ms: 0,
            start: 0,
            acked: 0,
        }
    }

    #[test]
    fn compare_and_set_lets_exactly_one_of_two_racers_win() {
        let mut bus = Bus::default();
        let id = SessionId::new(9).unwrap();
        assert!(bus.create(id, record(1)));
        assert!(
            !bus.create(id, record(2)),
            "create fails on an existing key"
        );
        let (rev, _) = bus.get(id).unwrap();
        // Both read `rev`; the first update wins, the second finds it moved.
        assert!(bus.update(id, record(2), rev));
        assert!(!bus.update(id, record(3), rev));
        assert_eq!(bus.get(id).unwrap().1.owner, 2);
    }

    #[test]
    fn the_log_is_ordered_per_user() {
        let mut bus = Bus::default();
        bus.publish("a", Entry { id: 1 });
        bus.publish("b", Entry { id: 2 });
        bus.publish("a", Entry { id: 3 });
        assert_eq!(bus.entries("a", 0), &[Entry { id: 1 }, Entry { id: 3 }]);
        assert_eq!(bus.entries("a", 1), &[Entry { id: 3 }]);
        assert_eq!(bus.entries("a", 5), &[]);
        assert_eq!(bus.len("b"), 1);
    }
}
