//! What the load tool reads from the operating system: one clock shared by
//! every process on the host, a process's CPU time and peak memory, and the
//! file-descriptor limit.

use std::fs;

use serde::{Deserialize, Serialize};

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use rustix::time::{ClockId, clock_gettime};

/// `CLOCK_MONOTONIC` in nanoseconds. The same clock in every process on
/// the host, so a timestamp taken in the server process can be compared
/// with one taken in a clients process.
pub fn monotonic_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CPU time (user + system, every thread) this process has used, in
/// nanoseconds (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn process_cpu_ns() -> u64 {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// User and system CPU time of this process in nanoseconds, from
/// `/proc/self/stat` (clock-tick resolution, usually 10 ms).
pub fn user_system_ns() -> (u64, u64) {
    user_system_ns_of("self")
}

/// User and system CPU time of process `pid` (`"self"`: this one), ns,
/// from `/proc/<pid>/stat` (clock ticks); (0, 0) where it cannot be read.
pub fn user_system_ns_of(pid: &str) -> (u64, u64) {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0, 0);
    };
    // The command name (field 2) may contain spaces; fields resume after ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return (0, 0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let tick = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (get(11) * tick, get(12) * tick)
}

/// CPU counters of this process at one instant.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct CpuSample {
    /// User + system, nanoseconds (precise).
    pub total_ns: u64,
    /// User, nanoseconds (clock ticks).
    pub user_ns: u64,
    /// System, nanoseconds (clock ticks).
    pub system_ns: u64,
}

impl CpuSample {
    /// The counters now.
    pub fn now() -> Self {
        let (user_ns, system_ns) = user_system_ns();
        Self {
            total_ns: process_cpu_ns(),
            user_ns,
            system_ns,
        }
    }

    /// The CPU used between `earlier` and `self`.
    pub fn since(self, earlier: CpuSample) -> CpuSample {
        CpuSample {
            total_ns: self.total_ns.saturating_sub(earlier.total_ns),
            user_ns: self.user_ns.saturating_sub(earlier.user_ns),
            system_ns: self.system_ns.saturating_sub(earlier.system_ns),
        }
    }
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_kb(field: &str) -> u64 {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Peak resident set size of this process so far (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    status_kb("VmHWM")
}

/// Resident set size now (`VmRSS`), in bytes.
pub fn rss_bytes() -> u64 {
    status_kb("VmRSS")
}

/// Raises the soft limit on open files to the hard limit; returns the
/// limit now in force.
pub fn raise_fd_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum
        && limit.current.is_some_and(|soft| soft < hard)
    {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// `Ok` if `ip` is an address of this host (a UDP socket can bind it; no
/// TCP port is taken). On Linux every address of 127/8 is.
pub fn local_address(ip: std::net::Ipv4Addr) -> std::io::Result<()> {
    std::net::UdpSocket::bind((ip, 0)).map(drop)
}

/// The loopback address of the `n`th clients process this parent starts
/// (counting from 0 over every run): 127.0.0.2, 127.0.0.3, … and on
/// through 127/8, skipping 127.0.0.1 (the server's) and each /24's
/// network and broadcast addresses. `offset` varies it between load tool
/// invocations, so that a run right after another does not meet the
/// previous run's TIME-WAIT connections on its addresses.
pub fn clients_loopback(offset: u32, n: u32) -> std::net::Ipv4Addr {
    // 254 usable hosts (1..=254) per /24, 65 536 /24s in 127/8; host 1 of
    // 127.0.0.0/24 is the server's.
    const SPACE: u32 = 254 * 65_536 - 1;
    let k = (offset.wrapping_add(n)) % SPACE + 1;
    let (net, host) = (k / 254, k % 254 + 1);
    std::net::Ipv4Addr::new(127, (net >> 8) as u8, net as u8, host as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward_and_memory_is_seen() {
        let t0 = monotonic_ns();
        let c0 = CpuSample::now();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(monotonic_ns() > t0);
        assert!(CpuSample::now().since(c0).total_ns > 0);
        // RSS first: other tests in this process may grow it between the two
        // reads, and the peak read afterwards covers whatever it was then.
        let rss = rss_bytes();
        assert!(rss > 0);
        assert!(peak_rss_bytes() >= rss);
        assert!(raise_fd_limit() > 0);
    }

    #[test]
    fn each_clients_process_gets_a_loopback_address_of_its_own_never_the_servers() {
        use std::net::Ipv4Addr;
        assert_eq!(clients_loopback(0, 0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(clients_loopback(0, 1), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(clients_loopback(0, 252), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(clients_loopback(0, 253), Ipv4Addr::new(127, 0, 1, 1));
        // Wrapping around 127/8 skips 127.0.0.1 and every .0 and .255.
        let mut seen = std::collections::HashSet::new();
        for n in 0..2_000 {
            let ip = clients_loopback(u32::MAX - 1_000, n);
            let [a, _, _, d] = ip.octets();
            assert!(a == 127 && d != 0 && d != 255, "{ip}");
            assert_ne!(ip, Ipv4Addr::LOCALHOST);
            assert!(seen.insert(ip), "{ip} twice");
        }
    }
}
