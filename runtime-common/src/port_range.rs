//! Consecutive free ports for tests of the `range LO-HI` listen policy.
//!
//! A test holds the ports of a range bound until the instance under test
//! binds them (a port released and bound again would race with every
//! other program on the machine). The candidates lie below the kernel's
//! ephemeral range: a port the OS hands out for `bind(0)` sits among the
//! ones it handed out before, so on a machine busy with connections (tens
//! of thousands of loopback sockets during a scale run) its neighbours are
//! mostly taken and a range beside it is rarely found; below the
//! ephemeral range only explicit binds take ports.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::io;

/// The lowest port a range starts at: above the well-known and most
/// registered services' ports.
const LOWEST: u16 = 10_000;
/// Candidate ranges tried before giving up.
const TRIES: usize = 200;

/// Binds `len` consecutive ports with `bind`, trying random ranges below
/// the ephemeral range; the first port and the bound sockets, or `None`
/// when every try met a port in use.
pub fn reserve_consecutive<T>(
    len: u16,
    mut bind: impl FnMut(u16) -> io::Result<T>,
) -> Option<(u16, Vec<T>)> {
    let (lo, hi) = (LOWEST, first_ephemeral_port());
    let span = u64::from(hi.checked_sub(lo)?.checked_sub(len)?);
    let random = RandomState::new();
    for attempt in 0..TRIES {
        let first = lo + u16::try_from(random.hash_one(attempt) % span).ok()?;
        let held: Vec<T> = (first..first + len)
            .map_while(|port| bind(port).ok())
            .collect();
        if held.len() == usize::from(len) {
            return Some((first, held));
        }
    }
    None
}

/// The first port of the kernel's ephemeral range (Linux:
/// /proc/sys/net/ipv4/ip_local_port_range; 32768 where it cannot be read
/// or leaves too little below it).
fn first_ephemeral_port() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&first| first > LOWEST + 2_000)
        .unwrap_or(32_768)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

    use super::*;

    #[test]
    fn a_range_is_consecutive_bound_and_below_the_ephemeral_ports() {
        let (first, held) =
            reserve_consecutive(3, |port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)))
                .expect("three free ports");
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().expect("bound").port())
            .collect();
        assert_eq!(ports, [first, first + 1, first + 2]);
        assert!(first >= LOWEST && first + 2 < first_ephemeral_port());
    }

    #[test]
    fn a_port_in_use_moves_the_range_elsewhere() {
        // The second port of the first range tried is in use.
        let mut in_use = None;
        let (first, held) = reserve_consecutive(3, |port| {
            let in_use = *in_use.get_or_insert(port + 1);
            if port == in_use {
                Err(io::ErrorKind::AddrInUse.into())
            } else {
                Ok(port)
            }
        })
        .expect("another range");
        let in_use = in_use.expect("a port was tried");
        assert_eq!(held, [first, first + 1, first + 2]);
        assert!(!held.contains(&in_use), "{held:?} holds {in_use}");
    }

    #[test]
    fn no_range_when_every_other_port_is_in_use() {
        let found = reserve_consecutive(2, |port| {
            if port % 2 == 0 {
                Err(io::Error::from(io::ErrorKind::AddrInUse))
            } else {
                Ok(port)
            }
        });
        assert_eq!(found, None);
    }
}
