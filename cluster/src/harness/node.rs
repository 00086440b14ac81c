//! One `nats-server` process: its files, its ports, its end.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::HarnessError;

/// The addresses a node listens on, as it wrote them in its ports file.
#[derive(Clone, Debug)]
pub(crate) struct Ports {
    /// `nats://127.0.0.1:P` for clients.
    pub client: String,
    /// `nats://127.0.0.1:P` for the other nodes' routes.
    pub cluster: String,
    /// `http://127.0.0.1:P` monitoring.
    pub monitoring: String,
}

/// A running (or killed) node.
#[derive(Debug)]
pub(crate) struct Node {
    index: usize,
    dir: PathBuf,
    pid: u32,
    server: Option<Child>,
    /// Kills the server when its stdin closes, i.e. when this process ends
    /// however it ends (a `Drop` does not run after SIGKILL).
    watchdog: Option<(Child, ChildStdin)>,
    ports: Ports,
}

impl Node {
    /// Starts node `index` in `root/n<index>`, routed to `seed`, and waits
    /// for its ports file.
    pub(crate) fn start(
        root: &Path,
        index: usize,
        clustered: bool,
        seed: &str,
        bound: Duration,
    ) -> Result<Self, HarnessError> {
        let spawn_err = |e: std::io::Error| HarnessError::Spawn(e.to_string());
        let dir = root.join(format!("n{index}"));
        std::fs::create_dir_all(&dir).map_err(spawn_err)?;
        let mut conf = format!(
            "server_name: n{index}\nlisten: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n\
             jetstream {{ store_dir: {store:?}, max_memory_store: 64MB, max_file_store: 2GB }}\n",
            store = dir.join("js").display().to_string(),
        );
        if clustered {
            // `no_advertise`: a client connects only to the URLs it was
            // given, never to the other nodes' addresses the cluster would
            // gossip, so a test can put a relay (and a partition) between
            // one server and the bus.
            writeln!(
                conf,
                "cluster {{ name: faxnotify-test, listen: 127.0.0.1:-1, no_advertise: true, \
                 routes: [{seed:?}] }}"
            )
            .expect("writing to a String");
        }
        let conf_path = dir.join("nats.conf");
        std::fs::write(&conf_path, conf).map_err(spawn_err)?;
        let log = dir.join("nats.log");
        let server = Command::new("nats-server")
            .arg("-c")
            .arg(&conf_path)
            .arg("--ports_file_dir")
            .arg(&dir)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_err)?;
        let pid = server.id();
        let mut node = Node {
            index,
            dir,
            pid,
            server: Some(server),
            watchdog: None,
            ports: Ports {
                client: String::new(),
                cluster: String::new(),
                monitoring: String::new(),
            },
        };
        node.watchdog = Some(watchdog(pid).map_err(spawn_err)?);
        node.ports = node.wait_for_ports(bound)?;
        Ok(node)
    }

    /// Reads `nats-server_<pid>.ports`, written once every listener is up.
    fn wait_for_ports(&mut self, bound: Duration) -> Result<Ports, HarnessError> {
        let path = self.dir.join(format!("nats-server_{}.ports", self.pid));
        let deadline = Instant::now() + bound;
        loop {
            if let Some(ports) = std::fs::read(&path).ok().and_then(|b| parse_ports(&b)) {
                return Ok(ports);
            }
            let exited = self
                .server
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() >= deadline {
                return Err(HarnessError::NodeStart {
                    node: self.index,
                    bound,
                    log: self.log_tail(30),
                });
            }
            // nats-server writes the file once; there is nothing to wait on.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn ports(&self) -> &Ports {
        &self.ports
    }

    pub(crate) fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// Sends `signal` (a `kill -s` name) to the server.
    pub(crate) fn signal(&self, signal: &str) {
        if self.server.is_some() {
            faxnotify_testkit::process::signal(self.pid, signal);
        }
    }

    /// SIGKILL, then reaps the process; the watchdog ends with it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = watchdog.wait();
        }
    }

    /// The last `lines` lines of the node's log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("nats.log")) {
            let _ = f.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A shell that SIGKILLs `pid` once its stdin reaches end of file: when
/// the returned `ChildStdin` is dropped, or when this process dies.
fn watchdog(pid: u32) -> std::io::Result<(Child, ChildStdin)> {
    let mut child = Command::new("sh")
        .args(["-c", &format!("read _ ; kill -9 {pid} 2>/dev/null; exit 0")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().expect("stdin is piped");
    Ok((child, stdin))
}

fn parse_ports(bytes: &[u8]) -> Option<Ports> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let first = |key: &str| v.get(key)?.get(0)?.as_str().map(str::to_owned);
    Some(Ports {
        client: first("nats")?,
        // A single node runs without a cluster listener.
        cluster: first("cluster").unwrap_or_default(),
        monitoring: first("monitoring")?,
    })
}
