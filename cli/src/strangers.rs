//! What unauthenticated peers do to the client's callback port, summarised.
//!
//! Anyone who can reach the callback port can connect, stay silent, send a
//! forged CB_HELLO or an ERROR with any text. None of it is the server's
//! word, and a flood of it must not flood the terminal: the first incident
//! from an address is reported at once, later ones from it are counted and
//! reported once per period ("12 unauthenticated connections to the
//! callback port from 10.0.0.7 in the last minute; refused"). Beyond
//! [`MAX_ADDRESSES`] addresses in a period the rest share one line.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The reporting period.
pub const PERIOD: Duration = Duration::from_secs(60);

/// Addresses reported one by one in a period; more share one line.
pub const MAX_ADDRESSES: usize = 16;

/// Distinct addresses counted in the shared line (memory bound).
const MAX_OTHERS: usize = 65_536;

/// One line to show.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Report {
    /// The first incident from this address in a period.
    First {
        /// The peer's address.
        ip: IpAddr,
        /// What it did (already escaped).
        what: String,
    },
    /// The incidents from this address after the first, over the period.
    Summary {
        /// The peer's address.
        ip: IpAddr,
        /// How many connections.
        count: u64,
        /// What the last one did (already escaped).
        last: String,
    },
    /// The incidents from addresses beyond [`MAX_ADDRESSES`] over the period.
    Others {
        /// How many connections.
        count: u64,
        /// From how many addresses (at most 65 536 are told apart).
        addresses: usize,
    },
}

impl Report {
    /// The line for a person.
    pub fn text(&self) -> String {
        let period = period_text();
        match self {
            Report::First { ip, what } => format!(
                "refused an unauthenticated connection to the callback port from {ip} ({what}); \
                 it is not the server. More from {ip} are counted and reported once a {period}"
            ),
            Report::Summary { ip, count, last } => format!(
                "{count} unauthenticated connection{s} to the callback port from {ip} in the \
                 last {period}; refused (the last: {last})",
                s = plural(*count)
            ),
            Report::Others { count, addresses } => format!(
                "{count} unauthenticated connection{s} to the callback port from {addresses} \
                 other address{es} in the last {period}; refused",
                s = plural(*count),
                es = if *addresses == 1 { "" } else { "es" }
            ),
        }
    }

    /// The line for `--json`.
    pub fn json(&self) -> serde_json::Value {
        let period_s = PERIOD.as_secs();
        match self {
            Report::First { ip, what } => serde_json::json!({"event": "unauthenticated_peer",
                "peer": ip.to_string(), "connections": 1, "first": true, "what": what}),
            Report::Summary { ip, count, last } => serde_json::json!({
                "event": "unauthenticated_peer", "peer": ip.to_string(), "connections": count,
                "first": false, "period_s": period_s, "what": last}),
            Report::Others { count, addresses } => serde_json::json!({
                "event": "unauthenticated_peer", "peer": null, "addresses": addresses,
                "connections": count, "first": false, "period_s": period_s}),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn period_text() -> String {
    if PERIOD == Duration::from_secs(60) {
        "minute".to_owned()
    } else {
        format!("{} s", PERIOD.as_secs())
    }
}

#[derive(Debug)]
struct Tally {
    since: Instant,
    count: u64,
    last: String,
}

#[derive(Debug, Default)]
struct OthersTally {
    since: Option<Instant>,
    count: u64,
    addresses: HashSet<IpAddr>,
}

/// The incidents of the current periods, by address.
#[derive(Debug, Default)]
pub struct Strangers {
    peers: HashMap<IpAddr, Tally>,
    others: OthersTally,
}

impl Strangers {
    /// Records an incident; returns the line to show now, if any.
    pub fn record(&mut self, now: Instant, ip: IpAddr, what: String) -> Option<Report> {
        if let Some(tally) = self.peers.get_mut(&ip) {
            tally.count += 1;
            tally.last = what;
            return None;
        }
        if self.peers.len() < MAX_ADDRESSES {
            self.peers.insert(
                ip,
                Tally {
                    since: now,
                    count: 0,
                    last: String::new(),
                },
            );
            return Some(Report::First { ip, what });
        }
        let others = &mut self.others;
        others.since.get_or_insert(now);
        others.count += 1;
        if others.addresses.len() < MAX_OTHERS {
            others.addresses.insert(ip);
        }
        None
    }

    /// The summaries of the periods that ended by `now`. An address quiet
    /// for a whole period is forgotten (its next incident is a first again).
    pub fn due(&mut self, now: Instant) -> Vec<Report> {
        let mut reports = Vec::new();
        let mut quiet = Vec::new();
        for (ip, tally) in &mut self.peers {
            if now.saturating_duration_since(tally.since) < PERIOD {
                continue;
            }
            if tally.count == 0 {
                quiet.push(*ip);
                continue;
            }
            reports.push(Report::Summary {
                ip: *ip,
                count: tally.count,
                last: std::mem::take(&mut tally.last),
            });
            tally.since = now;
            tally.count = 0;
        }
        for ip in quiet {
            self.peers.remove(&ip);
        }
        // One address after another, the shared line last.
        reports.sort_by_key(|r| match r {
            Report::Summary { ip, .. } | Report::First { ip, .. } => Some(*ip),
            Report::Others { .. } => None,
        });
        if let Some(since) = self.others.since
            && now.saturating_duration_since(since) >= PERIOD
        {
            reports.push(Report::Others {
                count: self.others.count,
                addresses: self.others.addresses.len(),
            });
            self.others = OthersTally::default();
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_flood_from_one_address_is_one_line_then_one_per_period() {
        let t0 = Instant::now();
        let mut s = Strangers::default();
        let first = s.record(t0, ip(7), "CB_HELLO proof is wrong".into());
        assert_eq!(
            first,
            Some(Report::First {
                ip: ip(7),
                what: "CB_HELLO proof is wrong".into()
            })
        );
        for i in 0..12 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(s.record(at, ip(7), format!("incident {i}")), None);
            assert!(s.due(at).is_empty());
        }
        let report = s.due(t0 + PERIOD);
        assert_eq!(
            report,
            vec![Report::Summary {
                ip: ip(7),
                count: 12,
                last: "incident 11".into()
            }]
        );
        assert_eq!(
            report[0].text(),
            "12 unauthenticated connections to the callback port from 10.0.0.7 in the last \
             minute; refused (the last: incident 11)"
        );
        // A quiet period: nothing to say, and the address is forgotten.
        assert!(s.due(t0 + 2 * PERIOD).is_empty());
        assert!(
            s.record(t0 + 2 * PERIOD, ip(7), "again".into()).is_some(),
            "a first again"
        );
    }

    #[test]
    fn many_addresses_share_one_line_beyond_the_limit() {
        let t0 = Instant::now();
        let mut s = Strangers::default();
        let mut firsts = 0;
        for _ in 0..3 {
            for last in 0..100u8 {
                if s.record(t0, ip(last), "silent".into()).is_some() {
                    firsts += 1;
                }
            }
        }
        assert_eq!(firsts, MAX_ADDRESSES);
        let reports = s.due(t0 + PERIOD);
        assert_eq!(reports.len(), MAX_ADDRESSES + 1);
        let others = reports.last().unwrap();
        assert_eq!(
            *others,
            Report::Others {
                count: 3 * (100 - MAX_ADDRESSES as u64),
                addresses: 100 - MAX_ADDRESSES
            }
        );
        assert!(
            others.text().starts_with("252 unauthenticated connections"),
            "{}",
            others.text()
        );
        assert_eq!(others.json()["addresses"], 84);
    }
}
