//! The index by user while servers of the previous version run beside
//! this one (a rolling upgrade), and after they are gone.
//!
//! Servers of the previous version write session records but no index
//! entries, so [`Bus::sessions_of`] would not find their sessions, and
//! `notify --wait` would wait for fewer reports than there are sessions.
//! Two things close that:
//!
//! - **a sweep** ([`Bus::backfill_index`], by the cluster's one sweeper,
//!   `sweeper.rs`, when it takes the lease and then every
//!   [`NodeTimings::index_sweep_every`](crate::NodeTimings)): one listing
//!   of the bucket's keys; each record with no entry is loaded once to
//!   learn its user, and a live one gets its entry. A server of this
//!   version writes the entry before the record and keeps it while the
//!   session lives (`session_index.rs`), so a live record without one is
//!   the previous version's: the sweeper records in the sweep record when
//!   a sweep last found one. Records without an entry that will never
//!   count (ended, gone, or not opening) are remembered and not loaded
//!   again while they stay listed.
//! - **a wider lookup** while the index cannot be trusted (the sweep
//!   record does not vouch for it: no sweep completed lately, or one found
//!   a previous-version record within [`PREVIOUS_VERSION_HOLD`], or the
//!   record cannot be read): `sessions_of` lists every key of the bucket
//!   and loads the user's entries plus every record that has no entry
//!   (and is not known to be dead), instead of listing the user's prefix
//!   only: exact at the moment of the lookup, at the price of a listing
//!   that grows with the cluster. Once sweeps find nothing for that long,
//!   lookups use the user's prefix alone again.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::connect::Bus;
use crate::error::{BusError, SessionError};
use crate::subjects::{indexed_session, record_session};

/// How long after a sweep found a live record of the previous version
/// lookups keep listing the whole bucket: a server of that version that
/// opened a session lately is likely to open more, each invisible to the
/// user's prefix until the next sweep indexes it. Several sweep periods,
/// so one sweep that happens to find none does not end it.
pub const PREVIOUS_VERSION_HOLD: Duration = Duration::from_secs(30 * 60);

const SWEEP: &str = "listing the session records to index";
const LIST_ALL: &str = "listing every session record";

/// What a bus knows of the records that have no index entry.
#[derive(Default)]
pub(crate) struct Unindexed {
    /// Records without an entry that never count: ended, gone, not
    /// opening. Kept while listed, so neither a sweep nor a wide lookup
    /// loads them again; learnt by both.
    dead: HashSet<u64>,
}

/// What one sweep of the sessions bucket did ([`Bus::backfill_index`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Backfill {
    /// Session records listed in the bucket.
    pub records: usize,
    /// Records with no index entry that were loaded to learn their user.
    pub loaded: usize,
    /// Index entries written: live records of previous-version servers.
    pub indexed: usize,
}

/// The keys of one listing of the whole bucket, sorted out.
struct BucketKeys {
    /// Sessions with a record.
    records: Vec<u64>,
    /// Sessions with an index entry, under any user.
    indexed: HashSet<u64>,
    /// Sessions with an entry under the user looked up (if any).
    of_user: Vec<u64>,
}

impl BucketKeys {
    /// Nothing sorted yet.
    fn new() -> Self {
        BucketKeys {
            records: Vec::new(),
            indexed: HashSet::new(),
            of_user: Vec::new(),
        }
    }

    /// Sorts in one listed `key` (without its `$KV.<bucket>.`);
    /// `user_prefix` is `u.<tag>.` of the user looked up, if any. Keys
    /// are sorted as they come, so that a listing of the whole bucket
    /// holds a number per key, not the keys.
    fn add(&mut self, key: &str, user_prefix: Option<&str>) {
        if let Some(session) = record_session(key) {
            self.records.push(session);
        } else if let Some(session) = indexed_session(key) {
            self.indexed.insert(session);
            if user_prefix.is_some_and(|prefix| key.starts_with(prefix)) {
                self.of_user.push(session);
            }
        }
    }

    /// Records with no entry, leaving out those known dead.
    fn unindexed<'a>(&'a self, dead: &'a HashSet<u64>) -> impl Iterator<Item = u64> + 'a {
        self.records
            .iter()
            .copied()
            .filter(|s| !self.indexed.contains(s) && !dead.contains(s))
    }
}

impl Bus {
    /// One sweep of the sessions bucket: writes the missing index entry of
    /// every live record that has none (a record written by a server of
    /// the previous version), so that [`Bus::sessions_of`] finds it.
    ///
    /// Costs one listing of the bucket's keys, plus one load per record
    /// without an entry not already known dead and one write per live one
    /// among them; in a cluster of this version alone, the listing only.
    /// Whether a sweep found servers of the previous version
    /// ([`Backfill::indexed`]) is for the caller to record: the cluster's
    /// sweeper writes it in the sweep record ([`Bus::sweep_turn`]).
    pub async fn backfill_index(&self) -> Result<Backfill, BusError> {
        let mut keys = BucketKeys::new();
        self.list_keys(">", SWEEP, |key| keys.add(key, None))
            .await?;
        let known_dead = self.unindexed().dead.clone();
        let mut dead: HashSet<u64> = keys
            .records
            .iter()
            .copied()
            .filter(|s| known_dead.contains(s))
            .collect();
        let mut done = Backfill {
            records: keys.records.len(),
            ..Backfill::default()
        };
        let now = crate::node::unix_ms();
        for session in keys.unindexed(&known_dead) {
            done.loaded += 1;
            match self.load_session(session).await {
                Ok(Some((record, _))) if record.expires_unix_ms > now => {
                    self.index_session(&record).await?;
                    done.indexed += 1;
                }
                Err(SessionError::Bus(err)) => return Err(err),
                // Ended, gone since the listing, or not opening: it never
                // counts, so it needs no entry.
                Ok(_) | Err(_) => {
                    dead.insert(session);
                }
            }
        }
        self.unindexed().dead = dead;
        Ok(done)
    }

    /// The sessions a wide lookup loads for the user whose entries begin
    /// with `user_prefix` (`u.<tag>.`): the user's entries, and every
    /// record that has none, not known dead. One listing of the bucket;
    /// records no longer listed are forgotten.
    pub(crate) async fn candidates_in_whole_bucket(
        &self,
        user_prefix: &str,
    ) -> Result<WideCandidates, BusError> {
        let mut keys = BucketKeys::new();
        self.list_keys(">", LIST_ALL, |key| keys.add(key, Some(user_prefix)))
            .await?;
        let mut state = self.unindexed();
        let listed: HashSet<u64> = keys.records.iter().copied().collect();
        state.dead.retain(|s| listed.contains(s));
        Ok(WideCandidates {
            unindexed: keys.unindexed(&state.dead).collect(),
            of_user: keys.of_user,
        })
    }

    /// Remembers that `session`, a record without an index entry, never
    /// counts (a wide lookup found it ended, gone or not opening).
    pub(crate) fn unindexed_dead(&self, session: u64) {
        self.unindexed().dead.insert(session);
    }

    /// Hands `each` the keys of the sessions bucket under `filter` (a
    /// subject filter after `$KV.<bucket>.`), without that prefix: one
    /// listing, counted in [`Bus::session_reads`].
    pub(crate) async fn list_keys(
        &self,
        filter: &str,
        operation: &'static str,
        mut each: impl FnMut(&str),
    ) -> Result<(), BusError> {
        let inner = &self.inner;
        let prefix = format!("$KV.{}.", inner.names.sessions_bucket);
        let filter = format!("{prefix}{filter}");
        let bound = inner.config.timeouts.operation;
        inner.session_reads.fetch_add(1, Ordering::Relaxed);
        inner.session_listings.fetch_add(1, Ordering::Relaxed);
        // The first page comes with the request; each later one is a
        // request of its own, made as the listing is read. Each is bounded,
        // not the whole, which grows with the bucket: about 0.5 s a page of
        // 100 000 keys here, so a million sessions (two keys each) would
        // outlast the default bound of 5 s on every try.
        let info = inner
            .link
            .within(operation, bound, inner.sessions.info_with_subjects(&filter))
            .await?
            .map_err(|err| inner.link.failed(operation, &err, None))?;
        inner
            .link
            .drain_within(operation, bound, info, |(subject, _)| {
                if let Some(key) = subject.strip_prefix(&prefix) {
                    each(key);
                }
            })
            .await
    }

    fn unindexed(&self) -> std::sync::MutexGuard<'_, Unindexed> {
        // Nothing panics while holding it; a poisoned lock's data is whole.
        self.inner
            .unindexed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many listings of the sessions bucket's keys this bus made
    /// (sweeps, wide lookups, users' prefixes; each also counted in
    /// [`Bus::session_reads`]): what tells the cluster's sweeper from the
    /// other servers.
    pub fn session_listings(&self) -> u64 {
        self.inner.session_listings.load(Ordering::Relaxed)
    }
}

/// A wide lookup's candidates ([`Bus::candidates_in_whole_bucket`]).
pub(crate) struct WideCandidates {
    /// Sessions with an entry under the user looked up.
    pub(crate) of_user: Vec<u64>,
    /// Records with no entry, not known dead.
    pub(crate) unindexed: Vec<u64>,
}

/// A new bus's state: nothing known dead yet.
pub(crate) fn unindexed() -> Mutex<Unindexed> {
    Mutex::new(Unindexed::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_sorts_records_entries_and_the_users_entries() {
        let listed = [
            "00000000000000a1",
            "u.aa.s00000000000000a1",
            "00000000000000a2",
            "00000000000000b1",
            "u.bb.s00000000000000b1",
            "u.aa.s00000000000000a5",
            "00000000000000c1",
            "upgrade",
            "sweep",
        ];
        let mut sorted = BucketKeys::new();
        for key in listed {
            sorted.add(key, Some("u.aa."));
        }
        assert_eq!(sorted.records, vec![0xa1, 0xa2, 0xb1, 0xc1]);
        assert_eq!(sorted.of_user, vec![0xa1, 0xa5]);
        let dead = HashSet::from([0xc1]);
        assert_eq!(sorted.unindexed(&dead).collect::<Vec<_>>(), vec![0xa2]);
    }
}
