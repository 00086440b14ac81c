//! Test hook: a suspended callback listener whose port stays ours.
//!
//! Suspending the listener must make the port refuse connections (nothing
//! listens) without giving the port back to the OS: a test that closed the
//! listener and bound the same number again on resume would race with every
//! other process on the machine for it (`AddrInUse` on a busy machine). So a
//! second `SO_REUSEPORT` socket is bound to the listener's address *before*
//! the listener closes, and holds the port, bound but not listening (the
//! kernel answers SYNs with a reset), until the listener is opened again
//! beside it. That needs `SO_REUSEPORT` on the listener from its creation
//! (its accepted connections inherit it), which the test hooks give every
//! listener on a port the OS picks (see [`bind_listener`](crate::bind_listener)'s `reuse_port`).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::listener::bind_listener;

/// A port held, bound but not listening, while the listener is suspended.
#[derive(Debug)]
pub struct PortHold {
    socket: Socket,
    addr: SocketAddr,
}

impl PortHold {
    /// Binds a placeholder to `listener`'s address `addr`; the caller then
    /// closes the listener. Fails with `AddrInUse` for a listener that was
    /// not made `SO_REUSEPORT` when it was bound.
    pub fn take_over(listener: &impl AsFd, addr: SocketAddr) -> io::Result<PortHold> {
        if !SockRef::from(listener).reuse_port()? {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "only a listener on a port the OS picked can be suspended",
            ));
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            // Same dual-stack setting as the listener, or the bind would not
            // cover its IPv4 half.
            let _ = socket.set_only_v6(false);
        }
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        Ok(PortHold { socket, addr })
    }

    /// The held address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Opens a listener on the held address, then lets the placeholder go.
    pub fn reopen(self) -> io::Result<TcpListener> {
        let listener = bind_listener(self.addr, true)?;
        drop(self.socket);
        Ok(listener)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpStream};

    use super::*;

    #[test]
    fn a_held_port_refuses_connections_and_cannot_be_taken() {
        let listener = bind_listener((Ipv4Addr::LOCALHOST, 0).into(), true).unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = PortHold::take_over(&listener, addr).unwrap();
        drop(listener);

        let refused = TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let taken = bind_listener(addr, false).unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);

        let listener = hold.reopen().unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
        TcpStream::connect(addr).expect("listening again");
    }
}
