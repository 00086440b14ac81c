//! Dialling callbacks [B-5]: exponential backoff with jitter from the
//! injected RNG, at most `max_dials_per_ip` connects in progress per
//! destination IP — except that a user with none in progress there always
//! gets one, so one user's black-holed callbacks cannot hold back another
//! user behind the same address [D-15] (later ones wait in a FIFO per IP) —
//! and the CALLBACK_STATUS that a first failure sends.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Server;
use super::config::BackoffConfig;
use super::conn::Conn;
use super::outbox::Output;
use super::session::{DeliveryPath, Dial};
use crate::rng::CoreRng;
use crate::wire::CallbackState;
use crate::{ConnId, SessionId};

/// The delay before the next dial after `failures` failures in a row
/// (`failures >= 1`): `initial · 2^(failures-1)`, at most `max`, scaled by
/// a random factor within ± `jitter_percent`.
pub(crate) fn backoff_delay(config: &BackoffConfig, failures: u32, rng: &mut CoreRng) -> Duration {
    let initial = config.initial.as_millis().min(u128::from(u64::MAX)) as u64;
    let max = config.max.as_millis().min(u128::from(u64::MAX)) as u64;
    let doublings = failures.saturating_sub(1).min(63);
    let base = initial.saturating_mul(1u64 << doublings).min(max);
    Duration::from_millis(rng.jitter_ms(base, u64::from(config.jitter_percent)))
}

impl Server {
    /// Dials the session's callback now, or queues it behind the
    /// destination's dial slots. Does nothing unless the session is attached,
    /// advertised a port, has no working callback and no dial under way.
    pub(super) fn start_dial(&mut self, now: Instant, sid: SessionId) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        let s = &mut self.sessions[key];
        if s.control.is_none()
            || matches!(s.path, DeliveryPath::Callback(_))
            || matches!(s.dial, Dial::Waiting | Dial::InProgress(_))
        {
            return;
        }
        let Some(endpoint) = s.callback_endpoint() else {
            return;
        };
        let ip = endpoint.ip();
        if !self
            .ips
            .may_dial(ip, s.user(), self.config.max_dials_per_ip)
        {
            tracing::debug!(session = %sid, %endpoint, "dial waits for a slot");
            self.ips.wait_for_dial(ip, sid);
            s.dial = Dial::Waiting;
            return;
        }
        let conn = self.conns.allocate();
        self.ips.add_dial(ip, conn, Arc::clone(s.user()));
        s.dial = Dial::InProgress(conn);
        tracing::debug!(session = %sid, %conn, %endpoint, "dialling callback");
        let deadline = now + self.config.callback_handshake_timeout;
        self.conns
            .insert(conn, Conn::callback(sid, endpoint, deadline));
        self.out.push(Output::Connect {
            conn,
            addr: endpoint,
        });
        self.arm_conn(conn);
    }

    /// The connect `conn` to `ip` finished (either way): waiting sessions
    /// whose user may now dial go, in the order they came.
    pub(super) fn release_dial_slot(&mut self, now: Instant, ip: IpAddr, conn: ConnId) {
        if !self.ips.end_dial(ip, conn) {
            return;
        }
        let mut at = 0;
        while let Some(next) = self.ips.waiting(ip, at) {
            let user = self
                .sessions
                .get(next)
                .filter(|s| s.dial == Dial::Waiting)
                .map(|s| Arc::clone(s.user()));
            let Some(user) = user else {
                // Ended or moved on: not waiting any more.
                self.ips.take_waiting(ip, at);
                continue;
            };
            if !self.ips.may_dial(ip, &user, self.config.max_dials_per_ip) {
                at += 1;
                continue;
            }
            self.ips.take_waiting(ip, at);
            if let Some(s) = self.sessions.get_mut(next) {
                s.dial = Dial::Idle;
            }
            self.start_dial(now, next);
        }
        self.ips.release(&ip, now);
    }

    /// A dial or callback handshake failed: retry after a backoff; the first
    /// failure of a path announces it to the client — `backchannel` (and
    /// delivery moves to the control connection) when negotiated, else
    /// `unreachable` [B-5] [D-8]. The detail never says refused or timed out.
    pub(super) fn dial_failed(&mut self, now: Instant, sid: SessionId) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        let s = &mut self.sessions[key];
        s.dial_failures = s.dial_failures.saturating_add(1);
        let delay = backoff_delay(&self.config.dial_backoff, s.dial_failures, &mut self.rng);
        s.dial = Dial::Backoff(now + delay);
        tracing::debug!(session = %sid, failures = s.dial_failures, ?delay, "callback failed; backing off");
        if s.control.is_none()
            || matches!(
                s.reported,
                Some(CallbackState::Unreachable | CallbackState::Backchannel)
            )
        {
            return;
        }
        let port = s.advertised.map_or(0, |a| a.port);
        if s.backchannel_negotiated() {
            let detail =
                format!("callback to port {port} failed; delivering over the control connection");
            self.use_backchannel(now, sid, &detail);
        } else {
            let detail = format!(
                "callback to port {port} failed; notifications are queued until it connects"
            );
            self.report(now, sid, CallbackState::Unreachable, &detail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackoffConfig {
        BackoffConfig::default()
    }

    #[test]
    fn doubles_from_half_a_second_up_to_thirty() {
        let cfg = BackoffConfig {
            jitter_percent: 0,
            ..config()
        };
        let mut rng = CoreRng::from_seed([0; 32]);
        let delays: Vec<u64> = (1..=10)
            .map(|n| backoff_delay(&cfg, n, &mut rng).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            vec![
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
        assert_eq!(
            backoff_delay(&cfg, u32::MAX, &mut rng),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn jitter_is_within_twenty_percent_and_spreads() {
        let cfg = config();
        let mut rng = CoreRng::from_seed([5; 32]);
        for failures in 1..=8u32 {
            let base = (500u64 << (failures - 1)).min(30_000);
            let (lo, hi) = (base * 80 / 100, base * 120 / 100);
            let samples: Vec<u64> = (0..200)
                .map(|_| backoff_delay(&cfg, failures, &mut rng).as_millis() as u64)
                .collect();
            assert!(
                samples.iter().all(|d| (lo..=hi).contains(d)),
                "{failures}: {samples:?}"
            );
            let distinct: std::collections::HashSet<_> = samples.iter().collect();
            assert!(distinct.len() > 20, "jitter should vary the delay");
        }
    }

    #[test]
    fn the_seed_decides_the_jitter() {
        let cfg = config();
        let mut a = CoreRng::from_seed([1; 32]);
        let mut b = CoreRng::from_seed([1; 32]);
        for n in 1..10 {
            assert_eq!(
                backoff_delay(&cfg, n, &mut a),
                backoff_delay(&cfg, n, &mut b)
            );
        }
    }
}
