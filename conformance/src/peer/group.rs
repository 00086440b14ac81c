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

use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::{Mutex, PoisonError};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The process groups started and not yet ended.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A process group the suite started: the process `command` started, as
/// its leader, and whatever that process starts. Ended (killed whole)
/// when dropped, if not before.
#[derive(Debug)]
pub(crate) struct Group {
    leader: u32,
    ended: bool,
}

impl Group {
    /// Starts `command` as the leader of a new process group.
    pub(crate) fn spawn(command: &mut Command) -> io::Result<(Child, Group)> {
        let child = command.process_group(0).spawn()?;
        let leader = child.id();
        live().push(leader);
        Ok((
            child,
            Group {
                leader,
                ended: false,
            },
        ))
    }

    /// Kills every process of the group (SIGKILL: a process under test may
    /// ignore anything milder), including those left after the leader
    /// exited. Once only: call it before the leader is reaped or while the
    /// group may still have members, as a group's id is not given to
    /// another process while any member lives, so the signal cannot reach
    /// a stranger.
    pub(crate) fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            kill_group(self.leader);
            live().retain(|&live| live != self.leader);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.end();
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kill_group(leader: u32) {
    if let Ok(raw) = i32::try_from(leader) {
        // ESRCH (every member already gone) is the usual, good outcome.
        let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
}

/// Kills every process group the suite started and has not ended: for a
/// program's Ctrl-C (SIGINT, SIGTERM) handler, since those signals no
/// longer reach processes in groups of their own.
pub fn end_started_processes() {
    for leader in std::mem::take(&mut *live()) {
        kill_group(leader);
    }
}
