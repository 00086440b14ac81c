//! A login at the protocol level, with the conformance suite's frame
//! connection and session: for a resume the CLI client cannot be made to
//! race (two clients with the same session id at the same moment).

use std::net::SocketAddr;
use std::sync::Barrier;
use std::time::Duration;

use faxnotify_conformance::peer::conn::{FrameConn, Got};
use faxnotify_conformance::peer::listener::Listener;
use faxnotify_conformance::peer::log::CaseLog;
use faxnotify_conformance::peer::session::{Callback, Session, message_text};
use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, client_proof, prepare_password, session_key,
};
use faxnotify_core::wire::{Caps, Frame, Login, PROTOCOL_VERSION};

use crate::common::WAIT;

/// How a resume ended.
#[derive(Debug)]
pub enum Answer {
    /// LOGIN_OK for this session id.
    LoggedIn(u64),
    /// ERROR with this code and message.
    Refused(String, String),
    /// Anything else (closed, silence, another frame), described.
    Other(String),
}

/// Connects to `addr` and logs `user` in resuming `session`; the proof is
/// sent once every racer at `barrier` is ready to send its own. On LOGIN_OK
/// the session is handed to `then` (still in this thread: the connection
/// is not `Send`).
pub fn resume<T>(
    addr: SocketAddr,
    user: &str,
    password: &str,
    session: u64,
    nonce: u8,
    barrier: &Barrier,
    then: impl FnOnce(Session) -> T,
) -> (Answer, Option<T>) {
    let log = CaseLog::new();
    let connected = FrameConn::connect(addr, "control", &log, WAIT);
    let mut conn = match connected {
        Ok(conn) => conn,
        Err(fail) => {
            barrier.wait();
            return (Answer::Other(fail.to_string()), None);
        }
    };
    let hello = match conn.next_relevant(WAIT) {
        Got::Frame(Frame::ServerHello(h)) => h,
        other => {
            barrier.wait();
            return (Answer::Other(format!("no SERVER_HELLO: {other:?}")), None);
        }
    };
    let login = Login {
        version: PROTOCOL_VERSION,
        user: user.to_owned().into(),
        client_nonce: [nonce; 32],
        // No backchannel: notifications come over the callback.
        caps: Caps::NONE,
        resume_session: session,
    };
    let sent = conn.send(&Frame::Login(login.clone()));
    let challenge = match (sent, conn.next_relevant(WAIT)) {
        (Ok(()), Got::Frame(Frame::LoginChallenge(c))) => c,
        (_, other) => {
            barrier.wait();
            return (
                Answer::Other(format!("no LOGIN_CHALLENGE: {other:?}")),
                None,
            );
        }
    };
    let auth = AuthMessage::from_frames(
        &Frame::ServerHello(hello.clone()),
        &Frame::Login(login.clone()),
        &Frame::LoginChallenge(challenge.clone()),
    )
    .expect("an AuthMessage");
    let prepared = prepare_password(password).expect("a valid password");
    let secrets = ClientSecrets::derive(&prepared, &challenge.salt, challenge.iterations);
    let proof = client_proof(&secrets, &auth);
    // Both proofs leave together: the servers take the session over at
    // the same moment.
    barrier.wait();
    if let Err(fail) = conn.send(&Frame::LoginProof { proof }) {
        return (Answer::Other(fail.to_string()), None);
    }
    match conn.next_relevant(WAIT) {
        Got::Frame(Frame::LoginOk(ok)) => {
            let id = ok.session_id;
            conn.set_lease(Duration::from_millis(u64::from(ok.lease_ms)));
            conn.tolerate(faxnotify_core::wire::FrameType::CallbackStatus);
            let session = Session {
                control: conn,
                key: session_key(&secrets.client_key, &auth),
                hello,
                login,
                challenge,
                ok,
                auth,
                ended: false,
            };
            (Answer::LoggedIn(id), Some(then(session)))
        }
        Got::Frame(Frame::Error(e)) => (
            Answer::Refused(e.code.name().to_owned(), e.message.into_owned()),
            None,
        ),
        other => (Answer::Other(format!("{other:?}")), None),
    }
}

/// Advertises a callback listener and completes the callback handshake
/// the server dials (`last_seq` received before).
pub fn callback(session: &mut Session, last_seq: u64) -> Callback {
    let log = CaseLog::new();
    let ip = session.control.local_addr().ip();
    let mut listener = Listener::bind(ip, 0, "callback", &log, WAIT).expect("a listener");
    session
        .advertise_port(listener.port())
        .unwrap_or_else(|f| panic!("{f}"));
    let conn = listener
        .accept_within(WAIT, "the server's callback")
        .unwrap_or_else(|f| panic!("{f}"));
    session
        .cb_handshake(conn, [0x42; 32], last_seq)
        .unwrap_or_else(|f| panic!("{f}"))
}

/// Sets up the callback ([`callback`]), calls `notify`, and returns the
/// notifications (seq, text) that came until one with text `until`.
pub fn receive_until(
    mut session: Session,
    last_seq: u64,
    notify: impl FnOnce(),
    until: &str,
) -> Vec<(u64, String)> {
    let mut callback = callback(&mut session, last_seq);
    notify();
    let mut got = Vec::new();
    loop {
        match callback.conn.next_relevant(WAIT) {
            Got::Frame(Frame::Notify(n)) => {
                let text = message_text(&n).unwrap_or_default();
                let _ = callback.conn.send(&Frame::Ack { seq: n.seq });
                got.push((n.seq, text.clone()));
                if text == until {
                    return got;
                }
            }
            other => panic!("no NOTIFY {until:?}: {other:?}; so far {got:?}"),
        }
    }
}
