//! Runs the selected cases one at a time and collects the report.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use faxnotify_core::auth::{Credentials, DEFAULT_ITERATIONS, prepare_username};
use faxnotify_core::wire::Role;

use super::case::{Body, Case, Fail, Mode, Verdict};
use super::catalog::{UnknownCase, select};
use super::client_ctx::ClientCtx;
use super::config::{RunConfig, Target};
use super::peer::log::CaseLog;
use super::peer::rng::SuiteRng;
use super::report::{CaseReport, Observer, Outcome, Report};
use super::server_ctx::{SecretsCache, ServerCtx};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A `--case` pattern matches nothing.
    #[error(transparent)]
    UnknownCase(#[from] UnknownCase),
    /// The client command line is empty.
    #[error("the client command line is empty: give the command after `--`")]
    EmptyCommand,
    /// The user name or password cannot be used (RFC 8265 refuses it).
    #[error("invalid credentials for the suite's server: {0}")]
    Credentials(String),
}

/// Runs the cases `config` selects against its target, telling `observer`
/// as each starts and ends, and returns the report.
pub fn run(config: &RunConfig, observer: &mut dyn Observer) -> Result<Report, RunError> {
    let (mode, target_text) = match &config.target {
        Target::Server(s) => (Mode::Server, s.addr.to_string()),
        Target::Client(c) => {
            if c.command.is_empty() {
                return Err(RunError::EmptyCommand);
            }
            (Mode::Client, c.command.join(" "))
        }
    };
    let cases = select(mode, &config.selection)?;
    let mut rng = SuiteRng::from_os();
    let mut state = match &config.target {
        Target::Server(_) => ModeState::Server(SecretsCache::new()),
        Target::Client(c) => {
            let user =
                prepare_username(&c.user).map_err(|e| RunError::Credentials(e.to_string()))?;
            let salt = rng.bytes(16);
            let creds =
                Credentials::from_password(&c.password, &salt, DEFAULT_ITERATIONS, Role::User)
                    .map_err(|e| RunError::Credentials(e.to_string()))?;
            ModeState::Client { user, creds }
        }
    };

    let started = Instant::now();
    let mut report = Report::new(mode, target_text.clone());
    observer.started(mode, &target_text);
    for case in cases {
        observer.case_started(case);
        let case_started = Instant::now();
        let log = CaseLog::new();
        let verdict = if case.slow && config.selection.skip_slow {
            Err(Fail::skipped(
                "slow case (waits for a protocol timer); --skip-slow was given",
            ))
        } else {
            run_case(case, config, &mut state, &mut rng, &log)
        };
        let result = CaseReport::new(
            case,
            Outcome::from(verdict),
            case_started.elapsed(),
            log.lines(),
        );
        observer.case_finished(&result);
        report.cases.push(result);
    }
    report.duration = started.elapsed();
    observer.finished(&report);
    Ok(report)
}

enum ModeState {
    Server(SecretsCache),
    Client { user: String, creds: Credentials },
}

fn run_case(
    case: &Case,
    config: &RunConfig,
    state: &mut ModeState,
    rng: &mut SuiteRng,
    log: &CaseLog,
) -> Verdict {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        match (case.body, &config.target, state) {
            (Body::Server(body), Target::Server(target), ModeState::Server(cache)) => {
                let mut ctx =
                    ServerCtx::new(target, config.timeouts, log.clone(), rng, cache, case.id);
                body(&mut ctx)
            }
            (Body::Client(body), Target::Client(target), ModeState::Client { user, creds }) => {
                let mut ctx =
                    ClientCtx::new(target, config.timeouts, log.clone(), rng, creds, user);
                body(&mut ctx)
            }
            _ => Err(Fail::skipped("the case is for the other mode")),
        }
    }));
    match outcome {
        Ok(verdict) => verdict,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Fail::failed(
                "the case to run to its end",
                format!("the suite panicked ({message}); this is a bug in the suite"),
            ))
        }
    }
}
