//! IPv4 and IPv6: a dual-stack server, and IPv6 loopback end to end.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use faxnotify_core::client::{self, ListenPolicy};
use faxnotify_core::server::DeliveryPath;

use super::{assert_delivered, start_client, start_server};
use crate::harness::net::ipv6_available;
use crate::harness::{ClientSetup, Runtime, ServerSetup, test_users};

/// A server on `[::]` (dual-stack) with IPv4 clients: the sessions see the
/// clients' IPv4 addresses and the callbacks are dialled to them [C-1].
/// Skipped (with a message) where the machine has no IPv6.
pub fn dual_stack_server_with_ipv4_clients(server_rt: &dyn Runtime, client_rt: &dyn Runtime) {
    if !ipv6_available() {
        eprintln!("skipped: this machine has no IPv6 (cannot bind [::1])");
        return;
    }
    let setup = ServerSetup::new(test_users(&["frank", "grace"]))
        .listen(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)));
    let mut server = start_server(server_rt, setup);
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, server.addr().port()));
    let mut clients: Vec<_> = ["frank", "grace"]
        .iter()
        .map(|user| {
            start_client(
                client_rt,
                user,
                ClientSetup::new(v4, user, ListenPolicy::Dynamic),
            )
        })
        .collect();
    for client in &mut clients {
        // The client listens on the IPv4 unspecified address (the server's family).
        assert!(
            client.callback_addr().is_ipv4(),
            "{}",
            client.callback_addr()
        );
        let callback = client.wait_for("LoggedIn", |e| match e {
            client::Event::LoggedIn { callback, .. } => Some(*callback),
            _ => None,
        });
        assert_eq!(
            callback,
            SocketAddr::from((Ipv4Addr::LOCALHOST, client.callback_addr().port())),
            "ADVERTISE_OK names the IPv4 endpoint"
        );
        let peer = client.wait_for("CallbackEstablished", |e| match e {
            client::Event::CallbackEstablished { peer, .. } => Some(*peer),
            _ => None,
        });
        assert_eq!(
            peer.ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "dialled over IPv4"
        );
    }
    server.wait_sessions("two sessions on IPv4 callbacks", |s| {
        s.len() == 2
            && s.iter().all(|i| {
                i.peer.is_ipv4()
                    && i.callback.is_some_and(|c| c.is_ipv4())
                    && matches!(i.path, DeliveryPath::Callback(_))
            })
    });
    server.broadcast("dual-stack");
    for client in &mut clients {
        client.wait_message("dual-stack");
        assert_delivered(client, 1, &["dual-stack".to_owned()]);
        assert!(client.logout());
    }
    server.shutdown();
}

/// Everything over IPv6 loopback: the client listens on `[::]`, the server
/// dials `[::1]`. Skipped (with a message) where the machine has no IPv6.
pub fn ipv6_loopback(server_rt: &dyn Runtime, client_rt: &dyn Runtime) {
    if !ipv6_available() {
        eprintln!("skipped: this machine has no IPv6 (cannot bind [::1])");
        return;
    }
    let setup =
        ServerSetup::new(test_users(&["heidi"])).listen(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)));
    let mut server = start_server(server_rt, setup);
    let mut client = start_client(
        client_rt,
        "heidi",
        ClientSetup::new(server.addr(), "heidi", ListenPolicy::Dynamic),
    );
    assert!(client.callback_addr().is_ipv6());
    client.wait_logged_in();
    let peer = client.wait_for("CallbackEstablished", |e| match e {
        client::Event::CallbackEstablished { peer, .. } => Some(*peer),
        _ => None,
    });
    assert_eq!(peer.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    server.wait_sessions("one session", |s| s.len() == 1);
    server.broadcast("over v6");
    client.wait_message("over v6");
    assert_delivered(&client, 1, &["over v6".to_owned()]);
    assert!(client.logout());
    server.shutdown();
}
