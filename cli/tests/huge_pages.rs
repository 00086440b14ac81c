//! The command opts out of transparent huge pages (src/huge_pages.rs): on
//! a host whose kernel setting is `always`, a server's memory would
//! otherwise be resident 2 MiB at a time.

mod common;

use common::{TestServer, add_users};

/// The kernel's word on the process: `THP_enabled` in /proc/PID/status
/// (Linux 6.x), `None` where the kernel does not say.
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim().to_owned())
}

#[cfg(target_os = "linux")]
#[test]
fn a_server_runs_without_transparent_huge_pages() {
    if thp_enabled(std::process::id()).is_none() {
        eprintln!("this kernel does not report THP_enabled in /proc/PID/status; nothing to check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "correct horse battery")]);
    let server = TestServer::start("mio", &users, dir.path(), &[]);
    assert_eq!(
        thp_enabled(server.process.pid()).as_deref(),
        Some("0"),
        "the server process still allows transparent huge pages"
    );
}
