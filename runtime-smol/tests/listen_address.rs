//! Which address the callback listener binds: by default the one the
//! control connection comes from (the one the server dials [C-1]), so a
//! stranger on another interface cannot even connect to it.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use faxnotify_core::client::{Event, ListenAddress, ListenPolicy};
use faxnotify_core::wire::CallbackState;
use support::*;

/// The listener of a client of a server on 127.0.0.1 is on 127.0.0.1: the
/// same port on another loopback address (127.0.0.2, another interface as
/// far as the socket is concerned) refuses connections.
#[test]
fn a_loopback_server_gets_a_loopback_listener() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice"]).await;
        let client = start_client(client_config(
            server.local_addr(),
            "alice",
            ListenPolicy::Dynamic,
        ))
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
#[test]
fn the_listener_binds_the_address_the_server_is_reached_from() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("skipped: this host has no non-loopback IPv4 address");
        return;
    };
    block_on(async {
        let (server, _events) =
            start_server(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), &["alice"]).await;
        let server_addr = SocketAddr::new(ip, server.local_addr().port());
        let client = start_client(client_config(server_addr, "alice", ListenPolicy::Dynamic)).await;
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
        let client = start_client(config).await;
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
#[test]
fn a_fixed_port_held_on_any_address_refuses_a_second_instance() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice"]).await;
        let holder = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        let port = holder.local_addr().expect("the holder's address").port();
        let second = faxnotify_smol::Client::start_with(
            client_config(server.local_addr(), "alice", ListenPolicy::Fixed { port }),
            test_options(5),
        )
        .await;
        assert!(
            matches!(
                second,
                Err(faxnotify_smol::ClientStartError::Listen(
                    faxnotify_core::client::StopReason::FixedPortInUse { .. }
                ))
            ),
            "{second:?}"
        );
        drop(holder);
        server.shutdown().await;
    });
}
