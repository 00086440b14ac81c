//! The catalog: every case, the requirements of docs/protocol.md, which
//! cases cover which requirement, and case selection (`--case`).

use std::io::{self, Write};

use super::case::{Case, Mode, Section};
use super::cases;
use super::config::Selection;

/// How binding a requirement is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Level {
    /// MUST / MUST NOT, or a rule stated as a fact ("is MALFORMED").
    Must,
    /// SHOULD.
    Should,
    /// Editorial: nothing to test.
    Editorial,
}

impl Level {
    /// `MUST`, `SHOULD` or `editorial`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Editorial => "editorial",
        }
    }
}

/// A requirement of docs/protocol.md.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Requirement {
    /// Its id: `F-1` ... `D-13`, or `S1-lock`, `S1-policy`, `S3-caps` for the
    /// MUSTs the spec states in sections 1 and 3 without an id.
    pub id: &'static str,
    /// How binding it is.
    pub level: Level,
    /// What it says, in short.
    pub summary: &'static str,
    /// Why no case covers it, if none does.
    pub not_covered: Option<&'static str>,
}

const fn req(id: &'static str, level: Level, summary: &'static str) -> Requirement {
    Requirement {
        id,
        level,
        summary,
        not_covered: None,
    }
}

const fn gap(
    id: &'static str,
    level: Level,
    summary: &'static str,
    why: &'static str,
) -> Requirement {
    Requirement {
        id,
        level,
        summary,
        not_covered: Some(why),
    }
}

/// Every requirement, in the order of docs/protocol.md.
pub const REQUIREMENTS: &[Requirement] = &[
    gap(
        "S1-lock",
        Level::Must,
        "a running client refuses settings changes while logged in",
        "the settings lock is part of the client's application interface; nothing of it reaches the wire",
    ),
    req(
        "S1-policy",
        Level::Must,
        "listen policies: dynamic, first free port of a range, exactly the fixed port",
    ),
    req(
        "F-1",
        Level::Must,
        "length above 65 535 (4 145 before LOGIN_OK on control) is FRAME_TOO_LARGE before the body",
    ),
    req("F-2", Level::Must, "length 0 is MALFORMED"),
    req(
        "F-3",
        Level::Must,
        "unknown type is UNKNOWN_FRAME; wrong state, direction or connection is UNEXPECTED_FRAME",
    ),
    req(
        "F-4",
        Level::Must,
        "bytes left over or missing in a body are MALFORMED",
    ),
    req(
        "F-5",
        Level::Must,
        "any segmentation, one byte at a time included",
    ),
    req(
        "F-6",
        Level::Must,
        "ERROR is followed by close; after LOGIN_OK it ends the session",
    ),
    req(
        "S3-caps",
        Level::Must,
        "unknown capability bits are ignored; LOGIN_OK.caps is the intersection",
    ),
    req(
        "A-1",
        Level::Must,
        "the server accepts a login iff the proof verifies against StoredKey",
    ),
    req(
        "A-2",
        Level::Must,
        "the client verifies server_signature over the whole handshake",
    ),
    req(
        "A-3",
        Level::Must,
        "an unknown user is challenged like a real one and fails like a wrong password",
    ),
    req(
        "A-4",
        Level::Must,
        "fresh 32-byte nonces; iterations within 4 096..=cap; salt 16..=64 bytes",
    ),
    gap(
        "A-5",
        Level::Should,
        "the server slows down or refuses repeated failed logins per IP",
        "SHOULD; testing it would lock the suite's own address out of the server for the rest of the run",
    ),
    req(
        "C-1",
        Level::Must,
        "the server dials only the control connection's peer IP",
    ),
    req(
        "C-2",
        Level::Must,
        "ADVERTISE is checked: policy, privileged ports, port 0, range",
    ),
    req(
        "C-3",
        Level::Must,
        "exactly one ADVERTISE, right after LOGIN_OK",
    ),
    req(
        "C-4",
        Level::Must,
        "a handshake on an endpoint held by another session replaces it",
    ),
    req(
        "C-5",
        Level::Must,
        "lease: PING after lease/3, PONG to every PING, silence for lease_ms is death",
    ),
    req(
        "C-6",
        Level::Must,
        "resume reattaches a live session; unknown or foreign ids get UNKNOWN_SESSION",
    ),
    gap(
        "C-7",
        Level::Should,
        "the server bounds sessions per user and per IP (LIMIT_EXCEEDED)",
        "SHOULD, with bounds the spec leaves to the server; the suite cannot know where they lie",
    ),
    req(
        "C-8",
        Level::Must,
        "LOGIN.version must lie in SERVER_HELLO's range, else UNSUPPORTED_VERSION",
    ),
    req(
        "C-9",
        Level::Must,
        "no ADVERTISE_OK within the handshake timeout: ERROR TIMEOUT and close",
    ),
    req(
        "C-10",
        Level::Must,
        "how sessions end: LOGOUT, BYE with the reason, ids never reused",
    ),
    req(
        "B-1",
        Level::Must,
        "both ends verify the callback handshake (CB_HELLO, CB_READY)",
    ),
    req(
        "B-2",
        Level::Must,
        "seqs from 1 by 1; CB_READY/ACK beyond what was sent is UNEXPECTED_FRAME",
    ),
    req(
        "B-3",
        Level::Must,
        "the client delivers each seq once, in order; gaps are UNEXPECTED_FRAME",
    ),
    req(
        "B-4",
        Level::Must,
        "on every path change the server resends unacknowledged notifications",
    ),
    req(
        "B-5",
        Level::Must,
        "dial retries with backoff; CALLBACK_STATUS on outcome and path changes",
    ),
    gap(
        "B-6",
        Level::Must,
        "the per-session queue is bounded and refuses notify when full",
        "the bound shows only to the server's application (its notify call), not on the wire",
    ),
    req(
        "B-7",
        Level::Must,
        "callback handshake timeout 5 s; bound on unverified callbacks; PING/PONG roles",
    ),
    req(
        "N-1",
        Level::Must,
        "unknown kinds, bad payloads, extra bytes, unknown enums are acked and delivered",
    ),
    req(
        "D-1",
        Level::Must,
        "a late ACK on the former backchannel is processed, not rejected",
    ),
    req("D-2", Level::Must, "where the client accepts NOTIFY"),
    req(
        "D-3",
        Level::Must,
        "lease_ms below 3 000 is refused with MALFORMED after the signature check",
    ),
    req("D-4", Level::Must, "keepalive on each connection"),
    gap("D-5", Level::Editorial, "section numbering", "editorial"),
    req(
        "D-6",
        Level::Must,
        "range fields with another policy are BAD_PORT",
    ),
    req(
        "D-7",
        Level::Must,
        "port 0: ADVERTISE_OK with port 0, then CALLBACK_STATUS backchannel",
    ),
    req(
        "D-8",
        Level::Must,
        "a working callback that dies is dialled again at once",
    ),
    req(
        "D-9",
        Level::Must,
        "repeated ACKs are accepted without effect",
    ),
    req(
        "D-10",
        Level::Must,
        "a client without a common version sends UNSUPPORTED_VERSION and does not retry",
    ),
    req(
        "D-11",
        Level::Must,
        "an ERROR with an unknown code is MALFORMED; the connection closes",
    ),
    req(
        "D-12",
        Level::Must,
        "callbacks accept frames up to 65 535 bytes before the handshake",
    ),
    gap(
        "D-13",
        Level::Must,
        "a notification whose ACK the server read is reported delivered, never undelivered",
        "the delivered/undelivered reports go to the server's application, not the wire; faxnotify's simulator checks them (sim/)",
    ),
    req(
        "D-14",
        Level::Must,
        "a stale CB_READY (ACKs crossed the handshake) is accepted; below what was acknowledged before CB_HELLO it is UNEXPECTED_FRAME",
    ),
    gap(
        "D-15",
        Level::Should,
        "per-name failed-login limits, detached grace, fair unauthenticated caps and dial slots for users behind one address",
        "limits of faxnotify's server, not wire rules an outside implementation must follow; tested in core/tests/server_rules/shared_address.rs",
    ),
    req(
        "D-16",
        Level::Must,
        "a client keeps a quiet callback open unless the server has pinged a callback since LOGIN_OK",
    ),
    gap(
        "D-17",
        Level::Must,
        "cluster mode: a session outlives its server and resumes on another; seqs come from the shared log; the first ACK after a restore may exceed what was sent; SHUTTING_DOWN is the temporary refusal",
        "needs several servers sharing a log and a session store; the suite tests one server process. Tested in core/tests/cluster_*.rs, the cluster simulator (sim/tests/cluster_seeds.rs) and with real processes in cli/tests/cluster_*.rs",
    ),
    gap(
        "D-18",
        Level::Should,
        "a client treats a PING unanswered for lease_ms/3 on the control connection as a dead connection, and resumes",
        "a SHOULD of the client's own liveness check, whose check would take two thirds of a lease per run; tested in core/tests/client_silent_path.rs and the client model (tests/tests/model_client)",
    ),
    req(
        "T-1",
        Level::Must,
        "implicit TLS 1.3 from the first byte; a port is plain or TLS, never both",
    ),
    req(
        "T-2",
        Level::Must,
        "the fax client is the TLS client on control and callback connections",
    ),
    req(
        "T-3",
        Level::Must,
        "a client configured for TLS never falls back to plain TCP",
    ),
    req(
        "T-4",
        Level::Must,
        "the client verifies the server's certificate (name and trust) on every connection",
    ),
    req(
        "T-5",
        Level::Must,
        "the server verifies nothing about the client at the TLS level",
    ),
    req(
        "T-6",
        Level::Must,
        "over TLS the SCRAM AuthMessage ends with the tls-exporter channel binding",
    ),
    req(
        "T-7",
        Level::Must,
        "over TLS the callback proofs include the callback connection's own channel binding",
    ),
    req(
        "T-8",
        Level::Must,
        "the handshake timeouts include the TLS handshake",
    ),
    req(
        "T-9",
        Level::Must,
        "a failed TLS handshake closes the connection without FNP/1 frames",
    ),
    gap(
        "T-10",
        Level::Must,
        "over TLS a refusal before SERVER_HELLO is a close without ERROR",
        "a refusal before SERVER_HELLO needs the server's connection limits tripped on purpose, which the suite cannot do to a server it only reaches over the network",
    ),
    gap(
        "T-11",
        Level::Should,
        "plain TCP to a server that is not on loopback is reported once as not encrypted",
        "what the client tells its user about plain TCP is part of its application interface; nothing of it reaches the wire (faxnotify: core/tests/tls.rs)",
    ),
    gap(
        "T-12",
        Level::Editorial,
        "faxnotify's TLS profile: TLS 1.3 only, X25519, no resumption",
        "faxnotify's own profile beyond TLS 1.3, not a wire requirement; the TLS 1.3-only rule is tested by server/tls/tls12-only-client-hello",
    ),
];

/// Every case of both modes, in catalog order (mode, then section).
pub fn all_cases() -> Vec<&'static Case> {
    let mut all: Vec<&'static Case> = cases::server::ALL
        .iter()
        .chain(cases::client::ALL.iter())
        .flat_map(|section| section.iter())
        .collect();
    all.sort_by_key(|c| (c.mode(), c.section));
    all
}

/// The cases testing `mode`, in the order they run.
pub fn cases_for(mode: Mode) -> Vec<&'static Case> {
    all_cases()
        .into_iter()
        .filter(|c| c.mode() == mode)
        .collect()
}

/// The case of `mode` that tests `requirement` on its own (the first that
/// cites nothing else): where a case blocked on `requirement` sends the reader.
pub fn tester_of(mode: Mode, requirement: &str) -> Option<&'static str> {
    cases_for(mode)
        .into_iter()
        .find(|c| c.requirements == [requirement])
        .map(|c| c.id)
}

/// Looks up a case by its exact id.
pub fn find(id: &str) -> Option<&'static Case> {
    all_cases().into_iter().find(|c| c.id == id)
}

/// A `--case` pattern that matches no case of the mode.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error(
    "no {mode} case matches {pattern:?}: give a case id like `{mode}/framing/zero-length` or a prefix like `{mode}/framing`"
)]
pub struct UnknownCase {
    /// The mode being run.
    pub mode: Mode,
    /// The pattern given.
    pub pattern: String,
}

/// Whether `pattern` selects `id`: the exact id, or a prefix ending at a `/`.
fn matches(pattern: &str, id: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    id == pattern || (id.starts_with(pattern) && id.as_bytes().get(pattern.len()) == Some(&b'/'))
}

/// The cases of `mode` that `selection` picks. `--skip-slow` is not applied
/// here: skipped slow cases still appear in the report, as skipped.
pub fn select(mode: Mode, selection: &Selection) -> Result<Vec<&'static Case>, UnknownCase> {
    let all = cases_for(mode);
    if selection.cases.is_empty() {
        return Ok(all);
    }
    for pattern in &selection.cases {
        if !all.iter().any(|c| matches(pattern, c.id)) {
            return Err(UnknownCase {
                mode,
                pattern: pattern.clone(),
            });
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| selection.cases.iter().any(|p| matches(p, c.id)))
        .collect())
}

/// One row of the coverage table.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Coverage {
    /// The requirement.
    pub requirement: Requirement,
    /// Ids of the server-mode cases citing it.
    pub server_cases: Vec<&'static str>,
    /// Ids of the client-mode cases citing it.
    pub client_cases: Vec<&'static str>,
}

impl Coverage {
    /// Whether any case cites the requirement.
    pub fn covered(&self) -> bool {
        !self.server_cases.is_empty() || !self.client_cases.is_empty()
    }
}

/// Which cases cover each requirement.
pub fn coverage() -> Vec<Coverage> {
    let all = all_cases();
    REQUIREMENTS
        .iter()
        .map(|requirement| {
            let citing = |mode: Mode| -> Vec<&'static str> {
                all.iter()
                    .filter(|c| c.mode() == mode && c.requirements.contains(&requirement.id))
                    .map(|c| c.id)
                    .collect()
            };
            Coverage {
                requirement: *requirement,
                server_cases: citing(Mode::Server),
                client_cases: citing(Mode::Client),
            }
        })
        .collect()
}

/// Prints the coverage table: per requirement, how many cases of each mode
/// cite it, or why none does.
pub fn write_coverage(mut out: impl Write) -> io::Result<()> {
    writeln!(
        out,
        "Requirement coverage (cases testing a server / a client):"
    )?;
    let rows = coverage();
    for row in &rows {
        let r = &row.requirement;
        let cover = if row.covered() {
            format!(
                "{:>2} / {:<2}",
                row.server_cases.len(),
                row.client_cases.len()
            )
        } else {
            "  none ".to_owned()
        };
        writeln!(
            out,
            "  {:<9} {:<9} {cover}  {}",
            r.id,
            r.level.name(),
            r.summary
        )?;
        if let Some(why) = r.not_covered.filter(|_| !row.covered()) {
            writeln!(out, "  {:<19}      not covered: {why}", "")?;
        }
    }
    let must = rows
        .iter()
        .filter(|r| r.requirement.level == Level::Must)
        .count();
    let must_covered = rows
        .iter()
        .filter(|r| r.requirement.level == Level::Must && r.covered())
        .count();
    writeln!(out, "{must_covered} of {must} MUST requirements covered")
}

/// Prints the catalog of one mode (or both): id, requirements, slow mark, title.
pub fn write_catalog(mut out: impl Write, mode: Option<Mode>) -> io::Result<()> {
    let cases: Vec<&Case> = all_cases()
        .into_iter()
        .filter(|c| mode.is_none_or(|m| c.mode() == m))
        .collect();
    let mut last: Option<(Mode, Section)> = None;
    for case in cases {
        if last != Some((case.mode(), case.section)) {
            writeln!(
                out,
                "\n{} under test: {}",
                case.mode(),
                case.section.title()
            )?;
            last = Some((case.mode(), case.section));
        }
        let reqs: String = case.requirements.iter().map(|r| format!("[{r}]")).collect();
        let slow = if case.slow { " (slow)" } else { "" };
        writeln!(out, "  {} {reqs}{slow}\n      {}", case.id, case.title)?;
    }
    Ok(())
}

/// The catalog as Markdown tables, one per mode and section (what
/// docs/conformance.md shows between its GENERATED markers).
pub fn write_catalog_markdown(mut out: impl Write) -> io::Result<()> {
    for mode in [Mode::Server, Mode::Client] {
        let cases = cases_for(mode);
        writeln!(
            out,
            "### {} under test ({} cases)\n",
            capitalised(mode.name()),
            cases.len()
        )?;
        for section in Section::ALL {
            let in_section: Vec<&&Case> = cases.iter().filter(|c| c.section == section).collect();
            if in_section.is_empty() {
                continue;
            }
            writeln!(out, "#### {} ({})\n", section.title(), in_section.len())?;
            writeln!(out, "| case | requirements | checks |")?;
            writeln!(out, "|---|---|---|")?;
            for case in in_section {
                let reqs = case.requirements.join(", ");
                let slow = if case.slow { " *(slow)*" } else { "" };
                writeln!(out, "| `{}` | {reqs} | {}{slow} |", case.id, case.title)?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The coverage table as Markdown (what docs/conformance.md shows).
pub fn write_coverage_markdown(mut out: impl Write) -> io::Result<()> {
    writeln!(
        out,
        "| id | level | server cases | client cases | what it requires |"
    )?;
    writeln!(out, "|---|---|---|---|---|")?;
    for row in coverage() {
        let r = row.requirement;
        let (server, client) = if row.covered() {
            (
                row.server_cases.len().to_string(),
                row.client_cases.len().to_string(),
            )
        } else {
            ("—".to_owned(), "—".to_owned())
        };
        let note = match r.not_covered.filter(|_| !row.covered()) {
            Some(why) => format!("{} — **not covered:** {why}", r.summary),
            None => r.summary.to_owned(),
        };
        writeln!(
            out,
            "| {} | {} | {server} | {client} | {note} |",
            r.id,
            r.level.name()
        )?;
    }
    Ok(())
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_whole_ids_or_prefixes_at_a_slash() {
        assert!(matches(
            "server/framing/zero-length",
            "server/framing/zero-length"
        ));
        assert!(matches("server/framing", "server/framing/zero-length"));
        assert!(matches("server/framing/", "server/framing/zero-length"));
        assert!(matches("server", "server/framing/zero-length"));
        assert!(!matches("server/fram", "server/framing/zero-length"));
        assert!(!matches(
            "server/framing/zero",
            "server/framing/zero-length"
        ));
    }
}
