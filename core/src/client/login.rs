//! The client's half of the login (spec section 5): what it checks and
//! computes at each step. The control connection drives it.

use std::borrow::Cow;

use crate::SessionId;
use crate::auth::{
    AuthMessage, ChannelBinding, ClientSecrets, MIN_ITERATIONS, SessionKey, client_proof,
    server_signature, session_key, verify_mac,
};
use crate::wire::{
    Caps, Frame, Login, LoginChallenge, LoginOk, Mac, Nonce, PROTOCOL_VERSION, ServerHello,
};

use super::events::StopReason;

/// The lowest lease a client accepts [D-3].
pub(crate) const MIN_LEASE_MS: u32 = 3_000;

/// The prepared user name and password, and the keys derived from them.
pub(crate) struct LoginCredentials {
    user: String,
    password: String,
    /// PBKDF2 is expensive: keys are derived once per (salt, iterations).
    cache: Option<(Vec<u8>, u32, ClientSecrets)>,
}

impl std::fmt::Debug for LoginCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl LoginCredentials {
    /// Takes an already prepared (RFC 8265) user name and password.
    pub(crate) fn new(user: String, password: String) -> Self {
        Self {
            user,
            password,
            cache: None,
        }
    }

    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    /// Stores keys derived elsewhere for `salt` and `iterations`, so that a
    /// login with them skips PBKDF2 (fuzzing only: the harness derives them
    /// once per process instead of once per input).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn prime(&mut self, salt: &[u8], iterations: u32, secrets: ClientSecrets) {
        self.cache = Some((salt.to_vec(), iterations, secrets));
    }

    /// The keys for `salt` and `iterations`, derived at most once.
    fn secrets(&mut self, salt: &[u8], iterations: u32) -> &ClientSecrets {
        let cached =
            matches!(&self.cache, Some((s, i, _)) if s.as_slice() == salt && *i == iterations);
        if !cached {
            self.cache = None;
        }
        let password = &self.password;
        let (_, _, secrets) = self.cache.get_or_insert_with(|| {
            tracing::debug!(iterations, "deriving login keys (PBKDF2)");
            (
                salt.to_vec(),
                iterations,
                ClientSecrets::derive(password, salt, iterations),
            )
        });
        secrets
    }
}

/// [C-8] [D-10]: the server must speak version 1.
pub(crate) fn check_version(hello: &ServerHello<'_>) -> Result<(), StopReason> {
    if (hello.version_min..=hello.version_max).contains(&PROTOCOL_VERSION) {
        Ok(())
    } else {
        Err(StopReason::UnsupportedVersion {
            server_min: hello.version_min,
            server_max: hello.version_max,
        })
    }
}

/// The body of a frame as the AuthMessage needs it (the encoding is canonical,
/// so a decoded frame re-encodes to the bytes that were sent).
pub(crate) fn body(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.body_len());
    if let Err(err) = frame.encode_body(&mut out) {
        // Decoded frames always re-encode; only a client bug could get here.
        debug_assert!(false, "decoded frame does not re-encode: {err}");
        tracing::error!(%err, "decoded frame does not re-encode");
    }
    out
}

/// The LOGIN frame.
pub(crate) fn login_frame<'a>(
    user: Cow<'a, str>,
    client_nonce: Nonce,
    caps: Caps,
    resume: Option<SessionId>,
) -> Frame<'a> {
    Frame::Login(Login {
        version: PROTOCOL_VERSION,
        user,
        client_nonce,
        caps,
        resume_session: resume.map_or(0, SessionId::get),
    })
}

/// What the client keeps between LOGIN_PROOF and LOGIN_OK.
pub(crate) struct ProvenLogin {
    pub(crate) auth: AuthMessage,
    pub(crate) secrets: ClientSecrets,
}

impl std::fmt::Debug for ProvenLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProvenLogin(<secret>)")
    }
}

/// then the SCRAM proof for a challenge.
pub(crate) fn answer_challenge(
    creds: &mut LoginCredentials,
    iteration_cap: u32,
    hello_body: &[u8],
    login_body: &[u8],
    challenge: &LoginChallenge<'_>,
    binding: Option<&ChannelBinding>,
) -> Result<(Mac, ProvenLogin), StopReason> {
    // The salt length was checked by the decoder (MALFORMED).
    if !(MIN_ITERATIONS..=iteration_cap).contains(&challenge.iterations) {
        return Err(StopReason::IterationsOutOfBounds {
            iterations: challenge.iterations,
            min: MIN_ITERATIONS,
            cap: iteration_cap,
        });
    }
    let challenge_body = body(&Frame::LoginChallenge(challenge.clone()));
    let auth = AuthMessage::from_bodies(hello_body, login_body, &challenge_body);
    // [T-6]: over TLS the login is bound to this connection.
    let auth = match binding {
        Some(b) => auth.bind(b),
        None => auth,
    };
    let secrets = creds.secrets(&challenge.salt, challenge.iterations).clone();
    let proof = client_proof(&secrets, &auth);
    Ok((proof, ProvenLogin { auth, secrets }))
}

/// Why LOGIN_OK is refused.
#[derive(Debug)]
pub(crate) enum LoginOkError {
    /// AUTH_FAILED, fatal.
    BadSignature,
    /// [D-3]: MALFORMED, fatal.
    LeaseTooShort(u32),
    /// Session id 0: MALFORMED.
    ZeroSession,
}

/// then [D-3]: verifies LOGIN_OK and derives the session key.
pub(crate) fn verify_login_ok(
    proven: &ProvenLogin,
    ok: &LoginOk,
) -> Result<(SessionId, SessionKey), LoginOkError> {
    let expected = server_signature(&proven.secrets.server_key, &proven.auth, ok);
    if !verify_mac(&expected, &ok.server_signature) {
        return Err(LoginOkError::BadSignature);
    }
    if ok.lease_ms < MIN_LEASE_MS {
        return Err(LoginOkError::LeaseTooShort(ok.lease_ms));
    }
    let session = SessionId::new(ok.session_id).ok_or(LoginOkError::ZeroSession)?;
    Ok((
        session,
        session_key(&proven.secrets.client_key, &proven.auth),
    ))
}

#[cfg(test)]
mod tests {
    //! The client's login computations against the spec's test vectors
    //! (section 11, `core/tests/vectors/fnp1.json`, computed independently
    //! by `scripts/fnp1_vectors.py`).

    use super::*;
    use crate::auth::{prepare_password, prepare_username};
    use crate::wire::Decoder;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/vectors/fnp1.json")).expect("valid JSON")
    }

    fn hex32(v: &serde_json::Value) -> [u8; 32] {
        let bytes = hex::decode(v.as_str().expect("hex string")).expect("hex");
        bytes.try_into().expect("32 bytes")
    }

    /// The frame named `name` in the vectors, decoded.
    fn frame(v: &serde_json::Value, name: &str) -> Frame<'static> {
        let entry = v["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no frame {name}"));
        let bytes = hex::decode(entry["hex"].as_str().expect("hex").replace(' ', "")).expect("hex");
        let mut input = bytes.as_slice();
        let mut decoder = Decoder::default();
        decoder
            .decode(&mut input)
            .expect("valid")
            .expect("whole")
            .into_owned()
    }

    #[test]
    fn login_matches_the_spec_vectors() {
        let v = vectors();
        let auth = &v["auth"];
        let inputs = &auth["inputs"];
        let mut creds = LoginCredentials::new(
            prepare_username(inputs["login"]["user"].as_str().expect("user")).expect("valid"),
            prepare_password(inputs["password"].as_str().expect("password")).expect("valid"),
        );
        let hello = frame(&v, "SERVER_HELLO");
        let Frame::ServerHello(h) = &hello else {
            panic!("{hello}")
        };
        check_version(h).expect("version 1 is offered");
        let login = login_frame(
            Cow::Owned(creds.user().to_owned()),
            [1; 32],
            Caps::BACKCHANNEL,
            None,
        );
        assert_eq!(
            login,
            frame(&v, "LOGIN"),
            "the client's LOGIN is the vector's"
        );
        let Frame::LoginChallenge(challenge) = frame(&v, "LOGIN_CHALLENGE") else {
            panic!("LOGIN_CHALLENGE")
        };
        let (proof, proven) = answer_challenge(
            &mut creds,
            crate::auth::DEFAULT_ITERATION_CAP,
            &body(&hello),
            &body(&login),
            &challenge,
            None,
        )
        .expect("acceptable challenge");
        assert_eq!(
            hex::encode(proven.auth.as_bytes()),
            auth["auth_message"].as_str().expect("hex")
        );
        assert_eq!(proof, hex32(&auth["proof"]));
        let Frame::LoginOk(ok) = frame(&v, "LOGIN_OK") else {
            panic!("LOGIN_OK")
        };
        let (session, key) =
            verify_login_ok(&proven, &ok).expect("the vector's signature verifies");
        assert_eq!(session.get(), 0x0123_4567_89ab_cdef);
        assert_eq!(key.as_bytes(), &hex32(&auth["session_key"]));

        // Any change to the signed part is caught.
        let mut tampered = ok.clone();
        tampered.lease_ms += 1;
        assert!(matches!(
            verify_login_ok(&proven, &tampered),
            Err(LoginOkError::BadSignature)
        ));
    }

    #[test]
    fn iteration_bounds() {
        let mut creds = LoginCredentials::new("alice".into(), "pw".into());
        let challenge = |iterations| LoginChallenge {
            server_nonce: [2; 32],
            salt: vec![0x5a; 16].into(),
            iterations,
        };
        for bad in [0, 4095, 10_001] {
            assert!(matches!(
                answer_challenge(&mut creds, 10_000, b"", b"", &challenge(bad), None),
                Err(StopReason::IterationsOutOfBounds { iterations, min: 4096, cap: 10_000 }) if iterations == bad
            ));
        }
        assert!(answer_challenge(&mut creds, 10_000, b"", b"", &challenge(4096), None).is_ok());
    }
}
