//! Runs the selected cases one at a time and collects the report.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use faxnotify_core::auth::{Credentials, DEFAULT_ITERATIONS, prepare_username};
use faxnotify_core::wire::Role;

use super::case::{Body, Case, Fail, Mode, Verdict};
use super::catalog::{UnknownCase, select, tester_of};
use super::client_ctx::ClientCtx;
use super::config::{RunConfig, Target};
use super::peer::log::CaseLog;
use super::peer::pki::SuitePki;
use super::peer::rng::SuiteRng;
use super::peer::tls::SuiteTlsClient;
use super::report::{CaseReport, Deviation, Observer, Outcome, Report, blocked_reason};
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
    /// The TLS settings cannot be used.
    #[error("cannot set up TLS for the suite: {0}")]
    Tls(String),
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
        Target::Server(s) => {
            let tls = match &s.tls {
                Some(tls) => Some(SuiteTlsClient::new(tls).map_err(RunError::Tls)?),
                None => None,
            };
            ModeState::Server {
                cache: SecretsCache::new(),
                tls,
            }
        }
        Target::Client(c) => {
            let user =
                prepare_username(&c.user).map_err(|e| RunError::Credentials(e.to_string()))?;
            let salt = rng.bytes(16);
            let creds =
                Credentials::from_password(&c.password, &salt, DEFAULT_ITERATIONS, Role::User)
                    .map_err(|e| RunError::Credentials(e.to_string()))?;
            let pki = match c.tls {
                true => Some(SuitePki::new(c.listen_ip).map_err(RunError::Tls)?),
                false => None,
            };
            ModeState::Client { user, creds, pki }
        }
    };

    let started = Instant::now();
    let mut report = Report::new(mode, target_text.clone());
    observer.started(mode, &target_text);
    for case in cases {
        observer.case_started(case);
        let case_started = Instant::now();
        let log = CaseLog::new();
        let (verdict, noted) = if case.slow && config.selection.skip_slow {
            let skip =
                Fail::skipped("slow case (waits for a protocol timer); --skip-slow was given");
            (Err(skip), Vec::new())
        } else {
            run_case(case, config, &mut state, &mut rng, &log)
        };
        let (outcome, further) = outcome_of(case, &report, verdict, noted);
        let result = CaseReport::new(case, outcome, case_started.elapsed(), log.lines())
            .with_further(further);
        observer.case_finished(&result);
        report.cases.push(result);
    }
    // A blocked case may have run before the case that tests its blocking
    // requirement: name that case now that every verdict is in.
    report.resolve_blocked();
    report.duration = started.elapsed();
    observer.finished(&report);
    Ok(report)
}

enum ModeState {
    Server {
        cache: SecretsCache,
        tls: Option<SuiteTlsClient>,
    },
    Client {
        user: String,
        creds: Credentials,
        pki: Option<SuitePki>,
    },
}

/// The outcome of a case and its further deviations: with deviations noted
/// under `--keep-going` the case failed with the first of them, whatever the
/// body returned; what the body stopped on comes last.
fn outcome_of(
    case: &Case,
    report: &Report,
    verdict: Verdict,
    noted: Vec<(String, String)>,
) -> (Outcome, Vec<Deviation>) {
    let mut noted = noted.into_iter();
    let Some((expected, got)) = noted.next() else {
        let mut outcome = Outcome::of(case, verdict);
        if let Outcome::Blocked {
            reason,
            needs,
            failed_in,
            ..
        } = &mut outcome
        {
            // Name the blocking case already if it failed earlier in the run.
            *failed_in = tester_of(report.mode, needs)
                .filter(|tester| {
                    report
                        .cases
                        .iter()
                        .any(|c| c.id == *tester && matches!(c.outcome, Outcome::Failed { .. }))
                })
                .map(str::to_owned);
            let tested: Vec<&str> = case
                .requirements
                .iter()
                .copied()
                .filter(|r| *r != needs.as_str())
                .collect();
            *reason = blocked_reason(report.mode, &tested, needs, failed_in.as_deref());
        }
        return (outcome, Vec::new());
    };
    let mut further: Vec<Deviation> = noted
        .map(|(expected, got)| Deviation { expected, got })
        .collect();
    match verdict {
        Err(Fail::Failed { expected, got }) => further.push(Deviation { expected, got }),
        Err(Fail::Blocked {
            needs,
            expected,
            got,
        }) => further.push(Deviation {
            expected: format!("(then blocked: needs [{needs}]) {expected}"),
            got,
        }),
        Ok(()) | Err(_) => {}
    }
    (Outcome::Failed { expected, got }, further)
}

fn run_case(
    case: &Case,
    config: &RunConfig,
    state: &mut ModeState,
    rng: &mut SuiteRng,
    log: &CaseLog,
) -> (Verdict, Vec<(String, String)>) {
    let keep_going = config.selection.keep_going;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        match (case.body, &config.target, state) {
            (Body::Server(body), Target::Server(target), ModeState::Server { cache, tls }) => {
                let mut ctx = ServerCtx::new(
                    target,
                    config.timeouts,
                    log.clone(),
                    rng,
                    cache,
                    case.id,
                    tls.as_ref(),
                );
                ctx.soft.keep_going = keep_going;
                let verdict = body(&mut ctx);
                (verdict, std::mem::take(&mut ctx.soft.found))
            }
            (
                Body::Client(body),
                Target::Client(target),
                ModeState::Client { user, creds, pki },
            ) => {
                let mut ctx = ClientCtx::new(
                    target,
                    config.timeouts,
                    log.clone(),
                    rng,
                    creds,
                    user,
                    pki.as_ref(),
                );
                ctx.soft.keep_going = keep_going;
                let verdict = body(&mut ctx);
                (verdict, std::mem::take(&mut ctx.soft.found))
            }
            _ => (
                Err(Fail::skipped("the case is for the other mode")),
                Vec::new(),
            ),
        }
    }));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned());
            let fail = Fail::failed(
                "the case to run to its end",
                format!("the suite panicked ({message}); this is a bug in the suite"),
            );
            (Err(fail), Vec::new())
        }
    }
}
