//! A real NATS JetStream cluster on loopback, for tests and examples.
//!
//! [`NatsCluster::start`] runs `nats-server` processes (the Debian package
//! `nats-server`), each in its own temporary directory, with every port
//! chosen by nats-server itself (`-1`) and read back from its ports file:
//! no port is picked, released and bound again. It waits until JetStream's
//! meta group has a leader that sees every node, and kills every process
//! when dropped. A watchdog per node kills it too if the test process dies
//! without dropping (e.g. `kill -9` of the test binary), so no `nats-server`
//! outlives the test run.
//!
//! Tests call [`skip_unless_available`] first: without `nats-server` it
//! says which test was skipped and the command that enables it; with
//! `FAXNOTIFY_NATS_TEST=require` (what CI sets) a missing `nats-server`
//! fails the test instead.

mod availability;
mod jsz;
mod node;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use availability::{ENABLE, skip_unless_available, unavailable};
use node::Node;

/// How long a node may take to write its ports file.
const NODE_START: Duration = Duration::from_secs(15);
/// How long the cluster may take to elect a JetStream meta leader.
const LEADER_ELECTION: Duration = Duration::from_secs(30);

/// A running JetStream cluster of `nats-server` processes on 127.0.0.1.
#[derive(Debug)]
pub struct NatsCluster {
    root: PathBuf,
    nodes: Vec<Node>,
}

/// Why the cluster did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A process or file could not be made.
    #[error("cannot start nats-server: {0}")]
    Spawn(String),
    /// A node did not come up.
    #[error("nats-server node {node} did not start within {} s; its log:\n{log}", bound.as_secs())]
    NodeStart {
        /// Which node.
        node: usize,
        /// The bound.
        bound: Duration,
        /// The end of its log.
        log: String,
    },
    /// No JetStream meta leader that sees every node.
    #[error("the NATS cluster elected no JetStream leader within {} s: {state}", bound.as_secs())]
    NoLeader {
        /// The bound.
        bound: Duration,
        /// What the nodes reported last.
        state: String,
    },
}

impl NatsCluster {
    /// Starts `size` clustered JetStream nodes and waits for a leader.
    pub fn start(size: usize) -> Result<Self, HarnessError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = std::env::temp_dir().join(format!(
            "faxnotify-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier run with the same pid is stale.
        let _ = std::fs::remove_dir_all(&root);
        remove_stale_dirs();
        std::fs::create_dir_all(&root).map_err(|e| HarnessError::Spawn(e.to_string()))?;
        let mut cluster = NatsCluster {
            root,
            nodes: Vec::with_capacity(size),
        };
        for index in 0..size {
            // Every node routes to the first; the others learn each other
            // from it (gossip). The first needs a configured route of its
            // own to run clustered JetStream but cannot know the others'
            // ports before they start, so it gets one to port 1, where
            // nothing listens: it keeps retrying that harmlessly.
            let seed = cluster
                .nodes
                .first()
                .map(|n: &Node| n.ports().cluster.clone())
                .unwrap_or_else(|| "nats-route://127.0.0.1:1".into());
            let node = Node::start(&cluster.root, index, size > 1, &seed, NODE_START)?;
            cluster.nodes.push(node);
        }
        cluster.wait_for_leader(LEADER_ELECTION)?;
        Ok(cluster)
    }

    /// The client URLs of the nodes still running.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| n.ports().client.clone())
            .collect()
    }

    /// How many nodes the cluster was started with.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Kills node `index` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Stops node `index` (SIGSTOP): its sockets stay open but it answers
    /// nothing, as behind a network partition.
    pub fn pause(&self, index: usize) {
        self.nodes[index].signal("STOP");
    }

    /// Lets a paused node run again (SIGCONT).
    pub fn resume(&self, index: usize) {
        self.nodes[index].signal("CONT");
    }

    /// Waits until the running nodes agree on a JetStream meta leader that
    /// sees all of them as current.
    pub fn wait_for_leader(&self, bound: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + bound;
        let running: Vec<&Node> = self.nodes.iter().filter(|n| n.is_running()).collect();
        loop {
            let state = jsz::meta_state(&running);
            if state.ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NoLeader {
                    bound,
                    state: state.describe,
                });
            }
            // Polling the monitoring endpoint: nats-server has no push
            // notification of an election for a process outside the cluster.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The end of every node's log, for a failing test's message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {} ---\n{}", n.index(), n.log_tail(20)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Where the nodes keep their files.
    pub fn dir(&self) -> &Path {
        &self.root
    }
}

/// Removes the directories of test runs that were killed before they could
/// clean up (their process is gone).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("faxnotify-nats-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        // /proc tells whether the pid lives (Linux; elsewhere nothing is removed).
        if Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
