//! Listening: which address the callback listener binds (by default the
//! one the control connection comes from, the one the server dials [C-1],
//! so a stranger on another interface cannot even connect to it), and the
//! listen policies with real sockets (the core's errors surface unchanged).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use faxnotify_core::client::{BindError, Event, ListenAddress, ListenPolicy, StopReason};
use faxnotify_core::server::Target;
use faxnotify_core::wire::CallbackState;

use super::Harness;
use super::support::*;
use crate::{Client, ClientStartError, Server, ServerStartError};

/// The listener of a client of a server on 127.0.0.1 is on 127.0.0.1: the
/// same port on another loopback address (127.0.0.2, another interface as
/// far as the socket is concerned) refuses connections.
pub fn a_loopback_server_gets_a_loopback_listener<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let client = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        let local = client.listen_addr();
        assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{local}");
        expect(&client, "reachable", |e| {
            matches!(
                e,
                Event::CallbackStatus {
                    state: CallbackState::Reachable,
                    ..
                }
            )
        })
        .await;
        let elsewhere = SocketAddr::from(([127, 0, 0, 2], local.port()));
        assert!(
            TcpStream::connect(elsewhere).is_err(),
            "{elsewhere} reached the callback listener"
        );
        logout(client).await;
        server.shutdown().await;
    });
}

/// The local address of the route to 192.0.2.1 (TEST-NET-1), if this host
/// has a non-loopback IPv4 address to reach it from.
fn non_loopback_ipv4() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    // The host must also accept connections on it.
    TcpListener::bind((ip, 0)).ok()?;
    (!ip.is_loopback()).then_some(ip)
}

/// With the server reached over a non-loopback address, the runtime finds
/// the route's local address and the listener binds it (not 0.0.0.0): the
/// callback works, loopback strangers are refused. `listen_address = any`
/// restores every interface.
pub fn the_listener_binds_the_address_the_server_is_reached_from<H: Harness>() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("skipped: this host has no non-loopback IPv4 address");
        return;
    };
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) =
            start_server(&h, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), &["alice"]).await;
        let server_addr = SocketAddr::new(ip, server.local_addr().port());
        let client = start_client(
            &h,
            client_config(server_addr, "alice", ListenPolicy::Dynamic),
        )
        .await;
        let local = client.listen_addr();
        assert_eq!(local.ip(), ip, "{local}");
        expect(&client, "reachable", |e| {
            matches!(
                e,
                Event::CallbackStatus {
                    state: CallbackState::Reachable,
                    ..
                }
            )
        })
        .await;
        let stranger = SocketAddr::from((Ipv4Addr::LOCALHOST, local.port()));
        assert!(
            TcpStream::connect(stranger).is_err(),
            "{stranger} reached the callback listener"
        );
        logout(client).await;

        let mut config = client_config(server_addr, "alice", ListenPolicy::Dynamic);
        config.settings.listen_address = ListenAddress::Any;
        let client = start_client(&h, config).await;
        assert!(
            client.listen_addr().ip().is_unspecified(),
            "{}",
            client.listen_addr()
        );
        logout(client).await;
        server.shutdown().await;
    });
}

/// A fixed port stays one instance per host for every client of the same
/// server: they all bind the same route address, and the second fails.
/// A listener on every interface also blocks it.
pub fn a_fixed_port_held_on_any_address_refuses_a_second_instance<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let holder = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        let port = holder.local_addr().expect("the holder's address").port();
        let second = Client::start_with(
            client_config(server.local_addr(), "alice", ListenPolicy::Fixed { port }),
            options(&h, 5),
        )
        .await;
        assert!(
            matches!(
                second,
                Err(ClientStartError::Listen(StopReason::FixedPortInUse { .. }))
            ),
            "{second:?}"
        );
        drop(holder);
        server.shutdown().await;
    });
}

/// A second instance on a fixed port fails with `FixedPortInUse` and never
/// reaches the server; the first keeps receiving.
pub fn a_second_instance_on_a_fixed_port_fails_and_the_first_keeps_receiving<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice", "bob"]).await;
        // Held until the test ends: no other process takes it meanwhile.
        let reserved = reserve_ports(1);
        let port = reserved.port();
        let first = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Fixed { port }),
        )
        .await;
        assert_eq!(first.listen_addr().port(), port);
        expect(&first, "login", |e| matches!(e, Event::LoggedIn { .. })).await;

        let second = Client::start_with(
            client_config(server.local_addr(), "bob", ListenPolicy::Fixed { port }),
            options(&h, 3),
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

/// A range of three ports runs three instances on its first free ports and
/// refuses a fourth with `RangeExhausted`.
pub fn a_range_of_three_ports_runs_three_instances_and_refuses_the_fourth<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &["alice"]).await;
        let reserved = reserve_ports(3);
        let (lo, hi) = (reserved.port(), reserved.hi());
        let policy = ListenPolicy::Range { lo, hi };
        let mut running = Vec::new();
        for _ in 0..3 {
            running
                .push(start_client(&h, client_config(server.local_addr(), "alice", policy)).await);
        }
        let mut ports: Vec<u16> = running.iter().map(|c| c.listen_addr().port()).collect();
        ports.sort_unstable();
        assert_eq!(
            ports,
            vec![lo, lo + 1, hi],
            "the first free port of the range each time"
        );

        let fourth = Client::start_with(
            client_config(server.local_addr(), "alice", policy),
            options(&h, 4),
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

/// A server cannot bind a port another one listens on; once that one has
/// shut down, it can at once.
pub fn a_server_cannot_bind_a_port_that_is_listening<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        // Bound again below: held for the whole test.
        let reserved = reserve_ports(1);
        let (first, _events) = start_server(&h, reserved.loopback(), &[]).await;
        let taken: SocketAddr = first.local_addr();
        let second = Server::bind_with(taken, server_config(), users(&[]), options(&h, 5)).await;
        match second {
            Err(ServerStartError::Bind { addr, error }) => {
                assert_eq!(addr, taken);
                assert_eq!(error, BindError::AddrInUse);
            }
            other => panic!("expected a bind error, got {other:?}"),
        }
        first.shutdown().await;
        // Once the first has shut down, the port can be bound again at once.
        let (again, _events) = start_server(&h, taken, &[]).await;
        assert_eq!(again.local_addr(), taken);
        again.shutdown().await;
    });
}
