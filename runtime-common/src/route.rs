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
/// the core falls back to every interface, which a later route can use.
pub fn fill_local_ip(config: &mut ClientConfig) {
    if config.local_ip.is_some()
        || config.settings.listen_address != ListenAddress::Route
        || config.settings.listen == ListenPolicy::None
    {
        return;
    }
    match route_local_ip(config.server) {
        Ok(ip) => config.local_ip = Some(ip),
        Err(err) => tracing::warn!(
            server = %config.server,
            %err,
            "no route to the server yet: the callback listener binds every interface"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_to_loopback_is_loopback() {
        let ip = route_local_ip(SocketAddr::from((Ipv4Addr::LOCALHOST, 4580))).expect("route");
        assert!(ip.is_loopback(), "{ip}");
    }
}
