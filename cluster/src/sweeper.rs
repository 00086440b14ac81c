//! One sweeper per cluster, and every server's view of what it found.
//!
//! A sweep of the sessions bucket (`index_upgrade.rs`) lists every key:
//! its answer grows with the cluster (~125 bytes a session), so it is done
//! by one server for all, the holder of a lease in the sweep record
//! (`sweep_record.rs`, key `sweep` of the bucket). Every server takes a
//! turn ([`Bus::sweep_turn`]) every quarter of the lease: it reads the
//! record; if the lease is its own or has run out, it takes or renews it
//! by compare-and-set on the record's revision (of racing servers exactly
//! one wins, as with session records, `sessions.rs`), sweeps when the last
//! sweep is a period old, and writes what the sweep found into the record.
//! A sweeper that dies is replaced within the lease and a quarter.
//!
//! The lease saves work; it guards nothing: two servers sweeping at once
//! (one whose sweep outlasted its lease) write the same entries, and each
//! merges its findings into the record by compare-and-set.
//!
//! Every server's lookups ([`Bus::sessions_of`]) decide from the record
//! whether the index can be trusted ([`SweepRecord::vouches`]), through a
//! view cached for [`VIEW_FRESH`] and refreshed by each turn: what a server
//! cannot read (no record yet, the bus away, a record that does not open:
//! forged, or a newer version's) makes it list the whole bucket.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::connect::Bus;
use crate::error::BusError;
use crate::ids::ServerId;
use crate::index_upgrade::Backfill;
use crate::node::{millis, unix_ms};
use crate::record::RecordError;
use crate::sweep_record::{SWEEP_KEY, SweepRecord};

/// How long a server's lookups use what it last read of the sweep record
/// before reading it again: at most one read per this per server, not one
/// per lookup. What it costs: after the sweeper found a previous-version
/// record, a server's lookups may stay narrow this long (up to a turn
/// apart, if its turns keep its view fresh), missing sessions old servers
/// opened since that sweep's listing, which the next sweep would index.
pub const VIEW_FRESH: Duration = Duration::from_secs(5);

/// Writes of the record tried, each on a fresh read, before a turn gives
/// up on servers writing it at the same moment.
const ATTEMPTS: usize = 3;

const LOAD: &str = "loading the sweep record";
const WRITE: &str = "writing the sweep record";

/// What the sweep record's key holds, as this server reads it.
#[derive(Clone, Copy, Debug)]
enum Stored {
    None,
    Record(SweepRecord),
    /// A record this version cannot use: written by a newer one (left
    /// alone), or one that does not open (forged: replaced).
    Unusable {
        newer: bool,
    },
}

/// What one [`Bus::sweep_turn`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SweepTurn {
    /// This server holds the lease and swept.
    Swept(Backfill),
    /// This server holds the lease; the last sweep is not a period old.
    Holding,
    /// Another server holds the lease (`None`: a record of a newer
    /// version, whose servers sweep).
    Following {
        /// The sweeper.
        sweeper: Option<ServerId>,
    },
}

/// A server's view of the sweep record: whether the index was trusted
/// when it was last read, and when.
#[derive(Default)]
pub(crate) struct View {
    read: Option<(Instant, bool)>,
}

/// A new bus's view: nothing read yet, so lookups list the whole bucket.
pub(crate) fn view() -> Mutex<View> {
    Mutex::new(View::default())
}

impl Bus {
    /// One turn of this server at sweeping (module docs): reads the sweep
    /// record; if the lease is free or this server's, takes or renews it
    /// for `lease`, sweeps if the last sweep is `every` old (or there was
    /// none) and records what it found. A node takes a turn every quarter
    /// of `lease`. Costs a read of the record, and for the sweeper a write,
    /// plus, every `every`, the sweep ([`Bus::backfill_index`]).
    pub async fn sweep_turn(
        &self,
        every: Duration,
        lease: Duration,
    ) -> Result<SweepTurn, BusError> {
        let me = self.inner.origin;
        let lease_ms = millis(lease);
        let now = unix_ms();
        let (stored, written) = self
            .update_sweep_record(|stored| match stored {
                Stored::Record(r) if r.lease_open_to(me, now) => Some(SweepRecord {
                    sweeper: me,
                    lease_until_unix_ms: now.saturating_add(lease_ms),
                    ..r
                }),
                Stored::Record(_) | Stored::Unusable { newer: true } => None,
                Stored::None | Stored::Unusable { newer: false } => Some(SweepRecord {
                    sweeper: me,
                    lease_until_unix_ms: now.saturating_add(lease_ms),
                    ..SweepRecord::NONE
                }),
            })
            .await?;
        let held = match (written, stored) {
            (Some(held), _) => held,
            (None, Stored::Record(r)) => {
                return Ok(SweepTurn::Following {
                    sweeper: Some(r.sweeper),
                });
            }
            (None, _) => return Ok(SweepTurn::Following { sweeper: None }),
        };
        let due =
            held.swept_unix_ms == 0 || now >= held.swept_unix_ms.saturating_add(millis(every));
        if !due {
            return Ok(SweepTurn::Holding);
        }
        let listed_at = unix_ms();
        let done = self.backfill_index().await?;
        let found_at = (done.indexed > 0).then(unix_ms);
        let vouches_until = listed_at
            .saturating_add(millis(every).saturating_mul(2))
            .saturating_add(lease_ms);
        self.update_sweep_record(|stored| {
            let mut r = match stored {
                Stored::Record(r) => r,
                Stored::Unusable { newer: true } => return None,
                Stored::None | Stored::Unusable { newer: false } => SweepRecord::NONE,
            };
            let now = unix_ms();
            if r.lease_open_to(me, now) {
                r.sweeper = me;
                r.lease_until_unix_ms = now.saturating_add(lease_ms);
            }
            // Merged: another sweeper may have written its own meanwhile.
            r.swept_unix_ms = r.swept_unix_ms.max(listed_at);
            r.vouches_until_unix_ms = r.vouches_until_unix_ms.max(vouches_until);
            r.previous_seen_unix_ms = r.previous_seen_unix_ms.max(found_at.unwrap_or(0));
            Some(r)
        })
        .await?;
        Ok(SweepTurn::Swept(done))
    }

    /// Whether [`Bus::sessions_of`] may list only the user's index entries:
    /// the sweep record, as last read (within [`VIEW_FRESH`], or read now),
    /// says that a sweep completed lately and that none found a record of a
    /// previous-version server within
    /// [`PREVIOUS_VERSION_HOLD`](crate::PREVIOUS_VERSION_HOLD). `false`
    /// whenever the record cannot be read, or does not open.
    pub async fn index_trusted(&self) -> bool {
        let cached = self.view().read;
        if let Some((at, trusted)) = cached
            && at.elapsed() < VIEW_FRESH
        {
            return trusted;
        }
        match self.load_sweep_record().await {
            Ok((stored, _)) => self.set_view(&stored),
            Err(_) => {
                self.view().read = Some((Instant::now(), false));
                false
            }
        }
    }

    /// How many times this bus read the sweep record (turns, and lookups
    /// whose view was older than [`VIEW_FRESH`]).
    pub fn sweep_record_reads(&self) -> u64 {
        self.inner.sweep_reads.load(Ordering::Relaxed)
    }

    /// Reads the record and writes `change(stored)` over it by
    /// compare-and-set, reading again when another write got there first
    /// (at most [`ATTEMPTS`] times); `change` returning `None` writes
    /// nothing. Returns what was last read, and what was written.
    async fn update_sweep_record(
        &self,
        change: impl Fn(Stored) -> Option<SweepRecord>,
    ) -> Result<(Stored, Option<SweepRecord>), BusError> {
        let mut stored = Stored::None;
        for _ in 0..ATTEMPTS {
            let revision;
            (stored, revision) = self.load_sweep_record().await?;
            self.set_view(&stored);
            let Some(next) = change(stored) else {
                return Ok((stored, None));
            };
            let sealed = match next.seal(&self.inner.secret) {
                Ok(sealed) => sealed,
                Err(err) => {
                    // No randomness for a nonce: nothing written, as if
                    // another server had won; the next turn tries again.
                    tracing::warn!(%err, "the sweep record was not written");
                    return Ok((stored, None));
                }
            };
            if self
                .write_key(SWEEP_KEY, sealed, revision, WRITE)
                .await?
                .is_some()
            {
                self.set_view(&Stored::Record(next));
                return Ok((stored, Some(next)));
            }
        }
        Ok((stored, None))
    }

    /// The record as stored, and its revision (0: none).
    async fn load_sweep_record(&self) -> Result<(Stored, u64), BusError> {
        self.inner.sweep_reads.fetch_add(1, Ordering::Relaxed);
        let Some((sealed, revision)) = self.load_key(SWEEP_KEY, LOAD).await? else {
            return Ok((Stored::None, 0));
        };
        let stored = match SweepRecord::open(&self.inner.secret, &sealed) {
            Ok(record) => Stored::Record(record),
            Err(RecordError::UnknownVersion(_)) => Stored::Unusable { newer: true },
            Err(err) => {
                tracing::warn!(%err, "the sweep record does not open; lookups list the whole bucket until it is written again");
                Stored::Unusable { newer: false }
            }
        };
        Ok((stored, revision.0))
    }

    /// Remembers what `stored` says of the index; returns it.
    fn set_view(&self, stored: &Stored) -> bool {
        let trusted = match stored {
            Stored::Record(r) => r.vouches(unix_ms()),
            Stored::None | Stored::Unusable { .. } => false,
        };
        self.view().read = Some((Instant::now(), trusted));
        trusted
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        // Nothing panics while holding it; a poisoned lock's data is whole.
        self.inner
            .index_view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
