//! What a case testing a server gets: the target, fresh connections, the
//! suite's client engine (login, ADVERTISE, callback listener, handshake)
//! and the notification trigger.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, DEFAULT_ITERATION_CAP, MIN_ITERATIONS, client_proof,
    prepare_password, prepare_username, server_signature, session_key, verify_mac,
};
use faxnotify_core::wire::{
    CallbackState, Caps, ErrorCode, Frame, FrameType, Login, LoginChallenge, LoginOk,
    PROTOCOL_VERSION, ServerHello,
};

use super::case::{Fail, SoftChecks, Verdict};
use super::config::{ServerTarget, Timeouts};
use super::peer::conn::{FrameConn, Got};
use super::peer::listener::{AcceptTls, DeadPort, Listener};
use super::peer::log::CaseLog;
use super::peer::rng::SuiteRng;
use super::peer::session::{Callback, Session};
use super::peer::tls::SuiteTlsClient;

/// PBKDF2 results by (prepared password, salt, iterations): the suite logs in
/// dozens of times and derives each key once.
pub(crate) type SecretsCache = HashMap<(String, Vec<u8>, u32), ClientSecrets>;

/// How a login is performed. Start from [`ServerCtx::plan`].
#[derive(Clone, Debug)]
pub struct LoginPlan {
    /// The user name (prepared with UsernameCaseMapped by [`ServerCtx::plan`]).
    pub user: String,
    /// The password (as typed; prepared before use).
    pub password: String,
    /// LOGIN.version.
    pub version: u16,
    /// LOGIN.caps.
    pub caps: Caps,
    /// LOGIN.resume_session.
    pub resume_session: u64,
}

/// The context of one case against a server under test.
pub struct ServerCtx<'a> {
    pub(crate) target: &'a ServerTarget,
    /// The suite's timeouts.
    pub t: Timeouts,
    /// The case's log.
    pub log: CaseLog,
    pub(crate) rng: &'a mut SuiteRng,
    pub(crate) cache: &'a mut SecretsCache,
    pub(crate) case_id: &'static str,
    pub(crate) soft: SoftChecks,
    pub(crate) tls: Option<&'a SuiteTlsClient>,
    marks: u32,
}

impl std::fmt::Debug for ServerCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCtx")
            .field("timeouts", &self.t)
            .finish_non_exhaustive()
    }
}

impl<'a> ServerCtx<'a> {
    pub(crate) fn new(
        target: &'a ServerTarget,
        t: Timeouts,
        log: CaseLog,
        rng: &'a mut SuiteRng,
        cache: &'a mut SecretsCache,
        case_id: &'static str,
        tls: Option<&'a SuiteTlsClient>,
    ) -> Self {
        Self {
            tls,
            target,
            t,
            log,
            rng,
            cache,
            case_id,
            soft: SoftChecks::default(),
            marks: 0,
        }
    }

    /// A check the case can go on after: with `--keep-going` a failure is
    /// noted (reported with the case's other deviations) and `Ok` returned.
    pub fn soft(&mut self, verdict: Verdict) -> Verdict {
        self.soft.check(&self.log, verdict)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.target.addr
    }

    /// 32 fresh random bytes.
    pub fn nonce(&mut self) -> [u8; 32] {
        self.rng.nonce()
    }

    /// A random non-zero u64.
    pub fn random_u64(&mut self) -> u64 {
        self.rng.nonzero_u64()
    }

    /// A new control connection (nothing read yet), over TLS when the
    /// suite runs with `--tls`.
    pub fn connect(&mut self) -> Result<FrameConn, Fail> {
        let mut conn = self.connect_plain()?;
        if let Some(tls) = self.tls {
            conn.start_tls_client(tls).map_err(|reason| {
                Fail::failed(
                    "a TLS 1.3 handshake with the server [T-1] [T-4]",
                    format!("a failed handshake: {reason}"),
                )
            })?;
        }
        Ok(conn)
    }

    /// A new TCP connection to the server without TLS, even under `--tls`.
    pub fn connect_plain(&mut self) -> Result<FrameConn, Fail> {
        FrameConn::connect(self.target.addr, "control", &self.log, self.t.expect)
    }

    /// The suite's TLS client settings, under `--tls`.
    pub fn tls(&self) -> Option<&SuiteTlsClient> {
        self.tls
    }

    /// Fails with a skip unless the suite runs with `--tls`.
    pub fn need_tls(&self) -> Result<&SuiteTlsClient, Fail> {
        self.tls
            .ok_or_else(|| Fail::skipped("a case about FNP/1 over TLS; run the suite with --tls"))
    }

    /// A new control connection and the server's SERVER_HELLO, its first
    /// frame. A connection refused with LIMIT_EXCEEDED (the server's
    /// limiter, tripped by the suite's own failing cases) is retried for a
    /// while before it counts as a failure.
    pub fn connect_hello(&mut self) -> Result<(FrameConn, ServerHello<'static>), Fail> {
        let give_up = Instant::now() + self.t.max_timer_wait;
        loop {
            let mut conn = match self.connect() {
                // Over TLS a limiter refusal is a close before the
                // handshake [T-10].
                Err(fail) if is_refused_handshake(&fail) && Instant::now() < give_up => {
                    self.backoff();
                    continue;
                }
                other => other?,
            };
            match expect_hello(&mut conn) {
                Err(fail) if is_limit(&fail) && Instant::now() < give_up => self.backoff(),
                other => return other.map(|hello| (conn, hello)),
            }
        }
    }

    /// The default login: the tester's user, version 1, BACKCHANNEL offered, new session.
    pub fn plan(&self) -> Result<LoginPlan, Fail> {
        self.plan_for(&self.target.user, &self.target.password)
    }

    /// A login for another user.
    pub fn plan_for(&self, user: &str, password: &str) -> Result<LoginPlan, Fail> {
        let prepared = prepare_username(user).map_err(|e| {
            Fail::skipped(format!(
                "the user name {user:?} is refused by RFC 8265: {e}"
            ))
        })?;
        Ok(LoginPlan {
            user: prepared,
            password: password.to_owned(),
            version: PROTOCOL_VERSION,
            caps: Caps::BACKCHANNEL,
            resume_session: 0,
        })
    }

    /// The second user, or a skip saying it is needed.
    pub fn second_plan(&self) -> Result<LoginPlan, Fail> {
        let (user, password) = self
            .target
            .second_user
            .as_ref()
            .ok_or_else(|| Fail::skipped("needs a second user (--user2 NAME:PASSWORD)"))?;
        self.plan_for(user, password)
    }

    /// Logs in with the default plan.
    pub fn login(&mut self) -> Result<Session, Fail> {
        let plan = self.plan()?;
        self.login_with(&plan)
    }

    /// Logs in on a new connection (retrying a LIMIT_EXCEEDED refusal, see
    /// [`connect_hello`](Self::connect_hello)).
    pub fn login_with(&mut self, plan: &LoginPlan) -> Result<Session, Fail> {
        let give_up = Instant::now() + self.t.max_timer_wait;
        loop {
            let (conn, hello) = self.connect_hello()?;
            match self.login_on(conn, hello, plan) {
                Err(fail) if is_limit(&fail) && Instant::now() < give_up => self.backoff(),
                other => return other,
            }
        }
    }

    fn backoff(&mut self) {
        self.log
            .line("server refused the login with LIMIT_EXCEEDED ([A-5] limiter); retrying in 2 s");
        std::thread::sleep(Duration::from_secs(2));
    }

    /// Sends LOGIN on `conn` (after SERVER_HELLO) and completes the login,
    /// verifying LOGIN_OK.server_signature.
    pub fn login_on(
        &mut self,
        mut conn: FrameConn,
        hello: ServerHello<'static>,
        plan: &LoginPlan,
    ) -> Result<Session, Fail> {
        let login = Login {
            version: plan.version,
            user: plan.user.clone().into(),
            client_nonce: self.rng.nonce(),
            caps: plan.caps,
            resume_session: plan.resume_session,
        };
        conn.send(&Frame::Login(login.clone()))?;
        let challenge = expect_challenge(&mut conn)?;
        let (auth, secrets) = self.secrets(&hello, &login, &challenge, &plan.password)?;
        let auth = conn.bind(auth);
        conn.send(&Frame::LoginProof {
            proof: client_proof(&secrets, &auth),
        })?;
        let ok = conn.expect("LOGIN_OK after a valid LOGIN_PROOF [A-1]", |f| match f {
            Frame::LoginOk(ok) => Some(ok.clone()),
            _ => None,
        })?;
        check_signature(&secrets, &auth, &ok)?;
        conn.set_lease(Duration::from_millis(u64::from(ok.lease_ms)));
        // CALLBACK_STATUS may come at any time after ADVERTISE; cases that
        // care wait for it with `Session::expect_status`.
        conn.tolerate(FrameType::CallbackStatus);
        Ok(Session {
            control: conn,
            key: session_key(&secrets.client_key, &auth),
            hello,
            login,
            challenge,
            ok,
            auth,
            ended: false,
        })
    }

    /// The AuthMessage and the client keys for a challenge (PBKDF2 cached).
    /// Over TLS the AuthMessage still needs the connection's channel
    /// binding: [`FrameConn::bind`].
    pub fn secrets(
        &mut self,
        hello: &ServerHello<'_>,
        login: &Login<'_>,
        challenge: &LoginChallenge<'_>,
        password: &str,
    ) -> Result<(AuthMessage, ClientSecrets), Fail> {
        let auth = AuthMessage::from_frames(
            &Frame::ServerHello(hello.clone()),
            &Frame::Login(login.clone()),
            &Frame::LoginChallenge(challenge.clone()),
        )
        .map_err(|e| Fail::failed("an encodable AuthMessage", e.to_string()))?;
        // Checked before any work: a server under test chooses the count,
        // and 4 294 967 295 PBKDF2 iterations would hold the run for hours.
        if !(MIN_ITERATIONS..=DEFAULT_ITERATION_CAP).contains(&challenge.iterations) {
            return Err(Fail::failed(
                format!(
                    "LOGIN_CHALLENGE iterations within {MIN_ITERATIONS}..={DEFAULT_ITERATION_CAP}, which clients accept [A-4]"
                ),
                format!("iterations={}", challenge.iterations),
            ));
        }
        let prepared = prepare_password(password)
            .map_err(|e| Fail::skipped(format!("the password is refused by RFC 8265: {e}")))?;
        let key = (prepared, challenge.salt.to_vec(), challenge.iterations);
        let secrets = self
            .cache
            .entry(key)
            .or_insert_with_key(|(pw, salt, iterations)| {
                ClientSecrets::derive(pw, salt, *iterations)
            })
            .clone();
        Ok((auth, secrets))
    }

    /// A callback listener on the IP address the server sees for `session`'s
    /// control connection (where [C-1] says it must dial).
    pub fn listener(&self, session: &Session) -> Result<Listener, Fail> {
        self.listener_on(session.control.local_addr().ip(), 0)
    }

    /// A callback listener on `ip`:`port`.
    /// Under `--tls` the suite runs the TLS client handshake on each
    /// callback the server dials [T-2].
    pub fn listener_on(&self, ip: IpAddr, port: u16) -> Result<Listener, Fail> {
        let mut listener = Listener::bind(ip, port, "callback", &self.log, self.t.expect)?;
        listener.set_tls(self.tls.cloned().map(AcceptTls::Client));
        Ok(listener)
    }

    /// A port on `ip` where nothing listens yet; [`ServerCtx::listen_on`]
    /// later listens on the same port.
    pub fn dead_port(&self, ip: IpAddr) -> Result<DeadPort, Fail> {
        let dead = DeadPort::bind(ip)
            .map_err(|e| Fail::failed(format!("a free port on {ip}"), e.to_string()))?;
        self.log
            .line(format_args!("port {} on {ip} has no listener", dead.port()));
        Ok(dead)
    }

    /// Listens on the port [`ServerCtx::dead_port`] held.
    pub fn listen_on(&self, dead: DeadPort) -> Result<Listener, Fail> {
        let mut listener = Listener::on_dead_port(dead, "callback", &self.log, self.t.expect)?;
        listener.set_tls(self.tls.cloned().map(AcceptTls::Client));
        Ok(listener)
    }

    /// Waits for the server to dial `listener` (first dial: the connect and
    /// the expect wait).
    pub fn accept_callback(&self, listener: &mut Listener, why: &str) -> Result<FrameConn, Fail> {
        listener.accept_within(
            self.t.expect + self.t.margin,
            &format!("a callback connection from the server {why}"),
        )
    }

    /// Login, a callback listener, ADVERTISE of its port, the server's dial,
    /// the callback handshake with last_seq 0, and CALLBACK_STATUS reachable.
    pub fn establish(&mut self) -> Result<(Session, Listener, Callback), Fail> {
        let session = self.login()?;
        self.establish_on(session, 0)
    }

    /// [`establish`](Self::establish) for a session already logged in.
    pub fn establish_on(
        &mut self,
        mut session: Session,
        last_seq: u64,
    ) -> Result<(Session, Listener, Callback), Fail> {
        let mut listener = self.listener(&session)?;
        session.advertise_port(listener.port())?;
        let conn = self.accept_callback(&mut listener, "after ADVERTISE_OK [C-1]")?;
        let nonce = self.rng.nonce();
        let callback = session.cb_handshake(conn, nonce, last_seq)?;
        session.expect_status(
            CallbackState::Reachable,
            "after the first callback handshake succeeded [B-5]",
        )?;
        Ok((session, listener, callback))
    }

    /// A fresh, unique notification text for this case.
    pub fn mark(&mut self) -> String {
        self.marks += 1;
        let tag = self.rng.nonzero_u64() & 0xffff_ffff;
        format!(
            "fnp1 conformance {} #{} {tag:08x}",
            self.case_id, self.marks
        )
    }

    /// Whether a notification trigger was given.
    pub fn has_trigger(&self) -> bool {
        self.target.trigger.is_some()
    }

    /// Fails with a skip unless a trigger was given (call before anything else).
    pub fn need_trigger(&self) -> Result<(), Fail> {
        if self.has_trigger() {
            Ok(())
        } else {
            Err(Fail::skipped(
                "needs a way to make the server send notifications (--notify-command)",
            ))
        }
    }

    /// Makes the server queue SERVER_MESSAGE `text` for `user` (prepared name).
    pub fn notify_user(&mut self, user: &str, text: &str) -> Result<(), Fail> {
        let trigger = self.target.trigger.as_ref().ok_or_else(|| {
            Fail::skipped("needs a way to make the server send notifications (--notify-command)")
        })?;
        self.log
            .line(format_args!("trigger: notify {user} {text:?}"));
        trigger
            .notify(user, text)
            .map_err(|e| Fail::failed("the notify trigger to succeed", e))
    }

    /// Makes the server queue a fresh SERVER_MESSAGE for the tester's user; returns its text.
    pub fn notify(&mut self) -> Result<String, Fail> {
        let text = self.mark();
        let user = self.plan()?.user;
        self.notify_user(&user, &text)?;
        Ok(text)
    }

    /// Checks that `session` has ended: a resume of it gets UNKNOWN_SESSION [C-6].
    ///
    /// A LOGIN_OK naming the resumed id means the session was still alive: a
    /// failure of what the case tests. A LOGIN_OK naming *another* id means
    /// the server ignored resume_session and made a new session — a failure
    /// of [C-6], which this check relies on, so the case is blocked (or, for
    /// a case testing [C-6] itself, fails; see [`Fail::needs`]).
    pub fn expect_session_gone(&mut self, session_id: u64, why: &str) -> Result<(), Fail> {
        let expected = format!(
            "ERROR UNKNOWN_SESSION for a resume of session {session_id:#018x}, which {why}"
        );
        let mut plan = self.plan()?;
        plan.resume_session = session_id;
        let (mut conn, hello) = self.connect_hello()?;
        match self.login_on_raw(&mut conn, &hello, &plan)? {
            Got::Frame(Frame::Error(e)) if e.code == ErrorCode::UnknownSession => Ok(()),
            Got::Frame(Frame::LoginOk(ok)) => {
                // End the session the login made or revived, so it does not linger.
                let _ = conn.send(&Frame::Logout);
                if ok.session_id == session_id {
                    Err(Fail::failed(
                        expected,
                        format!("{} (the session was still alive)", Frame::LoginOk(ok)),
                    ))
                } else {
                    Err(Fail::failed(
                        format!("{expected} [C-6]"),
                        format!(
                            "{}: a new session; the server ignored resume_session",
                            Frame::LoginOk(ok)
                        ),
                    )
                    .needs("C-6"))
                }
            }
            other => Err(Fail::failed(expected, other.to_string())),
        }
    }

    /// Runs a login up to the server's answer to LOGIN_PROOF and returns
    /// that answer unjudged (for resume checks).
    pub fn login_on_raw(
        &mut self,
        conn: &mut FrameConn,
        hello: &ServerHello<'static>,
        plan: &LoginPlan,
    ) -> Result<Got, Fail> {
        let login = Login {
            version: plan.version,
            user: plan.user.clone().into(),
            client_nonce: self.rng.nonce(),
            caps: plan.caps,
            resume_session: plan.resume_session,
        };
        conn.send(&Frame::Login(login.clone()))?;
        let challenge = expect_challenge(conn)?;
        let (auth, secrets) = self.secrets(hello, &login, &challenge, &plan.password)?;
        let auth = conn.bind(auth);
        conn.send(&Frame::LoginProof {
            proof: client_proof(&secrets, &auth),
        })?;
        Ok(conn.next_relevant(conn.wait()))
    }
}

fn is_refused_handshake(fail: &Fail) -> bool {
    matches!(fail, Fail::Failed { got, .. } if got.starts_with("a failed handshake")
        && (got.contains("closed the connection") || got.contains("reset by peer")))
}

fn is_limit(fail: &Fail) -> bool {
    matches!(fail, Fail::Failed { got, .. } if got.starts_with("ERROR") && got.contains("LIMIT_EXCEEDED"))
}

/// The first frame must be SERVER_HELLO.
pub(crate) fn expect_hello(conn: &mut FrameConn) -> Result<ServerHello<'static>, Fail> {
    conn.expect("SERVER_HELLO as the server's first frame", |f| match f {
        Frame::ServerHello(h) => Some(h.clone()),
        _ => None,
    })
}

/// LOGIN_CHALLENGE in reply to LOGIN.
pub(crate) fn expect_challenge(conn: &mut FrameConn) -> Result<LoginChallenge<'static>, Fail> {
    conn.expect("LOGIN_CHALLENGE in reply to LOGIN", |f| match f {
        Frame::LoginChallenge(c) => Some(c.clone()),
        _ => None,
    })
}

/// LOGIN_OK.server_signature must be HMAC(ServerKey, AuthMessage || LOGIN_OK prefix).
pub(crate) fn check_signature(
    secrets: &ClientSecrets,
    auth: &AuthMessage,
    ok: &LoginOk,
) -> Result<(), Fail> {
    let want = server_signature(&secrets.server_key, auth, ok);
    if verify_mac(&want, &ok.server_signature) {
        Ok(())
    } else {
        Err(Fail::failed(
            "LOGIN_OK.server_signature = HMAC(ServerKey, AuthMessage || session_id..caps) [A-2]",
            format!(
                "a signature that does not verify: {}",
                Frame::LoginOk(ok.clone())
            ),
        ))
    }
}
