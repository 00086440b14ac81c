//! Processes the tests start: whether one has ended, for the tests that
//! check that what a program started does not outlive it (the conformance
//! suite's client under test and what it started, say), and signals by
//! pid (Ctrl-C, a freeze with `STOP`/`CONT`), which `std::process::Child`
//! cannot send.

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
            send_signal(pid, "KILL");
            panic!("{what} (pid {pid}) was still running {within:?} later");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` (a name as `kill -s` takes it: `INT`, `STOP`, `CONT`,
/// `KILL`) to `pid`; whether it was delivered (false once the process is
/// gone and reaped).
pub fn send_signal(pid: u32, signal: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .is_ok_and(|status| status.success())
}

/// [`send_signal`] to a process that must still be there: panics if the
/// signal could not be delivered.
pub fn signal(pid: u32, signal: &str) {
    assert!(send_signal(pid, signal), "kill -s {signal} {pid} failed");
}
