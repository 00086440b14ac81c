//! faxnotify's server core on a background thread over real sockets, for
//! the conformance suite, with an in-process notification trigger.
//!
//! [`ServerFaults`] turn it into a mutant by changing what passes between
//! the sockets and the core — never the core itself: ACK frames dropped
//! before the core sees them, the dial address rewritten, LOGIN_OK's
//! signature zeroed, BYE on callbacks, ERROR MALFORMED or the
//! CALLBACK_STATUS of a failed path dropped on the way out, redials refused,
//! callbacks the core closed kept open while bytes trickle in.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use faxnotify_conformance::{NotifyTrigger, ServerTarget};
use faxnotify_core::ConnId;
use faxnotify_core::server::{
    ConnectError, Input, MemoryUserStore, Output, Server, ServerConfig, Target,
};
use faxnotify_core::wire::{CallbackState, ErrorCode, FrameType, Notification};

use super::sockets::{ReadOutcome, Sockets};

/// Faults injected between the sockets and the core.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerFaults {
    /// Drop every ACK frame the clients send before the core sees it.
    pub drop_acks: bool,
    /// Dial this IP instead of the one the core asks for (same port).
    pub dial_ip: Option<IpAddr>,
    /// Zero LOGIN_OK.server_signature on the way out.
    pub zero_signature: bool,
    /// Drop BYE frames on callback connections (the close still comes).
    pub drop_callback_bye: bool,
    /// Drop ERROR MALFORMED frames: the connection just closes, unexplained.
    pub malformed_as_close: bool,
    /// Drop CALLBACK_STATUS unreachable and backchannel: a failed callback
    /// handshake goes unreported (the core still retries).
    pub hide_failed_status: bool,
    /// Fail every dial to an address the server has dialled before (no redial).
    pub dial_once: bool,
    /// A callback the core closes before its CB_CHALLENGE arrived whole stays
    /// open until 5 s pass without a byte: a handshake timer that restarts
    /// on every byte, not the fixed 5 s of [B-7].
    pub idle_callback_timer: bool,
}

/// The 5 s of [B-7]: how long a callback must stay quiet under
/// `idle_callback_timer` before the mutant closes it.
const IDLE_CALLBACK_CLOSE: Duration = Duration::from_secs(5);

/// Bytes of a whole CB_CHALLENGE (4 length, 1 type, 32 nonce).
const CB_CHALLENGE_LEN: usize = 37;

struct Request {
    user: String,
    text: String,
    reply: Sender<Result<(), String>>,
}

/// A running server; stopped when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    requests: Sender<Request>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The in-process notification trigger: asks the server thread to call
/// `Server::notify` and waits for the answer.
struct ChannelTrigger(Sender<Request>);

impl NotifyTrigger for ChannelTrigger {
    fn notify(&self, user: &str, text: &str) -> Result<(), String> {
        let (reply, answer) = channel();
        self.0
            .send(Request {
                user: user.to_owned(),
                text: text.to_owned(),
                reply,
            })
            .map_err(|_| "the server thread is gone".to_owned())?;
        answer
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "no answer from the server thread".to_owned())?
    }

    fn describe(&self) -> String {
        "in-process Server::notify".to_owned()
    }
}

/// The users every test server knows.
pub const USERS: [(&str, &str); 2] = [("alice", "correct horse"), ("bob", "battery staple")];

/// The test servers' handshake timeout [C-9]; give it to the suite
/// (`Timeouts::handshake`, `--handshake-timeout`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// A configuration for tests: a 5 s lease and a 3 s handshake timeout keep
/// the slow cases short.
pub fn test_config() -> ServerConfig {
    let mut config = ServerConfig::new([7; 32]);
    config.server_name = "faxnotify (conformance test)".to_owned();
    config.lease = Duration::from_secs(5);
    config.handshake_timeout = HANDSHAKE_TIMEOUT;
    config
}

impl RunningServer {
    /// Starts a server on 127.0.0.1 with [`USERS`].
    pub fn start(config: ServerConfig, faults: ServerFaults) -> Self {
        let mut users = MemoryUserStore::new();
        for (i, (user, password)) in USERS.iter().enumerate() {
            let salt = [i as u8 + 1; 16];
            users
                .add_password(
                    user,
                    password,
                    &salt,
                    faxnotify_core::auth::DEFAULT_ITERATIONS,
                    faxnotify_core::wire::Role::User,
                )
                .expect("valid test users");
        }
        let server = Server::new(config, Box::new(users), [9; 32]).expect("a valid config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("the listener's address");
        let (requests, inbox) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || run(server, listener, inbox, &flag, faults));
        Self {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The control address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A suite target for this server: the first user, the second user, the trigger.
    pub fn target(&self) -> ServerTarget {
        let mut target = ServerTarget::new(self.addr, USERS[0].0, USERS[0].1);
        target.second_user = Some((USERS[1].0.to_owned(), USERS[1].1.to_owned()));
        target.trigger = Some(Box::new(ChannelTrigger(self.requests.clone())));
        target
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Passes a byte stream through, minus every ACK frame (length 9, type 0x24).
/// Bytes go on at once except the 5 header bytes of a frame of length 9,
/// which wait for the type byte; anything that is not a frame (length 0 or
/// above 65 535) turns the filter off.
#[derive(Default)]
struct AckFilter {
    header: Vec<u8>,
    remaining: usize,
    dropping: bool,
    off: bool,
}

impl AckFilter {
    fn filter(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if self.off {
                out.extend_from_slice(&data[i..]);
                break;
            }
            if self.remaining > 0 {
                let n = self.remaining.min(data.len() - i);
                if !self.dropping {
                    out.extend_from_slice(&data[i..i + n]);
                }
                self.remaining -= n;
                i += n;
                continue;
            }
            self.header.push(data[i]);
            i += 1;
            if self.header.len() < 4 {
                continue;
            }
            let len = u32::from_be_bytes([
                self.header[0],
                self.header[1],
                self.header[2],
                self.header[3],
            ]);
            if len != 9 {
                out.append(&mut self.header);
                if len == 0 || len > 65_535 {
                    self.off = true;
                } else {
                    self.remaining = len as usize;
                    self.dropping = false;
                }
                continue;
            }
            if self.header.len() < 5 {
                continue;
            }
            self.dropping = self.header[4] == FrameType::Ack.to_wire();
            if !self.dropping {
                out.extend_from_slice(&self.header);
            }
            self.header.clear();
            self.remaining = 8;
        }
        out
    }
}

/// Zeroes the server_signature of every LOGIN_OK in a transmit (whole frames).
fn zero_login_ok_signature(data: &mut [u8]) {
    let mut i = 0;
    while i + 5 <= data.len() {
        let len = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        let end = i + 4 + len;
        if end > data.len() {
            break;
        }
        if data[i + 4] == FrameType::LoginOk.to_wire() && len == 50 {
            data[end - 32..end].fill(0);
        }
        i = end;
    }
}

/// Removes from a transmit (whole frames) every frame `drop` picks, given
/// its type byte and body.
fn drop_frames(data: &mut Vec<u8>, drop: impl Fn(u8, &[u8]) -> bool) {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i + 5 <= data.len() {
        let len = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        let end = (i + 4 + len).min(data.len());
        if !drop(data[i + 4], &data[i + 5..end]) {
            out.extend_from_slice(&data[i..end]);
        }
        i = end;
    }
    out.extend_from_slice(&data[i..]);
    *data = out;
}

/// The faults of `faults` that act on a transmit of `conn`.
fn mutate_transmit(faults: &ServerFaults, callback: bool, data: &mut Vec<u8>) {
    if faults.zero_signature {
        zero_login_ok_signature(data);
    }
    let error = FrameType::Error.to_wire();
    let malformed = ErrorCode::Malformed.to_wire().to_be_bytes();
    let bye = FrameType::Bye.to_wire();
    let status = FrameType::CallbackStatus.to_wire();
    let reachable = CallbackState::Reachable.to_wire();
    drop_frames(data, |ty, body| {
        (faults.malformed_as_close && ty == error && body.starts_with(&malformed))
            || (faults.drop_callback_bye && callback && ty == bye)
            || (faults.hide_failed_status && ty == status && body.first() != Some(&reachable))
    });
}

/// A callback socket the core closed that the `idle_callback_timer` mutant
/// keeps open.
struct Lingering {
    last_byte: Instant,
}

fn run(
    mut server: Server,
    listener: TcpListener,
    inbox: Receiver<Request>,
    stop: &AtomicBool,
    faults: ServerFaults,
) {
    let mut sockets = Sockets::default();
    let mut filters: HashMap<ConnId, AckFilter> = HashMap::new();
    // Callback connections: bytes received so far and when the last came.
    let mut callbacks: HashMap<ConnId, (usize, Instant)> = HashMap::new();
    let mut lingering: HashMap<ConnId, Lingering> = HashMap::new();
    let mut dialled: HashSet<SocketAddr> = HashSet::new();
    let log = std::env::var_os("FNP1_HARNESS_LOG").is_some();
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        let now = Instant::now();
        while let Ok((stream, peer)) = listener.accept() {
            busy = true;
            let conn = server.handle_accept(now, peer);
            sockets.insert(conn, stream);
        }
        for (conn, outcome) in sockets.read_all() {
            busy = true;
            if let Some(linger) = lingering.get_mut(&conn) {
                match outcome {
                    ReadOutcome::Data(_) => linger.last_byte = now,
                    ReadOutcome::Closed => {
                        lingering.remove(&conn);
                    }
                }
                continue;
            }
            if let (Some(seen), ReadOutcome::Data(data)) = (callbacks.get_mut(&conn), &outcome) {
                *seen = (seen.0 + data.len(), now);
            }
            let _ = match outcome {
                ReadOutcome::Data(data) if faults.drop_acks => {
                    let data = filters.entry(conn).or_default().filter(&data);
                    server.handle_input(now, Input::Received { conn, data: &data })
                }
                ReadOutcome::Data(data) => {
                    server.handle_input(now, Input::Received { conn, data: &data })
                }
                ReadOutcome::Closed => {
                    filters.remove(&conn);
                    server.handle_input(now, Input::Closed { conn })
                }
            };
        }
        while let Ok(request) = inbox.try_recv() {
            busy = true;
            let notification = Notification::server_message(request.text);
            let result = match server.notify(now, Target::User(request.user), &notification) {
                Ok(report) if report.all_accepted() => Ok(()),
                Ok(report) => Err(format!("refused: {:?}", report.refused)),
                Err(e) => Err(e.to_string()),
            };
            let _ = request.reply.send(result);
        }
        if server.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            server.handle_timeout(Instant::now());
            busy = true;
        }
        while let Some(output) = server.poll_output() {
            busy = true;
            match output {
                Output::Connect { conn, addr } => {
                    let addr = faults
                        .dial_ip
                        .map_or(addr, |ip| SocketAddr::new(ip, addr.port()));
                    let again = !dialled.insert(addr);
                    let refused = faults.dial_once && again;
                    let dial = if refused {
                        Err(std::io::ErrorKind::ConnectionRefused.into())
                    } else {
                        TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    };
                    let input = match dial {
                        Ok(stream) => {
                            callbacks.insert(conn, (0, Instant::now()));
                            sockets.insert(conn, stream);
                            Input::Connected { conn }
                        }
                        Err(err) => Input::ConnectFailed {
                            conn,
                            error: ConnectError::from_io(&err),
                        },
                    };
                    let _ = server.handle_input(Instant::now(), input);
                }
                Output::Transmit { conn, mut data } => {
                    mutate_transmit(&faults, callbacks.contains_key(&conn), &mut data);
                    sockets.transmit(conn, &data);
                }
                Output::Close { conn, .. } => {
                    filters.remove(&conn);
                    match callbacks.remove(&conn) {
                        Some((seen, last_byte))
                            if faults.idle_callback_timer && seen < CB_CHALLENGE_LEN =>
                        {
                            lingering.insert(conn, Lingering { last_byte });
                        }
                        _ => sockets.close(conn),
                    }
                }
                Output::Event(event) if log => eprintln!("server: {event}"),
                _ => {}
            }
        }
        lingering.retain(|conn, linger| {
            let keep = linger.last_byte.elapsed() < IDLE_CALLBACK_CLOSE;
            if !keep {
                sockets.close(*conn);
            }
            keep
        });
        sockets.flush_all();
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxnotify_core::wire::Frame;

    #[test]
    fn the_ack_filter_drops_acks_only_and_passes_everything_else_at_once() {
        let ack = Frame::Ack { seq: 3 }.to_vec().unwrap();
        let ping = Frame::Ping { nonce: 3 }.to_vec().unwrap();
        let logout = Frame::Logout.to_vec().unwrap();
        let mut stream = Vec::new();
        for f in [&ack, &ping, &ack, &logout] {
            stream.extend_from_slice(f);
        }
        let mut expected = ping.clone();
        expected.extend_from_slice(&logout);
        let mut filter = AckFilter::default();
        let mut out = Vec::new();
        for byte in &stream {
            out.extend(filter.filter(std::slice::from_ref(byte)));
        }
        assert_eq!(out, expected);
        // A length prefix that is not a frame's goes through at once.
        let mut filter = AckFilter::default();
        assert_eq!(filter.filter(&[0, 0, 0x10, 0x32]), [0, 0, 0x10, 0x32]);
    }
}
