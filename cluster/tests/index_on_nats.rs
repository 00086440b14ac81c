//! A user's sessions on a real 3-node JetStream cluster, found through the
//! bucket's index by user (`Bus::sessions_of`, what `notify --wait`
//! counts): the requests it makes follow that user's sessions, not the
//! cluster's, and the records stay the truth.

mod common;

use common::{bus, config, connect, run, secret};
use faxnotify_cluster::{LogSeq, ServerId, SessionRecord};
use tokio::task::JoinSet;

/// Sessions of other users in the bucket.
const OTHERS: u64 = 1_000;
/// Writes in flight while the others are created.
const IN_FLIGHT: usize = 32;

fn record(session: u64, user: &str, start: u64, expires_unix_ms: u64) -> SessionRecord {
    SessionRecord {
        session,
        user: user.into(),
        owner: ServerId(1),
        owner_until_unix_ms: 1_000,
        start_log_seq: start,
        acked_session_seq: 0,
        acked_log_seq: 0,
        acked_log_index: 0,
        expires_unix_ms,
    }
}

fn in_an_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(now.as_millis()).expect("milliseconds fit u64") + 3_600_000
}

#[test]
fn a_users_sessions_cost_reads_of_that_users_sessions_only() {
    run(
        "a_users_sessions_cost_reads_of_that_users_sessions_only",
        3,
        |cluster| async move {
            let a = bus(&cluster, 1).await;
            let b = bus(&cluster, 2).await;
            let alive = in_an_hour();
            let mut others = JoinSet::new();
            for i in 0..OTHERS {
                while others.len() >= IN_FLIGHT {
                    others
                        .join_next()
                        .await
                        .expect("a write in flight")
                        .unwrap();
                }
                let a = a.clone();
                others.spawn(async move {
                    let user = format!("user{}", i % 100);
                    a.create_session(&record(0x10_0000 + i, &user, 1, alive))
                        .await
                        .unwrap_or_else(|err| panic!("session {i}: {err}"));
                });
            }
            while let Some(done) = others.join_next().await {
                done.unwrap();
            }
            // Alice: two live sessions the entry at log seq 10 belongs to,
            // one that began after it, one ended (expired).
            a.create_session(&record(0xa1, "alice", 5, alive))
                .await
                .unwrap();
            a.create_session(&record(0xa2, "alice", 10, alive))
                .await
                .unwrap();
            a.create_session(&record(0xa3, "alice", 11, alive))
                .await
                .unwrap();
            a.create_session(&record(0xa4, "alice", 1, 1_000))
                .await
                .unwrap();
            // Index entries are hints: one under alice's name for another
            // user's session, and one whose record was never created.
            a.index_session(&record(0x10_0007, "alice", 1, alive))
                .await
                .unwrap();
            a.index_session(&record(0xa5, "alice", 1, alive))
                .await
                .unwrap();

            let before = b.session_reads();
            // Any spelling a login accepts names the one user.
            let found = b.sessions_of("Alice", LogSeq(10)).await.unwrap();
            let reads = b.session_reads() - before;
            assert_eq!(found, vec![0xa1, 0xa2]);
            // One listing, one load per entry of alice's (six), whatever
            // the 1 000 sessions of others.
            assert_eq!(reads, 1 + 6, "{reads} reads of the bucket");

            let before = b.session_reads();
            assert_eq!(b.sessions_of("user7", LogSeq(1)).await.unwrap().len(), 10);
            assert_eq!(b.session_reads() - before, 1 + 10);
            let before = b.session_reads();
            assert_eq!(b.sessions_of("nobody", LogSeq(1)).await, Ok(Vec::new()));
            assert_eq!(b.session_reads() - before, 1);
            assert!(b.sessions_of("bob smith", LogSeq(1)).await.is_err());
        },
    );
}

#[test]
fn index_entries_leave_the_bucket_with_their_records() {
    run(
        "index_entries_leave_the_bucket_with_their_records",
        3,
        |cluster| async move {
            let mut short = config(&cluster);
            short.log_max_age = std::time::Duration::from_secs(2);
            short.duplicate_window = short.log_max_age;
            let bus = connect(short, 1, &secret()).await;
            let alive = in_an_hour();
            let kept = record(0xb1, "alice", 1, alive);
            let mut revision = bus.create_session(&kept).await.unwrap();
            bus.create_session(&record(0xb2, "alice", 1, alive))
                .await
                .unwrap();
            // 0xb1 is kept alive as its owner does (record and entry
            // written again), 0xb2 is left alone.
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                revision = bus.update_session(&kept, revision).await.unwrap();
                bus.index_session(&kept).await.unwrap();
                if bus.load_session(0xb2).await.unwrap().is_none() {
                    break;
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(30),
                    "an unwritten record outlived its age limit by far"
                );
            }
            // 0xb2's entry, written before its record, went no later:
            // one listing and one load, of the session kept alive.
            let before = bus.session_reads();
            assert_eq!(
                bus.sessions_of("alice", LogSeq(1)).await.unwrap(),
                vec![0xb1]
            );
            assert_eq!(bus.session_reads() - before, 2);
        },
    );
}
