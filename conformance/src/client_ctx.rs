//! What a case testing a client gets: the suite's server engine (greeting,
//! challenge, LOGIN_OK, dialling the callback, its handshake), the client
//! process, and the settings it starts with.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use faxnotify_core::auth::{
    AuthMessage, ChannelBinding, Credentials, SessionKey, cb_hello_proof_bound,
    cb_ready_proof_bound, recover_client_key, server_signature, session_key, verify_mac,
};
use faxnotify_core::wire::{
    Advertise, CallbackState, CallbackStatus, Caps, CbHello, Frame, Login, LoginChallenge, LoginOk,
    Nonce, Notify, PROTOCOL_VERSION, Role, ServerHello,
};

use super::case::{Fail, SoftChecks, Verdict};
use super::config::{ClientTarget, Timeouts};
use super::peer::conn::FrameConn;
use super::peer::listener::{AcceptTls, Listener};
use super::peer::log::CaseLog;
use super::peer::pki::{Presented, SuitePki};
use super::peer::process::{ClientProcess, Placeholders};
use super::peer::rng::SuiteRng;

/// The listen policy the suite writes into the client's settings file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `dynamic`.
    Dynamic,
    /// `range:LO-HI`.
    Range(u16, u16),
    /// `fixed:P`.
    Fixed(u16),
}

impl Listen {
    /// The policy's text form in the settings file.
    pub fn text(self) -> String {
        match self {
            Listen::Dynamic => "dynamic".to_owned(),
            Listen::Range(lo, hi) => format!("range:{lo}-{hi}"),
            Listen::Fixed(port) => format!("fixed:{port}"),
        }
    }
}

/// The client settings file the suite writes for `{settings_file}`: the
/// format of faxnotify's client (`faxnotify_settings::SettingsFile`).
pub fn settings_toml(server: SocketAddr, listen: Listen) -> String {
    format!(
        "# written by the FNP/1 conformance suite\nserver = \"{server}\"\n\n[network]\nlisten = \"{}\"\n",
        listen.text()
    )
}

/// How the suite's server answers a login. Start from [`ServeOpts::default`].
#[derive(Clone, Debug)]
pub struct ServeOpts {
    /// The SERVER_HELLO sent.
    pub hello: ServerHello<'static>,
    /// LOGIN_OK.lease_ms.
    pub lease_ms: u32,
    /// Sign a different SERVER_HELLO than the one sent (a downgrade by an
    /// attacker in the middle, which the signature must reveal ).
    pub signed_hello: Option<ServerHello<'static>>,
    /// Sign a different lease_ms than the one sent.
    pub signed_lease_ms: Option<u32>,
    /// Send a server_signature of zeros (a server without the user's keys).
    pub zero_signature: bool,
    /// Sign an AuthMessage bound to this channel binding instead of the
    /// control connection's own (a relay that terminates the client's TLS
    /// and logs in over its own connection to the real server [T-6]).
    pub signed_binding: Option<ChannelBinding>,
}

impl Default for ServeOpts {
    fn default() -> Self {
        Self {
            hello: ServerHello {
                version_min: PROTOCOL_VERSION,
                version_max: PROTOCOL_VERSION,
                caps: Caps::BACKCHANNEL,
                server_name: "fnp1-conformance".into(),
            },
            lease_ms: 30_000,
            signed_hello: None,
            signed_lease_ms: None,
            zero_signature: false,
            signed_binding: None,
        }
    }
}

/// A started client and the suite's server socket it connects to.
#[derive(Debug)]
pub struct Running {
    /// The suite's server socket.
    pub server: Listener,
    /// The client process.
    pub process: ClientProcess,
}

/// How often a wait for the client's connection looks whether it exited.
const EXIT_CHECK: Duration = Duration::from_millis(50);

impl Running {
    /// Accepts the client's next connection within `wait` (TLS as the
    /// listener is set), but stops waiting once the client has exited: a
    /// client that exits without connecting ends the case at once, not
    /// after the whole wait. `Ok(None)` then, and
    /// [`ClientProcess::describe_missing`] reports the exit.
    pub fn try_accept_within(&mut self, wait: Duration) -> Result<Option<FrameConn>, Fail> {
        self.accept_unless_exited(wait, Listener::try_accept_within)
    }

    /// [`Self::try_accept_within`] without TLS, whatever the listener is
    /// set to.
    pub fn try_accept_plain_within(&mut self, wait: Duration) -> Result<Option<FrameConn>, Fail> {
        self.accept_unless_exited(wait, Listener::try_accept_plain_within)
    }

    fn accept_unless_exited(
        &mut self,
        wait: Duration,
        accept: fn(&mut Listener, Duration) -> Result<Option<FrameConn>, Fail>,
    ) -> Result<Option<FrameConn>, Fail> {
        let deadline = Instant::now() + wait;
        loop {
            // Read before the last look, so that a connection the client
            // made just before it exited is still taken.
            let exited = self.process.exited().is_some();
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(EXIT_CHECK);
            if let Some(conn) = accept(&mut self.server, slice)? {
                return Ok(Some(conn));
            }
            if exited || Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }
}

/// A logged-in client, from the suite's (server's) side.
#[derive(Debug)]
pub struct ClientSession {
    /// The control connection.
    pub control: FrameConn,
    /// The client's LOGIN.
    pub login: Login<'static>,
    /// The LOGIN_OK the suite sent.
    pub ok: LoginOk,
    /// The session key.
    pub key: SessionKey,
}

impl ClientSession {
    /// The client's IP address as the suite sees it (where callbacks are dialled [C-1]).
    pub fn client_ip(&self) -> IpAddr {
        self.control.peer_addr().ip()
    }

    /// Whether BACKCHANNEL was negotiated.
    pub fn backchannel(&self) -> bool {
        self.ok.caps.contains(Caps::BACKCHANNEL)
    }

    /// Waits for the client's ADVERTISE, which must come right after LOGIN_OK [C-3].
    pub fn expect_advertise(&mut self) -> Result<Advertise, Fail> {
        self.control
            .expect("ADVERTISE right after LOGIN_OK [C-3]", |f| match f {
                Frame::Advertise(a) => Some(*a),
                _ => None,
            })
    }

    /// Sends ADVERTISE_OK naming (client IP, port).
    pub fn advertise_ok(&mut self, port: u16) -> Result<(), Fail> {
        let callback = SocketAddr::new(self.client_ip(), port);
        self.control.send(&Frame::AdvertiseOk { callback })
    }

    /// Sends CALLBACK_STATUS.
    pub fn status(&mut self, state: CallbackState) -> Result<(), Fail> {
        self.control.send(&Frame::CallbackStatus(CallbackStatus {
            state,
            detail: format!("conformance suite: {state}").into(),
        }))
    }
}

/// The suite's side of a callback connection after CB_HELLO.
#[derive(Debug)]
pub struct ServedCallback {
    /// The connection.
    pub conn: FrameConn,
    /// The client's CB_CHALLENGE nonce.
    pub client_nonce: Nonce,
    /// The suite's CB_HELLO nonce.
    pub server_nonce: Nonce,
    /// CB_READY.last_seq.
    pub last_seq: u64,
}

/// How the client under test is told to trust the suite's server over TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientTrust {
    /// `ca:` the suite's CA file.
    Ca,
    /// `pin:` the SHA-256 fingerprint of the suite's good certificate.
    Pin,
}

/// The context of one case against a client under test.
pub struct ClientCtx<'a> {
    pub(crate) target: &'a ClientTarget,
    /// The suite's timeouts.
    pub t: Timeouts,
    /// The case's log.
    pub log: CaseLog,
    pub(crate) rng: &'a mut SuiteRng,
    pub(crate) creds: &'a Credentials,
    pub(crate) user: &'a str,
    pub(crate) soft: SoftChecks,
    pub(crate) pki: Option<&'a SuitePki>,
}

impl std::fmt::Debug for ClientCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCtx")
            .field("timeouts", &self.t)
            .finish_non_exhaustive()
    }
}

impl<'a> ClientCtx<'a> {
    pub(crate) fn new(
        target: &'a ClientTarget,
        t: Timeouts,
        log: CaseLog,
        rng: &'a mut SuiteRng,
        creds: &'a Credentials,
        user: &'a str,
        pki: Option<&'a SuitePki>,
    ) -> Self {
        Self {
            pki,
            target,
            t,
            log,
            rng,
            creds,
            user,
            soft: SoftChecks::default(),
        }
    }

    /// A check the case can go on after: with `--keep-going` a failure is
    /// noted (reported with the case's other deviations) and `Ok` returned.
    pub fn soft(&mut self, verdict: Verdict) -> Verdict {
        self.soft.check(&self.log, verdict)
    }

    /// 32 fresh random bytes.
    pub fn nonce(&mut self) -> Nonce {
        self.rng.nonce()
    }

    /// A random non-zero u64.
    pub fn random_u64(&mut self) -> u64 {
        self.rng.nonzero_u64()
    }

    /// Fails with a skip unless the client follows the stdout contract.
    pub fn need_contract(&self) -> Result<(), Fail> {
        if self.target.stdout_contract {
            Ok(())
        } else {
            Err(Fail::skipped(
                "needs a client that prints deliveries on stdout (the stdout contract of docs/conformance.md)",
            ))
        }
    }

    /// Fails with a skip unless the suite can choose the client's listen policy.
    pub fn need_settings(&self) -> Result<(), Fail> {
        if self.target.has_settings_file() {
            Ok(())
        } else {
            Err(Fail::skipped(
                "needs {settings_file} in the client command line to choose the listen policy",
            ))
        }
    }

    /// Starts the client with a dynamic listen policy.
    pub fn start(&mut self) -> Result<Running, Fail> {
        self.start_with(Listen::Dynamic)
    }

    /// Binds the suite's server socket and starts the client with `listen`.
    /// Under `--tls` the client trusts the suite's CA and the suite presents
    /// its good certificate.
    pub fn start_with(&mut self, listen: Listen) -> Result<Running, Fail> {
        self.start_tls_with(listen, ClientTrust::Ca, Presented::Good)
    }

    /// The suite's certificates, or a skip unless the suite runs with `--tls`.
    pub fn need_tls(&self) -> Result<&'a SuitePki, Fail> {
        self.pki
            .ok_or_else(|| Fail::skipped("a case about FNP/1 over TLS; run the suite with --tls"))
    }

    /// [`start_with`](Self::start_with), with the client trusting the suite
    /// by `trust` and the suite presenting the certificate `presented` on
    /// control connections (plain TCP without `--tls`).
    pub fn start_tls_with(
        &mut self,
        listen: Listen,
        trust: ClientTrust,
        presented: Presented,
    ) -> Result<Running, Fail> {
        let mut server = Listener::bind(
            self.target.listen_ip,
            0,
            "control",
            &self.log,
            self.t.expect,
        )?;
        let mut settings = settings_toml(server.addr(), listen);
        let mut ca_pem = None;
        if let Some(pki) = self.pki {
            server.set_tls(Some(AcceptTls::Server(pki.server(presented).clone())));
            let trust = match trust {
                ClientTrust::Ca => "ca:{ca_file}".to_owned(),
                ClientTrust::Pin => format!("pin:{}", pki.good_fingerprint),
            };
            settings.push_str(&format!("\n[tls]\ntrust = \"{trust}\"\n"));
            ca_pem = Some(pki.ca_pem.clone());
            self.log.line(format_args!(
                "settings: tls trust = {trust:?}; the suite presents the {presented:?} certificate"
            ));
        }
        let vars = Placeholders {
            addr: server.addr(),
            user: self.target.user.clone(),
            password: self.target.password.clone(),
            settings,
            ca_pem,
        };
        self.log
            .line(format_args!("settings: listen = {:?}", listen.text()));
        let process = ClientProcess::spawn(&self.target.command, &vars, &self.log)?;
        Ok(Running { server, process })
    }

    /// Waits for the client's control connection.
    pub fn accept_control(&self, running: &mut Running) -> Result<FrameConn, Fail> {
        let wait = self.t.client_start;
        match running.try_accept_within(wait)? {
            Some(conn) => Ok(conn),
            None => Err(Fail::failed(
                "the client to connect to the suite's server",
                running.process.describe_missing("connection", wait),
            )),
        }
    }

    /// Sends SERVER_HELLO and waits for LOGIN, which must carry version 1
    /// [C-8] and the prepared user name.
    pub fn greet(
        &mut self,
        conn: &mut FrameConn,
        hello: &ServerHello<'static>,
    ) -> Result<Login<'static>, Fail> {
        conn.send(&Frame::ServerHello(hello.clone()))?;
        let login = conn.expect("LOGIN in reply to SERVER_HELLO", |f| match f {
            Frame::Login(l) => Some(l.clone()),
            _ => None,
        })?;
        if login.user != self.user {
            return Err(Fail::failed(
                format!("LOGIN user={:?} (the prepared user name)", self.user),
                Frame::Login(login).to_string(),
            ));
        }
        Ok(login)
    }

    /// The LOGIN_CHALLENGE for the suite's user.
    pub fn challenge(&mut self) -> LoginChallenge<'static> {
        LoginChallenge {
            server_nonce: self.rng.nonce(),
            salt: self.creds.salt().to_vec().into(),
            iterations: self.creds.iterations(),
        }
    }

    /// Sends the challenge, verifies LOGIN_PROOF and sends LOGIN_OK as
    /// `opts` says, for a new random session id.
    pub fn finish_login(
        &mut self,
        conn: FrameConn,
        login: Login<'static>,
        opts: &ServeOpts,
    ) -> Result<ClientSession, Fail> {
        let session_id = self.rng.nonzero_u64();
        self.finish_login_as(conn, login, opts, session_id)
    }

    /// [`finish_login`](Self::finish_login) naming `session_id` in LOGIN_OK.
    pub fn finish_login_as(
        &mut self,
        mut conn: FrameConn,
        login: Login<'static>,
        opts: &ServeOpts,
        session_id: u64,
    ) -> Result<ClientSession, Fail> {
        let challenge = self.challenge();
        conn.send(&Frame::LoginChallenge(challenge.clone()))?;
        let proof = conn.expect("LOGIN_PROOF in reply to LOGIN_CHALLENGE", |f| match f {
            Frame::LoginProof { proof } => Some(*proof),
            _ => None,
        })?;
        let unbound = auth_message(&opts.hello, &login, &challenge)?;
        let auth = conn.bind(unbound.clone());
        let client_key = recover_client_key(self.creds.stored_key(), &auth, &proof)
            .ok_or_else(|| self.proof_failure(&conn, &unbound, &proof))?;
        let signed = match &opts.signed_binding {
            Some(other) => unbound.bind(other),
            None => auth.clone(),
        };
        let ok = self.login_ok(&login, &signed, opts, session_id)?;
        conn.send(&Frame::LoginOk(ok.clone()))?;
        Ok(ClientSession {
            control: conn,
            login,
            key: session_key(&client_key, &auth),
            ok,
        })
    }

    /// Why a LOGIN_PROOF failed: over TLS, a proof that verifies without the
    /// channel binding is the client's fault under [T-6], not [A-1]'s.
    fn proof_failure(&self, conn: &FrameConn, unbound: &AuthMessage, proof: &[u8; 32]) -> Fail {
        if conn.binding().is_some()
            && recover_client_key(self.creds.stored_key(), unbound, proof).is_some()
        {
            return Fail::failed(
                "a LOGIN_PROOF over an AuthMessage ending with the TLS channel binding [T-6]",
                "a proof over the AuthMessage without it: the client does not bind its login to the TLS connection",
            );
        }
        Fail::failed(
            "a LOGIN_PROOF that verifies against the user's StoredKey [A-1]",
            "a proof that does not verify (wrong password, or a wrong AuthMessage)",
        )
    }

    fn login_ok(
        &mut self,
        login: &Login<'static>,
        auth: &AuthMessage,
        opts: &ServeOpts,
        session_id: u64,
    ) -> Result<LoginOk, Fail> {
        let mut ok = LoginOk {
            session_id,
            role: Role::User,
            lease_ms: opts.signed_lease_ms.unwrap_or(opts.lease_ms),
            caps: opts.hello.caps.intersection(login.caps),
            server_signature: [0; 32],
        };
        let signed_auth = match &opts.signed_hello {
            Some(hello) => auth_message_with_hello(auth, &opts.hello, hello)?,
            None => auth.clone(),
        };
        if !opts.zero_signature {
            ok.server_signature = server_signature(self.creds.server_key(), &signed_auth, &ok);
        }
        ok.lease_ms = opts.lease_ms;
        Ok(ok)
    }

    /// SERVER_HELLO, LOGIN, challenge, proof and LOGIN_OK on a newly accepted control connection.
    pub fn login(
        &mut self,
        running: &mut Running,
        opts: &ServeOpts,
    ) -> Result<ClientSession, Fail> {
        let mut conn = self.accept_control(running)?;
        let login = self.greet(&mut conn, &opts.hello)?;
        self.finish_login(conn, login, opts)
    }

    /// Dials the client's callback port (at its control connection's IP
    /// [C-1]); under `--tls` the suite then answers the client's TLS
    /// handshake as TLS server with its certificate [T-2].
    pub fn dial(&self, session: &ClientSession, port: u16) -> Result<FrameConn, Fail> {
        let mut conn = self.dial_plain(session, port)?;
        if let Some(pki) = self.pki {
            conn.start_tls_server(pki.server(Presented::Good))
                .map_err(|reason| {
                    Fail::failed(
                        "the client to start TLS on the callback as TLS client and accept the server's certificate [T-2] [T-4]",
                        format!("a failed handshake: {reason}"),
                    )
                })?;
        }
        Ok(conn)
    }

    /// Dials the client's callback port without TLS, even under `--tls`.
    pub fn dial_plain(&self, session: &ClientSession, port: u16) -> Result<FrameConn, Fail> {
        let addr = SocketAddr::new(session.client_ip(), port);
        FrameConn::connect(addr, "callback", &self.log, self.t.expect)
            .map_err(|f| f.during(&format!("dialling the advertised callback port {port}")))
    }

    /// Waits for CB_CHALLENGE, the listening client's first frame.
    pub fn expect_cb_challenge(&self, conn: &mut FrameConn) -> Result<Nonce, Fail> {
        conn.expect(
            "CB_CHALLENGE as the client's first frame on the callback",
            |f| match f {
                Frame::CbChallenge { client_nonce } => Some(*client_nonce),
                _ => None,
            },
        )
    }

    /// A valid CB_HELLO for `session` answering `client_nonce` on `conn`
    /// (bound to its channel over TLS [T-7]).
    pub fn cb_hello(
        &self,
        session: &ClientSession,
        conn: &FrameConn,
        client_nonce: &Nonce,
        server_nonce: Nonce,
    ) -> Frame<'static> {
        let session_id = session.ok.session_id;
        Frame::CbHello(CbHello {
            session_id,
            server_nonce,
            proof: cb_hello_proof_bound(
                &session.key,
                client_nonce,
                &server_nonce,
                session_id,
                conn.binding().as_ref(),
            ),
        })
    }

    /// Waits for CB_READY and verifies its proof [B-1]; returns last_seq.
    pub fn expect_cb_ready(
        &self,
        session: &ClientSession,
        conn: &mut FrameConn,
        client_nonce: &Nonce,
        server_nonce: &Nonce,
    ) -> Result<u64, Fail> {
        let ready = conn.expect("CB_READY in reply to a valid CB_HELLO", |f| match f {
            Frame::CbReady(r) => Some(r.clone()),
            _ => None,
        })?;
        let binding = conn.binding();
        let want = cb_ready_proof_bound(
            &session.key,
            client_nonce,
            server_nonce,
            session.ok.session_id,
            ready.last_seq,
            binding.as_ref(),
        );
        if !verify_mac(&want, &ready.proof) {
            let expected = if binding.is_some() {
                "CB_READY.proof = HMAC(session_key, \"FNP/1 ready\" ... || cb) with this callback's channel binding [B-1] [T-7]"
            } else {
                "CB_READY.proof = HMAC(session_key, \"FNP/1 ready\" ...) [B-1]"
            };
            return Err(Fail::failed(
                expected,
                format!("a proof that does not verify: {}", Frame::CbReady(ready)),
            ));
        }
        Ok(ready.last_seq)
    }

    /// The whole callback handshake on a connection the suite dialled.
    pub fn cb_handshake(
        &mut self,
        session: &ClientSession,
        mut conn: FrameConn,
    ) -> Result<ServedCallback, Fail> {
        let client_nonce = self.expect_cb_challenge(&mut conn)?;
        let server_nonce = self.rng.nonce();
        let hello = self.cb_hello(session, &conn, &client_nonce, server_nonce);
        conn.send(&hello)?;
        let last_seq = self.expect_cb_ready(session, &mut conn, &client_nonce, &server_nonce)?;
        Ok(ServedCallback {
            conn,
            client_nonce,
            server_nonce,
            last_seq,
        })
    }

    /// Starts the client and brings it to a working callback: login,
    /// ADVERTISE / ADVERTISE_OK, dial, handshake, CALLBACK_STATUS reachable.
    pub fn establish(
        &mut self,
        opts: &ServeOpts,
    ) -> Result<(Running, ClientSession, ServedCallback), Fail> {
        let mut running = self.start()?;
        let mut session = self.login(&mut running, opts)?;
        let advertise = session.expect_advertise()?;
        if advertise.port == 0 {
            return Err(Fail::skipped(
                "the client advertised port 0 (no callback listener)",
            ));
        }
        session.advertise_ok(advertise.port)?;
        let conn = self.dial(&session, advertise.port)?;
        let callback = self.cb_handshake(&session, conn)?;
        session.status(CallbackState::Reachable)?;
        Ok((running, session, callback))
    }

    /// How long to wait for a delivery to show on stdout.
    pub fn delivery_wait(&self) -> Duration {
        self.t.expect
    }
}

/// body(SERVER_HELLO) || body(LOGIN) || body(LOGIN_CHALLENGE).
pub(crate) fn auth_message(
    hello: &ServerHello<'_>,
    login: &Login<'_>,
    challenge: &LoginChallenge<'_>,
) -> Result<AuthMessage, Fail> {
    AuthMessage::from_frames(
        &Frame::ServerHello(hello.clone()),
        &Frame::Login(login.clone()),
        &Frame::LoginChallenge(challenge.clone()),
    )
    .map_err(|e| Fail::failed("an encodable AuthMessage", e.to_string()))
}

/// The AuthMessage `auth` (built with `sent` as SERVER_HELLO) with `signed` in its place.
fn auth_message_with_hello(
    auth: &AuthMessage,
    sent: &ServerHello<'_>,
    signed: &ServerHello<'_>,
) -> Result<AuthMessage, Fail> {
    let sent_len = Frame::ServerHello(sent.clone()).body_len();
    let mut body = Vec::new();
    Frame::ServerHello(signed.clone())
        .encode_body(&mut body)
        .map_err(|e| Fail::failed("an encodable SERVER_HELLO", e.to_string()))?;
    let rest = &auth.as_bytes()[sent_len..];
    Ok(AuthMessage::from_bodies(&body, rest, &[]))
}

/// Waits for an ACK of exactly `seq`; lower (cumulative, earlier) ACKs are passed over.
pub(crate) fn expect_ack(conn: &mut FrameConn, seq: u64, why: &str) -> Result<(), Fail> {
    let expected = format!("ACK seq={seq} {why}");
    loop {
        let got = conn.expect(&expected, |f| match f {
            Frame::Ack { seq } => Some(*seq),
            _ => None,
        })?;
        if got == seq {
            return Ok(());
        }
        if got > seq {
            return Err(Fail::failed(
                expected,
                format!("ACK seq={got}, beyond the highest seq sent ({seq})"),
            ));
        }
    }
}

/// A NOTIFY frame.
pub(crate) fn notify(seq: u64, kind: u8, payload: &[u8]) -> Frame<'static> {
    Frame::Notify(Notify {
        seq,
        kind,
        payload: payload.to_vec().into(),
    })
}

/// A SERVER_MESSAGE payload.
pub(crate) fn message_payload(text: &str) -> Vec<u8> {
    faxnotify_core::wire::Notification::server_message(text)
        .to_payload()
        .map(|b| b.to_vec())
        .unwrap_or_default()
}
