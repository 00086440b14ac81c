//! Free ports picked at run time, and what the machine supports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

/// A port that was free on `ip` a moment ago (bind port 0, read, release).
/// Another process may take it before the caller does: scenarios retry.
pub fn free_port(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// The low port of `len` consecutive ports (all at least 1024) that were
/// free on every address a moment ago.
pub fn free_port_range(len: u16) -> u16 {
    for _ in 0..200 {
        let lo = free_port(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if lo < 1024 || lo.checked_add(len).is_none() {
            continue;
        }
        let held: Vec<_> = (lo..lo + len)
            .map_while(|p| TcpListener::bind((Ipv4Addr::UNSPECIFIED, p)).ok())
            .collect();
        if held.len() == usize::from(len) {
            return lo;
        }
    }
    panic!("no {len} consecutive free ports found");
}

/// Whether the machine has IPv6 loopback.
pub fn ipv6_available() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// `127.0.0.1:port`.
pub fn v4_loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}
