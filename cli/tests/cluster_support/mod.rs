//! What the cluster tests share: a NATS cluster (or the skip message),
//! `faxnotify server --cluster` processes, and a TCP relay that a client
//! connects through, so that its reconnects can be sent to another server
//! (the client takes one server address until it learns several).
#![allow(dead_code)] // each test file uses a part of this

pub mod raw;
pub mod valve;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use faxnotify_cluster::harness::{NatsCluster, skip_unless_available};

use crate::common::{TestServer, add_users};

/// A fresh 3-node NATS cluster, or `None` (and the skip message) when
/// nats-server is absent; under `FAXNOTIFY_NATS_TEST=require` that fails.
pub fn nats(test: &str) -> Option<NatsCluster> {
    if skip_unless_available(test) {
        return None;
    }
    Some(NatsCluster::start(3).unwrap_or_else(|err| panic!("{err}")))
}

/// A test's directory, with its users file and a cluster secret (32
/// bytes, mode 0600) the test's servers share.
pub struct Bed {
    pub dir: tempfile::TempDir,
    pub users: PathBuf,
    pub secret: PathBuf,
}

impl Bed {
    /// A fresh directory with `users` (name, password) in its users file.
    pub fn new(users: &[(&str, &str)]) -> Bed {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let users_file = dir.path().join("users.toml");
        add_users(&users_file, users);
        let secret = dir.path().join("cluster.secret");
        std::fs::write(&secret, [0x5a; 32]).expect("write the secret");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        Bed {
            dir,
            users: users_file,
            secret,
        }
    }

    /// `faxnotify server --cluster` in its own directory `name` (its
    /// admin socket there), on `nats`, with `extra` arguments.
    pub fn server(&self, name: &str, nats: &NatsCluster, extra: &[&str]) -> TestServer {
        self.server_on(name, &nats.urls(), extra)
    }

    /// `faxnotify server --cluster URLS` (as [`Bed::server`], with the
    /// NATS addresses given: relays, say).
    pub fn server_on(&self, name: &str, urls: &[String], extra: &[&str]) -> TestServer {
        let own = self.dir.path().join(name);
        std::fs::create_dir_all(&own).expect("server dir");
        let urls = urls.join(",");
        let mut args = vec![
            "--cluster",
            urls.as_str(),
            "--cluster-secret",
            self.secret.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        TestServer::start("tokio", &self.users, &own, &args)
    }
}

/// A TCP relay on 127.0.0.1: each connection it accepts is relayed to the
/// current target (connections already relayed stay where they are).
pub struct Relay {
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
}

impl Relay {
    pub fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let addr = listener.local_addr().expect("relay addr");
        let target = Arc::new(Mutex::new(target));
        let to = Arc::clone(&target);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let at = *to.lock().unwrap_or_else(PoisonError::into_inner);
                match TcpStream::connect(at) {
                    Ok(server) => pipe(client, server),
                    Err(_) => drop(client), // as the dead server would
                }
            }
        });
        Relay { addr, target }
    }

    /// New connections go to `target` from now on.
    pub fn point_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }
}

/// A TCP relay to one NATS node that can be cut: every connection it
/// relays is closed and later ones are closed at once, as a partition
/// between one server and the bus looks to that server.
pub struct CutRelay {
    pub addr: SocketAddr,
    cut: Arc<Mutex<bool>>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl CutRelay {
    /// Relays to `target` (`nats://127.0.0.1:P`).
    pub fn start(target: &str) -> CutRelay {
        let target: SocketAddr = target
            .trim_start_matches("nats://")
            .parse()
            .expect("a nats://IP:PORT url");
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let addr = listener.local_addr().expect("relay addr");
        let cut = Arc::new(Mutex::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (is_cut, streams) = (Arc::clone(&cut), Arc::clone(&live));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                // Checked and registered under the lock, so `cut` closes
                // every connection it lets through.
                let mut streams = streams.lock().unwrap_or_else(PoisonError::into_inner);
                if *is_cut.lock().unwrap_or_else(PoisonError::into_inner) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for s in [&client, &server] {
                    if let Ok(clone) = s.try_clone() {
                        streams.push(clone);
                    }
                }
                pipe(client, server);
            }
        });
        CutRelay { addr, cut, live }
    }

    /// The URL a server is given.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Closes every relayed connection and every later one.
    pub fn cut(&self) {
        let mut streams = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        *self.cut.lock().unwrap_or_else(PoisonError::into_inner) = true;
        for s in streams.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn pipe(a: TcpStream, b: TcpStream) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    for (mut from, mut to) in [
        (a.try_clone().expect("clone"), b.try_clone().expect("clone")),
        (b, a),
    ] {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
}

/// A connection to a server's admin socket that notifies one request at a
/// time and waits for each reply (report lines in between are kept).
pub struct Admin {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    next: u64,
    /// Report lines seen so far.
    pub reports: Vec<serde_json::Value>,
}

impl Admin {
    pub fn connect(path: &Path) -> Admin {
        let stream = std::os::unix::net::UnixStream::connect(path).expect("admin socket");
        stream
            .set_read_timeout(Some(crate::common::WAIT))
            .expect("read timeout");
        Admin {
            reader: std::io::BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
            next: 1,
            reports: Vec::new(),
        }
    }

    /// Sends a server message `text` to `user` and returns the reply
    /// (`{"ok":true,..}` when accepted).
    pub fn notify(&mut self, user: &str, text: &str) -> serde_json::Value {
        use std::io::BufRead as _;
        let id = format!("r{}", self.next);
        self.next += 1;
        let request = serde_json::json!({"op": "notify", "id": id, "to": {"user": user},
            "notification": {"kind": "server_message", "text": text}});
        writeln!(self.writer, "{request}").expect("admin write");
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("admin reply");
            assert!(n > 0, "the admin socket closed before replying to {id}");
            let Some(v) = crate::common::json(&line) else {
                continue;
            };
            if v.get("ok").is_some() && v["id"] == id.as_str() {
                return v;
            }
            self.reports.push(v);
        }
    }
}

/// A connection to a server's admin socket for requests written at will:
/// every line it answers (replies and report lines) goes to the channel,
/// read by a thread of its own.
pub fn admin_lines(
    path: &Path,
) -> (
    std::os::unix::net::UnixStream,
    std::sync::mpsc::Receiver<serde_json::Value>,
) {
    use std::io::BufRead as _;
    let stream = std::os::unix::net::UnixStream::connect(path).expect("admin socket");
    let requests = stream.try_clone().expect("clone");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if let Some(v) = crate::common::json(&line)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    (requests, lines)
}

/// Notifies `user` with `text` (id `text`, delivery reports if `reports`)
/// on an admin socket ([`admin_lines`]) and returns the admin reply (its
/// `log_seq`, its `recipients`); other lines are kept in `others`.
pub fn admin_notify(
    requests: &mut std::os::unix::net::UnixStream,
    lines: &std::sync::mpsc::Receiver<serde_json::Value>,
    others: &mut Vec<serde_json::Value>,
    user: &str,
    text: &str,
    reports: bool,
) -> serde_json::Value {
    let request = serde_json::json!({"op": "notify", "id": text, "delivery_reports": reports,
        "to": {"user": user}, "notification": {"kind": "server_message", "text": text}});
    use std::io::Write as _;
    writeln!(requests, "{request}").expect("admin write");
    loop {
        let line = lines
            .recv_timeout(crate::common::WAIT)
            .expect("an admin reply");
        if line.get("ok").is_some() && line["id"] == text {
            assert_eq!(line["ok"], true, "{line}");
            return line;
        }
        others.push(line);
    }
}

/// Notifications a `faxnotify client --json` printed: (seq, text).
pub fn notifications(client: &crate::common::Running) -> Vec<(u64, String)> {
    client
        .seen
        .iter()
        .filter_map(|(_, l)| crate::common::json(l))
        .filter(|v| v["event"] == "notification")
        .map(|v| {
            (
                v["seq"].as_u64().expect("seq"),
                v["fields"]["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The next `n` notifications `client` prints from here: (seq, text).
pub fn next_notifications(client: &mut crate::common::Running, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let line = client.wait_line(crate::common::Stream::Out, "a notification", |l| {
            crate::common::json(l).is_some_and(|v| v["event"] == "notification")
        });
        let v = crate::common::json(&line).expect("json");
        let text = v["fields"]["text"].as_str().unwrap_or_default().to_owned();
        got.push((v["seq"].as_u64().expect("seq"), text));
    }
    got
}

/// Waits until `client` printed the notification `text`.
pub fn wait_for_text(client: &mut crate::common::Running, text: &str) {
    if notifications(client).iter().any(|(_, t)| t == text) {
        return;
    }
    client.wait_line(crate::common::Stream::Out, text, |l| {
        crate::common::json(l)
            .is_some_and(|v| v["event"] == "notification" && v["fields"]["text"] == text)
    });
}

/// The session of the client's first login.
pub fn first_session(client: &crate::common::Running) -> serde_json::Value {
    client
        .seen
        .iter()
        .find_map(|(_, l)| crate::common::json(l).filter(|v| v["event"] == "logged_in"))
        .map(|v| v["session"].clone())
        .expect("logged in")
}

/// `texts` as one session gets them: (seq, text) with seqs 1, 2, ...
pub fn numbered(texts: &[String]) -> Vec<(u64, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u64 + 1, t.clone()))
        .collect()
}

/// Asserts `client` got exactly `texts`, in order, with seqs 1, 2, ...,
/// in one session (resumed, never reported as possibly missed).
pub fn assert_exactly(client: &crate::common::Running, texts: &[String]) {
    assert_eq!(
        notifications(client),
        numbered(texts),
        "every accepted notification once, in order; output:\n{}",
        client.dump()
    );
    let session = first_session(client);
    for (_, line) in &client.seen {
        let Some(v) = crate::common::json(line) else {
            continue;
        };
        assert!(
            !(line.contains("may_have_missed") || v["event"] == "session_ended"),
            "{}",
            client.dump()
        );
        if v["event"] == "logged_in" {
            assert_eq!(v["session"], session, "{}", client.dump());
        }
    }
}

/// The cluster's log seen from the test: how far its age limit trimmed it.
pub struct LogWatch {
    runtime: tokio::runtime::Runtime,
    bus: faxnotify_cluster::Bus,
}

impl LogWatch {
    pub fn new(nats: &NatsCluster) -> LogWatch {
        use faxnotify_cluster::{Bus, BusConfig, ClusterSecret, ServerId};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let bus = runtime
            .block_on(Bus::connect(
                BusConfig::new(nats.urls()),
                ServerId(0x0b5e),
                ClusterSecret::from_bytes(&[0x5a; 32]),
            ))
            .unwrap_or_else(|err| panic!("{err}"));
        LogWatch { runtime, bus }
    }

    /// Whether the log no longer holds `seq` (its first seq is past it).
    pub fn trimmed(&self, seq: u64) -> bool {
        let bounds = self
            .runtime
            .block_on(self.bus.log_bounds())
            .unwrap_or_else(|err| panic!("{err}"));
        bounds.first.0 > seq
    }

    /// Waits until the log no longer holds `seq`, asking every 200 ms.
    pub fn wait_until_trimmed(&self, seq: u64, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        while !self.trimmed(seq) {
            assert!(
                std::time::Instant::now() < deadline,
                "the log still holds {seq} after {within:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// A `faxnotify client --json` of `user` (password `password`) with
/// `servers` in its settings, in that order, once its callback is
/// reachable.
pub fn cluster_client(
    dir: &Path,
    user: &str,
    password: &str,
    servers: &[SocketAddr],
) -> crate::common::Running {
    crate::common::start_json_client_of(dir, "tokio", servers, user, password, None)
}
