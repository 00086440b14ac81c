//! The processes the suite starts (the client under test, a notify
//! command), each the leader of a process group of its own, so that ending
//! one ends whatever it started too.
//!
//! A client under test is often a wrapper (`sh -c "…"`, a script) whose
//! real client is a grandchild: killing the wrapper alone left the real
//! client running, still logged in and still holding its callback port, so
//! the next case's client found a `fixed` port taken and failed for a
//! reason of the previous case's making. A group of its own also means the
//! terminal's Ctrl-C no longer reaches it: [`end_started_processes`] is for the
//! program's own Ctrl-C handler.

use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The process groups started and not yet ended.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Makes the process `command` starts the leader of a new process group.
pub(crate) fn own_group(command: &mut Command) -> &mut Command {
    command.process_group(0)
}

/// Remembers the group led by `pid` until [`end`] ends it.
pub(crate) fn started(pid: u32) {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(pid);
}

/// Kills every process of the group led by `pid` (SIGKILL: a process under
/// test may ignore anything milder), including those left after the leader
/// exited.
///
/// Call it before the leader is reaped or while the group may still have
/// members: a group's id is not given to another process while any member
/// lives, so the signal cannot reach a stranger.
pub(crate) fn end(pid: u32) {
    if let Ok(raw) = i32::try_from(pid) {
        // ESRCH (every member already gone) is the usual, good outcome.
        let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|&live| live != pid);
}

/// Kills every process group the suite started and has not ended: for a
/// program's Ctrl-C (SIGINT, SIGTERM) handler, since those signals no
/// longer reach processes in groups of their own.
pub fn end_started_processes() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
    for pid in live {
        if let Ok(raw) = i32::try_from(pid) {
            let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
        }
    }
}
