//! The FNP/1 conformance suite: point it at any FNP/1 server or client and
//! get a verdict per requirement of `docs/protocol.md`, like h2spec or
//! Autobahn do for HTTP/2 and WebSocket.
//!
//! # Two modes
//!
//! - **Server under test** ([`Target::Server`]): the suite plays the client
//!   over real TCP — control connection, callback listener, callback
//!   handshake — with the user and password the tester supplies, and makes
//!   the server send notifications through a [`NotifyTrigger`].
//! - **Client under test** ([`Target::Client`]): the suite plays the server
//!   and starts the client from the tester's command line once per case
//!   (placeholders `{addr}`, `{user}`, `{password_file}`, `{settings_file}`,
//!   ...), then checks the frames it sends, its exit, and — under the stdout
//!   contract of `docs/conformance.md` — what it hands its application.
//!
//! Cases run one at a time, each with its own connections, listener and
//! login, over blocking sockets with explicit timeouts ([`Timeouts`]).
//!
//! # Running it (what `faxnotify conformance` does)
//!
//! ```no_run
//! use faxnotify_conformance::{
//!     self as conformance, CommandTrigger, RunConfig, ServerTarget, Target, TreePrinter,
//! };
//!
//! let mut target = ServerTarget::new("127.0.0.1:4580".parse().unwrap(), "alice", "secret");
//! target.trigger = CommandTrigger::parse("faxnotify notify --user {user} {text}")
//!     .map(|t| Box::new(t) as Box<dyn conformance::NotifyTrigger>);
//! let mut config = RunConfig::new(Target::Server(target));
//! config.selection.skip_slow = true;
//!
//! let mut printer = TreePrinter::new(std::io::stdout()).with_color(true);
//! let report = conformance::run(&config, &mut printer).expect("valid configuration");
//! conformance::write_junit(&report, std::fs::File::create("fnp1.xml").unwrap()).unwrap();
//! std::process::exit(report.exit_code());
//! ```
//!
//! A case whose precondition fails (a resume [C-6] or a redial [D-8] it
//! relies on) is *blocked*, not failed: "cannot test [B-4]: needs [D-8],
//! which failed in case server/callback/redial-after-close".
//! The tree ends with the line `N passed, N failed, N blocked, N skipped`;
//! [`Report::exit_code`] is non-zero when any case failed or was blocked. [`write_json`]
//! and [`write_junit`] write the other reports; [`write_catalog`] and
//! [`write_coverage`] print the cases and which requirement ids they cover.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod case;
mod cases;
mod catalog;
mod client_ctx;
mod config;
pub mod peer;
mod report;
mod runner;
mod server_ctx;

pub use case::{Case, Fail, Mode, Section, Verdict};
pub use catalog::{
    Coverage, Level, REQUIREMENTS, Requirement, UnknownCase, all_cases, cases_for, coverage, find,
    select, tester_of, write_catalog, write_catalog_markdown, write_coverage,
    write_coverage_markdown,
};
pub use client_ctx::{ClientCtx, ClientTrust, Listen, ServeOpts, settings_toml};
pub use config::{
    ClientTarget, CommandTrigger, NotifyTrigger, RunConfig, Selection, ServerTarget, Target,
    Timeouts,
};
pub use peer::group::end_started_processes;
pub use report::{
    CaseReport, Counts, Deviation, Observer, Outcome, Quiet, Report, RequirementResult,
    TreePrinter, write_json, write_junit,
};
pub use runner::{RunError, run};
pub use server_ctx::{LoginPlan, ServerCtx};
