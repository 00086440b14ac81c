//! A scripted FNP/1 server peer for driving the client in tests.
//!
//! It holds real `Credentials` for the test user and computes every SCRAM
//! value with `faxnotify_core::auth` from the server's side: it checks the
//! client's proof with `recover_client_key` against the StoredKey (never
//! with the client's own functions), signs LOGIN_OK with the ServerKey and
//! derives the session key from the recovered ClientKey. A client that logs
//! in against it therefore interoperates with the spec's crypto.

use std::sync::LazyLock;

use faxnotify_core::auth::{
    AuthMessage, Credentials, SessionKey, cb_hello_proof, cb_ready_proof, recover_client_key,
    server_signature, session_key, verify_mac,
};
use faxnotify_core::wire::{
    Caps, CbHello, Frame, LoginChallenge, LoginOk, Nonce, Notification, Notify, Role, ServerHello,
};

pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "correct horse";
pub(crate) const SALT: [u8; 16] = [0x5a; 16];
pub(crate) const ITERATIONS: u32 = 4096;

/// PBKDF2 once per test binary.
static CREDENTIALS: LazyLock<Credentials> = LazyLock::new(|| {
    Credentials::from_password(PASSWORD, &SALT, ITERATIONS, Role::User)
        .expect("test credentials are valid")
});

/// The server's side of one login, kept between frames.
pub(crate) struct ScriptedServer {
    pub(crate) caps: Caps,
    pub(crate) name: String,
    hello_body: Vec<u8>,
    login_body: Option<Vec<u8>>,
    auth: Option<AuthMessage>,
    /// The session key of the last successful login.
    pub(crate) key: Option<SessionKey>,
    /// The session id of the last LOGIN_OK.
    pub(crate) session_id: u64,
    /// resume_session of the last LOGIN.
    pub(crate) last_resume: u64,
    nonce_byte: u8,
}

impl Default for ScriptedServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedServer {
    pub(crate) fn new() -> Self {
        let mut server = Self {
            caps: Caps::BACKCHANNEL,
            name: "fax.example".into(),
            hello_body: Vec::new(),
            login_body: None,
            auth: None,
            key: None,
            session_id: 0,
            last_resume: 0,
            nonce_byte: 0xa0,
        };
        server.hello_body = body(&server.hello());
        server
    }

    /// A server whose SERVER_HELLO offers `caps`.
    pub(crate) fn with_caps(caps: Caps) -> Self {
        let mut server = Self::new();
        server.caps = caps;
        server.hello_body = body(&server.hello());
        server
    }

    fn fresh_nonce(&mut self) -> Nonce {
        self.nonce_byte = self.nonce_byte.wrapping_add(1);
        [self.nonce_byte; 32]
    }

    pub(crate) fn hello(&self) -> Frame<'static> {
        Frame::ServerHello(ServerHello {
            version_min: 1,
            version_max: 1,
            caps: self.caps,
            server_name: self.name.clone().into(),
        })
    }

    /// Records a LOGIN and answers with the user's real challenge.
    pub(crate) fn challenge_for(&mut self, login: &Frame<'_>) -> Frame<'static> {
        self.challenge_with(login, ITERATIONS)
    }

    /// Like `challenge_for`, but with any iteration count (for the tests).
    pub(crate) fn challenge_with(&mut self, login: &Frame<'_>, iterations: u32) -> Frame<'static> {
        let Frame::Login(l) = login else {
            panic!("expected LOGIN, got {login}");
        };
        assert_eq!(l.user, USER, "the user name is sent prepared");
        assert_eq!(l.version, 1);
        self.last_resume = l.resume_session;
        self.login_body = Some(body(login));
        let challenge = Frame::LoginChallenge(LoginChallenge {
            server_nonce: self.fresh_nonce(),
            salt: SALT.to_vec().into(),
            iterations,
        });
        self.auth = Some(AuthMessage::from_bodies(
            &self.hello_body,
            self.login_body.as_ref().expect("set above"),
            &body(&challenge),
        ));
        challenge
    }

    /// checks the proof against the stored key; on success returns a
    /// correctly signed LOGIN_OK for `session_id` and keeps the session key.
    pub(crate) fn login_ok(
        &mut self,
        proof: &Frame<'_>,
        session_id: u64,
        lease_ms: u32,
    ) -> Frame<'static> {
        let ok = self.login_ok_unsigned(proof, session_id, lease_ms);
        self.sign(ok)
    }

    /// Checks the proof and returns the LOGIN_OK body with a zero signature,
    /// to tamper with before `sign` (or to send unsigned).
    pub(crate) fn login_ok_unsigned(
        &mut self,
        proof: &Frame<'_>,
        session_id: u64,
        lease_ms: u32,
    ) -> LoginOk {
        let Frame::LoginProof { proof } = proof else {
            panic!("expected LOGIN_PROOF, got {proof}");
        };
        let auth = self.auth.as_ref().expect("challenge sent first");
        let client_key = recover_client_key(CREDENTIALS.stored_key(), auth, proof)
            .expect("the client's proof must verify against the stored key [A-1]");
        self.key = Some(session_key(&client_key, auth));
        self.session_id = session_id;
        LoginOk {
            session_id,
            role: Role::User,
            lease_ms,
            caps: self.caps.intersection(Caps::BACKCHANNEL),
            server_signature: [0; 32],
        }
    }

    /// Signs a LOGIN_OK body with the ServerKey.
    pub(crate) fn sign(&self, mut ok: LoginOk) -> Frame<'static> {
        let auth = self.auth.as_ref().expect("challenge sent first");
        ok.server_signature = server_signature(CREDENTIALS.server_key(), auth, &ok);
        Frame::LoginOk(ok)
    }

    /// A correct CB_HELLO answering `challenge` (a CB_CHALLENGE).
    pub(crate) fn cb_hello(&mut self, challenge: &Frame<'_>) -> (Frame<'static>, Nonce, Nonce) {
        let Frame::CbChallenge { client_nonce } = challenge else {
            panic!("expected CB_CHALLENGE, got {challenge}");
        };
        let server_nonce = self.fresh_nonce();
        let key = self.key.as_ref().expect("logged in");
        let proof = cb_hello_proof(key, client_nonce, &server_nonce, self.session_id);
        (
            Frame::CbHello(CbHello {
                session_id: self.session_id,
                server_nonce,
                proof,
            }),
            *client_nonce,
            server_nonce,
        )
    }

    /// Checks a CB_READY's proof [B-1] and returns its last_seq.
    pub(crate) fn check_cb_ready(
        &self,
        ready: &Frame<'_>,
        client_nonce: &Nonce,
        server_nonce: &Nonce,
    ) -> u64 {
        let Frame::CbReady(r) = ready else {
            panic!("expected CB_READY, got {ready}");
        };
        let key = self.key.as_ref().expect("logged in");
        let expected = cb_ready_proof(key, client_nonce, server_nonce, self.session_id, r.last_seq);
        assert!(
            verify_mac(&expected, &r.proof),
            "CB_READY proof must verify"
        );
        r.last_seq
    }
}

/// A frame's body bytes.
pub(crate) fn body(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode_body(&mut out).expect("encodable");
    out
}

/// NOTIFY `seq` carrying SERVER_MESSAGE "n<seq>".
pub(crate) fn notify(seq: u64) -> Frame<'static> {
    let payload = Notification::server_message(format!("n{seq}"))
        .to_payload()
        .expect("small payload");
    Frame::Notify(Notify {
        seq,
        kind: 3,
        payload: payload.to_vec().into(),
    })
}

/// NOTIFY with any kind and payload.
pub(crate) fn notify_raw(seq: u64, kind: u8, payload: &[u8]) -> Frame<'static> {
    Frame::Notify(Notify {
        seq,
        kind,
        payload: payload.to_vec().into(),
    })
}
