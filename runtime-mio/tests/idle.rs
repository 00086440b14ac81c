//! An idle server and client do not spin: their loops sleep in `poll`
//! until the core's next deadline (a keepalive every third of the lease),
//! and so does a server paused by an application that does not read its
//! events. The CPU time this costs is measured by `examples/idle_cpu.rs`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Polls `check` every 10 ms until it holds (bounded by [`common::WAIT`]).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::WAIT;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "not within {:?}: {what}",
            common::WAIT
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An application that stops reading its events pauses the server's
/// intake, and the paused loop sleeps until something it can act on
/// happens, even once the core has no deadline left: nothing is read while
/// paused, so the logins in flight time out [C-9] (and a session logged in
/// just before the pause expires with its lease), and then nothing is due.
/// Once the application reads again, every client logs in.
#[test]
fn a_paused_loop_sleeps_while_the_application_does_not_read() {
    const CLIENTS: usize = 4;
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("user{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut config = ServerConfig::new([1; 32]);
    // Long enough for a login on a loaded machine, short enough that the
    // logins held up by the pause time out within the test.
    config.handshake_timeout = Duration::from_secs(3);
    // A login that completed just before the pause is no longer in flight:
    // it ends when its lease runs out, since nothing its client sends is
    // read. At the default 30 s that was the whole of the wait below, on a
    // loaded machine.
    config.lease = Duration::from_secs(5);
    let mut options = LoopOptions::default();
    options.event_capacity = 1;
    let server = common::server(config, &names, options);
    let clients: Vec<_> = names
        .iter()
        .map(|name| common::client(&server, name, LoopOptions::default()))
        .collect();
    // The application reads nothing: past its one event of room, events
    // wait in the loop and it stops reading and accepting.
    eventually("the events back up", || {
        server.stats().expect("stats").pending_events >= 1
    });
    eventually("the paused handshakes time out", || {
        server.sessions().expect("sessions").is_empty()
            && server.stats().expect("stats").connections == 0
    });
    let before = server.stats().expect("stats").wakeups;
    std::thread::sleep(Duration::from_millis(300));
    // Less the wake-up of this stats() call itself.
    let wakeups = server.stats().expect("stats").wakeups - before - 1;
    // A sleeping loop has none; a spinning one, thousands.
    assert!(
        wakeups < 100,
        "the paused loop woke {wakeups} times in 300 ms with nothing to do"
    );

    // The application reads again: the clients (which reconnected
    // meanwhile) are accepted and all log in.
    eventually("every client logs in", || {
        while server.events().try_recv().is_ok() {}
        server.sessions().expect("sessions").len() == CLIENTS
    });
    // The application reads on, so that the logouts' events do not pause
    // the server again.
    let logged_out = AtomicBool::new(false);
    let events = server.events();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !logged_out.load(Ordering::Acquire) {
                let _ = events.recv_timeout(Duration::from_millis(10));
            }
        });
        for client in clients {
            client.logout().expect("logout");
            client.join().expect("client loop ends");
        }
        logged_out.store(true, Ordering::Release);
    });
    server.shutdown().expect("server loop ends");
}
