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

            // Its sweep finds every live record indexed: lookups list the
            // user's prefix alone.
            let swept = b.backfill_index().await.unwrap();
            assert_eq!((swept.records, swept.indexed), (1_004, 0));
            assert!(b.index_trusted());
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
            bus.backfill_index().await.unwrap();
            assert!(bus.index_trusted());
            let before = bus.session_reads();
            assert_eq!(
                bus.sessions_of("alice", LogSeq(1)).await.unwrap(),
                vec![0xb1]
            );
            assert_eq!(bus.session_reads() - before, 2);
        },
    );
}

/// A rolling upgrade: servers of the previous version write records
/// without index entries beside servers of this one. Their sessions must
/// count for `notify --wait` all the same: listed in the whole bucket
/// until the index can be trusted, given their entries by sweeps.
#[test]
fn sessions_of_previous_version_servers_count_during_a_rolling_upgrade() {
    run(
        "sessions_of_previous_version_servers_count_during_a_rolling_upgrade",
        3,
        |cluster| async move {
            // Plays both versions: `create_session` is this version's
            // write, `create_session_as_previous_version` the old one's.
            let writer = bus(&cluster, 1).await;
            let alive = in_an_hour();
            for i in 0..20 {
                let other = record(0x10_0000 + i, "bob", 1, alive);
                if i % 2 == 0 {
                    writer.create_session(&other).await.unwrap();
                } else {
                    writer
                        .create_session_as_previous_version(&other)
                        .await
                        .unwrap();
                }
            }
            // Alice: a session opened by a new server, one by an old
            // server, and one old, ended.
            writer
                .create_session(&record(0xa1, "alice", 5, alive))
                .await
                .unwrap();
            writer
                .create_session_as_previous_version(&record(0xa2, "alice", 5, alive))
                .await
                .unwrap();
            writer
                .create_session_as_previous_version(&record(0xa3, "alice", 1, 1_000))
                .await
                .unwrap();

            // A new server before its first sweep: it cannot know that no
            // old server runs, so it lists the whole bucket.
            let new = bus(&cluster, 2).await;
            assert!(!new.index_trusted());
            let before = new.session_reads();
            assert_eq!(
                new.sessions_of("alice", LogSeq(10)).await.unwrap(),
                vec![0xa1, 0xa2]
            );
            // One listing, alice's one entry, the 12 records without one.
            assert_eq!(new.session_reads() - before, 1 + 1 + 12);

            // Its sweep gives the 11 live ones their entries.
            let before = new.session_reads();
            let done = new.backfill_index().await.unwrap();
            assert_eq!((done.records, done.loaded, done.indexed), (23, 12, 11));
            assert_eq!(new.session_reads() - before, 1 + 12);
            // Old servers were seen: lookups stay wide, but the ended
            // record is not loaded again.
            assert!(!new.index_trusted());
            let before = new.session_reads();
            assert_eq!(
                new.sessions_of("alice", LogSeq(10)).await.unwrap(),
                vec![0xa1, 0xa2]
            );
            assert_eq!(new.session_reads() - before, 1 + 2);
            let again = new.backfill_index().await.unwrap();
            assert_eq!((again.records, again.loaded, again.indexed), (23, 0, 0));

            // An old server opens a session after that sweep: counted at
            // once, by the wide lookup.
            writer
                .create_session_as_previous_version(&record(0xa4, "alice", 6, alive))
                .await
                .unwrap();
            let before = new.session_reads();
            assert_eq!(
                new.sessions_of("alice", LogSeq(10)).await.unwrap(),
                vec![0xa1, 0xa2, 0xa4]
            );
            assert_eq!(new.session_reads() - before, 1 + 2 + 1);
            let done = new.backfill_index().await.unwrap();
            assert_eq!((done.records, done.loaded, done.indexed), (24, 1, 1));

            // The upgrade is over: a server started now finds no live
            // record without its entry (only the ended one, loaded once),
            // trusts the index, and lists alice's prefix alone.
            let later = bus(&cluster, 3).await;
            let done = later.backfill_index().await.unwrap();
            assert_eq!((done.records, done.loaded, done.indexed), (24, 1, 0));
            assert!(later.index_trusted());
            let before = later.session_reads();
            assert_eq!(
                later.sessions_of("alice", LogSeq(10)).await.unwrap(),
                vec![0xa1, 0xa2, 0xa4]
            );
            assert_eq!(later.session_reads() - before, 1 + 3);
        },
    );
}
