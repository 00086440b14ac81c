//! The NATS JetStream cluster a `faxnotify bench --cluster` runs on: three
//! `nats-server` nodes on loopback ([`NatsCluster`]: ports chosen by
//! nats-server, every process killed when the bench ends or dies), the
//! settings each cluster run's servers get, and the removal of a run's
//! streams after it.

use std::sync::atomic::{AtomicU32, Ordering};

use faxnotify_cluster::harness::{NatsCluster, unavailable};

use super::Options;
use super::bus_cost::{self, BusCost};
use super::messages::ClusterSpec;
use super::parent::LoadError;
use super::sys;

/// NATS nodes: the smallest cluster that keeps a quorum of the log's three
/// replicas when one node fails, as production would run it.
const NATS_NODES: usize = 3;
/// Room in a run's log per notification: the message (39 bytes), its
/// headers (origin and publish id, about 60 bytes) and JetStream's own
/// per-message overhead, with a margin: a full log refuses publishes.
const LOG_BYTES_PER_NOTIFICATION: i64 = 512;

/// A running NATS cluster and what the bench's runs share on it.
#[derive(Debug)]
pub struct ClusterCtx {
    cluster: NatsCluster,
    runtime: tokio::runtime::Runtime,
    secret: [u8; 32],
    runs: AtomicU32,
}

impl ClusterCtx {
    /// Starts the NATS cluster, or says plainly why it cannot.
    pub fn start() -> Result<Self, LoadError> {
        if let Some((why, enable)) = unavailable() {
            return Err(LoadError::NatsMissing {
                why,
                enable: enable.to_owned(),
            });
        }
        let cluster =
            NatsCluster::start(NATS_NODES).map_err(|e| LoadError::Cluster(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LoadError::Cluster(format!("cannot start a tokio runtime: {e}")))?;
        // Any secret will do for a bench on loopback; every server of a run
        // needs the same one, which the spec carries.
        let mut secret = [0x42u8; 32];
        secret[..8].copy_from_slice(&sys::monotonic_ns().to_le_bytes());
        Ok(Self {
            cluster,
            runtime,
            secret,
            runs: AtomicU32::new(0),
        })
    }

    /// The settings of the next cluster run (`clients` × `per_client`
    /// notifications): streams of its own, a log large enough for it.
    pub fn run_spec(&self, clients: usize, per_client: u64) -> ClusterSpec {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let total = i64::try_from(clients as u64 * per_client).unwrap_or(i64::MAX / 1024);
        ClusterSpec {
            urls: self.cluster.urls(),
            prefix: format!("bench{run}"),
            log_max_bytes: total
                .saturating_mul(LOG_BYTES_PER_NOTIFICATION)
                .max(64 << 20),
            secret: self.secret,
            users: clients,
        }
    }

    /// Removes the streams of the run with `prefix` (a long bench would
    /// otherwise keep every run's log, three copies, on disk until it
    /// ends); returns how many messages its log and its reports stream
    /// held, where that could be read.
    pub fn remove_streams(&self, prefix: &str) -> Option<(u64, u64)> {
        let urls = self.cluster.urls();
        let stem = prefix.to_ascii_uppercase();
        self.runtime.block_on(async {
            let client = async_nats::connect(urls.first()?.as_str()).await.ok()?;
            let js = async_nats::jetstream::new(client);
            let mut held = Vec::with_capacity(2);
            for name in [format!("{stem}_LOG"), format!("{stem}_REPORTS")] {
                let messages = match js.get_stream(&name).await {
                    Ok(mut stream) => stream.info().await.ok().map(|i| i.state.messages),
                    Err(_) => None,
                };
                held.push(messages);
            }
            for name in [
                format!("{stem}_LOG"),
                format!("{stem}_REPORTS"),
                format!("KV_{stem}_SESSIONS"),
            ] {
                // Best effort: a stream left behind only costs disk until
                // the cluster is stopped with the bench.
                let _ = js.delete_stream(&name).await;
            }
            Some((held[0]?, held[1]?))
        })
    }

    /// CPU the cluster's nats-server processes have used so far, ns (the
    /// processes whose command line names the cluster's directory).
    pub fn nats_cpu_ns(&self) -> u64 {
        let dir = self.cluster.dir().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
                    let cmd = String::from_utf8_lossy(&cmd);
                    cmd.starts_with("nats-server") && cmd.contains(&dir)
                })
            })
            .map(|pid| {
                let (user, system) = sys::user_system_ns_of(&pid);
                user + system
            })
            .sum()
    }

    /// The bus's own per-message costs on this cluster.
    pub fn bus_cost(&self, options: &Options) -> Result<BusCost, String> {
        let spec = self.run_spec(1, options.bus_messages as u64 * 20);
        let cpu = || self.nats_cpu_ns();
        let cost = self
            .runtime
            .block_on(bus_cost::measure(&spec, options.bus_messages, &cpu));
        let _ = self.remove_streams(&spec.prefix);
        cost
    }
}
