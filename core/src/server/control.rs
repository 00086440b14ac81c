//! A control connection after LOGIN_OK: ADVERTISE exactly once [C-2] [C-3]
//! [D-6] [D-7], then PING/PONG, LOGOUT, ACK on the backchannel [D-1], and
//! lease renewal by every frame [C-5].

use std::net::SocketAddr;
use std::time::Instant;

use super::Server;
use super::conn::{ConnKind, ControlPhase};
use super::events::{CloseReason, Event, PeerError};
use super::session::DeliveryPath;
use crate::wire::{Advertise, CallbackState, CallbackStatus, ErrorCode, Frame, PolicyKind};
use crate::{ConnId, SessionId};

/// [C-2] and [D-6]: why an advertisement is refused with BAD_PORT.
fn check_advertise(a: &Advertise, backchannel: bool) -> Result<(), String> {
    if a.port != 0 && a.port < 1024 {
        return Err(format!("port {} is below 1024", a.port));
    }
    if a.port == 0 && !backchannel {
        return Err("port 0 needs the BACKCHANNEL capability".to_owned());
    }
    match a.policy {
        PolicyKind::Range => {
            if !(1024 <= a.range_lo && a.range_lo <= a.port && a.port <= a.range_hi) {
                return Err(format!(
                    "port {} is not within the range {}-{} (1024 or above)",
                    a.port, a.range_lo, a.range_hi
                ));
            }
        }
        _ => {
            if a.range_lo != 0 || a.range_hi != 0 {
                return Err(format!(
                    "a range ({}-{}) is only allowed with the range policy",
                    a.range_lo, a.range_hi
                ));
            }
        }
    }
    Ok(())
}

impl Server {
    /// A frame on a control connection after LOGIN_OK.
    pub(super) fn on_control_frame(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: SessionId,
        frame: Frame<'_>,
    ) {
        let Some(ConnKind::Control(ctl)) = self.conns.get(conn).map(|c| &c.kind) else {
            return;
        };
        let established = matches!(ctl.phase, ControlPhase::Established(_));
        let carried_backchannel = ctl.carried_backchannel;
        // [C-5]: every frame on the control connection renews the lease.
        let lease = self.config.lease;
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        s.lease_deadline = now + lease;
        s.lease_rechecked = false;
        let on_backchannel = s.path == DeliveryPath::Backchannel(conn);

        match frame {
            Frame::Error(e) => self.abort_conn(
                now,
                conn,
                PeerError::Received {
                    code: e.code,
                    message: e.message.into_owned(),
                },
            ),
            Frame::Advertise(a) if !established => self.on_advertise(now, conn, sid, a),
            Frame::Advertise(_) => self.abort_conn(
                now,
                conn,
                Self::violation(
                    ErrorCode::UnexpectedFrame,
                    "ADVERTISE was already received on this connection [C-3]",
                ),
            ),
            other if !established => self.abort_conn(
                now,
                conn,
                Self::violation(
                    ErrorCode::UnexpectedFrame,
                    format!(
                        "expected ADVERTISE right after LOGIN_OK, got {} [C-3]",
                        other.frame_type()
                    ),
                ),
            ),
            Frame::Ping { nonce } => self.send(now, conn, &Frame::Pong { nonce }),
            Frame::Pong { .. } => {} // the server pings only callbacks; ignore [B-7]
            Frame::Logout => self.end_session_with(now, sid, CloseReason::Logout),
            Frame::Ack { seq } if on_backchannel || carried_backchannel => {
                // [D-1]: late ACKs for the backchannel are processed too.
                self.on_ack(now, sid, conn, seq);
            }
            Frame::Ack { .. } => self.abort_conn(
                now,
                conn,
                Self::violation(
                    ErrorCode::UnexpectedFrame,
                    "ACK on a control connection that carried no notifications",
                ),
            ),
            other => self.abort_conn(
                now,
                conn,
                Self::violation(
                    ErrorCode::UnexpectedFrame,
                    format!(
                        "{} is not expected from a client on a control connection",
                        other.frame_type()
                    ),
                ),
            ),
        }
    }

    fn on_advertise(&mut self, now: Instant, conn: ConnId, sid: SessionId, a: Advertise) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        if let Err(message) = check_advertise(&a, self.sessions[key].backchannel_negotiated()) {
            self.abort_conn(now, conn, Self::violation(ErrorCode::BadPort, message));
            return;
        }
        let s = &mut self.sessions[key];
        // [C-1]: the control peer's IP (IPv4-mapped already made IPv4), the advertised port.
        let callback = SocketAddr::new(s.peer.ip(), a.port);
        s.advertised = Some(a);
        // [C-4]: an endpoint is held only where a handshake succeeded; a new
        // advertisement elsewhere lets go of the old one.
        if s.held_endpoint()
            .is_some_and(|held| a.port == 0 || held != callback)
        {
            self.sessions.let_go_endpoint(key);
        }
        self.send(now, conn, &Frame::AdvertiseOk { callback });
        if let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) {
            ctl.phase = ControlPhase::Established(sid);
            ctl.handshake_deadline = None; // [C-9] reached ADVERTISE_OK
        }
        if a.port == 0 {
            // [D-7]: backchannel at once.
            self.use_backchannel(
                now,
                sid,
                "no callback port advertised; delivering over the control connection",
            );
        } else {
            let s = &mut self.sessions[key];
            s.dial_failures = 0;
            self.start_dial(now, sid);
        }
    }

    /// Moves delivery to the control connection, announced first with
    /// CALLBACK_STATUS backchannel, then resends everything unacknowledged [B-4].
    pub(super) fn use_backchannel(&mut self, now: Instant, sid: SessionId, detail: &str) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Some(control) = s.control else {
            return;
        };
        s.path = DeliveryPath::Backchannel(control);
        s.delivery.rewind();
        if let Some(ConnKind::Control(ctl)) = self.conns.get_mut(control).map(|c| &mut c.kind) {
            ctl.carried_backchannel = true;
        }
        self.report(now, sid, CallbackState::Backchannel, detail);
        self.pump(now, sid);
    }

    /// Sends CALLBACK_STATUS on the control connection and tells the application.
    pub(super) fn report(
        &mut self,
        now: Instant,
        sid: SessionId,
        state: CallbackState,
        detail: &str,
    ) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Some(control) = s.control else {
            return;
        };
        s.reported = Some(state);
        let endpoint = s.callback_endpoint();
        self.send(
            now,
            control,
            &Frame::CallbackStatus(CallbackStatus {
                state,
                detail: detail.into(),
            }),
        );
        self.out.event(Event::CallbackStatus {
            session: sid,
            state,
            endpoint,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(port: u16, policy: PolicyKind, lo: u16, hi: u16) -> Advertise {
        Advertise {
            port,
            policy,
            range_lo: lo,
            range_hi: hi,
        }
    }

    #[test]
    fn advertise_rules() {
        use PolicyKind::*;
        // [C-2]
        assert!(check_advertise(&adv(1023, Fixed, 0, 0), true).is_err());
        assert!(check_advertise(&adv(1024, Fixed, 0, 0), true).is_ok());
        assert!(check_advertise(&adv(0, Dynamic, 0, 0), false).is_err());
        assert!(check_advertise(&adv(0, Dynamic, 0, 0), true).is_ok());
        assert!(check_advertise(&adv(6003, Range, 6000, 6010), false).is_ok());
        assert!(check_advertise(&adv(6011, Range, 6000, 6010), false).is_err());
        assert!(check_advertise(&adv(5999, Range, 6000, 6010), false).is_err());
        assert!(check_advertise(&adv(1000, Range, 1000, 1010), false).is_err());
        assert!(check_advertise(&adv(0, Range, 0, 0), true).is_err());
        // [D-6]
        assert!(check_advertise(&adv(6003, Dynamic, 6000, 0), false).is_err());
        assert!(check_advertise(&adv(6003, Fixed, 0, 6010), false).is_err());
    }
}
