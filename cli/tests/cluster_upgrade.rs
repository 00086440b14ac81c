//! A rolling upgrade (issue 19: "an upgrade is an outage" is what cluster
//! mode ends): servers of the previous version, which write session
//! records without the index entries by user, run beside servers of this
//! version. `notify --wait` on a new server must still count their
//! sessions, or it waits for fewer reports than there are sessions and
//! says "all delivered" too early.

mod cluster_support;
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster_support::{Bed, admin_lines, admin_notify, nats, wait_for_text};
use common::{faxnotify, start_json_client};
use faxnotify_cluster::harness::NatsCluster;
use faxnotify_cluster::{Bus, BusConfig, ClusterSecret, ServerId, SessionRecord};
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";
/// The server of the previous version the test plays.
const OLD_SERVER: ServerId = ServerId(0x01d);

/// What a server of the previous version writes when `user` logs in on
/// it: the session's record, sealed with the cluster's secret, held for an
/// hour, and no index entry.
fn old_server_opens(nats: &NatsCluster, bed: &Bed, session: u64, user: &str) {
    let secret: [u8; 32] = std::fs::read(&bed.secret)
        .expect("the secret")
        .try_into()
        .expect("32 bytes");
    let in_an_hour = u64::try_from(
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            + Duration::from_secs(3600))
        .as_millis(),
    )
    .expect("milliseconds fit u64");
    let record = SessionRecord {
        session,
        user: user.into(),
        owner: OLD_SERVER,
        owner_until_unix_ms: in_an_hour,
        start_log_seq: 0,
        acked_session_seq: 0,
        acked_log_seq: 0,
        acked_log_index: 0,
        expires_unix_ms: in_an_hour,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let bus = Bus::connect(
            BusConfig::new(nats.urls()),
            OLD_SERVER,
            ClusterSecret::from_bytes(&secret),
        )
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the bus: {err}"));
        bus.create_session_as_previous_version(&record)
            .await
            .unwrap_or_else(|err| panic!("cannot write the old server's record: {err}"));
    });
}

/// What the origin of a waited notification counts: `notify` with
/// delivery reports on `admin`, its reply's recipients.
fn recipients(admin: &std::path::Path, user: &str, text: &str) -> serde_json::Value {
    let (mut requests, lines) = admin_lines(admin);
    admin_notify(&mut requests, &lines, &mut Vec::new(), user, text, true)["recipients"].clone()
}

#[test]
fn notify_wait_counts_the_sessions_of_previous_version_servers() {
    let Some(nats) = nats("notify_wait_counts_the_sessions_of_previous_version_servers") else {
        return;
    };
    let bed = Bed::new(&[("alice", PASSWORD)]);
    // An old server holds a session of alice's (its bus made the streams,
    // with the settings a server of this version uses). Then servers are
    // upgraded: the first of this version takes the sweeper's lease and
    // finds that session; the other sweeps nothing, and learns from the
    // sweep record that old servers run. Either way its lookups list the
    // whole bucket: before any sweep nothing vouches for the index.
    old_server_opens(&nats, &bed, 0x0000_01d0_0000_0001, "alice");
    let _a = bed.server("a", &nats, &[]);
    let b = bed.server("b", &nats, &[]);
    let mut alice = start_json_client(bed.dir.path(), "tokio", b.addr, "alice", PASSWORD);

    // Two recipients: alice's session here and the old server's.
    assert_eq!(recipients(&b.admin, "alice", "first"), 2);
    wait_for_text(&mut alice, "first");

    // The old server opens another session: counted at once, while old
    // servers are known to run (not only after the next sweep).
    old_server_opens(&nats, &bed, 0x0000_01d0_0000_0002, "alice");
    assert_eq!(recipients(&b.admin, "alice", "second"), 3);
    wait_for_text(&mut alice, "second");

    // What the submitter sees: not "all delivered" after alice's one
    // report, but the sessions on the old server still to report (they
    // never do here: nothing plays the old server's deliveries).
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&b.admin)
        .args(["--wait", "3s", "--user", "alice", "message", "third"])
        .assert()
        .code(8)
        .stderr(contains("of 3 recipients not reported yet"));
    wait_for_text(&mut alice, "third");
}
