//! The example values of docs/protocol.md section 11, built from the spec's
//! inputs with this crate's own types and crypto (the vectors test compares
//! them with the independent Python computation in vectors/fnp1.json).

#![allow(dead_code)] // each test binary uses a different subset

use std::borrow::Cow;
use std::net::SocketAddr;

use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, cb_hello_proof, cb_ready_proof, client_proof, prepare_password,
    server_signature, session_key,
};
use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, CallbackStatus, Caps, CbHello, CbReady, DeviceState,
    DeviceStatus, ErrorCode, FaxChange, FaxReceived, FaxUpdated, Frame, JobState, JobStatus, Login,
    LoginChallenge, LoginOk, Notification, Notify, PolicyKind, Role, ServerHello, ServerMessage,
};

pub const SESSION_ID: u64 = 0x0123_4567_89ab_cdef;
pub const PASSWORD: &str = "correct horse";
pub const CB_CLIENT_NONCE: [u8; 32] = [0x03; 32];
pub const CB_SERVER_NONCE: [u8; 32] = [0x04; 32];

pub fn server_hello() -> Frame<'static> {
    Frame::ServerHello(ServerHello {
        version_min: 1,
        version_max: 1,
        caps: Caps::BACKCHANNEL,
        server_name: Cow::Borrowed("fax.example"),
    })
}

pub fn login() -> Frame<'static> {
    Frame::Login(Login {
        version: 1,
        user: Cow::Borrowed("alice"),
        client_nonce: [0x01; 32],
        caps: Caps::BACKCHANNEL,
        resume_session: 0,
    })
}

pub fn login_challenge() -> Frame<'static> {
    Frame::LoginChallenge(LoginChallenge {
        server_nonce: [0x02; 32],
        salt: Cow::Borrowed(&[0x5a; 16]),
        iterations: 4096,
    })
}

/// Everything the login of the example derives.
pub struct AuthValues {
    pub secrets: ClientSecrets,
    pub auth_message: AuthMessage,
    pub proof: [u8; 32],
    pub login_ok: LoginOk,
    pub session_key: faxnotify_core::auth::SessionKey,
}

pub fn auth_values() -> AuthValues {
    let password = prepare_password(PASSWORD).unwrap();
    let secrets = ClientSecrets::derive(&password, &[0x5a; 16], 4096);
    let auth_message =
        AuthMessage::from_frames(&server_hello(), &login(), &login_challenge()).unwrap();
    let proof = client_proof(&secrets, &auth_message);
    let mut login_ok = LoginOk {
        session_id: SESSION_ID,
        role: Role::Admin,
        lease_ms: 30_000,
        caps: Caps::BACKCHANNEL,
        server_signature: [0; 32],
    };
    login_ok.server_signature = server_signature(&secrets.server_key, &auth_message, &login_ok);
    let session_key = session_key(&secrets.client_key, &auth_message);
    AuthValues {
        secrets,
        auth_message,
        proof,
        login_ok,
        session_key,
    }
}

pub fn fax_received() -> Notification {
    Notification::FaxReceived(FaxReceived {
        job: 42,
        from: "+1 555 0100".into(),
        to: "sales".into(),
        pages: 3,
        received_at_ms: 1_700_000_000_000,
    })
}

/// The five notification examples, in kind order.
pub fn notifications() -> Vec<Notification> {
    vec![
        fax_received(),
        Notification::JobStatus(JobStatus {
            job: 42,
            state: JobState::Completed,
            page: 3,
            pages: 3,
            attempt: 1,
            detail: "delivered".into(),
        }),
        Notification::ServerMessage(ServerMessage { text: "hi!".into() }),
        Notification::DeviceStatus(DeviceStatus {
            device: "ttyS0".into(),
            state: DeviceState::Busy,
            detail: "receiving".into(),
        }),
        Notification::FaxUpdated(FaxUpdated {
            job: 42,
            change: FaxChange::Commented,
            by: "bob".into(),
            comment: "forwarded to accounts".into(),
        }),
    ]
}

/// One frame of every type (and a second ADVERTISE_OK for IPv6), named as in
/// vectors/fnp1.json.
pub fn frames() -> Vec<(&'static str, Frame<'static>)> {
    let auth = auth_values();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    vec![
        ("SERVER_HELLO", server_hello()),
        ("LOGIN", login()),
        ("LOGIN_CHALLENGE", login_challenge()),
        ("LOGIN_PROOF", Frame::LoginProof { proof: auth.proof }),
        ("LOGIN_OK", Frame::LoginOk(auth.login_ok.clone())),
        (
            "ADVERTISE",
            Frame::Advertise(Advertise {
                port: 6003,
                policy: PolicyKind::Range,
                range_lo: 6000,
                range_hi: 6010,
            }),
        ),
        (
            "ADVERTISE_OK",
            Frame::AdvertiseOk {
                callback: addr("192.0.2.10:6003"),
            },
        ),
        (
            "ADVERTISE_OK_V6",
            Frame::AdvertiseOk {
                callback: addr("[2001:db8::10]:6003"),
            },
        ),
        (
            "CALLBACK_STATUS",
            Frame::CallbackStatus(CallbackStatus {
                state: CallbackState::Backchannel,
                detail: Cow::Borrowed(
                    "callback to port 6003 failed; delivering over the control connection",
                ),
            }),
        ),
        (
            "PING",
            Frame::Ping {
                nonce: 0x1122_3344_5566_7788,
            },
        ),
        (
            "PONG",
            Frame::Pong {
                nonce: 0x1122_3344_5566_7788,
            },
        ),
        ("LOGOUT", Frame::Logout),
        (
            "BYE",
            Frame::Bye {
                reason: ByeReason::Shutdown,
            },
        ),
        (
            "CB_CHALLENGE",
            Frame::CbChallenge {
                client_nonce: CB_CLIENT_NONCE,
            },
        ),
        (
            "CB_HELLO",
            Frame::CbHello(CbHello {
                session_id: SESSION_ID,
                server_nonce: CB_SERVER_NONCE,
                proof: cb_hello_proof(
                    &auth.session_key,
                    &CB_CLIENT_NONCE,
                    &CB_SERVER_NONCE,
                    SESSION_ID,
                ),
            }),
        ),
        (
            "CB_READY",
            Frame::CbReady(CbReady {
                last_seq: 5,
                proof: cb_ready_proof(
                    &auth.session_key,
                    &CB_CLIENT_NONCE,
                    &CB_SERVER_NONCE,
                    SESSION_ID,
                    5,
                ),
            }),
        ),
        (
            "NOTIFY",
            Frame::Notify(Notify {
                seq: 6,
                kind: 1,
                payload: Cow::Owned(fax_received().to_payload().unwrap().to_vec()),
            }),
        ),
        ("ACK", Frame::Ack { seq: 6 }),
        (
            "ERROR",
            Frame::error(ErrorCode::AuthFailed, "authentication failed"),
        ),
    ]
}

/// The worked example of the design's section 9 with concrete values:
/// (direction, frame).
pub fn worked_example() -> Vec<(&'static str, Frame<'static>)> {
    let key = auth_values().session_key;
    vec![
        (
            "C->S",
            Frame::CbChallenge {
                client_nonce: CB_CLIENT_NONCE,
            },
        ),
        (
            "S->C",
            Frame::CbHello(CbHello {
                session_id: SESSION_ID,
                server_nonce: CB_SERVER_NONCE,
                proof: cb_hello_proof(&key, &CB_CLIENT_NONCE, &CB_SERVER_NONCE, SESSION_ID),
            }),
        ),
        (
            "C->S",
            Frame::CbReady(CbReady {
                last_seq: 0,
                proof: cb_ready_proof(&key, &CB_CLIENT_NONCE, &CB_SERVER_NONCE, SESSION_ID, 0),
            }),
        ),
        (
            "S->C",
            Frame::Notify(Notify {
                seq: 1,
                kind: 3,
                payload: Cow::Owned(
                    Notification::server_message("hi!")
                        .to_payload()
                        .unwrap()
                        .to_vec(),
                ),
            }),
        ),
        ("C->S", Frame::Ack { seq: 1 }),
    ]
}
