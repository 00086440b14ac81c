//! A server whose log nobody reads keeps serving (issue 17, case 2): its
//! standard error is a pipe the test stops reading once the server is up,
//! while a connection flood runs and a legitimate client receives. Before,
//! the thread that drains the runtime's events blocked in its log write,
//! the runtime stopped reading the network, and accepted notifications were
//! lost.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{RUNTIMES, Stream, WAIT, add_users, bin, json, start_json_client};

const PASSWORD: &str = "correct horse battery";
/// Notifications sent while the log is stalled; their log lines alone are
/// more than the (shrunk) pipe holds.
const NOTIFICATIONS: u64 = 300;

/// A server whose stderr the test reads only until it is up.
struct StalledServer {
    child: Child,
    stderr: BufReader<ChildStderr>,
    addr: SocketAddr,
    admin: std::path::PathBuf,
    /// The lines read before the test stopped reading.
    head: Vec<String>,
}

impl StalledServer {
    fn start(runtime: &str, users: &std::path::Path, dir: &std::path::Path) -> Self {
        let admin = dir.join(format!("admin-{runtime}.sock"));
        let mut child = Command::new(bin())
            .args(["server", "--runtime", runtime, "--listen", "127.0.0.1:0"])
            .arg("--users")
            .arg(users)
            .arg("--admin-socket")
            .arg(&admin)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the faxnotify binary starts");
        let stderr = child.stderr.take().expect("stderr");
        // The smallest pipe the kernel allows (a page), so that a few dozen
        // lines fill it.
        nix::fcntl::fcntl(&stderr, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096))
            .expect("the pipe can be shrunk");
        let mut stderr = BufReader::new(stderr);
        let mut head = Vec::new();
        let mut addr = None;
        loop {
            let mut line = String::new();
            let n = stderr.read_line(&mut line).expect("read stderr");
            assert!(n > 0, "the server ended: {head:?}");
            if let Some(rest) = line.split("listening on ").nth(1) {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            }
            let up = line.contains("admin socket at");
            head.push(line);
            if up {
                break;
            }
        }
        Self {
            child,
            stderr,
            addr: addr.expect("a listen address"),
            admin,
            head,
        }
    }

    /// Stops the server (Ctrl-C) and reads its log to the end: the lines
    /// queued while nobody read, then those of the shutdown, which ends
    /// with the summaries of the unfinished interval. Returns every line
    /// and the exit status.
    ///
    /// The end of the log is what the test waits for, not a line within a
    /// deadline: the flood's summary is due at the first tick after its
    /// interval, and a wall-clock deadline also runs while the processes
    /// are stopped (SIGSTOP); continued, the test found its deadline
    /// passed before the server, continued a moment later, could write.
    fn stop_and_read_to_end(&mut self) -> (Vec<String>, ExitStatus) {
        faxnotify_testkit::process::send_signal(self.child.id(), "INT");
        let mut lines = std::mem::take(&mut self.head);
        // Bytes, not `read_line`: a line cut at exit (the writer gives up
        // on a stalled output) must not end the reading with an error.
        for line in (&mut self.stderr).split(b'\n') {
            let line = line.expect("read stderr");
            lines.push(format!("{}\n", String::from_utf8_lossy(&line)));
        }
        let status = self.child.wait().expect("the server's exit status");
        (lines, status)
    }
}

impl Drop for StalledServer {
    /// A test that failed midway leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Connects, sends garbage and hangs up, over and over, until `stop`:
/// connections refused and protocol errors before login, each an event.
fn flood(addr: SocketAddr, stop: Arc<AtomicBool>, made: Arc<AtomicU64>) {
    while !stop.load(Ordering::SeqCst) {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            let _ = stream.write_all(&[0xff; 64]);
            made.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_stalled_log_and_a_flood_do_not_stop_deliveries() {
    for runtime in RUNTIMES {
        stalled_log_on(runtime);
    }
}

fn stalled_log_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = StalledServer::start(runtime, &users, dir.path());

    let mut client = start_json_client(dir.path(), runtime, server.addr, "alice", PASSWORD);
    let is_event = |l: &str, event: &str| json(l).is_some_and(|v| v["event"] == event);

    // The flood runs until the end; wait until it has made far more
    // events than the pipe and the runtime's event channel hold.
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let flooder = {
        let (addr, stop, made) = (server.addr, Arc::clone(&stop), Arc::clone(&made));
        std::thread::spawn(move || flood(addr, stop, made))
    };
    let deadline = Instant::now() + WAIT;
    while made.load(Ordering::SeqCst) < 3000 {
        assert!(
            Instant::now() < deadline,
            "{runtime}: the server stopped accepting connections during the flood ({} in {WAIT:?})",
            made.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The fax engine sends; every accepted notification arrives, in order.
    let mut admin = UnixStream::connect(&server.admin).expect("admin socket");
    admin.set_read_timeout(Some(WAIT)).unwrap();
    let mut replies = BufReader::new(admin.try_clone().unwrap());
    for i in 1..=NOTIFICATIONS {
        let request = format!(
            r#"{{"op":"notify","to":{{"user":"alice"}},"notification":{{"kind":"server_message","text":"n{i}"}}}}"#
        );
        admin.write_all(format!("{request}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        replies.read_line(&mut reply).expect("a reply");
        let reply = json(reply.trim()).unwrap_or_else(|| panic!("not JSON: {reply:?}"));
        assert_eq!(reply["accepted"][0]["seq"], i, "{reply}");
    }
    for i in 1..=NOTIFICATIONS {
        let line = client.wait_line(Stream::Out, "a notification", |l| {
            is_event(l, "notification")
        });
        let v = json(&line).unwrap();
        assert_eq!(v["seq"], i, "{line}");
        assert_eq!(v["fields"]["text"], format!("n{i}"), "{line}");
    }
    stop.store(true, Ordering::SeqCst);
    flooder.join().unwrap();
    let flood_size = made.load(Ordering::SeqCst);

    // Reading again, to the end of the log: the queued lines come out, and
    // the flood is a few summary lines, not one line per connection.
    drop(client);
    let (seen, status) = server.stop_and_read_to_end();
    assert!(status.success(), "{runtime}: {status}");
    assert!(
        seen.iter()
            .any(|l| l.contains("more connections refused") || l.contains("more protocol errors")),
        "{runtime}: no summary of the flood; stderr:\n{}",
        seen.concat()
    );
    let one_by_one = seen
        .iter()
        .filter(|l| l.contains("connection refused conn#") || l.contains("protocol error conn#"))
        .count();
    assert!(
        (one_by_one as u64) < flood_size / 10,
        "{runtime}: {one_by_one} lines for {flood_size} connections"
    );
}
