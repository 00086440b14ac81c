//! Ownership of held sessions [D-17]: leases renewed with the
//! acknowledgements persisted in the same write; sessions released before
//! a lease the node could not renew runs out, and detached ones after a
//! moment; released and closed sessions given back in the store.

use std::time::{Duration, Instant};

use faxnotify_core::SessionId;

use super::claims::{millis, unix_ms};
use super::glue::{Glue, Msg, Taken};
use crate::error::SessionError;
use crate::ids::{LogPos, ServerId};
use crate::record::SessionRecord;

/// Why a renewal did not land.
#[derive(Debug)]
pub(crate) enum RenewFailure {
    /// Another server owns the session now.
    Lost,
    /// The bus did not carry the write out; its outcome is unknown.
    Bus,
}

impl Glue {
    /// Starts a renewal of every held session that has none in flight.
    pub(super) fn renew_all(&mut self, now: Instant) {
        let (lease_ms, expiry_ms) = (millis(self.timings.owner_lease), millis(self.expiry));
        let me = self.me;
        for (&session, held) in &mut self.held {
            // A session being let go is not renewed: a renewal landing
            // after the give-back would make this node its owner again for
            // a whole lease, and keep every other server from taking it.
            if held.renewing || held.released {
                continue;
            }
            held.renewing = true;
            let mut record = held.taken.record.clone();
            let unix = unix_ms();
            record.owner_until_unix_ms = unix.saturating_add(lease_ms);
            record.expires_unix_ms = unix.saturating_add(expiry_ms);
            // Later when more is acknowledged, or an idle reader moved the
            // position past log entries of other users.
            if (held.acked_seq, held.acked_at) > (record.acked_session_seq, record.acked_pos()) {
                record.acked_session_seq = held.acked_seq;
                record.acked_log_seq = held.acked_at.seq.0;
                record.acked_log_index = held.acked_at.index;
            }
            let (bus, msgs) = (self.bus.clone(), self.msgs.clone());
            let (revision, reload) = (held.taken.revision, held.reload);
            let generation = held.generation;
            let indexed_at = fresh_index(held.taken.indexed_at, self.index_refresh, now);
            tokio::spawn(async move {
                let mut result = renew(&bus, record, revision, reload, me, now).await;
                if let Ok(taken) = &mut result {
                    taken.indexed_at = index(&bus, &taken.record, indexed_at, now).await;
                }
                let _ = msgs.send(Msg::Renewed {
                    session,
                    generation,
                    result,
                });
            });
        }
    }

    pub(super) fn renewed(
        &mut self,
        session: SessionId,
        generation: u64,
        result: Result<Taken, RenewFailure>,
    ) {
        let Some(held) = self
            .held
            .get_mut(&session)
            .filter(|h| h.generation == generation)
        else {
            return;
        };
        held.renewing = false;
        match result {
            Ok(taken) => {
                held.lease_until = taken.written_at + self.timings.owner_lease;
                held.taken = taken;
                held.reload = false;
                self.bus_seen(true);
            }
            Err(RenewFailure::Lost) => {
                // Never serve a session whose lease another server took.
                tracing::warn!(%session, "another server took the session over; releasing it");
                held.released = true;
                self.release(session);
            }
            Err(RenewFailure::Bus) => held.reload = true,
        }
    }

    /// Releases sessions whose lease is about to run out unrenewed, and
    /// sessions detached for a while (their clients may resume anywhere).
    pub(super) fn expire(&mut self, now: Instant) {
        let margin = self.timings.release_margin;
        let detached = self.timings.detached_release;
        let due: Vec<SessionId> = self
            .held
            .iter()
            .filter(|(_, h)| {
                now + margin >= h.lease_until
                    || h.detached_since.is_some_and(|t| now >= t + detached)
            })
            .map(|(&s, _)| s)
            .collect();
        for session in due {
            if let Some(held) = self.held.get_mut(&session) {
                // Released once: the event removes it.
                held.detached_since = None;
                held.lease_until = now + self.timings.owner_lease * 10;
                held.released = true;
            }
            self.release(session);
        }
    }

    pub(super) fn release(&self, session: SessionId) {
        let (server, msgs) = (self.server.clone(), self.msgs.clone());
        tokio::spawn(async move {
            // The core no longer has it (its end is on the way as an
            // event): stop renewing a lease nobody serves.
            if let Ok(Err(_)) = server.release_session(session).await {
                let _ = msgs.send(Msg::Gone { session });
            }
        });
    }

    /// Frees a record this node owns (a released session, or one taken
    /// for a login that went away), with the last acknowledgement.
    pub(super) fn give_back(&mut self, taken: Taken, acked: Option<(u64, LogPos)>) {
        if !self.available.load(std::sync::atomic::Ordering::SeqCst) {
            return; // its lease runs out on its own
        }
        let mut record = taken.record;
        if let Some((seq, at)) = acked
            && (seq, at) > (record.acked_session_seq, record.acked_pos())
        {
            record.acked_session_seq = seq;
            record.acked_log_seq = at.seq.0;
            record.acked_log_index = at.index;
        }
        record.owner = ServerId(0);
        record.owner_until_unix_ms = 0;
        let (bus, me) = (self.bus.clone(), self.me);
        let revision = taken.revision;
        self.writes.spawn(async move {
            write_owned(&bus, &record, revision, me, "session not given back").await;
        });
    }
}

/// What became of a write of a record this node owns (a close, a give-back).
#[derive(Debug)]
pub(super) enum OwnWrite {
    /// It landed.
    Landed,
    /// Another server took the session over first (this one was stalled,
    /// or cut from its client and the bus, past its lease): the session
    /// lives on there, and what this one had not delivered is that
    /// server's to deliver.
    TakenOver,
    /// The bus did not carry the write out; its outcome is unknown.
    Unknown,
}

/// How many times such a write is tried again after a write of this
/// node's own (a renewal in flight when the session ended or was let go)
/// moved the record on.
const OWN_WRITE_ATTEMPTS: usize = 3;

/// Writes `record` over the revision this node last saw, or over a later
/// one as long as this node still owns the record there: a renewal of its
/// own may have landed meanwhile, and losing to it would leave the record
/// with this node as owner for a whole lease. Returns once the write
/// landed or failed (logged as `what`).
async fn write_owned(
    bus: &crate::Bus,
    record: &SessionRecord,
    mut revision: crate::ids::Revision,
    me: ServerId,
    what: &'static str,
) -> OwnWrite {
    let session = crate::subjects::session_key(record.session);
    for _ in 0..OWN_WRITE_ATTEMPTS {
        match bus.update_session(record, revision).await {
            Ok(_) => return OwnWrite::Landed,
            Err(SessionError::Lost { .. }) => {}
            Err(err) => {
                tracing::debug!(%session, %err, "{what}");
                return OwnWrite::Unknown;
            }
        }
        match bus.load_session(record.session).await {
            Ok(Some((stored, rev))) if stored.owner == me => revision = rev,
            Ok(_) => return OwnWrite::TakenOver,
            Err(err) => {
                tracing::debug!(%session, %err, "{what}");
                return OwnWrite::Unknown;
            }
        }
    }
    tracing::debug!(%session, "{what}: it kept changing");
    OwnWrite::Unknown
}

/// A session ended (logout, expiry, BYE): its record can no longer be
/// resumed anywhere — unless another server owns it by now.
pub(super) async fn close(bus: crate::Bus, taken: Taken, me: ServerId) -> OwnWrite {
    let mut record = taken.record;
    record.owner = ServerId(0);
    record.owner_until_unix_ms = 0;
    record.expires_unix_ms = 0;
    write_owned(
        &bus,
        &record,
        taken.revision,
        me,
        "ended session's record not closed",
    )
    .await
}

async fn renew(
    bus: &crate::Bus,
    record: SessionRecord,
    mut revision: crate::ids::Revision,
    reload: bool,
    me: ServerId,
    started: Instant,
) -> Result<Taken, RenewFailure> {
    if reload {
        // The last write's outcome is unknown: see who owns it now.
        match bus.load_session(record.session).await {
            Ok(Some((stored, rev))) if stored.owner == me => revision = rev,
            Ok(_) => return Err(RenewFailure::Lost),
            Err(_) => return Err(RenewFailure::Bus),
        }
    }
    match bus.update_session(&record, revision).await {
        Ok(revision) => Ok(Taken {
            record,
            revision,
            written_at: started,
            indexed_at: None,
        }),
        Err(SessionError::Lost { .. }) => Err(RenewFailure::Lost),
        Err(_) => Err(RenewFailure::Bus),
    }
}

/// When the session's index entry was written, if that was recent enough
/// not to write it again at `now`: within `refresh` (`None`: ever).
fn fresh_index(
    indexed_at: Option<Instant>,
    refresh: Option<Duration>,
    now: Instant,
) -> Option<Instant> {
    let at = indexed_at?;
    match refresh {
        Some(every) if now >= at + every => None,
        _ => Some(at),
    }
}

/// After a renewal: writes the session's index entry again unless it was
/// written at `indexed_at`, recently enough (see `session_index.rs`), and
/// returns when it was last written. A failed write is tried again at the
/// next renewal; the lease does not depend on it.
async fn index(
    bus: &crate::Bus,
    record: &SessionRecord,
    indexed_at: Option<Instant>,
    started: Instant,
) -> Option<Instant> {
    if indexed_at.is_some() {
        return indexed_at;
    }
    match bus.index_session(record).await {
        Ok(()) => Some(started),
        Err(err) => {
            tracing::debug!(session = %crate::subjects::session_key(record.session), %err, "session index entry not written");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_entry_is_written_again_once_a_refresh_period_old() {
        let t0 = Instant::now();
        let every = Some(Duration::from_secs(100));
        let at = |secs| t0 + Duration::from_secs(secs);
        // Never written by this node (a session taken over): write it.
        assert_eq!(fresh_index(None, every, at(0)), None);
        assert_eq!(fresh_index(None, None, at(0)), None);
        assert_eq!(fresh_index(Some(t0), every, at(99)), Some(t0));
        assert_eq!(fresh_index(Some(t0), every, at(100)), None);
        // A bucket without an age limit keeps it for ever.
        assert_eq!(fresh_index(Some(t0), None, at(1_000_000)), Some(t0));
    }
}
