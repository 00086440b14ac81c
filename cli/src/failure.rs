//! How a command fails: a sentence for the person at the terminal and a
//! documented exit status.

use std::fmt;

/// The exit statuses of `faxnotify` (also listed in `--help` and the README).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    /// 0: the command did what was asked.
    Ok = 0,
    /// 1: something failed while running (I/O, the network, the admin socket,
    /// a conformance case).
    Runtime = 1,
    /// 2: bad command line, bad settings or a bad file.
    Usage = 2,
    /// 3: the server refused the user name or password (or proved to be
    /// the wrong server).
    Auth = 3,
    /// 4: a port is taken (a fixed callback port, a whole range, or the
    /// server's listen address).
    PortConflict = 4,
    /// 5: the demo lost or duplicated notifications.
    Lost = 5,
    /// 6: `notify` did not queue the notification for every recipient (no
    /// session of that user, or a full queue).
    NotQueued = 6,
    /// 7: `notify --wait`: some recipient's session ended before it
    /// acknowledged the notification.
    Undelivered = 7,
    /// 8: `notify --wait`: the time ran out before every recipient was
    /// reported (none known to have failed); `notify` in cluster mode: the
    /// bus did not say whether it stored the notification (it may be
    /// delivered; sending it again may deliver it twice).
    WaitTimedOut = 8,
    /// 9: TLS: the server's certificate cannot be trusted (not the pinned
    /// one, an unknown authority, another name, out of its dates) or the
    /// server does not speak TLS; retrying will not help until a setting
    /// or the server's certificate changes.
    Tls = 9,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The exit-status table for `--help`.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  ok
  1  runtime failure (I/O, network, admin socket; a conformance case failed)
  2  usage error, bad settings or a bad file
  3  authentication failed (wrong user name or password, or not the real server)
  4  port conflict (fixed callback port or range in use, listen or metrics address taken)
  5  demo: notifications were lost or duplicated
  6  notify: not queued for every recipient (no session, queue full)
  7  notify --wait: undelivered to some recipient (its session ended first)
  8  notify --wait: timed out before every recipient was reported; notify in cluster
     mode: the bus did not say whether it stored it (it may be delivered)
  9  TLS: the server's certificate cannot be trusted (pin, authority, name, dates),
     or the server does not speak TLS";

/// A command's failure: what to tell the user and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub exit: Exit,
    /// A complete sentence (or a few) the user can act on.
    pub message: String,
}

impl Failure {
    /// A failure with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// A usage or bad-input failure (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A runtime failure (exit 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(Exit::Runtime, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What every command returns.
pub type CmdResult = Result<Exit, Failure>;
