//! Listen policies with real sockets: the core's errors surface unchanged.

mod support;

use std::net::SocketAddr;

use faxnotify_core::client::{BindError, Event, ListenPolicy, StopReason};
use faxnotify_core::server::Target;
use faxnotify_smol::{ClientStartError, Server, ServerStartError};
use support::*;

#[test]
fn a_second_instance_on_a_fixed_port_fails_and_the_first_keeps_receiving() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice", "bob"]).await;
        // Held until the test ends: no other process takes it meanwhile.
        let reserved = reserve_ports(1);
        let port = reserved.port();
        let first = start_client(client_config(
            server.local_addr(),
            "alice",
            ListenPolicy::Fixed { port },
        ))
        .await;
        assert_eq!(first.listen_addr().port(), port);
        expect(&first, "login", |e| matches!(e, Event::LoggedIn { .. })).await;

        let second = faxnotify_smol::Client::start_with(
            client_config(server.local_addr(), "bob", ListenPolicy::Fixed { port }),
            test_options(3),
        )
        .await;
        match second {
            Err(ClientStartError::Listen(StopReason::FixedPortInUse { port: p })) => {
                assert_eq!(p, port)
            }
            other => panic!("expected FixedPortInUse, got {other:?}"),
        }
        // The failed instance never reached the server.
        let users: Vec<String> = server
            .sessions()
            .await
            .expect("running")
            .iter()
            .map(|s| s.user.to_string())
            .collect();
        assert_eq!(users, vec!["alice".to_owned()]);

        server
            .notify(Target::All, message("still here"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&first, 1).await,
            vec![(1, "still here".to_owned())]
        );
        logout(first).await;
        server.shutdown().await;
    });
}

#[test]
fn a_range_of_three_ports_runs_three_instances_and_refuses_the_fourth() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice"]).await;
        let reserved = reserve_ports(3);
        let (lo, hi) = (reserved.port(), reserved.hi());
        let policy = ListenPolicy::Range { lo, hi };
        let mut running = Vec::new();
        for _ in 0..3 {
            running.push(start_client(client_config(server.local_addr(), "alice", policy)).await);
        }
        let mut ports: Vec<u16> = running.iter().map(|c| c.listen_addr().port()).collect();
        ports.sort_unstable();
        assert_eq!(
            ports,
            vec![lo, lo + 1, hi],
            "the first free port of the range each time"
        );

        let fourth = faxnotify_smol::Client::start_with(
            client_config(server.local_addr(), "alice", policy),
            test_options(4),
        )
        .await;
        match fourth {
            Err(ClientStartError::Listen(StopReason::RangeExhausted { lo: l, hi: h })) => {
                assert_eq!((l, h), (lo, hi));
            }
            other => panic!("expected RangeExhausted, got {other:?}"),
        }
        for client in &running {
            expect(client, "login", |e| matches!(e, Event::LoggedIn { .. })).await;
        }
        let report = server
            .notify(Target::All, message("all three"))
            .await
            .expect("notify");
        assert_eq!(report.accepted.len(), 3);
        for client in &running {
            assert_eq!(
                notifications(client, 1).await,
                vec![(1, "all three".to_owned())]
            );
        }
        for client in running {
            logout(client).await;
        }
        server.shutdown().await;
    });
}

#[test]
fn a_server_cannot_bind_a_port_that_is_listening() {
    block_on(async {
        let (first, _events) = start_server(loopback(), &[]).await;
        let taken: SocketAddr = first.local_addr();
        let second = Server::bind_with(taken, server_config(), users(&[]), test_options(5)).await;
        match second {
            Err(ServerStartError::Bind { addr, error }) => {
                assert_eq!(addr, taken);
                assert_eq!(error, BindError::AddrInUse);
            }
            other => panic!("expected a bind error, got {other:?}"),
        }
        first.shutdown().await;
        // Once the first has shut down, the port can be bound again at once.
        let (again, _events) = start_server(taken, &[]).await;
        assert_eq!(again.local_addr(), taken);
        again.shutdown().await;
    });
}
