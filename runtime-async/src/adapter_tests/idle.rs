//! An idle driver sleeps: once nothing is due and nothing arrives, its
//! loop does not turn (counted by the driver, not measured in CPU time).

use std::time::Duration;

use faxnotify_core::client::{Event, ListenPolicy};

use super::Harness;
use super::support::*;

/// Wake-ups allowed in a wait with nothing to act on: a sleeping driver has
/// one or two (a timer set before everything ended); a spinning one has
/// hundreds of thousands.
const MOST_WAKE_UPS: u64 = 100;

/// Once its last client has logged out, the server has no deadline left;
/// the timer its last session left armed fires (within a lease), and then
/// the driver sleeps until something happens, on every runtime — a fired
/// timer that stays ready (tokio's) is not waited on again.
pub fn a_server_sleeps_once_its_last_client_has_left<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let mut config = server_config();
        // The shortest lease: keepalives (and so armed timers) every second.
        config.lease = Duration::from_secs(3);
        let lease = config.lease;
        let (server, _events) = start_server_with(&h, loopback(), config, &["alice"]).await;
        let client = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        logout(client).await;
        let stats = server.stats().await.expect("running");
        assert_eq!((stats.sessions, stats.connections), (0, 0), "{stats:?}");

        // The timer set while the session lived fires within a lease.
        let before = server.driver_turns();
        sleep::<H::Rt>(lease + Duration::from_millis(300)).await;
        let turns = server.driver_turns() - before;
        assert!(
            turns < MOST_WAKE_UPS,
            "the idle server's driver woke {turns} times in {:?}",
            lease + Duration::from_millis(300)
        );
        server.shutdown().await;
    });
}
