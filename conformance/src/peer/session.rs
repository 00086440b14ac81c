//! A session the suite holds with a server under test: its control
//! connection, the login's keys, and the callback handshake as the listening
//! client performs it.

use std::net::SocketAddr;

use faxnotify_core::auth::{
    AuthMessage, SessionKey, cb_hello_proof_bound, cb_ready_proof_bound, verify_mac,
};
use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, CbHello, CbReady, Frame, FrameType, Login, LoginChallenge,
    LoginOk, Nonce, Notification, Notify, PolicyKind, ServerHello,
};

use super::conn::FrameConn;
use crate::case::Fail;

/// A logged-in session (after a verified LOGIN_OK).
#[derive(Debug)]
pub struct Session {
    /// The control connection.
    pub control: FrameConn,
    /// The server's greeting.
    pub hello: ServerHello<'static>,
    /// The LOGIN the suite sent.
    pub login: Login<'static>,
    /// The server's challenge.
    pub challenge: LoginChallenge<'static>,
    /// The server's LOGIN_OK (its signature verified).
    pub ok: LoginOk,
    /// The AuthMessage of this login.
    pub auth: AuthMessage,
    /// The session key both ends derived.
    pub key: SessionKey,
    /// Set once the session is known to have ended (no LOGOUT on drop).
    pub ended: bool,
}

/// One side of a completed callback handshake.
#[derive(Debug)]
pub struct Callback {
    /// The callback connection.
    pub conn: FrameConn,
    /// The suite's CB_CHALLENGE nonce.
    pub client_nonce: Nonce,
    /// The server's verified CB_HELLO.
    pub hello: CbHello,
}

impl Session {
    /// The session id.
    pub fn id(&self) -> u64 {
        self.ok.session_id
    }

    /// Whether BACKCHANNEL was negotiated (LOGIN_OK.caps).
    pub fn backchannel(&self) -> bool {
        self.ok
            .caps
            .contains(faxnotify_core::wire::Caps::BACKCHANNEL)
    }

    /// Sends ADVERTISE and waits for ADVERTISE_OK; returns the address it names.
    pub fn advertise(&mut self, advertise: Advertise) -> Result<SocketAddr, Fail> {
        self.control.send(&Frame::Advertise(advertise))?;
        self.control
            .expect("ADVERTISE_OK in reply to ADVERTISE [C-3]", |f| match f {
                Frame::AdvertiseOk { callback } => Some(*callback),
                _ => None,
            })
    }

    /// ADVERTISE of `port` with the dynamic policy.
    pub fn advertise_port(&mut self, port: u16) -> Result<SocketAddr, Fail> {
        self.advertise(Advertise {
            port,
            policy: PolicyKind::Dynamic,
            range_lo: 0,
            range_hi: 0,
        })
    }

    /// Waits on the control connection for CALLBACK_STATUS `state`.
    pub fn expect_status(&mut self, state: CallbackState, why: &str) -> Result<(), Fail> {
        self.control.intolerate(FrameType::CallbackStatus);
        let wait = self.control.wait() * 2;
        let result = self.control.expect_within(
            wait,
            &format!("CALLBACK_STATUS {state} {why}"),
            |f| match f {
                Frame::CallbackStatus(s) if s.state == state => Some(()),
                _ => None,
            },
        );
        self.control.tolerate(FrameType::CallbackStatus);
        result
    }

    /// Logs out: LOGOUT, then BYE logout and close [C-10].
    pub fn logout(mut self) -> Result<(), Fail> {
        self.ended = true;
        self.control.send(&Frame::Logout)?;
        self.control
            .expect("BYE logout after LOGOUT [C-10]", |f| match f {
                Frame::Bye {
                    reason: ByeReason::Logout,
                } => Some(()),
                _ => None,
            })?;
        self.control
            .expect_closed("the control connection to close after BYE [C-10]")
    }

    /// Sends CB_CHALLENGE with `client_nonce` on a callback connection the server dialled.
    pub fn cb_challenge(conn: &mut FrameConn, client_nonce: Nonce) -> Result<(), Fail> {
        conn.send(&Frame::CbChallenge { client_nonce })
    }

    /// Waits for CB_HELLO and verifies it belongs to this session [B-1].
    pub fn expect_cb_hello(
        &self,
        conn: &mut FrameConn,
        client_nonce: &Nonce,
    ) -> Result<CbHello, Fail> {
        let hello = conn.expect("CB_HELLO in reply to CB_CHALLENGE", |f| match f {
            Frame::CbHello(h) => Some(h.clone()),
            _ => None,
        })?;
        if hello.session_id != self.id() {
            return Err(Fail::failed(
                format!(
                    "CB_HELLO with session_id={:#018x} (this session)",
                    self.id()
                ),
                format!("CB_HELLO session_id={:#018x}", hello.session_id),
            ));
        }
        let binding = conn.binding();
        let want = cb_hello_proof_bound(
            &self.key,
            client_nonce,
            &hello.server_nonce,
            hello.session_id,
            binding.as_ref(),
        );
        if !verify_mac(&want, &hello.proof) {
            let expected = if binding.is_some() {
                "CB_HELLO.proof = HMAC(session_key, \"FNP/1 callback\" ... || cb) with this callback's channel binding [B-1] [T-7]"
            } else {
                "CB_HELLO.proof = HMAC(session_key, \"FNP/1 callback\" ...) [B-1]"
            };
            return Err(Fail::failed(
                expected,
                format!(
                    "a proof that does not verify: {}",
                    Frame::CbHello(hello.clone())
                ),
            ));
        }
        Ok(hello)
    }

    /// The CB_READY that completes a handshake with `last_seq` on `conn`
    /// (bound to its channel over TLS [T-7]).
    pub fn cb_ready(
        &self,
        conn: &FrameConn,
        client_nonce: &Nonce,
        hello: &CbHello,
        last_seq: u64,
    ) -> Frame<'static> {
        Frame::CbReady(CbReady {
            last_seq,
            proof: cb_ready_proof_bound(
                &self.key,
                client_nonce,
                &hello.server_nonce,
                self.id(),
                last_seq,
                conn.binding().as_ref(),
            ),
        })
    }

    /// Performs the whole callback handshake on a connection the server dialled.
    pub fn cb_handshake(
        &self,
        mut conn: FrameConn,
        client_nonce: Nonce,
        last_seq: u64,
    ) -> Result<Callback, Fail> {
        conn.follow_lease(&self.control);
        Self::cb_challenge(&mut conn, client_nonce)?;
        let hello = self.expect_cb_hello(&mut conn, &client_nonce)?;
        let ready = self.cb_ready(&conn, &client_nonce, &hello, last_seq);
        conn.send(&ready)?;
        Ok(Callback {
            conn,
            client_nonce,
            hello,
        })
    }
}

impl Drop for Session {
    /// Ends a session a case left open, so it does not linger (detached) and
    /// count against the server's per-user limits in later cases. Before
    /// ADVERTISE the LOGOUT is UNEXPECTED_FRAME [C-3], whose ERROR ends the
    /// session just as well [F-6].
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.control.send(&Frame::Logout);
        }
    }
}

/// Waits for a NOTIFY on `conn`.
pub fn expect_notify(conn: &mut FrameConn, expected: &str) -> Result<Notify<'static>, Fail> {
    conn.expect(expected, |f| match f {
        Frame::Notify(n) => Some(n.clone()),
        _ => None,
    })
}

/// Waits for a NOTIFY with exactly `seq` whose SERVER_MESSAGE text is `text`.
pub fn expect_message(conn: &mut FrameConn, seq: u64, text: &str, why: &str) -> Result<(), Fail> {
    let expected = format!("NOTIFY seq={seq} SERVER_MESSAGE {text:?} {why}");
    let n = expect_notify(conn, &expected)?;
    let got_text = message_text(&n);
    if n.seq != seq || got_text.as_deref() != Some(text) {
        return Err(Fail::failed(
            expected,
            format!(
                "{} (text {:?})",
                Frame::Notify(n.clone()),
                got_text.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// The text of a SERVER_MESSAGE notification.
pub fn message_text(n: &Notify<'_>) -> Option<String> {
    match Notification::decode(n.kind, &n.payload) {
        Notification::ServerMessage(m) => Some(m.text),
        _ => None,
    }
}
