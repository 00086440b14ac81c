//! A user's sessions on a real 3-node JetStream cluster, found through the
//! bucket's index by user (`Bus::sessions_of`, what `notify --wait`
//! counts): the requests it makes follow that user's sessions, not the
//! cluster's, and the records stay the truth.

mod common;

use std::time::Duration;

use common::{bus, config, connect, run, secret};
use faxnotify_cluster::{Bus, ClusterSecret, LogSeq, ServerId, SessionRecord, SweepTurn};
use tokio::task::JoinSet;

/// The sweeper's lease in these tests: a takeover waits this long.
const LEASE: Duration = Duration::from_secs(2);
/// A sweep at every turn of the sweeper, so that tests need not wait.
const EVERY_TURN: Duration = Duration::ZERO;
/// A sweep period no test reaches: the sweeper sweeps when it takes the
/// lease (no sweep yet), then only holds it.
const NEVER_AGAIN: Duration = Duration::from_secs(3_600);

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

            // The sweeper's sweep finds every live record indexed: lookups
            // list the user's prefix alone.
            let SweepTurn::Swept(swept) = b.sweep_turn(NEVER_AGAIN, LEASE).await.unwrap() else {
                panic!("the first server to take a turn sweeps");
            };
            assert_eq!((swept.records, swept.indexed), (1_004, 0));
            assert!(b.index_trusted().await);
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
            bus.sweep_turn(EVERY_TURN, LEASE).await.unwrap();
            assert!(bus.index_trusted().await);
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
/// while the sweep record does not vouch for the index, given their
/// entries by the cluster's sweeper, on every server, sweeper or not.
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

            // A new server before any sweep: nothing vouches that no old
            // server runs, so it lists the whole bucket.
            let new = bus(&cluster, 2).await;
            assert!(!new.index_trusted().await);
            let before = new.session_reads();
            assert_eq!(
                new.sessions_of("alice", LogSeq(10)).await.unwrap(),
                vec![0xa1, 0xa2]
            );
            // One listing, alice's one entry, the 12 records without one
            // (the ended one is now known dead).
            assert_eq!(new.session_reads() - before, 1 + 1 + 12);

            // It takes the sweeper's lease, and its sweep gives the 11
            // live ones their entries (the ended one, known dead since
            // the lookup, is not loaded).
            let before = new.session_reads();
            let SweepTurn::Swept(done) = new.sweep_turn(EVERY_TURN, LEASE).await.unwrap() else {
                panic!("the first server to take a turn sweeps");
            };
            assert_eq!((done.records, done.loaded, done.indexed), (23, 11, 11));
            assert_eq!(new.session_reads() - before, 1 + 11);
            // Old servers were seen: lookups stay wide, on the sweeper and
            // on a server that does not sweep, which learns it from the
            // sweep record.
            let other = bus(&cluster, 3).await;
            assert_eq!(
                other.sweep_turn(EVERY_TURN, LEASE).await.unwrap(),
                SweepTurn::Following {
                    sweeper: Some(ServerId(2))
                }
            );
            assert_eq!(other.session_listings(), 0, "only the sweeper sweeps");
            assert!(!new.index_trusted().await);
            assert!(!other.index_trusted().await);
            for server in [&new, &other] {
                let before = server.session_reads();
                assert_eq!(
                    server.sessions_of("alice", LogSeq(10)).await.unwrap(),
                    vec![0xa1, 0xa2]
                );
                // Wide: one listing and alice's two entries; the ended
                // record is not loaded again by a server that knows it
                // dead (the sweeper), once by one that did not.
                let dead_once = u64::from(server.origin() == ServerId(3));
                assert_eq!(server.session_reads() - before, 1 + 2 + dead_once);
            }
            let SweepTurn::Swept(again) = new.sweep_turn(EVERY_TURN, LEASE).await.unwrap() else {
                panic!("the sweeper sweeps at each turn here");
            };
            assert_eq!((again.records, again.loaded, again.indexed), (23, 0, 0));

            // An old server opens a session after that sweep: counted at
            // once, by the wide lookup of either server.
            writer
                .create_session_as_previous_version(&record(0xa4, "alice", 6, alive))
                .await
                .unwrap();
            for server in [&other, &new] {
                let before = server.session_reads();
                assert_eq!(
                    server.sessions_of("alice", LogSeq(10)).await.unwrap(),
                    vec![0xa1, 0xa2, 0xa4]
                );
                assert_eq!(server.session_reads() - before, 1 + 2 + 1);
            }
            let SweepTurn::Swept(done) = new.sweep_turn(EVERY_TURN, LEASE).await.unwrap() else {
                panic!("the sweeper sweeps at each turn here");
            };
            assert_eq!((done.records, done.loaded, done.indexed), (24, 1, 1));
            assert_eq!(
                other.session_listings(),
                2,
                "the follower's two wide lookups, no sweep"
            );
        },
    );
}

/// Exactly one server of the cluster sweeps; the others learn what it
/// found from the sweep record and trust the index when it vouches for
/// it; when the sweeper stops, another takes over once its lease ran out;
/// a sweep record nobody with the secret wrote is never trusted.
#[test]
fn one_server_sweeps_for_the_cluster_and_another_takes_over_when_it_stops() {
    run(
        "one_server_sweeps_for_the_cluster_and_another_takes_over_when_it_stops",
        3,
        |cluster| async move {
            let writer = bus(&cluster, 9).await;
            let alive = in_an_hour();
            for i in 0..30 {
                writer
                    .create_session(&record(0x20_0000 + i, &format!("user{}", i % 3), 1, alive))
                    .await
                    .unwrap();
            }
            let servers = [
                bus(&cluster, 1).await,
                bus(&cluster, 2).await,
                bus(&cluster, 3).await,
            ];
            // Rounds of turns, the three servers at once: one takes the
            // lease and sweeps at each of its turns, the others read the
            // record.
            const ROUNDS: u64 = 5;
            let mut swept_by = Vec::new();
            for round in 0..ROUNDS {
                let turns = tokio::join!(
                    servers[0].sweep_turn(EVERY_TURN, LEASE),
                    servers[1].sweep_turn(EVERY_TURN, LEASE),
                    servers[2].sweep_turn(EVERY_TURN, LEASE),
                );
                let turns = [turns.0.unwrap(), turns.1.unwrap(), turns.2.unwrap()];
                let sweepers: Vec<usize> = (0..3)
                    .filter(|&i| matches!(turns[i], SweepTurn::Swept(_)))
                    .collect();
                assert_eq!(sweepers.len(), 1, "round {round}: {turns:?}");
                swept_by.push(sweepers[0]);
            }
            let sweeper = swept_by[0];
            assert!(swept_by.iter().all(|&s| s == sweeper), "{swept_by:?}");
            // Listings: the sweeper's one a round, none of the others'.
            // (Each server sweeping, as before: 3 a round.)
            let listings: Vec<u64> = servers.iter().map(Bus::session_listings).collect();
            let mut expected = [0; 3];
            expected[sweeper] = ROUNDS;
            assert_eq!(listings, expected);
            // Its sweeps found no previous-version record: every server
            // lists the user's prefix alone.
            for server in &servers {
                assert!(server.index_trusted().await);
                let before = server.session_reads();
                assert_eq!(
                    server.sessions_of("user1", LogSeq(1)).await.unwrap().len(),
                    10
                );
                assert_eq!(server.session_reads() - before, 1 + 10);
            }

            // The sweeper stops. The others' turns follow it until its
            // lease runs out; then exactly one takes over, and sweeps.
            let stopped = servers[sweeper].origin();
            drop(servers);
            let rest = [bus(&cluster, 4).await, bus(&cluster, 5).await];
            let started = std::time::Instant::now();
            let successor = loop {
                let (a, b) = tokio::join!(
                    rest[0].sweep_turn(EVERY_TURN, LEASE),
                    rest[1].sweep_turn(EVERY_TURN, LEASE),
                );
                match (a.unwrap(), b.unwrap()) {
                    (
                        SweepTurn::Following { sweeper: Some(s) },
                        SweepTurn::Following { sweeper: Some(t) },
                    ) if s == stopped && t == stopped => {}
                    (SweepTurn::Swept(_), SweepTurn::Following { sweeper }) => {
                        assert_eq!(sweeper, Some(rest[0].origin()));
                        break 0;
                    }
                    (SweepTurn::Following { sweeper }, SweepTurn::Swept(_)) => {
                        assert_eq!(sweeper, Some(rest[1].origin()));
                        break 1;
                    }
                    turns => panic!("not one successor: {turns:?}"),
                }
                assert!(started.elapsed() < LEASE * 10, "nobody took the lease over");
                tokio::time::sleep(LEASE / 4).await;
            };
            // The successor sweeps at its turns, the other never.
            let (a, b) = tokio::join!(
                rest[0].sweep_turn(EVERY_TURN, LEASE),
                rest[1].sweep_turn(EVERY_TURN, LEASE),
            );
            let turns = [a.unwrap(), b.unwrap()];
            assert!(matches!(turns[successor], SweepTurn::Swept(_)));
            assert_eq!(
                turns[1 - successor],
                SweepTurn::Following {
                    sweeper: Some(rest[successor].origin())
                }
            );
            assert_eq!(rest[successor].session_listings(), 2);
            assert_eq!(rest[1 - successor].session_listings(), 0);

            // Someone who can write the bucket but lacks the secret
            // writes a record that would vouch for the index (here: a
            // server of another cluster's secret, which sweeps): it does
            // not open, so a server that reads it lists the whole bucket.
            let forger = connect(config(&cluster), 6, &ClusterSecret::from_bytes(&[1; 32])).await;
            assert!(matches!(
                forger.sweep_turn(EVERY_TURN, LEASE).await.unwrap(),
                SweepTurn::Swept(_)
            ));
            assert!(forger.index_trusted().await, "under its own secret");
            assert!(!bus(&cluster, 7).await.index_trusted().await);
            // The next turn of a server replaces it, and sweeps (the
            // record it writes has no sweep yet): trusted again.
            assert!(matches!(
                rest[1 - successor]
                    .sweep_turn(NEVER_AGAIN, LEASE)
                    .await
                    .unwrap(),
                SweepTurn::Swept(_)
            ));
            assert!(bus(&cluster, 8).await.index_trusted().await);
        },
    );
}
