//! Helpers for the CLI's end-to-end tests: run the built `faxnotify`
//! binary, wait for its output lines (never for fixed sleeps), and stop it
//! by its pid.
#![allow(dead_code)] // each test file uses a part of this

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Generous: CI is a loaded two-core machine; waits end as soon as the line comes.
pub const WAIT: Duration = Duration::from_secs(60);

/// Every runtime, by its `--runtime` name.
pub const RUNTIMES: [&str; 3] = ["mio", "smol", "tokio"];

/// The built binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_faxnotify")
}

/// A `faxnotify` command for assert_cmd.
pub fn faxnotify() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(bin());
    cmd.env_remove("RUST_LOG")
        .env_remove("FAXNOTIFY_PASSWORD")
        .env_remove("FAXNOTIFY_ADMIN_SOCKET")
        .timeout(WAIT);
    cmd
}

/// Adds users to a users file (created if needed) through `user add --password-stdin`.
pub fn add_users(file: &Path, users: &[(&str, &str)]) {
    for (name, password) in users {
        faxnotify()
            .args(["user", "add", "--users"])
            .arg(file)
            .arg(name)
            .arg("--password-stdin")
            .write_stdin(format!("{password}\n"))
            .assert()
            .success();
    }
}

/// A TCP socket bound to `ip` on a port the kernel picks, neither
/// listening nor connected yet. Closed on exec, as std's sockets are: the
/// tests of a file run in parallel, and a socket inherited by a server
/// another test starts would take one of its descriptors (under a low
/// `ulimit -n`, all of them) and keep the connection open.
pub fn bound_socket(ip: Ipv4Addr) -> OwnedFd {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("a socket");
    let [a, b, c, d] = ip.octets();
    bind(fd.as_raw_fd(), &SockaddrIn::new(a, b, c, d, 0)).expect("bind");
    fd
}

/// A bound TCP socket that does not listen: dialling its port is refused,
/// and holding it keeps anyone else from taking the port meanwhile.
pub fn refusing_port() -> (OwnedFd, SocketAddr) {
    let fd = bound_socket(Ipv4Addr::LOCALHOST);
    let addr: nix::sys::socket::SockaddrIn =
        nix::sys::socket::getsockname(fd.as_raw_fd()).expect("getsockname");
    (fd, SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())))
}

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// A running `faxnotify` process whose output lines are collected.
pub struct Running {
    child: Child,
    lines: Receiver<(Stream, String)>,
    /// Every line seen so far, for failure messages.
    pub seen: Vec<(Stream, String)>,
    name: String,
}

impl Running {
    /// Starts `faxnotify ARGS` with piped output.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Running {
        Self::start_with_env(args, &[])
    }

    /// Starts `faxnotify ARGS` with piped output and `env` added to its environment.
    pub fn start_with_env<S: AsRef<std::ffi::OsStr>>(
        args: &[S],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Running {
        let mut command = Command::new(bin());
        command.args(args);
        Self::spawn(command, args, env)
    }

    /// Starts `faxnotify ARGS` like [`Running::start`], allowed at most
    /// `fds` open file descriptors (`ulimit -n`).
    pub fn start_with_fd_limit<S: AsRef<std::ffi::OsStr>>(args: &[S], fds: u32) -> Running {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {fds} && exec \"$0\" \"$@\""))
            .arg(bin())
            .args(args);
        Self::spawn(command, args, &[])
    }

    /// Spawns `command` (which runs `faxnotify ARGS`) with piped output.
    fn spawn<S: AsRef<std::ffi::OsStr>>(
        mut command: Command,
        args: &[S],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Running {
        command
            .env_remove("RUST_LOG")
            .env_remove("FAXNOTIFY_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the faxnotify binary starts");
        let (tx, lines) = mpsc::channel();
        for (stream, reader) in [
            (
                Stream::Out,
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            ),
            (Stream::Err, Box::new(child.stderr.take().expect("stderr"))),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { return };
                    if tx.send((stream, line)).is_err() {
                        return;
                    }
                }
            });
        }
        let name = args
            .iter()
            .take(2)
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Running {
            child,
            lines,
            seen: Vec::new(),
            name,
        }
    }

    /// Waits for a line of `stream` that `pred` accepts; panics with the
    /// output so far when none comes within [`WAIT`].
    pub fn wait_line(&mut self, stream: Stream, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((s, line)) => {
                    self.seen.push((s, line.clone()));
                    if s == stream && pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no {what} within {WAIT:?}; output:\n{}",
                        self.name,
                        self.dump()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: ended without {what}; output:\n{}",
                        self.name,
                        self.dump()
                    )
                }
            }
        }
    }

    /// Collects the lines that come within `wait` (into `seen`), without
    /// waiting for any one of them.
    pub fn collect_for(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
    }

    /// Everything seen so far.
    pub fn dump(&self) -> String {
        self.seen
            .iter()
            .map(|(s, l)| format!("[{s:?}] {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The lines seen so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<&str> {
        self.seen
            .iter()
            .filter(|(_, line)| line.contains(needle))
            .map(|(_, line)| line.as_str())
            .collect()
    }

    /// Sends SIGINT (Ctrl-C) to this process, by its pid.
    pub fn interrupt(&self) {
        faxnotify_testkit::process::signal(self.child.id(), "INT");
    }

    /// Kills this process at once (SIGKILL: no goodbye to its peers), by its
    /// pid, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit and collects the rest of its output.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Take the last lines (the readers end with the pipes).
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: did not exit within {WAIT:?}; output:\n{}",
                    self.name,
                    self.dump()
                );
            }
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A server on 127.0.0.1 with an OS-chosen port.
pub struct TestServer {
    pub process: Running,
    pub addr: SocketAddr,
    pub admin: PathBuf,
}

impl TestServer {
    /// The address of its metrics endpoint (a server started with
    /// `--metrics 127.0.0.1:0`), from its "metrics at http://ADDR/metrics"
    /// line, which comes before the "ready" line [`TestServer::start`]
    /// waits for.
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self
            .process
            .seen
            .iter()
            .map(|(_, l)| l)
            .find(|l| l.contains("metrics at http://"))
            .unwrap_or_else(|| panic!("no metrics line:\n{}", self.process.dump()));
        line.split("metrics at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// One scrape of its metrics: the body of `GET /metrics`.
    pub fn scrape(&self) -> String {
        http_get(self.metrics_addr(), "/metrics").2
    }

    /// Interrupts the server (Ctrl-C) and asserts that it exits cleanly
    /// (status 0), showing its output otherwise.
    pub fn stop_cleanly(&mut self) {
        self.process.interrupt();
        let status = self.process.wait_exit();
        assert!(status.success(), "{status}\n{}", self.process.dump());
    }

    /// Starts `faxnotify server` and waits until it listens and serves its admin socket.
    pub fn start(runtime: &str, users: &Path, dir: &Path, extra: &[&str]) -> TestServer {
        Self::start_with(runtime, users, dir, extra, None)
    }

    /// [`TestServer::start`], allowed at most `fds` open file descriptors.
    pub fn start_with_fd_limit(
        runtime: &str,
        users: &Path,
        dir: &Path,
        extra: &[&str],
        fds: u32,
    ) -> TestServer {
        Self::start_with(runtime, users, dir, extra, Some(fds))
    }

    fn start_with(
        runtime: &str,
        users: &Path,
        dir: &Path,
        extra: &[&str],
        fd_limit: Option<u32>,
    ) -> TestServer {
        let admin = dir.join(format!("admin-{runtime}.sock"));
        let mut args: Vec<String> = vec![
            "server".into(),
            "--runtime".into(),
            runtime.into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--users".into(),
            users.display().to_string(),
            "--admin-socket".into(),
            admin.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut process = match fd_limit {
            Some(fds) => Running::start_with_fd_limit(&args, fds),
            None => Running::start(&args),
        };
        let line = process.wait_line(Stream::Err, "\"listening on\"", |l| {
            l.contains("listening on ")
        });
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        process.wait_line(Stream::Err, "\"admin socket at\"", |l| {
            l.contains("admin socket at")
        });
        // Ctrl-C shuts the server down gracefully only from here on.
        process.wait_line(Stream::Err, "\"ready\"", |l| l.contains("ready: serving"));
        TestServer {
            process,
            addr,
            admin,
        }
    }
}

/// Writes `text` to a new file in `dir`.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
    path
}

/// Parses a JSON line, or `None`.
pub fn json(line: &str) -> Option<serde_json::Value> {
    serde_json::from_str(line).ok()
}

/// Sockets the process `pid` has open.
pub fn sockets_held(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process's descriptors")
        .filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|to| to.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Waits until the process `pid` holds at most `at_most` sockets (the
/// last ones it closed may still be on their way out); the count it holds
/// when [`WAIT`] has passed otherwise.
pub fn wait_for_sockets(pid: u32, at_most: usize) -> Result<(), usize> {
    let deadline = Instant::now() + WAIT;
    loop {
        let held = sockets_held(pid);
        if held <= at_most {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(held);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Saves a client settings file in `dir` (dynamic callback port, `server`),
/// starts `faxnotify client --json --runtime RUNTIME` as `user`, and waits
/// until the server reports its callback reachable: from then on a
/// notification reaches it.
pub fn start_json_client(
    dir: &Path,
    runtime: &str,
    server: SocketAddr,
    user: &str,
    password: &str,
) -> Running {
    start_json_client_with_fd_limit(dir, runtime, server, user, password, None)
}

/// [`start_json_client`], allowed at most `fds` open file descriptors
/// when given.
pub fn start_json_client_with_fd_limit(
    dir: &Path,
    runtime: &str,
    server: SocketAddr,
    user: &str,
    password: &str,
    fds: Option<u32>,
) -> Running {
    start_json_client_of(dir, runtime, &[server], user, password, fds)
}

/// [`start_json_client_with_fd_limit`] with every one of `servers` in its
/// settings, in that order (a cluster's client).
pub fn start_json_client_of(
    dir: &Path,
    runtime: &str,
    servers: &[SocketAddr],
    user: &str,
    password: &str,
    fds: Option<u32>,
) -> Running {
    let settings = dir.join(format!("{user}-client.toml"));
    let mut set = faxnotify();
    set.args(["settings", "set", "--settings"])
        .arg(&settings)
        .args(["--port", "dynamic"]);
    for server in servers {
        set.args(["--server", &server.to_string()]);
    }
    set.assert().success();
    let password = write_file(dir, &format!("{user}.pw"), &format!("{password}\n"));
    let args = [
        "client".to_owned(),
        "--runtime".into(),
        runtime.into(),
        "--user".into(),
        user.into(),
        "--password-file".into(),
        password.display().to_string(),
        "--settings".into(),
        settings.display().to_string(),
        "--json".into(),
    ];
    let mut client = match fds {
        Some(fds) => Running::start_with_fd_limit(&args, fds),
        None => Running::start(&args),
    };
    client.wait_line(Stream::Out, "reachable", |l| {
        json(l).is_some_and(|v| v["event"] == "status" && v["state"] == "reachable")
    });
    client
}

/// The value of `series` (its name and labels as the text format writes
/// them, e.g. `faxnotify_cluster_bus_available`) in a scrape.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// `GET path` from `addr`: the status line, the headers and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a header and a body");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_owned(), body.to_owned())
}
