//! Which local user owns a TCP socket on this host, from the kernel's
//! socket tables (`/proc/net/tcp`, `/proc/net/tcp6`; Linux).
//!
//! The HylaFAX bridge opens a data port for hfaxd to connect to (active
//! mode). When hfaxd is on the same host, "the connection comes from
//! hfaxd's address" is true of every local user's connection too: any of
//! them who connects first (the port shows in the world-readable socket
//! table the moment it listens) would feed the bridge forged events. The
//! socket's owner tells them apart: hfaxd's data connections belong to the
//! user its listening socket belongs to, or to root (measured on HylaFAX
//! 6.0.7: the listener and a trigger's data connection are uucp's, a
//! listing's data connection root's).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The TCP state LISTEN in the tables.
const LISTEN: &str = "0A";

/// One row of a socket table.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    listening: bool,
    uid: u32,
}

/// The owner of the connected socket whose local end is `local` and
/// remote end `remote` (the far end of a connection we accepted, seen
/// from its side), if the tables show it.
pub fn connection_owner(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    rows()
        .into_iter()
        .find(|r| !r.listening && same(r.local, local) && same(r.remote, remote))
        .map(|r| r.uid)
}

/// The owner of the socket listening on `addr` (its own address, or every
/// address of its family), if the tables show one.
pub fn listener_owner(addr: SocketAddr) -> Option<u32> {
    rows()
        .into_iter()
        .find(|r| {
            r.listening
                && r.local.port() == addr.port()
                && (r.local.ip().is_unspecified()
                    || r.local.ip().to_canonical() == addr.ip().to_canonical())
        })
        .map(|r| r.uid)
}

/// The owners of the connected sockets whose remote end is `remote`.
#[cfg(test)]
pub fn owners_of_connections_to(remote: SocketAddr) -> Vec<u32> {
    rows()
        .into_iter()
        .filter(|r| !r.listening && same(r.remote, remote))
        .map(|r| r.uid)
        .collect()
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// Every row of both tables (none where there are no such files).
fn rows() -> Vec<Row> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| text.lines().skip(1).filter_map(row).collect::<Vec<_>>())
        .collect()
}

/// `sl local rem st queues timer retrnsmt uid ...`
fn row(line: &str) -> Option<Row> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some(Row {
        local: address(fields.get(1)?)?,
        remote: address(fields.get(2)?)?,
        listening: *fields.get(3)? == LISTEN,
        uid: fields.get(7)?.parse().ok()?,
    })
}

/// `0100007F:1F90`: the address as the kernel's 32-bit words in this host's
/// byte order, then the port.
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        ip.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn rows_read_as_the_kernel_writes_them() {
        let line = "   1: 0100007F:B1F6 0100007F:CFFD 01 00000000:00000000 00:00000000 00000000    10        0 123 1";
        let localhost = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if cfg!(target_endian = "little") {
            assert_eq!(
                row(line),
                Some(Row {
                    local: localhost(0xB1F6),
                    remote: localhost(0xCFFD),
                    listening: false,
                    uid: 10,
                })
            );
        }
        assert_eq!(row("garbage"), None);
    }

    /// Our own listener and connection are found, and are ours.
    #[cfg(target_os = "linux")]
    #[test]
    fn our_own_sockets_are_ours() {
        let me = nix::unistd::geteuid().as_raw();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(listener_owner(addr), Some(me));
        let client = TcpStream::connect(addr).unwrap();
        let (_accepted, from) = listener.accept().unwrap();
        assert_eq!(connection_owner(from, addr), Some(me));
        drop(client);
    }
}
