//! Binding listeners with the socket options FNP/1 needs.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// The listen backlog: connections the kernel queues before they are
/// accepted (a burst of callbacks or logins).
const LISTEN_BACKLOG: i32 = 1024;

/// Binds a non-blocking TCP listener to `addr`; the runtime wraps it in its
/// own type.
///
/// - `SO_REUSEPORT` only when `reuse_port` (the runtimes' test hooks ask
///   for it on ports the OS picks, see `PortHold`): otherwise two live
///   listeners can never share an endpoint, so a second client with the
///   same fixed port fails with `AddrInUse` instead of splitting the
///   callbacks.
/// - `SO_REUSEADDR` on Unix only, where it lets a restarted server or client
///   bind a port that still has connections in TIME_WAIT but does *not* let
///   two listening sockets share a port. On Windows it would allow exactly
///   that, so it is not set there.
/// - An IPv6 listener is dual-stack (`IPV6_V6ONLY` off) where the OS allows
///   it: `[::]` then also accepts IPv4 peers, which appear as IPv4-mapped
///   addresses (the cores treat them as IPv4 [C-1]).
pub fn bind_listener(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6()
        && let Err(err) = socket.set_only_v6(false)
    {
        tracing::debug!(%addr, %err, "cannot make the IPv6 listener dual-stack; IPv6 only");
    }
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// An accept error that says nothing about the next accept (the peer gave
/// up, a signal): try again at once. Others (out of descriptors or memory)
/// would repeat at once, so accepting should pause a little.
pub fn is_transient_accept_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};

    use super::*;

    fn v4(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        bind_listener(addr, false)
    }

    /// Holds a free loopback port for the test's lifetime: bound with
    /// `SO_REUSEADDR` but not listening, so listeners can bind it (again)
    /// beside the holder, while no other process can take it between a
    /// close and the re-bind the test makes.
    #[cfg(unix)]
    fn held_port() -> (Socket, u16) {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        socket.bind(&v4(0).into()).expect("bind");
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("addr")
            .port();
        (socket, port)
    }

    #[cfg(unix)]
    #[test]
    fn a_second_listener_on_a_live_port_fails() {
        let (_held, port) = held_port();
        let first = bind(v4(port)).expect("bind");
        let err = bind(v4(port)).expect_err("SO_REUSEADDR must not share a live port");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // Also through the unspecified address.
        let err = bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            .expect_err("the wildcard overlaps the live listener");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(first);
        bind(v4(port)).expect("free again once the first is closed");
    }

    #[cfg(unix)]
    #[test]
    fn a_port_with_connections_in_time_wait_can_be_bound_again() {
        let (_held, port) = held_port();
        let listener = bind(v4(port)).expect("bind");
        listener.set_nonblocking(false).expect("blocking");
        let addr = listener.local_addr().expect("addr");
        let mut client = TcpStream::connect(addr).expect("connect");
        let (mut accepted, _) = listener.accept().expect("accept");
        // The listening side closes first, so its end goes to TIME_WAIT.
        accepted.write_all(b"x").expect("write");
        drop(accepted);
        let mut buf = [0u8; 4];
        let _ = client.read(&mut buf);
        drop(client);
        drop(listener);
        bind(addr).expect("TIME_WAIT does not block a restart");
    }

    #[test]
    fn an_ipv6_wildcard_listener_is_dual_stack() {
        if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
            eprintln!("skipped: no IPv6 on this machine");
            return;
        }
        let listener = bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        TcpStream::connect(v4(port)).expect("an IPv4 client reaches the [::] listener");
        let err = bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            .expect_err("the dual-stack listener holds the IPv4 port too");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn listeners_are_non_blocking() {
        let listener = bind(v4(0)).expect("bind");
        let err = listener.accept().expect_err("nobody connects");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
