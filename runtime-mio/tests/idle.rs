//! An idle server and client do not spin: their loops sleep in `poll`
//! until the core's next deadline (a keepalive every third of the lease).
//! The CPU time this costs is measured by `examples/idle_cpu.rs`.

mod common;

use std::time::Duration;

use faxnotify_core::server::ServerConfig;
use faxnotify_mio::LoopOptions;

#[test]
fn idle_loops_sleep_until_the_next_keepalive() {
    let mut config = ServerConfig::new([1; 32]);
    config.lease = Duration::from_secs(60); // keepalives every 20 s
    let server = common::server(config, &["ida"], LoopOptions::default());
    let client = common::client(&server, "ida", LoopOptions::default());
    common::logged_in_with_callback(&client);
    common::session_opened(&server);
    // Let the last handshake bytes settle.
    std::thread::sleep(Duration::from_millis(200));

    let server_before = server.stats().expect("stats").wakeups;
    let client_before = client.stats().expect("stats").wakeups;
    std::thread::sleep(Duration::from_secs(3));
    let server_after = server.stats().expect("stats").wakeups;
    let client_after = client.stats().expect("stats").wakeups;

    // Each stats() call wakes the loop once; a spinning loop would wake
    // thousands of times in 3 s. Allow a stray timer or two.
    let server_wakeups = server_after - server_before;
    let client_wakeups = client_after - client_before;
    assert!(
        server_wakeups <= 3,
        "server woke {server_wakeups} times while idle"
    );
    assert!(
        client_wakeups <= 3,
        "client woke {client_wakeups} times while idle"
    );

    client.logout().expect("logout");
    client.join().expect("client loop ends");
    server.shutdown().expect("server loop ends");
}
