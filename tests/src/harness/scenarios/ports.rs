//! The `fixed` and `range` listen policies with several instances on one host.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use faxnotify_core::client::{ListenPolicy, StopReason};

use super::{assert_delivered, start_server};
use crate::harness::net::{reserve_port, reserve_port_range};
use crate::harness::{
    ClientProbe, ClientSetup, ClientStartError, Runtime, ServerSetup, test_users,
};

/// Tries to start a client.
fn try_start(
    rt: &dyn Runtime,
    name: &str,
    setup: ClientSetup,
) -> Result<ClientProbe, ClientStartError> {
    rt.start_client(setup)
        .map(|c| ClientProbe::new(format!("{} client {name}", rt.name()), c))
}

/// `fixed` port: a second instance on the same port fails at start with
/// `FixedPortInUse` (the core's reason, unchanged), and the first keeps
/// receiving notifications.
pub fn fixed_port_in_use(server_rt: &dyn Runtime, client_rt: &dyn Runtime) {
    let mut server = start_server(server_rt, ServerSetup::new(test_users(&["alice", "bob"])));
    // Held until the test ends, so no other process can take the port
    // between the instances.
    let reserved = reserve_port(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let port = reserved.port();
    let setup = ClientSetup::new(server.addr(), "alice", ListenPolicy::Fixed { port });
    let mut first = try_start(client_rt, "first", setup)
        .unwrap_or_else(|e| panic!("the first instance does not start: {e:?}"));
    assert_eq!(first.callback_addr().port(), port);

    let second = try_start(
        client_rt,
        "second",
        ClientSetup::new(server.addr(), "bob", ListenPolicy::Fixed { port }),
    );
    match second {
        Err(ClientStartError::Listen(StopReason::FixedPortInUse { port: p })) => {
            assert_eq!(p, port)
        }
        Err(other) => panic!("expected FixedPortInUse {{ port: {port} }}, got {other:?}"),
        Ok(_) => panic!("a second instance started on fixed port {port}"),
    }

    first.wait_logged_in();
    server.wait_sessions("one session", |s| s.len() == 1);
    server.broadcast("still here");
    first.wait_message("still here");
    assert_delivered(&first, 1, &["still here".to_owned()]);
    assert!(first.logout());
    server.shutdown();
}

/// `range` of 3 ports with 4 instances: three run, each on its own port of
/// the range, and the fourth fails with `RangeExhausted` naming the range.
pub fn range_of_three_with_four_clients(server_rt: &dyn Runtime, client_rt: &dyn Runtime) {
    let users = ["c0", "c1", "c2", "c3"];
    let mut server = start_server(server_rt, ServerSetup::new(test_users(&users)));
    let reserved = reserve_port_range(3);
    let (lo, hi) = (reserved.port(), reserved.hi());
    let policy = ListenPolicy::Range { lo, hi };
    let mut running = Vec::new();
    for user in &users[..3] {
        let setup = ClientSetup::new(server.addr(), user, policy);
        running.push(
            try_start(client_rt, user, setup)
                .unwrap_or_else(|e| panic!("{user} does not start: {e:?}")),
        );
    }
    let ports: HashSet<u16> = running.iter().map(|c| c.callback_addr().port()).collect();
    assert_eq!(ports, (lo..=hi).collect::<HashSet<u16>>());

    let fourth = try_start(
        client_rt,
        "c3",
        ClientSetup::new(server.addr(), "c3", policy),
    );
    match fourth {
        Err(ClientStartError::Listen(StopReason::RangeExhausted { lo: l, hi: h })) => {
            assert_eq!((l, h), (lo, hi));
        }
        Err(other) => panic!("expected RangeExhausted {{ {lo}-{hi} }}, got {other:?}"),
        Ok(_) => panic!("a fourth instance started on range {lo}-{hi}"),
    }

    for client in &mut running {
        client.wait_logged_in();
    }
    server.wait_sessions("three sessions", |s| s.len() == 3);
    server.broadcast("to the three");
    for client in &mut running {
        client.wait_message("to the three");
        assert_delivered(client, 1, &["to the three".to_owned()]);
        assert!(client.logout());
    }
    server.shutdown();
}
