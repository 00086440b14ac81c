//! faxnotify's client core as a process the conformance suite can start:
//! the test binary runs itself (an ignored test is the entry point) with the
//! suite's placeholders in environment variables, drives the core over real
//! sockets, and prints every delivered notification on stdout under the
//! suite's stdout contract (docs/conformance.md).
//!
//! A [`ClientFault`] turns it into a mutant: one that prints every delivery
//! twice, or one whose callback connections are answered by a hand-written
//! handler that accepts any CB_HELLO. The core itself is never changed.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use faxnotify_core::ConnId;
use faxnotify_core::client::{BindError, Client, ClientConfig, ConnectError, Event, Input, Output};
use faxnotify_core::wire::{CbReady, Decoder, Frame, Notification};
use faxnotify_settings::SettingsFile;
use serde_json::json;

use super::sockets::{ReadOutcome, Sockets};

/// The fault a mutant client injects.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientFault {
    /// None: faxnotify's client as it is.
    None,
    /// Hands (prints) every notification to the application twice [B-3].
    DuplicateDelivery,
    /// Answers callback connections itself, accepting any CB_HELLO [B-1].
    AcceptAnyCbHello,
}

impl ClientFault {
    fn name(self) -> &'static str {
        match self {
            ClientFault::None => "none",
            ClientFault::DuplicateDelivery => "duplicate-delivery",
            ClientFault::AcceptAnyCbHello => "accept-any-cb-hello",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            ClientFault::None,
            ClientFault::DuplicateDelivery,
            ClientFault::AcceptAnyCbHello,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

const ENV: &str = "FNP1_CLIENT_PROCESS";

/// The client command line for the suite: this test binary, re-run as the
/// client through the ignored test `entry_test` (its name in the binary).
pub fn command(fault: ClientFault, entry_test: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary's path");
    [
        "env",
        &format!("{ENV}={}", fault.name()),
        "FNP1_PASSWORD_FILE={password_file}",
        "FNP1_SETTINGS={settings_file}",
        "FNP1_USER={user}",
        &exe.display().to_string(),
        "--ignored",
        "--exact",
        entry_test,
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// The body of the ignored entry test: runs the client and exits the
/// process with its status (0 logged out, 2 stopped).
pub fn entry() {
    let Ok(fault) = std::env::var(ENV) else {
        panic!("this entry point is started by the conformance suite, with {ENV} set");
    };
    let fault = ClientFault::from_name(&fault).expect("a known fault");
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let settings = SettingsFile::load(var("FNP1_SETTINGS")).expect("a valid settings file");
    let server_text = settings
        .server
        .as_deref()
        .expect("the settings name the server");
    let server: SocketAddr = server_text.parse().expect("the server as ip:port");
    let tls = super::tls::client_tls(&settings.tls, server_text);
    let password = std::fs::read_to_string(var("FNP1_PASSWORD_FILE")).expect("the password file");
    let mut config = ClientConfig::new(server, var("FNP1_USER"), password, settings.network);
    config.tls = tls;
    std::process::exit(run(config, fault));
}

fn seed() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    seed
}

/// One line of the stdout contract for a delivered notification.
pub fn contract_line(seq: u64, n: &Notification) -> String {
    let (payload, malformed) = match n {
        Notification::Unknown { payload, .. } => (payload.to_vec(), false),
        Notification::Malformed { payload, .. } => (payload.to_vec(), true),
        other => (
            other.to_payload().map(|b| b.to_vec()).unwrap_or_default(),
            false,
        ),
    };
    let fields = match n {
        Notification::FaxReceived(f) => {
            json!({"job": f.job, "from": f.from.as_str(), "to": f.to.as_str(),
            "pages": f.pages, "received_at_ms": f.received_at_ms})
        }
        Notification::JobStatus(j) => {
            json!({"job": j.job, "state": j.state.to_wire(), "page": j.page,
            "pages": j.pages, "attempt": j.attempt, "detail": j.detail.as_str()})
        }
        Notification::ServerMessage(m) => json!({"text": m.text.as_str()}),
        Notification::DeviceStatus(d) => {
            json!({"device": d.device.as_str(), "state": d.state.to_wire(),
            "detail": d.detail.as_str()})
        }
        Notification::FaxUpdated(f) => {
            json!({"job": f.job, "change": f.change.to_wire(), "by": f.by.as_str(),
            "comment": f.comment.as_str()})
        }
        _ => serde_json::Value::Null,
    };
    let mut line = json!({"event": "notification", "seq": seq, "kind": n.kind(),
        "payload": hex::encode(payload), "malformed": malformed});
    if !fields.is_null() {
        line["fields"] = fields;
    }
    line.to_string()
}

/// A callback answered by hand, without the core (the accept-any-CB_HELLO mutant).
struct HandCallback {
    decoder: Decoder,
}

fn run(config: ClientConfig, fault: ClientFault) -> i32 {
    let mut client = match Client::new(config, seed(), Instant::now()) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("client: {e}");
            return 2;
        }
    };
    let mut sockets = Sockets::default();
    let mut listener: Option<TcpListener> = None;
    let mut hand: HashMap<ConnId, HandCallback> = HashMap::new();
    let mut hand_last_seq = 0u64;
    let mut exit = 0;
    loop {
        let now = Instant::now();
        // 1. Carry out everything the client asked for.
        while let Some(output) = client.poll_output() {
            match output {
                Output::Listen { addr } => {
                    let input = match TcpListener::bind(addr) {
                        Ok(l) => {
                            let _ = l.set_nonblocking(true);
                            let local = l.local_addr().unwrap_or(addr);
                            listener = Some(l);
                            Input::Bound { local }
                        }
                        Err(e) => Input::BindFailed {
                            addr,
                            error: BindError::from_io(&e),
                        },
                    };
                    let _ = client.handle_input(now, input);
                }
                Output::StopListening => listener = None,
                Output::Connect { conn, addr } => {
                    let input = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                        Ok(stream) => {
                            sockets.insert(conn, stream);
                            Input::Connected { conn }
                        }
                        Err(e) => Input::ConnectFailed {
                            conn,
                            error: ConnectError::from_io(&e),
                        },
                    };
                    let _ = client.handle_input(now, input);
                }
                Output::Transmit { conn, data } => {
                    sockets.transmit(conn, &data);
                    client.recycle(data);
                }
                Output::Close { conn, .. } => sockets.close(conn),
                Output::Event(Event::Notification { seq, notification }) => {
                    let line = contract_line(seq, &notification);
                    println!("{line}");
                    if fault == ClientFault::DuplicateDelivery {
                        println!("{line}");
                    }
                }
                Output::Event(Event::Stopped { reason }) => {
                    eprintln!("client stopped: {reason}");
                    exit = 2;
                }
                Output::Event(event) => eprintln!("client: {event:?}"),
                _ => {}
            }
        }
        if client.is_finished() {
            sockets.flush_all();
            return exit;
        }
        let mut busy = false;
        // 2. Accepts: to the core, or to the hand-written handler.
        if let Some(l) = &listener {
            while let Ok((stream, peer)) = l.accept() {
                busy = true;
                if fault == ClientFault::AcceptAnyCbHello {
                    let id = ConnId::from_raw(u64::MAX - hand.len() as u64);
                    sockets.insert(id, stream);
                    let challenge = Frame::CbChallenge {
                        client_nonce: seed(),
                    };
                    sockets.transmit(id, &challenge.to_vec().unwrap_or_default());
                    hand.insert(
                        id,
                        HandCallback {
                            decoder: Decoder::default(),
                        },
                    );
                } else {
                    let conn = client.handle_accept(now, peer);
                    sockets.insert(conn, stream);
                }
            }
        }
        // 3. Reads.
        for (conn, outcome) in sockets.read_all() {
            busy = true;
            if let Some(cb) = hand.get_mut(&conn) {
                let ReadOutcome::Data(data) = outcome else {
                    hand.remove(&conn);
                    continue;
                };
                let mut input = data.as_slice();
                let mut replies = Vec::new();
                while let Ok(Some(frame)) = cb.decoder.decode(&mut input) {
                    match frame {
                        // Accepts any CB_HELLO: the fault.
                        Frame::CbHello(_) => replies.push(Frame::CbReady(CbReady {
                            last_seq: hand_last_seq,
                            proof: [0; 32],
                        })),
                        Frame::Notify(n) => {
                            if n.seq == hand_last_seq + 1 {
                                hand_last_seq = n.seq;
                                let notification = Notification::decode(n.kind, &n.payload);
                                println!("{}", contract_line(n.seq, &notification));
                            }
                            replies.push(Frame::Ack { seq: hand_last_seq });
                        }
                        Frame::Ping { nonce } => replies.push(Frame::Pong { nonce }),
                        _ => {}
                    }
                }
                for reply in replies {
                    sockets.transmit(conn, &reply.to_vec().unwrap_or_default());
                }
                continue;
            }
            let input = match &outcome {
                ReadOutcome::Data(data) => Input::Received { conn, data },
                ReadOutcome::Closed => Input::Closed { conn },
            };
            let _ = client.handle_input(now, input);
        }
        sockets.flush_all();
        // 4. Timers.
        if client.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            client.handle_timeout(Instant::now());
            busy = true;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
