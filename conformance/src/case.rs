//! What a conformance case is: its identity, the requirements it checks, and
//! the verdict it returns.

use std::fmt;

use super::client_ctx::ClientCtx;
use super::peer::log::CaseLog;
use super::server_ctx::ServerCtx;

/// Which side of FNP/1 is under test.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mode {
    /// A server: the suite plays the client (control connection and callback listener).
    Server,
    /// A client: the suite plays the server and starts the client under test.
    Client,
}

impl Mode {
    /// `server` or `client`, as in case ids.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Server => "server",
            Mode::Client => "client",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sections of the catalog, in the order they run and print.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Section {
    /// Framing: length prefix, types, bodies, segmentation ([F-n]).
    Framing,
    /// The SCRAM login ([A-n], [D-3], [D-10]).
    Authentication,
    /// The control connection: ADVERTISE, lease, resume, session end ([C-n]).
    Control,
    /// The callback connection: dialling, its handshake, keepalive ([B-1], [B-5], [B-7], [D-4], [D-8]).
    Callback,
    /// Delivery: sequence numbers, acknowledgements, paths, payloads ([B-2]..[B-4], [N-1], [D-1], [D-2], [D-9]).
    Notifications,
    /// FNP/1 over TLS: certificates, channel binding, no plaintext ([T-n]);
    /// run with `--tls`, skipped without it.
    Tls,
}

impl Section {
    /// Every section in catalog order.
    pub const ALL: [Section; 6] = [
        Section::Framing,
        Section::Authentication,
        Section::Control,
        Section::Callback,
        Section::Notifications,
        Section::Tls,
    ];

    /// The section's heading in reports.
    pub const fn title(self) -> &'static str {
        match self {
            Section::Framing => "Framing",
            Section::Authentication => "Authentication",
            Section::Control => "Control connection",
            Section::Callback => "Callback connection",
            Section::Notifications => "Notifications",
            Section::Tls => "FNP/1 over TLS",
        }
    }

    /// The section's path component in case ids (`framing`, `auth`, ...).
    pub const fn slug(self) -> &'static str {
        match self {
            Section::Framing => "framing",
            Section::Authentication => "auth",
            Section::Control => "control",
            Section::Callback => "callback",
            Section::Notifications => "notifications",
            Section::Tls => "tls",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// Why a case did not pass: it failed (what the spec expects versus what the
/// implementation did), it was blocked (a requirement it relies on to reach
/// what it tests failed first), or it could not run (skipped, with the reason).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Fail {
    /// The implementation did something the spec forbids, or not what it requires.
    Failed {
        /// What the spec requires, e.g. `ERROR FRAME_TOO_LARGE then close`.
        expected: String,
        /// What happened instead, using the frames' one-line form.
        got: String,
    },
    /// A precondition failed: the case relies on requirement `needs` (a
    /// resume [C-6], a redial [D-8], ...) to reach what it tests, and the
    /// implementation broke `needs` on the way. Reported as *blocked*, not as
    /// a failure of the requirements the case tests.
    Blocked {
        /// The requirement id that failed, e.g. `D-8`.
        needs: &'static str,
        /// What `needs` requires at this step.
        expected: String,
        /// What happened instead.
        got: String,
    },
    /// The case needs something the tester did not provide.
    Skipped {
        /// What is missing, e.g. `no notification trigger (--notify-command)`.
        reason: String,
    },
}

impl Fail {
    /// A failure: `expected` versus `got`.
    pub fn failed(expected: impl Into<String>, got: impl Into<String>) -> Self {
        Fail::Failed {
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// A skip with its reason.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Fail::Skipped {
            reason: reason.into(),
        }
    }

    /// Turns a failure into [`Fail::Blocked`] on requirement `needs`: the
    /// step that failed is a precondition of the case, not what it tests.
    /// Skips and blocks stay as they are.
    pub fn needs(self, needs: &'static str) -> Self {
        match self {
            Fail::Failed { expected, got } => Fail::Blocked {
                needs,
                expected,
                got,
            },
            other => other,
        }
    }

    /// Turns a block back into a failure (for the case that tests the
    /// precondition itself).
    pub fn unblocked(self) -> Self {
        match self {
            Fail::Blocked { expected, got, .. } => Fail::Failed { expected, got },
            other => other,
        }
    }

    /// Prefixes the expectation with the step that was running, so that a
    /// failure inside a shared helper still says where it happened.
    pub fn during(self, step: &str) -> Self {
        match self {
            Fail::Failed { expected, got } => Fail::Failed {
                expected: format!("{step}: {expected}"),
                got,
            },
            Fail::Blocked {
                needs,
                expected,
                got,
            } => Fail::Blocked {
                needs,
                expected: format!("{step}: {expected}"),
                got,
            },
            skipped => skipped,
        }
    }
}

/// Marks the failure of a step as a precondition failure ([`Fail::needs`]).
pub(crate) trait Needs<T> {
    /// A failure of this step means requirement `needs` failed.
    fn needs(self, needs: &'static str) -> Result<T, Fail>;
}

impl<T> Needs<T> for Result<T, Fail> {
    fn needs(self, needs: &'static str) -> Result<T, Fail> {
        self.map_err(|f| f.needs(needs))
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Failed { expected, got } => write!(f, "expected {expected}, got {got}"),
            Fail::Blocked {
                needs,
                expected,
                got,
            } => write!(f, "blocked by [{needs}]: expected {expected}, got {got}"),
            Fail::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// What a case returns: `Ok(())` when it passed.
pub type Verdict = Result<(), Fail>;

/// The deviations a case noted and went on after (`--keep-going`): a
/// check whose failure does not make the case's next steps meaningless goes
/// through [`SoftChecks::check`] instead of `?`.
#[derive(Debug, Default)]
pub(crate) struct SoftChecks {
    /// Whether the run goes on after a deviation (`--keep-going`).
    pub(crate) keep_going: bool,
    /// (expected, got) of every deviation noted so far.
    pub(crate) found: Vec<(String, String)>,
}

impl SoftChecks {
    /// With `--keep-going`, notes a failed check in the log and returns
    /// `Ok` so the case goes on; otherwise returns the verdict unchanged.
    /// Blocks and skips always stop the case.
    pub(crate) fn check(&mut self, log: &CaseLog, verdict: Verdict) -> Verdict {
        match verdict {
            Err(Fail::Failed { expected, got }) if self.keep_going => {
                log.line(format_args!(
                    "deviation noted, case goes on (--keep-going): expected {expected}, got {got}"
                ));
                self.found.push((expected, got));
                Ok(())
            }
            other => other,
        }
    }
}

/// Checks a condition inside a case: fails with `expected` / `got` when false.
pub(crate) fn ensure(
    cond: bool,
    expected: impl Into<String>,
    got: impl FnOnce() -> String,
) -> Verdict {
    if cond {
        Ok(())
    } else {
        Err(Fail::failed(expected, got()))
    }
}

/// The body of a case, for the mode it tests.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    /// Runs against a server under test.
    Server(fn(&mut ServerCtx<'_>) -> Verdict),
    /// Runs against a client under test.
    Client(fn(&mut ClientCtx<'_>) -> Verdict),
}

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable id: `<mode>/<section>/<slug>`, e.g. `server/framing/oversized-prelogin`.
    pub id: &'static str,
    /// The section it belongs to.
    pub section: Section,
    /// The requirement ids of docs/protocol.md it checks, e.g. `["F-1"]`.
    pub requirements: &'static [&'static str],
    /// One line saying what the implementation must do.
    pub title: &'static str,
    /// Whether it waits for a protocol timer (several seconds); `--skip-slow` skips these.
    pub slow: bool,
    pub(crate) body: Body,
}

impl Case {
    /// A case against a server under test.
    pub(crate) const fn server(
        id: &'static str,
        section: Section,
        requirements: &'static [&'static str],
        title: &'static str,
        body: fn(&mut ServerCtx<'_>) -> Verdict,
    ) -> Case {
        Case {
            id,
            section,
            requirements,
            title,
            slow: false,
            body: Body::Server(body),
        }
    }

    /// A case against a client under test.
    pub(crate) const fn client(
        id: &'static str,
        section: Section,
        requirements: &'static [&'static str],
        title: &'static str,
        body: fn(&mut ClientCtx<'_>) -> Verdict,
    ) -> Case {
        Case {
            id,
            section,
            requirements,
            title,
            slow: false,
            body: Body::Client(body),
        }
    }

    /// Marks the case slow (it waits for a protocol timer).
    pub(crate) const fn slow(mut self) -> Case {
        self.slow = true;
        self
    }

    /// Which side the case tests.
    pub fn mode(&self) -> Mode {
        match self.body {
            Body::Server(_) => Mode::Server,
            Body::Client(_) => Mode::Client,
        }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("section", &self.section)
            .field("requirements", &self.requirements)
            .field("slow", &self.slow)
            .finish()
    }
}
