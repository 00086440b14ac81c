//! A model of the cluster's shared state [D-17]: an ordered log of
//! messages per user (JetStream's `FAXNOTIFY_LOG`, filtered by user), each
//! holding one notification or a batch of them (a notification's place is
//! its [`Pos`]: message, index in the message), and a key-value store of session records with compare-and-set on a
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

/// Where a notification is in its user's log: the message (its index in
/// the user's log, standing in for the stream seq) and its index in the
/// message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) message: usize,
    pub(crate) index: usize,
}

impl Pos {
    /// The next notification's position when `self` is not a message's
    /// last (reading from it moves on to the next message otherwise).
    pub(crate) fn after(self) -> Self {
        Self {
            message: self.message,
            index: self.index + 1,
        }
    }
}

/// A session's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) user: String,
    /// The owning server process (`Node::owner_id`), 0 for none.
    pub(crate) owner: u64,
    /// The owner's lease, in virtual milliseconds.
    pub(crate) owner_until_ms: u64,
    /// The message of the user's log that holds the session's seq 1 (the
    /// first message after the log's end when the session began).
    pub(crate) start: usize,
    /// The highest session seq persisted as acknowledged.
    pub(crate) acked: u64,
    /// Where that notification is (`None` before the first).
    pub(crate) acked_at: Option<Pos>,
}

impl Record {
    /// Where the owner reads from next: right after the acknowledged
    /// notification, or the session's first message.
    pub(crate) fn resume_at(&self) -> Pos {
        self.acked_at.map_or(
            Pos {
                message: self.start,
                index: 0,
            },
            Pos::after,
        )
    }
}

/// The log and the store.
#[derive(Debug, Default)]
pub(crate) struct Bus {
    /// Per user: its messages, each one or more notifications.
    log: BTreeMap<String, Vec<Vec<Entry>>>,
    kv: BTreeMap<SessionId, (u64, Record)>,
    next_revision: u64,
    /// The de-duplication ids of the messages stored (`Nats-Msg-Id`).
    msg_ids: std::collections::BTreeSet<u64>,
}

impl Bus {
    /// Appends a message of accepted notifications (at least one) to
    /// `user`'s log, unless a message with the same de-duplication id is
    /// stored already (a retry after a lost ack): stored once, as
    /// JetStream's `Nats-Msg-Id` makes it. Returns whether it was stored
    /// now.
    pub(crate) fn publish(&mut self, user: &str, msg_id: u64, message: Vec<Entry>) -> bool {
        assert!(!message.is_empty(), "a log message holds a notification");
        if !self.msg_ids.insert(msg_id) {
            return false;
        }
        self.log.entry(user.to_owned()).or_default().push(message);
        true
    }

    /// The first notification at or after `from` in `user`'s log (the next
    /// message's first when `from` is past its message's end), and where.
    pub(crate) fn next_entry(&self, user: &str, from: Pos) -> Option<(Pos, Entry)> {
        let messages = self.log.get(user)?;
        let mut at = from;
        loop {
            let message = messages.get(at.message)?;
            if let Some(entry) = message.get(at.index) {
                return Some((at, *entry));
            }
            at = Pos {
                message: at.message + 1,
                index: 0,
            };
        }
    }

    /// The rest of the first message with a notification at or after
    /// `from` (that notification and the ones after it in its message),
    /// each with where it is; empty when there is none yet.
    pub(crate) fn rest_of_message(&self, user: &str, from: Pos) -> Vec<(Pos, Entry)> {
        let Some((first, _)) = self.next_entry(user, from) else {
            return Vec::new();
        };
        self.log[user][first.message][first.index..]
            .iter()
            .zip(first.index..)
            .map(|(entry, index)| {
                let at = Pos {
                    message: first.message,
                    index,
                };
                (at, *entry)
            })
            .collect()
    }

    /// `user`'s `n`-th notification (from 0), counted across messages.
    pub(crate) fn entry_at(&self, user: &str, n: usize) -> Option<Entry> {
        self.log.get(user)?.iter().flatten().nth(n).copied()
    }

    /// How many notifications precede `at` in `user`'s log.
    pub(crate) fn flat_index(&self, user: &str, at: Pos) -> usize {
        self.log.get(user).map_or(0, |l| {
            l.iter().take(at.message).map(Vec::len).sum::<usize>()
                + at.index.min(l.get(at.message).map_or(0, Vec::len))
        })
    }

    /// Whether `at` is inside a message, after its first notification.
    pub(crate) fn is_mid_message(&self, user: &str, at: Pos) -> bool {
        at.index > 0
            && self
                .log
                .get(user)
                .and_then(|l| l.get(at.message))
                .is_some_and(|m| at.index < m.len())
    }

    /// How many notifications `user`'s log holds.
    pub(crate) fn len(&self, user: &str) -> usize {
        self.log
            .get(user)
            .map_or(0, |l| l.iter().map(Vec::len).sum())
    }

    /// How many messages `user`'s log holds.
    pub(crate) fn messages(&self, user: &str) -> usize {
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

    /// The ids of every record.
    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.kv.keys().copied()
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
            acked_at: None,
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
    fn the_log_is_ordered_per_user_and_positions_walk_batches() {
        let mut bus = Bus::default();
        let e = |id| Entry { id };
        assert!(bus.publish("a", 1, vec![e(1)]));
        assert!(bus.publish("b", 2, vec![e(2)]));
        assert!(bus.publish("a", 3, vec![e(3), e(4)]));
        // A retry after a lost ack is stored once.
        assert!(!bus.publish("a", 3, vec![e(3), e(4)]));
        assert_eq!(bus.entry_at("a", 0), Some(e(1)));
        assert_eq!(bus.entry_at("a", 2), Some(e(4)));
        assert_eq!(bus.entry_at("a", 3), None);
        assert_eq!((bus.len("a"), bus.messages("a"), bus.len("b")), (3, 2, 1));
        let pos = |message, index| Pos { message, index };
        // After the last of message 0: message 1's first.
        assert_eq!(bus.next_entry("a", pos(0, 1)), Some((pos(1, 0), e(3))));
        assert_eq!(bus.next_entry("a", pos(1, 1)), Some((pos(1, 1), e(4))));
        assert_eq!(bus.next_entry("a", pos(1, 2)), None);
        assert_eq!(bus.flat_index("a", pos(1, 1)), 2);
        assert!(bus.is_mid_message("a", pos(1, 1)));
        assert!(!bus.is_mid_message("a", pos(1, 0)) && !bus.is_mid_message("a", pos(1, 2)));
        // A record resumes right after its acknowledged notification.
        let mut r = record(1);
        assert_eq!(r.resume_at(), pos(0, 0));
        r.acked_at = Some(pos(1, 0));
        assert_eq!(r.resume_at(), pos(1, 1));
    }
}
