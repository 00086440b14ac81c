//! Session records on a real 3-node JetStream cluster: created once,
//! exactly one winner of a compare-and-set race, tampered or foreign
//! records refused.

mod common;

use common::{bus, config, connect, run, secret};
use faxnotify_cluster::{
    ClusterSecret, LogPos, LogSeq, RecordError, Revision, ServerId, SessionError, SessionRecord,
};

fn record(session: u64, owner: u64) -> SessionRecord {
    SessionRecord {
        session,
        user: "alice".into(),
        owner: ServerId(owner),
        owner_until_unix_ms: 1_000,
        start_log_seq: 5,
        acked_session_seq: 0,
        acked_log_seq: 0,
        acked_log_index: 0,
        expires_unix_ms: 300_000,
    }
}

#[test]
fn a_record_is_created_once_and_loads_as_written() {
    run(
        "a_record_is_created_once_and_loads_as_written",
        3,
        |cluster| async move {
            let a = bus(&cluster, 1).await;
            let b = bus(&cluster, 2).await;
            assert_eq!(b.load_session(0x51).await, Ok(None));
            let revision = a.create_session(&record(0x51, 1)).await.unwrap();
            assert_eq!(
                b.load_session(0x51).await,
                Ok(Some((record(0x51, 1), revision)))
            );
            // The id is taken: the second creator must pick another.
            assert_eq!(
                b.create_session(&record(0x51, 2)).await,
                Err(SessionError::Exists { session: 0x51 })
            );
            let acked = SessionRecord {
                acked_session_seq: 3,
                acked_log_seq: 9,
                acked_log_index: 2,
                ..record(0x51, 1)
            };
            let next = a.update_session(&acked, revision).await.unwrap();
            assert!(next > revision);
            let (loaded, at) = b.load_session(0x51).await.unwrap().unwrap();
            // Resumes with the notification after index 2 of message 9.
            let resume = LogPos {
                seq: LogSeq(9),
                index: 3,
            };
            assert_eq!((loaded.resume_at(), at), (resume, next));
            // Writing from a stale revision loses.
            assert_eq!(
                a.update_session(&record(0x51, 1), revision).await,
                Err(SessionError::Lost { session: 0x51 })
            );
        },
    );
}

#[test]
fn of_servers_racing_to_take_a_session_over_exactly_one_wins() {
    run(
        "of_servers_racing_to_take_a_session_over_exactly_one_wins",
        3,
        |cluster| async move {
            let creator = bus(&cluster, 1).await;
            let a = bus(&cluster, 0xa).await;
            let b = bus(&cluster, 0xb).await;
            for round in 0..100u64 {
                let session = 0x1000 + round;
                creator.create_session(&record(session, 1)).await.unwrap();
                // Both read the same revision, then both try to become owner.
                let (seen_a, rev_a) = a.load_session(session).await.unwrap().unwrap();
                let (seen_b, rev_b) = b.load_session(session).await.unwrap().unwrap();
                assert_eq!(rev_a, rev_b);
                let take = |bus: &faxnotify_cluster::Bus, seen: SessionRecord, rev: Revision| {
                    let bus = bus.clone();
                    let mine = SessionRecord {
                        owner: bus.origin(),
                        ..seen
                    };
                    tokio::spawn(async move { bus.update_session(&mine, rev).await })
                };
                let (ra, rb) = (take(&a, seen_a, rev_a), take(&b, seen_b, rev_b));
                let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
                let winner = match (&ra, &rb) {
                    (Ok(_), Err(SessionError::Lost { .. })) => a.origin(),
                    (Err(SessionError::Lost { .. }), Ok(_)) => b.origin(),
                    other => panic!("round {round}: not exactly one winner: {other:?}"),
                };
                let (now, _) = creator.load_session(session).await.unwrap().unwrap();
                assert_eq!(now.owner, winner, "round {round}");
            }
        },
    );
}

#[test]
fn a_tampered_record_or_another_clusters_secret_is_refused() {
    run(
        "a_tampered_record_or_another_clusters_secret_is_refused",
        3,
        |cluster| async move {
            let a = bus(&cluster, 1).await;
            a.create_session(&record(0x77, 1)).await.unwrap();

            // A server holding another secret cannot read it (nor pass it off).
            let stranger = connect(config(&cluster), 2, &ClusterSecret::from_bytes(&[1; 32])).await;
            assert_eq!(
                stranger.load_session(0x77).await,
                Err(SessionError::Record {
                    session: 0x77,
                    error: RecordError::NotAuthentic
                })
            );

            // Someone with write access to the bucket but not the secret
            // changes one byte, or moves the record under another session id.
            let client = async_nats::connect(cluster.urls()).await.unwrap();
            let js = async_nats::jetstream::new(client);
            let bucket = js.get_stream("KV_FAXNOTIFY_SESSIONS").await.unwrap();
            let sealed = bucket
                .get_last_raw_message_by_subject("$KV.FAXNOTIFY_SESSIONS.0000000000000077")
                .await
                .unwrap()
                .payload;
            let mut flipped = sealed.to_vec();
            *flipped.last_mut().unwrap() ^= 0x40;
            for (key, value) in [("77", flipped.into()), ("78", sealed)] {
                let subject = format!("$KV.FAXNOTIFY_SESSIONS.00000000000000{key}");
                js.publish(subject, value).await.unwrap().await.unwrap();
            }
            for session in [0x77, 0x78] {
                let err = a.load_session(session).await.unwrap_err();
                assert_eq!(
                    err,
                    SessionError::Record {
                        session,
                        error: RecordError::NotAuthentic
                    }
                );
                assert!(err.to_string().contains("failed authentication"), "{err}");
            }
            let _ = secret();
        },
    );
}

#[test]
fn a_record_nobody_writes_for_the_age_limit_leaves_the_bucket() {
    run(
        "a_record_nobody_writes_for_the_age_limit_leaves_the_bucket",
        3,
        |cluster| async move {
            let mut short = config(&cluster);
            short.log_max_age = std::time::Duration::from_secs(2);
            short.duplicate_window = short.log_max_age;
            let bus = connect(short, 1, &secret()).await;
            let kept = bus.create_session(&record(0x61, 1)).await.unwrap();
            bus.create_session(&record(0x62, 1)).await.unwrap();
            // 0x61 is rewritten (as an owner renews), 0x62 is left alone.
            let started = std::time::Instant::now();
            let mut revision = kept;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                revision = bus
                    .update_session(&record(0x61, 1), revision)
                    .await
                    .unwrap();
                if bus.load_session(0x62).await.unwrap().is_none() {
                    break;
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(30),
                    "an unwritten record outlived its age limit by far"
                );
            }
            assert!(started.elapsed() >= std::time::Duration::from_secs(1));
            assert!(bus.load_session(0x61).await.unwrap().is_some());
        },
    );
}
