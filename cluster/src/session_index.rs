//! The sessions bucket's index by user: which sessions a user has, read
//! in requests proportional to that user's sessions, not the cluster's.
//!
//! Next to each record (key = session id) the bucket holds an empty index
//! entry, key `u.<user tag>.s<session id>` (`subjects::index_key`; the tag
//! an HMAC of the user under a key derived from the cluster secret, so the
//! key does not show the name the sealed record hides). Listing the keys
//! under one user's tag is one request; each session found is then loaded
//! and checked, so the records stay the only truth: an entry without its
//! record, or one pointing at another user's record, is skipped.
//!
//! Entries live as long as records do: the bucket drops a key nobody
//! wrote for its age limit. A record's entry is written before the record
//! is created ([`Bus::create_session`]), and its owner writes it again
//! when it is older than a quarter of that limit ([`Bus::index_session`],
//! from the node's renewals). A live record was written by an owner within
//! its lease and grace (at most half the limit) and its entry within a
//! quarter of the limit before that, so a live record's entry is there.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;

use crate::connect::Bus;
use crate::error::{BusError, SessionError};
use crate::ids::LogSeq;
use crate::record::SessionRecord;
use crate::subjects::{index_key, index_keys, index_prefix, indexed_session, prepared_user};

const INDEX: &str = "indexing a session record";
const LIST: &str = "listing a user's session records";

impl Bus {
    /// Writes the index entry of `record`'s session under its user, so that
    /// [`Bus::sessions_of`] finds it. [`Bus::create_session`] does it for a
    /// new record; whoever keeps a session alive writes it again before the
    /// bucket's age limit could drop it (the node: when it is older than a
    /// quarter of the limit). Idempotent: no compare-and-set, any server
    /// may write it.
    pub async fn index_session(&self, record: &SessionRecord) -> Result<(), BusError> {
        let inner = &self.inner;
        let tag = inner.secret.user_tag(&record.user);
        let subject = format!(
            "$KV.{}.{}",
            inner.names.sessions_bucket,
            index_key(&tag, record.session)
        );
        let bound = inner.config.timeouts.operation;
        let result = inner
            .link
            .within(INDEX, bound, async {
                inner.js.publish(subject, bytes::Bytes::new()).await?.await
            })
            .await?;
        result.map(drop).map_err(|err| {
            let timed_out = err.kind() == PublishErrorKind::TimedOut;
            inner.link.failed(INDEX, &err, timed_out.then_some(bound))
        })
    }

    /// The sessions of `user` alive now (`expires_unix_ms` ahead) that
    /// the log entry `at` belongs to (`start_log_seq <= at`), by id: how
    /// many delivery reports the origin of a notification waits for
    /// (`notify --wait`). One listing of the user's index entries and one
    /// load per entry: the cost follows the user's sessions, not the
    /// cluster's. While servers of the previous version may hold sessions
    /// without entries ([`Bus::index_trusted`] is false), one listing of
    /// the whole bucket instead, and a load per entry of the user's and
    /// per record without an entry not known dead (`index_upgrade.rs`).
    /// Plus, at most every [`VIEW_FRESH`](crate::VIEW_FRESH), a read of
    /// the sweep record.
    pub async fn sessions_of(&self, user: &str, at: LogSeq) -> Result<Vec<u64>, BusError> {
        let user = prepared_user(user)?;
        let tag = self.inner.secret.user_tag(&user);
        let (of_user, unindexed) = if self.index_trusted().await {
            let mut of_user = Vec::new();
            self.list_keys(&index_keys(&tag), LIST, |key| {
                of_user.extend(indexed_session(key));
            })
            .await?;
            (of_user, Vec::new())
        } else {
            let wide = self.candidates_in_whole_bucket(&index_prefix(&tag)).await?;
            (wide.of_user, wide.unindexed)
        };
        let now = crate::node::unix_ms();
        let mut found = Vec::new();
        let unindexed_from = of_user.len();
        for (i, session) in of_user.into_iter().chain(unindexed).enumerate() {
            match self.load_session(session).await {
                Ok(Some((record, _))) if record.expires_unix_ms > now => {
                    if record.user == user && record.start_log_seq <= at.0 {
                        found.push(session);
                    }
                    // Otherwise another user's, or begun after `at`.
                }
                Err(SessionError::Bus(err)) => return Err(err),
                // No record (yet, or any more), ended, or one that does
                // not open: it counts for nobody. A record listed without
                // an entry stays so: not loaded again while it is listed.
                Ok(_) | Err(_) => {
                    if i >= unindexed_from {
                        self.unindexed_dead(session);
                    }
                }
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// How often a live session's index entry is written again: a quarter
    /// of the bucket's age limit (the stream's own setting, which an
    /// operator may have changed); `None` when the bucket keeps keys for
    /// ever, and once written an entry stays.
    pub(crate) fn index_refresh(&self) -> Option<Duration> {
        let age = self.inner.sessions.cached_info().config.max_age;
        (!age.is_zero()).then_some(age / 4)
    }

    /// How many requests read the sessions bucket since this bus
    /// connected (records loaded, users' index listings): for metrics,
    /// and for tests that check what a lookup costs.
    pub fn session_reads(&self) -> u64 {
        self.inner.session_reads.load(Ordering::Relaxed)
    }
}
