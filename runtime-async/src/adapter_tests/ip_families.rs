//! IPv4, IPv6 and a dual-stack server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::server::{self, Target};

use super::Harness;
use super::support::*;

/// A server on `[::]` serves an IPv4 client and dials its callback over IPv4;
/// IPv4-mapped peers are shown as IPv4.
pub fn a_dual_stack_server_dials_ipv4_clients_back_over_ipv4<H: Harness>() {
    if !has_ipv6() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let h = setup::<H>();
    h.block_on(async {
        let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
        let (server, events) = start_server(&h, any6, &["alice"]).await;
        let port = server.local_addr().port();
        // The client reaches the [::] listener over IPv4.
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let client = start_client(&h, client_config(v4, "alice", ListenPolicy::Dynamic)).await;
        assert!(
            client.listen_addr().is_ipv4(),
            "listener in the server's family [C-1]"
        );
        let Event::LoggedIn { callback, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        assert_eq!(
            callback.ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "ADVERTISE_OK as family 4"
        );
        assert_eq!(callback.port(), client.listen_addr().port());

        let opened = expect_server::<H::Rt>(&events, "session", |e| {
            matches!(e, server::Event::SessionOpened { .. })
        })
        .await;
        let server::Event::SessionOpened { peer, .. } = opened else {
            unreachable!()
        };
        assert!(
            peer.is_ipv4(),
            "IPv4-mapped peers are shown as IPv4: {peer}"
        );
        let sessions = server.sessions().await.expect("running");
        assert_eq!(
            sessions[0].callback,
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                client.listen_addr().port()
            ))
        );

        server
            .notify(Target::All, message("v4 over v6"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "v4 over v6".to_owned())]
        );
        logout(client).await;
        server.shutdown().await;
    });
}

/// Login, callback and delivery over `::1`.
pub fn ipv6_loopback_end_to_end<H: Harness>() {
    if !has_ipv6() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) =
            start_server(&h, SocketAddr::from((Ipv6Addr::LOCALHOST, 0)), &["alice"]).await;
        let client = start_client(
            &h,
            client_config(server.local_addr(), "alice", ListenPolicy::Dynamic),
        )
        .await;
        assert!(client.listen_addr().is_ipv6());
        let Event::LoggedIn { callback, .. } =
            expect(&client, "login", |e| matches!(e, Event::LoggedIn { .. })).await
        else {
            unreachable!()
        };
        assert_eq!(callback.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        server
            .notify(Target::All, message("over ::1"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&client, 1).await,
            vec![(1, "over ::1".to_owned())]
        );
        logout(client).await;
        server.shutdown().await;
    });
}
