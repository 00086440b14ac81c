//! Ports reserved for a test, and what the machine supports.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Port numbers held for a test: each bound with `SO_REUSEADDR` but not
/// listening, for as long as the value lives.
///
/// A test that picks a port number and lets it go before the code under test
/// binds it (or binds it *again*, after a restart) races with every other
/// process on the machine for that number. A held port is refused to other
/// sockets and never handed out for port 0, and connections to it are
/// refused (nothing listens); yet the runtimes' listeners, which also set
/// `SO_REUSEADDR` on Unix, can bind and listen on it beside the holder (Linux
/// lets `SO_REUSEADDR` sockets share a port while at most one listens).
#[derive(Debug)]
pub struct ReservedPorts {
    lo: u16,
    held: Vec<Socket>,
}

impl ReservedPorts {
    /// The first (or only) reserved port.
    pub fn port(&self) -> u16 {
        self.lo
    }

    /// The last reserved port.
    pub fn hi(&self) -> u16 {
        self.lo + u16::try_from(self.held.len() - 1).expect("at most a u16 of ports")
    }
}

/// Binds a holder for `port` on `ip` (port 0: any free port).
fn hold(ip: IpAddr, port: u16) -> io::Result<Socket> {
    let addr = SocketAddr::new(ip, port);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // Cover the IPv4 half too, as the runtimes' dual-stack listeners do.
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Reserves one free port on `ip`.
pub fn reserve_port(ip: IpAddr) -> ReservedPorts {
    let socket = hold(ip, 0).expect("reserve a free port");
    let lo = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("the reserved port's address")
        .port();
    ReservedPorts {
        lo,
        held: vec![socket],
    }
}

/// Reserves `len` consecutive free ports on every IPv4 address, below the
/// kernel's ephemeral range ([`faxnotify_runtime::port_range`]).
pub fn reserve_port_range(len: u16) -> ReservedPorts {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    match faxnotify_runtime::port_range::reserve_consecutive(len, |port| hold(any, port)) {
        Some((lo, held)) => ReservedPorts { lo, held },
        None => panic!("no {len} consecutive free ports found"),
    }
}

/// Whether the machine has IPv6 loopback.
pub fn ipv6_available() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// `127.0.0.1:port`.
pub fn v4_loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    #[test]
    fn a_reserved_port_is_refused_to_others_but_our_listeners_can_use_it() {
        let reserved = reserve_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let addr = v4_loopback(reserved.port());
        assert_eq!(
            TcpStream::connect(addr).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused,
            "nothing listens on a reserved port"
        );
        // (std's TcpListener::bind sets SO_REUSEADDR on Unix: a bare socket.)
        let stranger =
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        assert_eq!(
            stranger.bind(&addr.into()).unwrap_err().kind(),
            io::ErrorKind::AddrInUse,
            "a socket without SO_REUSEADDR cannot take it"
        );
        let ours = hold(addr.ip(), addr.port()).expect("SO_REUSEADDR binds beside it");
        ours.listen(8).expect("and listens");
        TcpStream::connect(addr).expect("connections reach the listener");
    }

    #[test]
    fn a_range_is_consecutive() {
        let range = reserve_port_range(3);
        assert_eq!(range.hi(), range.port() + 2);
    }
}
