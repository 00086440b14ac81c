//! Answering the core's claims [D-17], on a task of their own: a new
//! session's record is created before LOGIN_OK; a resume of a session held
//! elsewhere is checked and taken over by compare-and-set.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use faxnotify_core::SessionId;
use faxnotify_core::server::{
    ClaimAnswer, ClaimError, ClaimId, ClaimKind, ClaimRefusal, SessionRecord as CoreRecord,
};

use super::glue::{Glue, Msg, Taken};
use crate::error::SessionError;
use crate::ids::ServerId;
use crate::record::SessionRecord;

/// Milliseconds since the Unix epoch (the records' clock).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// `d` in milliseconds, as the records count time (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Starts answering `claim`.
pub(super) fn spawn(
    glue: &Glue,
    claim: ClaimId,
    kind: ClaimKind,
    session: SessionId,
    user: String,
) {
    let bus = glue.bus.clone();
    let server = glue.server.clone();
    let msgs = glue.msgs.clone();
    let me = glue.me;
    let lease = glue.timings.owner_lease;
    let expiry = glue.expiry;
    tokio::spawn(async move {
        let written_at = Instant::now();
        let (lease_ms, expiry_ms) = (millis(lease), millis(expiry));
        let outcome = match kind {
            ClaimKind::Open => open(&bus, session.get(), &user, me, lease_ms, expiry_ms).await,
            _ => resume(&bus, session.get(), &user, me, lease_ms).await,
        };
        let (answer, taken) = match outcome {
            // `create_session` wrote the index entry after `written_at`.
            Outcome::Opened(record, revision) => (
                ClaimAnswer::Opened,
                Some(Taken {
                    record,
                    revision,
                    written_at,
                    indexed_at: Some(written_at),
                }),
            ),
            // Its entry's age is the previous owner's to know: the first
            // renewal writes it again.
            Outcome::Restore(record, revision) => (
                ClaimAnswer::Restore(CoreRecord::new(
                    record.user.clone(),
                    record.acked_session_seq,
                )),
                Some(Taken {
                    record,
                    revision,
                    written_at,
                    indexed_at: None,
                }),
            ),
            Outcome::IdTaken => (ClaimAnswer::IdTaken, None),
            Outcome::Refused(refusal) => (ClaimAnswer::Refused(refusal), None),
        };
        let took = taken.is_some();
        if let Some(taken) = taken {
            let _ = msgs.send(Msg::Taken { session, taken });
        }
        let applied = match server.handle_claim(claim, answer).await {
            Ok(Ok(())) => true,
            Ok(Err(ClaimError::NotPending(_))) => {
                tracing::debug!(%claim, "claim answered after its login went away");
                false
            }
            Ok(Err(err)) => {
                tracing::warn!(%claim, %err, "claim answer refused");
                false
            }
            Err(_) => false,
        };
        if took {
            let _ = msgs.send(Msg::Answered { session, applied });
        }
    });
}

enum Outcome {
    Opened(SessionRecord, crate::ids::Revision),
    Restore(SessionRecord, crate::ids::Revision),
    IdTaken,
    Refused(ClaimRefusal),
}

/// A new session: starts after the log's last seq, read before LOGIN_OK
/// so that nothing accepted later is missed.
async fn open(
    bus: &crate::Bus,
    session: u64,
    user: &str,
    me: ServerId,
    lease_ms: u64,
    expiry_ms: u64,
) -> Outcome {
    let last = match bus.log_last_seq().await {
        Ok(last) => last,
        Err(err) => {
            tracing::warn!(%err, "cannot open a session");
            return Outcome::Refused(ClaimRefusal::Unavailable);
        }
    };
    let now = unix_ms();
    let record = SessionRecord {
        session,
        user: user.to_owned(),
        owner: me,
        owner_until_unix_ms: now.saturating_add(lease_ms),
        start_log_seq: last.0 + 1,
        acked_session_seq: 0,
        acked_log_seq: 0,
        acked_log_index: 0,
        expires_unix_ms: now.saturating_add(expiry_ms),
    };
    match bus.create_session(&record).await {
        Ok(revision) => Outcome::Opened(record, revision),
        Err(SessionError::Exists { .. }) => Outcome::IdTaken,
        Err(err) => {
            tracing::warn!(%err, "cannot open a session");
            Outcome::Refused(ClaimRefusal::Unavailable)
        }
    }
}

/// A resume of a session this server does not hold: the record's user,
/// expiry and owner lease are checked, then ownership taken by
/// compare-and-set (exactly one racer wins).
async fn resume(
    bus: &crate::Bus,
    session: u64,
    user: &str,
    me: ServerId,
    lease_ms: u64,
) -> Outcome {
    let (record, revision) = match bus.load_session(session).await {
        Ok(Some(found)) => found,
        Ok(None) => return Outcome::Refused(ClaimRefusal::UnknownSession),
        Err(SessionError::Record { error, .. }) => {
            tracing::warn!(session = %format_args!("{session:016x}"), %error, "session record unusable");
            return Outcome::Refused(ClaimRefusal::UnknownSession);
        }
        Err(err) => {
            tracing::warn!(%err, "cannot resume a session");
            return Outcome::Refused(ClaimRefusal::Unavailable);
        }
    };
    let now = unix_ms();
    if record.user != user || record.expires_unix_ms <= now {
        return Outcome::Refused(ClaimRefusal::UnknownSession);
    }
    if record.owner != me && record.owner != ServerId(0) && record.owner_until_unix_ms > now {
        tracing::debug!(session = %format_args!("{session:016x}"), "resume waits for the owner's lease");
        return Outcome::Refused(ClaimRefusal::HeldElsewhere);
    }
    let mut taken = record;
    taken.owner = me;
    taken.owner_until_unix_ms = now.saturating_add(lease_ms);
    match bus.update_session(&taken, revision).await {
        Ok(revision) => Outcome::Restore(taken, revision),
        Err(SessionError::Lost { .. }) => {
            tracing::debug!(session = %format_args!("{session:016x}"), "lost the race to take a session over");
            Outcome::Refused(ClaimRefusal::HeldElsewhere)
        }
        Err(err) => {
            tracing::warn!(%err, "cannot take a session over");
            Outcome::Refused(ClaimRefusal::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    //! The resume rule on a real 3-node JetStream cluster: of servers
    //! racing to take one session over exactly one wins; a live owner's
    //! lease, another user and an expired record are refused.

    use std::time::Duration;

    use super::*;
    use crate::harness::{NatsCluster, skip_unless_available};
    use crate::{BusConfig, ClusterSecret, Timeouts};

    async fn bus(cluster: &NatsCluster, origin: u64) -> crate::Bus {
        let mut config = BusConfig::new(cluster.urls());
        config.replicas = cluster.size();
        config.log_max_bytes = 64 << 20;
        config.timeouts = Timeouts {
            connect: Duration::from_secs(20),
            operation: Duration::from_secs(3),
        };
        crate::Bus::connect(
            config,
            ServerId(origin),
            ClusterSecret::from_bytes(&[7; 32]),
        )
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the bus: {err}"))
    }

    fn record(session: u64, owner: u64, owner_until: u64) -> SessionRecord {
        SessionRecord {
            session,
            user: "alice".into(),
            owner: ServerId(owner),
            owner_until_unix_ms: owner_until,
            start_log_seq: 1,
            acked_session_seq: 4,
            acked_log_seq: 9,
            acked_log_index: 0,
            expires_unix_ms: unix_ms() + 600_000,
        }
    }

    #[test]
    fn of_servers_racing_to_resume_a_session_exactly_one_wins() {
        const TEST: &str = "of_servers_racing_to_resume_a_session_exactly_one_wins";
        if skip_unless_available(TEST) {
            return;
        }
        let cluster = NatsCluster::start(3).unwrap_or_else(|err| panic!("{err}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            let (a, b, c) = (
                bus(&cluster, 1).await,
                bus(&cluster, 2).await,
                bus(&cluster, 3).await,
            );
            let lease = 10_000;
            for round in 0..30u64 {
                // The owner (server 9) died: its lease ran out.
                let session = 0x7000 + round;
                a.create_session(&record(session, 9, 1_000)).await.unwrap();
                let (ra, rb, rc) = tokio::join!(
                    resume(&a, session, "alice", ServerId(1), lease),
                    resume(&b, session, "alice", ServerId(2), lease),
                    resume(&c, session, "alice", ServerId(3), lease),
                );
                let winners: Vec<u64> = [(1, &ra), (2, &rb), (3, &rc)]
                    .into_iter()
                    .filter_map(|(id, r)| matches!(r, Outcome::Restore(..)).then_some(id))
                    .collect();
                assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
                for r in [&ra, &rb, &rc] {
                    match r {
                        Outcome::Restore(record, _) => {
                            assert_eq!(record.acked_session_seq, 4);
                            assert_eq!(record.owner, ServerId(winners[0]));
                        }
                        Outcome::Refused(ClaimRefusal::HeldElsewhere) => {}
                        _ => panic!("round {round}: a loser must be told to try again"),
                    }
                }
                // The store names the winner, whose lease now holds:
                // another resume waits for it.
                let (stored, _) = a.load_session(session).await.unwrap().unwrap();
                assert_eq!(stored.owner, ServerId(winners[0]));
                let loser = if winners[0] == 1 { &b } else { &a };
                let later = resume(
                    loser,
                    session,
                    "alice",
                    ServerId(if winners[0] == 1 { 2 } else { 1 }),
                    lease,
                )
                .await;
                assert!(matches!(
                    later,
                    Outcome::Refused(ClaimRefusal::HeldElsewhere)
                ));
            }
            // Another user's session, and an expired one: unknown.
            a.create_session(&record(0x7100, 9, 1_000)).await.unwrap();
            assert!(matches!(
                resume(&b, 0x7100, "bob", ServerId(2), lease).await,
                Outcome::Refused(ClaimRefusal::UnknownSession)
            ));
            let mut expired = record(0x7101, 9, 1_000);
            expired.expires_unix_ms = 1_000;
            a.create_session(&expired).await.unwrap();
            assert!(matches!(
                resume(&b, 0x7101, "alice", ServerId(2), lease).await,
                Outcome::Refused(ClaimRefusal::UnknownSession)
            ));
            assert!(matches!(
                resume(&b, 0x7102, "alice", ServerId(2), lease).await,
                Outcome::Refused(ClaimRefusal::UnknownSession)
            ));
            // A record written by someone without the cluster secret (here
            // with another one) is never served: unknown too.
            let mut config = BusConfig::new(cluster.urls());
            config.replicas = cluster.size();
            config.log_max_bytes = 64 << 20;
            let forger =
                crate::Bus::connect(config, ServerId(9), ClusterSecret::from_bytes(&[1; 32]))
                    .await
                    .unwrap_or_else(|err| panic!("cannot connect to the bus: {err}"));
            forger
                .create_session(&record(0x7103, 9, 1_000))
                .await
                .unwrap();
            assert!(matches!(
                resume(&b, 0x7103, "alice", ServerId(2), lease).await,
                Outcome::Refused(ClaimRefusal::UnknownSession)
            ));
        });
    }
}
