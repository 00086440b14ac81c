//! Creating listeners and dialling, with the socket options FNP/1 needs.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// The listen backlog: connections the kernel queues before we accept them.
const LISTEN_BACKLOG: i32 = 1024;

/// Binds a non-blocking TCP listener to `addr`.
///
/// - Never `SO_REUSEPORT`: two live listeners must never share an endpoint
///   (a second client with the same fixed port must fail, not split the
///   callbacks).
/// - `SO_REUSEADDR` on Unix only, where it lets a restarted server or client
///   bind a port that still has connections in TIME_WAIT but does *not* let
///   two listening sockets share a port. On Windows it would allow exactly
///   that, so it is not set there.
/// - An IPv6 listener is dual-stack (`IPV6_V6ONLY` off) where the OS allows
///   it: `[::]` then also accepts IPv4 peers, which appear as IPv4-mapped
///   addresses (the cores treat them as IPv4 [C-1]).
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6()
        && let Err(err) = socket.set_only_v6(false)
    {
        tracing::debug!(%addr, %err, "cannot make the IPv6 listener dual-stack; IPv6 only");
    }
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Starts a non-blocking connect to `addr` with TCP_NODELAY set (small
/// frames, latency matters). The outcome shows as the socket's first
/// writable event.
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let stream = mio::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
