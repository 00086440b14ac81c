//! A small hand-written FNP/1 server that ignores `resume_session`: every
//! login, resume or not, makes a new session, and session ids count 1, 2, 3
//! (and its LOGIN_CHALLENGE server nonce is all zeros).
//! Everything else the suite needs to reach its checks works: the login and
//! its signature, ADVERTISE, the callback dial and handshake, the
//! backchannel for port 0, PING, LOGOUT, a client's ERROR, and notifications
//! through [`AmnesiacServer::target`]'s trigger.
//!
//! It is the mutant for the cases that use a resume as a means ([C-6]): the
//! core cannot be made to ignore a resume from outside, because LOGIN is
//! part of the signed AuthMessage.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use faxnotify_conformance::{NotifyTrigger, ServerTarget};
use faxnotify_core::auth::{
    AuthMessage, ClientSecrets, MIN_ITERATIONS, cb_hello_proof, prepare_password, server_signature,
    session_key,
};
use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, CallbackStatus, Caps, Decoder, ErrorCode, Frame,
    LoginChallenge, LoginOk, MAX_FRAME_LEN, Notify, Role, ServerHello,
};

use super::server_loop::USERS;

const SALT: [u8; 16] = [3; 16];
const LEASE_MS: u32 = 30_000;

/// Where notifications for a user go: the control connections of its
/// backchannel sessions, with their next seq.
type Backchannels = Arc<Mutex<Vec<(String, TcpStream, u64)>>>;

/// The running server; stopped when dropped.
pub struct AmnesiacServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    backchannels: Backchannels,
    thread: Option<JoinHandle<()>>,
}

struct Trigger(Backchannels);

impl NotifyTrigger for Trigger {
    fn notify(&self, user: &str, text: &str) -> Result<(), String> {
        let mut payload = (text.len() as u16).to_be_bytes().to_vec();
        payload.extend_from_slice(text.as_bytes());
        let mut list = self.0.lock().map_err(|_| "poisoned".to_owned())?;
        for (_, stream, seq) in list.iter_mut().filter(|(name, ..)| name == user) {
            let frame = Frame::Notify(Notify {
                seq: *seq,
                kind: 3,
                payload: payload.clone().into(),
            });
            *seq += 1;
            let _ = stream.write_all(&frame.to_vec().map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "the resume-ignoring test server".to_owned()
    }
}

impl AmnesiacServer {
    /// Starts it on 127.0.0.1 with the users of `server_loop::USERS`.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let backchannels: Backchannels = Arc::default();
        let (flag, channels) = (Arc::clone(&stop), Arc::clone(&backchannels));
        let thread = std::thread::spawn(move || {
            let ids = Arc::new(AtomicU64::new(1));
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (ids, channels) = (Arc::clone(&ids), Arc::clone(&channels));
                        std::thread::spawn(move || {
                            let _ = serve(stream, &ids, &channels);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            backchannels,
            thread: Some(thread),
        }
    }

    /// A suite target: both users and the notification trigger.
    pub fn target(&self) -> ServerTarget {
        let mut target = ServerTarget::new(self.addr, USERS[0].0, USERS[0].1);
        target.second_user = Some((USERS[1].0.to_owned(), USERS[1].1.to_owned()));
        target.trigger = Some(Box::new(Trigger(Arc::clone(&self.backchannels))));
        target
    }
}

impl Drop for AmnesiacServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads frames from one stream.
struct Reader {
    stream: TcpStream,
    decoder: Decoder,
    pending: Vec<Frame<'static>>,
}

impl Reader {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            decoder: Decoder::new(MAX_FRAME_LEN),
            pending: Vec::new(),
        }
    }

    /// The next frame; `None` on close, error or an undecodable frame.
    fn next(&mut self) -> Option<Frame<'static>> {
        let mut buf = [0u8; 4096];
        loop {
            if !self.pending.is_empty() {
                return Some(self.pending.remove(0));
            }
            let n = self.stream.read(&mut buf).ok().filter(|n| *n > 0)?;
            let mut input = &buf[..n];
            while let Some(frame) = self.decoder.decode(&mut input).ok()? {
                self.pending.push(frame.into_owned());
            }
        }
    }

    fn send(&mut self, frame: &Frame<'_>) -> Option<()> {
        self.stream.write_all(&frame.to_vec().ok()?).ok()
    }
}

fn serve(stream: TcpStream, ids: &AtomicU64, channels: &Backchannels) -> Option<()> {
    stream.set_nodelay(true).ok()?;
    let peer = stream.peer_addr().ok()?;
    let mut control = Reader::new(stream);
    let hello = Frame::ServerHello(ServerHello {
        version_min: 1,
        version_max: 1,
        caps: Caps::BACKCHANNEL,
        server_name: "resume-ignoring test server".into(),
    });
    control.send(&hello)?;
    let Frame::Login(login) = control.next()? else {
        return None;
    };
    let password = USERS.iter().find(|(u, _)| login.user == *u)?.1;
    // A second fault, for --keep-going to find: a server nonce of zeros.
    let challenge = Frame::LoginChallenge(LoginChallenge {
        server_nonce: [0; 32],
        salt: SALT.to_vec().into(),
        iterations: MIN_ITERATIONS,
    });
    control.send(&challenge)?;
    let Frame::LoginProof { .. } = control.next()? else {
        return None;
    };
    let auth = AuthMessage::from_frames(&hello, &Frame::Login(login.clone()), &challenge).ok()?;
    let secrets = ClientSecrets::derive(&prepare_password(password).ok()?, &SALT, MIN_ITERATIONS);
    // The fault: resume_session is never looked at.
    let mut ok = LoginOk {
        session_id: ids.fetch_add(1, Ordering::Relaxed),
        role: Role::User,
        lease_ms: LEASE_MS,
        caps: Caps::BACKCHANNEL.intersection(login.caps),
        server_signature: [0; 32],
    };
    ok.server_signature = server_signature(&secrets.server_key, &auth, &ok);
    let id = ok.session_id;
    control.send(&Frame::LoginOk(ok))?;
    let key = session_key(&secrets.client_key, &auth);

    let Frame::Advertise(Advertise { port, .. }) = control.next()? else {
        control.send(&Frame::error(ErrorCode::UnexpectedFrame, "ADVERTISE first"))?;
        return None;
    };
    let callback_addr = SocketAddr::new(peer.ip(), port);
    control.send(&Frame::AdvertiseOk {
        callback: callback_addr,
    })?;
    let status = |state, detail: &str| {
        Frame::CallbackStatus(CallbackStatus {
            state,
            detail: detail.to_owned().into(),
        })
    };
    let mut callback = None;
    if port == 0 {
        // Registered before the status goes out: the suite triggers a
        // notification as soon as it reads the status, and one triggered
        // before the registration would go nowhere.
        let stream = control.stream.try_clone().ok()?;
        if let Ok(mut list) = channels.lock() {
            list.push((login.user.to_string(), stream, 1));
        }
        control.send(&status(CallbackState::Backchannel, "port 0"))?;
    } else {
        let mut conn = Reader::new(TcpStream::connect(callback_addr).ok()?);
        let Frame::CbChallenge { client_nonce } = conn.next()? else {
            return None;
        };
        let server_nonce = [id as u8 ^ 0xa5; 32];
        let proof = cb_hello_proof(&key, &client_nonce, &server_nonce, id);
        conn.send(&Frame::CbHello(faxnotify_core::wire::CbHello {
            session_id: id,
            server_nonce,
            proof,
        }))?;
        let Frame::CbReady(_) = conn.next()? else {
            return None;
        };
        control.send(&status(CallbackState::Reachable, "callback up"))?;
        callback = Some(conn);
    }
    loop {
        match control.next() {
            Some(Frame::Ping { nonce }) => control.send(&Frame::Pong { nonce })?,
            Some(Frame::Pong { .. } | Frame::Ack { .. }) => {}
            Some(Frame::Logout) => {
                control.send(&Frame::Bye {
                    reason: ByeReason::Logout,
                })?;
                if let Some(conn) = &mut callback {
                    let _ = conn.send(&Frame::Bye {
                        reason: ByeReason::Logout,
                    });
                }
                break;
            }
            Some(Frame::Error(_)) | None => break,
            Some(_) => {
                let _ = control.send(&Frame::error(ErrorCode::UnexpectedFrame, "unexpected"));
                break;
            }
        }
    }
    if let Some(conn) = &callback {
        let _ = conn.stream.shutdown(Shutdown::Both);
    }
    let _ = control.stream.shutdown(Shutdown::Both);
    Some(())
}
