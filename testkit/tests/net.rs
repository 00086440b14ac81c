//! The in-memory network itself: a pair logs in and delivers, many clients
//! share one server, time passes only when told, and the faults it makes on
//! purpose reach the cores as a real network's would.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::time::{Duration, Instant};

use faxnotify_core::client::{
    self, BindError, Client, ClientConfig, ClientState, ListenPolicy, NetworkSettings,
};
use faxnotify_core::server::{self, DeliveryPath, MemoryUserStore, Server, ServerConfig, Target};
use faxnotify_core::wire::{Notification, Role};
use faxnotify_testkit::{ClientId, Endpoint, Net, Path, SERVER_ADDR, Side, client_ip};

const PASSWORD: &str = "correct horse";

fn server(users: usize) -> Server {
    let mut store = MemoryUserStore::new();
    for i in 0..users {
        store
            .add_password(&format!("user{i}"), PASSWORD, &[0x5a; 16], 4096, Role::User)
            .unwrap();
    }
    let mut config = ServerConfig::new([9; 32]);
    config.max_sessions_per_ip = 1_000;
    Server::new(config, Box::new(store), [2; 32]).unwrap()
}

fn client(i: usize, policy: ListenPolicy, now: Instant) -> Client {
    let config = ClientConfig::new(
        SERVER_ADDR,
        format!("user{i}"),
        PASSWORD,
        NetworkSettings::new(policy),
    );
    Client::new(config, [i as u8; 32], now).unwrap()
}

fn pair(policy: ListenPolicy) -> Net {
    let now = Instant::now();
    Net::pair(client(0, policy, now), server(1), now)
}

fn count(events: &[client::Event], want: fn(&client::Event) -> bool) -> usize {
    events.iter().filter(|e| want(e)).count()
}

fn logged_in(endpoint: &Endpoint<Client>) -> bool {
    matches!(endpoint.state(), ClientState::LoggedIn { .. })
}

fn callback_up(e: &client::Event) -> bool {
    matches!(e, client::Event::CallbackEstablished { .. })
}

#[test]
fn a_pair_logs_in_calls_back_and_delivers_without_time_passing() {
    let mut net = pair(ListenPolicy::Fixed { port: 6003 });
    let start = net.now;
    net.drive();
    assert_eq!(net.now, start, "drive never moves the clock");
    assert!(logged_in(net.client()));
    assert_eq!(count(&net.client().events, callback_up), 1);
    let session = net.server.sessions().next().unwrap();
    assert_eq!(session.peer.ip(), client_ip(0));
    assert!(matches!(session.path, DeliveryPath::Callback(_)));

    let now = net.now;
    net.server
        .notify(now, Target::All, &Notification::server_message("hello"))
        .unwrap();
    net.drive();
    assert_eq!(net.client().notified_seqs(), [1]);
    assert!(
        net.server
            .events
            .iter()
            .any(|e| matches!(e, server::Event::Delivered { .. })),
        "the ACK reached the server"
    );
}

#[test]
fn step_runs_one_round_at_a_time() {
    let mut net = pair(ListenPolicy::Fixed { port: 6003 });
    let mut rounds = 0;
    while net.step() {
        rounds += 1;
        assert!(rounds < 100, "a login takes a few rounds, not a hundred");
    }
    // Listen, dial, SERVER_HELLO, LOGIN, challenge, proof, LOGIN_OK, ...
    assert!(rounds > 5, "{rounds} rounds");
    assert!(logged_in(net.client()));
    assert!(!net.step(), "quiet stays quiet");
}

#[test]
fn many_clients_share_one_server() {
    let now = Instant::now();
    let n = 300; // past the 200 IPv4 addresses, into IPv6
    let mut net = Net::new(server(n), now);
    for i in 0..n {
        net.add_client(client(i, ListenPolicy::Dynamic, now));
    }
    net.drive();
    assert_eq!(net.server.session_count(), n);
    for (id, endpoint) in net.clients() {
        assert_eq!(count(&endpoint.events, callback_up), 1, "{id:?}");
    }
    let now = net.now;
    let report = net
        .server
        .notify(now, Target::All, &Notification::server_message("all"))
        .unwrap();
    assert_eq!(report.accepted.len(), n);
    net.drive();
    for (id, endpoint) in net.clients() {
        assert_eq!(endpoint.notified_seqs(), [1], "{id:?}");
    }
    assert_eq!(
        net.client_at(ClientId(250)).listen_addr().map(|a| a.port()),
        Some(50_000)
    );
}

#[test]
fn timers_run_at_their_time_and_only_when_time_is_let_pass() {
    let mut net = pair(ListenPolicy::Fixed { port: 6003 });
    net.drive();
    let due = net.next_timeout().expect("keepalives and leases are armed");
    let fired = net.fire_next_timer().unwrap();
    assert_eq!(fired, due);
    assert_eq!(net.now, due);
    // Minutes pass: keepalives and lease renewals keep the session up.
    net.run_for(Duration::from_secs(600));
    assert_eq!(net.now, due + Duration::from_secs(600));
    assert!(logged_in(net.client()));
    assert_eq!(net.server.session_count(), 1);
}

#[test]
fn two_clients_on_one_address_cannot_both_hold_a_fixed_port() {
    let now = Instant::now();
    let mut net = Net::new(server(2), now);
    let ip = client_ip(0);
    net.add_client_at(client(0, ListenPolicy::Fixed { port: 6003 }, now), ip);
    let second = net.add_client_at(client(1, ListenPolicy::Fixed { port: 6003 }, now), ip);
    net.drive();
    assert!(logged_in(net.client()));
    // One machine, one port: the second instance stops, as the fixed
    // policy promises on a shared terminal server.
    assert!(
        net.client_at(second).events.iter().any(|e| matches!(
            e,
            client::Event::Stopped {
                reason: client::StopReason::FixedPortInUse { port: 6003 }
            }
        )),
        "{:#?}",
        net.client_at(second).events
    );
    assert_eq!(net.server.session_count(), 1);
}

#[test]
fn a_bind_fault_reaches_the_client() {
    let mut net = pair(ListenPolicy::Fixed { port: 6003 });
    net.faults.bind_error = Some(BindError::PermissionDenied);
    net.drive();
    assert!(!logged_in(net.client()));
    assert!(
        net.client().events.iter().any(|e| matches!(
            e,
            client::Event::Stopped {
                reason: client::StopReason::ListenFailed {
                    error: BindError::PermissionDenied,
                    ..
                }
            }
        )),
        "{:#?}",
        net.client().events
    );
    assert_eq!(net.server.session_count(), 0);
}

#[test]
fn a_refused_callback_is_reported_and_a_cut_control_reconnects() {
    let mut net = pair(ListenPolicy::Fixed { port: 6003 });
    net.faults.refuse_callback = true;
    net.drive();
    assert!(logged_in(net.client()));
    assert_eq!(count(&net.client().events, callback_up), 0);
    assert!(
        net.server
            .events
            .iter()
            .any(|e| matches!(e, server::Event::CallbackStatus { .. }))
    );

    // The control connection breaks; the client dials again and resumes.
    let conn = control_conn(&net);
    net.cut(Side::Server, conn);
    net.run_for(Duration::from_secs(30));
    assert!(
        net.server
            .events
            .iter()
            .any(|e| matches!(e, server::Event::SessionResumed { .. })),
        "{:#?}",
        net.server.events
    );
    assert!(logged_in(net.client()));
}

/// The server's end of the first client's control connection.
fn control_conn(net: &Net) -> faxnotify_core::ConnId {
    net.connections(Side::CLIENT)
        .into_iter()
        .find_map(|(_, path, _, server_conn)| (path == Path::Control).then_some(server_conn))
        .expect("the client is connected")
}

#[test]
fn injected_garbage_is_a_protocol_error_at_the_server() {
    let mut net = pair(ListenPolicy::Fixed { port: 6003 });
    net.drive();
    let conn = control_conn(&net);
    net.inject(Side::Server, conn, &[0xff; 16]);
    net.drive();
    assert!(
        net.server
            .events
            .iter()
            .any(|e| matches!(e, server::Event::ProtocolError { .. })),
        "{:#?}",
        net.server.events
    );
}
