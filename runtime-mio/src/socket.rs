//! Creating listeners and dialling, with the socket options FNP/1 needs.

use std::io;
use std::net::SocketAddr;

/// Binds a non-blocking TCP listener to `addr` (the options are
/// [`faxnotify_runtime::bind_listener`]'s).
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    // With the test hooks, a listener on a port the OS picks is made
    // `SO_REUSEPORT`, so that suspending it can hold its port
    // (`faxnotify_runtime::PortHold`): its accepted connections inherit the
    // option, and every socket on a port must have it for another to bind
    // beside them. Only same-user sockets that set it could share such a
    // port, and fixed ports and ranges never get it, so their one-instance
    // rule is tested as it ships.
    let reuse_port = cfg!(feature = "test-hooks") && addr.port() == 0;
    faxnotify_runtime::bind_listener(addr, reuse_port).map(mio::net::TcpListener::from_std)
}

/// Starts a non-blocking connect to `addr` with TCP_NODELAY set (small
/// frames, latency matters). The outcome shows as the socket's first
/// writable event.
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let stream = mio::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn dials_set_nodelay() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let stream = start_connect(listener.local_addr().expect("addr")).expect("connect");
        assert!(stream.nodelay().expect("nodelay"));
    }

    #[test]
    fn listeners_are_mio_listeners_on_the_address() {
        let listener = bind_listener((Ipv4Addr::LOCALHOST, 0).into()).expect("bind");
        assert!(listener.local_addr().expect("addr").ip().is_loopback());
    }
}
