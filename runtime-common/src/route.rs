//! The local address of the route to the server: the address the server
//! sees the client connect from, and dials back [C-1].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use faxnotify_core::client::{ClientConfig, ListenAddress, ListenPolicy};

/// The local address of this host's route to `server`: the address a
/// connection to it comes from, which the server dials back [C-1]. A UDP
/// socket "connected" to the server asks the routing table and sends nothing.
pub fn route_local_ip(server: SocketAddr) -> io::Result<IpAddr> {
    let server = SocketAddr::new(server.ip().to_canonical(), server.port());
    let any: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(server)?;
    Ok(socket.local_addr()?.ip())
}

/// Fills in [`ClientConfig::local_ip`] for [`ListenAddress::Route`] when the
/// application did not: the callback listener binds that address rather
/// than every interface. Without a route (no network yet) it stays unset and
/// the core falls back to every interface, which a later route can use; so
/// it does when the [servers](ClientConfig::servers) are reached from
/// different local addresses, since the one listener must take the
/// callbacks of whichever server the client fails over to [D-17].
pub fn fill_local_ip(config: &mut ClientConfig) {
    if config.local_ip.is_some()
        || config.settings.listen_address != ListenAddress::Route
        || config.settings.listen == ListenPolicy::None
    {
        return;
    }
    let mut local = None;
    for &server in &config.servers {
        let ip = match route_local_ip(server) {
            Ok(ip) => ip,
            Err(err) => {
                tracing::warn!(
                    %server,
                    %err,
                    "no route to the server yet: the callback listener binds every interface"
                );
                return;
            }
        };
        match local {
            None => local = Some((server, ip)),
            Some((first, first_ip)) if first_ip != ip => {
                tracing::warn!(
                    %first,
                    %first_ip,
                    %server,
                    %ip,
                    "the servers are reached from different local addresses: the callback \
                     listener binds every interface (set listen_address to one to restrict it)"
                );
                return;
            }
            Some(_) => {}
        }
    }
    config.local_ip = local.map(|(_, ip)| ip);
}

/// What a client without a listener (the `none` policy) reports as its
/// callback address: the unspecified address of its servers' family, port 0.
pub fn no_listener_addr(config: &ClientConfig) -> SocketAddr {
    // The servers share one family (the core validates it); IPv4 for an
    // empty list, which the core refuses anyway.
    let v4 = config
        .servers
        .first()
        .is_none_or(|s| s.ip().to_canonical().is_ipv4());
    let ip: IpAddr = if v4 {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    SocketAddr::new(ip, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(servers: &[SocketAddr]) -> ClientConfig {
        let mut config = ClientConfig::new(
            servers[0],
            "alice",
            "pw",
            faxnotify_core::client::NetworkSettings::new(ListenPolicy::Dynamic),
        );
        config.servers = servers.to_vec();
        config
    }

    #[test]
    fn servers_on_one_route_bind_its_address() {
        let mut config = config(&[
            SocketAddr::from((Ipv4Addr::LOCALHOST, 4580)),
            SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 4580)),
        ]);
        fill_local_ip(&mut config);
        assert!(config.local_ip.is_some_and(|ip| ip.is_loopback()));
    }

    #[test]
    fn servers_on_different_routes_leave_every_interface() {
        // Loopback is reached from 127.0.0.1; a documentation address (if
        // this host has a route at all) from another local address.
        let remote = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 4580));
        let Ok(remote_ip) = route_local_ip(remote) else {
            return; // no default route here: nothing to compare
        };
        assert!(!remote_ip.is_loopback());
        let mut config = config(&[SocketAddr::from((Ipv4Addr::LOCALHOST, 4580)), remote]);
        fill_local_ip(&mut config);
        assert_eq!(config.local_ip, None);
    }

    #[test]
    fn the_route_to_loopback_is_loopback() {
        let ip = route_local_ip(SocketAddr::from((Ipv4Addr::LOCALHOST, 4580))).expect("route");
        assert!(ip.is_loopback(), "{ip}");
    }
}
