//! Whether a process has ended, for the tests that check that what a
//! program started does not outlive it (the conformance suite's client
//! under test and what it started, say).

use std::time::{Duration, Instant};

/// Whether `pid` has ended: gone, or a zombie nobody has reaped yet (a
/// killed grandchild is reaped by whoever adopted it, in its own time).
pub fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S …": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Waits up to `within` for `pid` (described as `what`) to end; kills it
/// and panics if it does not.
pub fn assert_ends(pid: u32, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while !ended(pid) {
        if Instant::now() >= deadline {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("{what} (pid {pid}) was still running {within:?} later");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
