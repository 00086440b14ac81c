//! How `faxnotify server` logs its events, with the warnings that anyone
//! can cause (connections refused, failed logins, protocol errors before
//! login) aggregated: per kind, the first [`LOGGED_PER_INTERVAL`] of an
//! interval are logged in full, the rest are counted and summed up in one
//! line per kind at the end of the interval, with the addresses that sent
//! the most. A connection flood therefore writes a few lines every
//! [`INTERVAL`], not one per connection (issue 17, case 2: 553 000
//! "connection refused" lines, 75 MB in 30 s).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use faxnotify_core::server::{Event, LoginFailure, PeerError};
use faxnotify_core::wire::CallbackState;

use crate::log_writer::grouped;

/// How often repeated warnings are summed up.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Warnings of one kind logged one by one per interval before counting.
pub const LOGGED_PER_INTERVAL: u64 = 3;
/// Distinct addresses (and reasons) counted per kind and interval; more
/// are summed up as "other", so a flood from many addresses cannot grow
/// the counts without bound.
const MAX_DISTINCT: usize = 1024;
/// Addresses (and reasons) named in a summary line.
const TOP: usize = 3;

/// The warnings that unauthenticated peers can cause at will.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Refused,
    LoginFailed,
    ProtocolError,
    TlsFailed,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Refused => "connections refused",
            Kind::LoginFailed => "failed logins",
            Kind::ProtocolError => "protocol errors before login",
            Kind::TlsFailed => "failed TLS handshakes",
        }
    }
}

/// One kind's counts in the current interval.
#[derive(Debug, Default)]
struct Tally {
    seen: u64,
    by_address: HashMap<IpAddr, u64>,
    other_addresses: u64,
    by_reason: HashMap<String, u64>,
    other_reasons: u64,
}

fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u64>, other: &mut u64, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
    } else if map.len() < MAX_DISTINCT {
        map.insert(key, 1);
    } else {
        *other += 1;
    }
}

/// The largest counts first, at most [`TOP`], as "key (n)".
fn top<K: ToString>(map: &HashMap<K, u64>, other: u64) -> String {
    let mut entries: Vec<(String, u64)> = map.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::new();
    for (i, (key, n)) in entries.iter().take(TOP).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{key} ({})", grouped(*n));
    }
    let rest: u64 = entries.iter().skip(TOP).map(|e| e.1).sum::<u64>() + other;
    if rest > 0 {
        let _ = write!(out, ", others ({})", grouped(rest));
    }
    out
}

impl Tally {
    /// Counts one warning; true when it should still be logged in full.
    fn record(&mut self, address: IpAddr, reason: String) -> bool {
        self.seen += 1;
        if self.seen <= LOGGED_PER_INTERVAL {
            return true;
        }
        count(&mut self.by_address, &mut self.other_addresses, address);
        count(&mut self.by_reason, &mut self.other_reasons, reason);
        false
    }

    /// The summary of what was counted and not logged, if anything.
    fn summary(&self, kind: Kind, interval: Duration) -> Option<String> {
        let counted = self.seen.saturating_sub(LOGGED_PER_INTERVAL);
        if counted == 0 {
            return None;
        }
        let addresses = self.by_address.len() + usize::from(self.other_addresses > 0);
        Some(format!(
            "{} more {} in the last {}s than the {LOGGED_PER_INTERVAL} logged ({} in all) \
             from {} address{}: {}; why: {}",
            grouped(counted),
            kind.what(),
            interval.as_secs(),
            grouped(self.seen),
            if self.other_addresses > 0 {
                format!("more than {addresses}")
            } else {
                addresses.to_string()
            },
            if addresses == 1 { "" } else { "es" },
            top(&self.by_address, self.other_addresses),
            top(&self.by_reason, self.other_reasons),
        ))
    }
}

/// Logs server events; call [`EventLog::tick`] at least every second or so.
#[derive(Debug)]
pub struct EventLog {
    interval: Duration,
    ends: Instant,
    tallies: [(Kind, Tally); 4],
}

impl EventLog {
    /// A log whose first interval starts at `now`.
    pub fn new(now: Instant, interval: Duration) -> Self {
        Self {
            interval,
            ends: now + interval,
            tallies: [
                (Kind::Refused, Tally::default()),
                (Kind::LoginFailed, Tally::default()),
                (Kind::ProtocolError, Tally::default()),
                (Kind::TlsFailed, Tally::default()),
            ],
        }
    }

    /// Logs `event` (at `now`) at the level it deserves, or counts it.
    pub fn event(&mut self, event: &Event, now: Instant) {
        self.tick(now);
        let repeated = match event {
            Event::ConnectionRefused { peer, reason, .. } => {
                Some((Kind::Refused, peer.ip(), reason.to_string()))
            }
            Event::LoginFailed { peer, reason, .. } if !is_routine(reason) => {
                Some((Kind::LoginFailed, peer.ip(), reason.to_string()))
            }
            Event::ProtocolError {
                peer,
                session: None,
                error,
                ..
            } => Some((Kind::ProtocolError, peer.ip(), error_code(error))),
            // Anyone can fail a handshake with the control port at will (a
            // scanner, a plain FNP/1 client); a callback's failure belongs
            // to a session and is logged in full.
            Event::TlsFailed {
                peer,
                session: None,
                reason,
                ..
            } => Some((Kind::TlsFailed, peer.ip(), reason.to_string())),
            _ => None,
        };
        if let Some((kind, address, reason)) = repeated
            && !self.tally(kind).record(address, reason)
        {
            return;
        }
        log_event(event);
    }

    /// Ends the interval if it is over: one summary line per kind that
    /// had more warnings than were logged.
    pub fn tick(&mut self, now: Instant) {
        if now < self.ends {
            return;
        }
        for line in self.take_summaries() {
            tracing::warn!("{line}");
        }
        self.ends = now + self.interval;
    }

    /// Logs the summaries of the last (unfinished) interval.
    pub fn finish(mut self) {
        for line in self.take_summaries() {
            tracing::warn!("{line}");
        }
    }

    /// The summary lines of the interval so far, starting a new one.
    fn take_summaries(&mut self) -> Vec<String> {
        let interval = self.interval;
        self.tallies
            .iter_mut()
            .filter_map(|(kind, tally)| {
                let line = tally.summary(*kind, interval);
                *tally = Tally::default();
                line
            })
            .collect()
    }

    fn tally(&mut self, kind: Kind) -> &mut Tally {
        let slot = self.tallies.iter_mut().find(|(k, _)| *k == kind);
        match slot {
            Some((_, tally)) => tally,
            None => unreachable!("every kind has a tally"),
        }
    }
}

/// A protocol error's code, without the peer's free text (which an
/// attacker chooses, so it would make every line distinct).
fn error_code(error: &PeerError) -> String {
    match error {
        PeerError::Sent { code, .. } => format!("sent {code}"),
        PeerError::Received { code, .. } => format!("received {code}"),
        other => other.to_string(),
    }
}

/// Whether a failed login is what clients do after a server restart or a
/// failover: resuming a session this server does not have (it was
/// restarted) or that another server of the cluster still holds. They go
/// on with a new session or try again, so it is worth an info line, not a
/// warning, nor a place in the warnings' tally.
fn is_routine(reason: &LoginFailure) -> bool {
    matches!(
        reason,
        LoginFailure::UnknownSession { .. } | LoginFailure::HeldElsewhere
    )
}

/// Logs one server event at the level it deserves.
pub fn log_event(event: &Event) {
    match event {
        Event::SessionOpened { .. }
        | Event::SessionResumed { .. }
        | Event::SessionDetached { .. }
        | Event::SessionClosed { .. }
        // Cluster mode: a session taken over from the cluster, or let go
        // to it.
        | Event::SessionRestored { .. }
        | Event::SessionReleased { .. }
        | Event::Delivered { .. } => tracing::info!("{event}"),
        Event::CallbackStatus { state, .. } if *state == CallbackState::Reachable => {
            tracing::info!("{event}");
        }
        // No callback port (listen policy `none`): the backchannel is the
        // client's plan, nothing to look into.
        Event::CallbackStatus { endpoint: None, .. } => tracing::info!("{event}"),
        Event::CallbackStatus { .. } => tracing::warn!("{}", unreachable_line(event)),
        Event::LoginFailed { reason, .. } if is_routine(reason) => tracing::info!("{event}"),
        Event::Undelivered { .. }
        | Event::LoginFailed { .. }
        | Event::ConnectionRefused { .. }
        | Event::ProtocolError { .. }
        | Event::TlsFailed { .. } => tracing::warn!("{event}"),
        _ => tracing::debug!("{event}"),
    }
}

/// A callback the server cannot reach: the core's line says where, not
/// why; each dial's reason (refused, timed out) is logged at debug.
fn unreachable_line(event: &Event) -> String {
    format!(
        "{event}: the server cannot connect to the client's callback port (a firewall on the \
         client's host, or a listener on another address); RUST_LOG=debug logs why each dial fails"
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use faxnotify_core::ConnId;
    use faxnotify_core::server::Refusal;
    use faxnotify_core::tls::TlsFailure;

    use super::*;

    #[test]
    fn a_callback_the_server_cannot_reach_says_what_to_look_at() {
        let event = Event::CallbackStatus {
            session: faxnotify_core::SessionId::new(0xd6fa_9d7e_a903_1b46).expect("nonzero"),
            state: CallbackState::Backchannel,
            endpoint: Some("192.0.2.10:6003".parse().expect("an address")),
        };
        let line = unreachable_line(&event);
        assert!(
            line.starts_with(
                "callback status d6fa9d7ea9031b46 backchannel endpoint=192.0.2.10:6003: "
            ) && line.contains("a firewall on the client's host")
                && line.ends_with("RUST_LOG=debug logs why each dial fails"),
            "{line}"
        );
    }

    fn refused(ip: &str, port: u16) -> (Kind, IpAddr, String) {
        let peer: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        (
            Kind::Refused,
            peer.ip(),
            Refusal::TooManyUnauthenticated.to_string(),
        )
    }

    fn record(log: &mut EventLog, (kind, ip, reason): (Kind, IpAddr, String)) -> bool {
        log.tally(kind).record(ip, reason)
    }

    #[test]
    fn a_flood_is_a_few_lines_not_one_per_connection() {
        let start = Instant::now();
        let mut log = EventLog::new(start, INTERVAL);
        let mut logged = 0;
        for i in 0..100_000u32 {
            let ip = if i % 10 == 0 { "10.0.0.8" } else { "10.0.0.7" };
            if record(&mut log, refused(ip, u16::try_from(i % 60_000).unwrap())) {
                logged += 1;
            }
        }
        assert_eq!(logged, LOGGED_PER_INTERVAL);
        let lines = log.take_summaries();
        assert_eq!(
            lines,
            vec![
                "99 997 more connections refused in the last 10s than the 3 logged \
                 (100 000 in all) from 2 addresses: 10.0.0.7 (89 998), 10.0.0.8 (9 999); \
                 why: too many unauthenticated connections from the address (99 997)"
                    .to_owned()
            ]
        );
        // A new interval logs again, and a quiet one says nothing.
        assert!(record(&mut log, refused("10.0.0.7", 1)));
        assert_eq!(log.take_summaries(), Vec::<String>::new());
    }

    #[test]
    fn many_addresses_cannot_grow_the_counts() {
        let mut log = EventLog::new(Instant::now(), INTERVAL);
        for i in 0..5000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            log.tally(Kind::LoginFailed)
                .record(ip, "bad credentials".into());
        }
        let tally = log.tally(Kind::LoginFailed);
        assert_eq!(tally.by_address.len(), MAX_DISTINCT);
        let lines = log.take_summaries();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert!(line.starts_with("4 997 more failed logins"), "{line}");
        assert!(line.contains("from more than 1025 addresses"), "{line}");
        assert!(line.contains("others (4 994)"), "{line}");
    }

    #[test]
    fn resuming_after_a_restart_or_failover_is_routine_not_a_failed_login_warning() {
        let start = Instant::now();
        let mut log = EventLog::new(start, INTERVAL);
        let failed = |reason| Event::LoginFailed {
            conn: ConnId::from_raw(1),
            peer: "10.0.0.7:4000".parse().unwrap(),
            user: "alice".to_owned(),
            reason,
        };
        for reason in [
            LoginFailure::UnknownSession { requested: 0x1234 },
            LoginFailure::HeldElsewhere,
        ] {
            assert!(is_routine(&reason));
            log.event(&failed(reason), start);
        }
        assert_eq!(log.tally(Kind::LoginFailed).seen, 0);
        log.event(&failed(LoginFailure::BadCredentials), start);
        assert_eq!(log.tally(Kind::LoginFailed).seen, 1);
        assert!(!is_routine(&LoginFailure::BadCredentials));
        assert_eq!(
            failed(LoginFailure::UnknownSession { requested: 0x1234 }).to_string(),
            "login failed conn#1 peer=10.0.0.7:4000 user=\"alice\": unknown session 0000000000001234"
        );
    }

    #[test]
    fn only_warnings_anyone_can_cause_are_aggregated() {
        let start = Instant::now();
        let mut log = EventLog::new(start, INTERVAL);
        let event = Event::ConnectionRefused {
            conn: ConnId::from_raw(1),
            peer: "10.0.0.7:4000".parse().unwrap(),
            reason: Refusal::Busy,
        };
        for _ in 0..10 {
            log.event(&event, start);
        }
        let tls = Event::TlsFailed {
            conn: ConnId::from_raw(2),
            peer: "10.0.0.9:4001".parse().unwrap(),
            session: None,
            reason: TlsFailure::NotTls { plain_fnp: true },
        };
        for _ in 0..5 {
            log.event(&tls, start);
        }
        assert_eq!(log.tally(Kind::Refused).seen, 10);
        assert_eq!(log.tally(Kind::TlsFailed).seen, 5);
        assert_eq!(log.tally(Kind::ProtocolError).seen, 0);
        // The summary comes with the first event or tick after the interval.
        log.tick(start + INTERVAL);
        assert_eq!(log.tally(Kind::Refused).seen, 0);
    }
}
