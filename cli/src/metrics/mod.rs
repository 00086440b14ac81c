//! `faxnotify server --metrics ADDR`: Prometheus metrics over HTTP.
//!
//! [`Recorder`] counts what the server's events and `notify` results say;
//! [`http`] serves the counts at `GET /metrics` in the Prometheus text
//! format. The metric names are listed in docs/architecture.md
//! ("Operating the server").

mod cluster;
pub mod http;
mod latency;
mod ops;
mod recorder;

use std::net::SocketAddr;
use std::sync::Arc;

pub use cluster::metered_cluster;
pub use ops::Metered;
pub use recorder::Recorder;

use crate::failure::{Exit, Failure};
use crate::runtime::ServerControl;
use crate::runtime::cluster::ClusterControl;

/// The bound metrics listener, before the server starts.
#[derive(Debug)]
pub struct Endpoint(std::net::TcpListener);

impl Endpoint {
    /// Binds `addr`; a taken address is a port conflict (exit status 4).
    pub fn bind(addr: SocketAddr) -> Result<Self, Failure> {
        http::bind(addr).map(Endpoint).map_err(|e| match e {
            http::BindError::InUse(_) => Failure::new(
                Exit::PortConflict,
                format!("{e} (is another server running?)"),
            ),
            http::BindError::Other { .. } => Failure::runtime(e.to_string()),
        })
    }

    /// Starts serving `recorder`'s metrics, with the session gauges read
    /// from `server` (and in cluster mode the node's from `cluster`); logs
    /// where.
    pub fn serve(
        self,
        recorder: Recorder,
        server: ServerControl,
        cluster: Option<ClusterControl>,
    ) -> Result<(), Failure> {
        let addr = self
            .0
            .local_addr()
            .map_err(|e| Failure::runtime(format!("cannot serve metrics: {e}")))?;
        http::serve(self.0, move || {
            recorder.scrape(&*server, cluster.as_deref())
        })
        .map_err(|e| Failure::runtime(format!("cannot start the metrics thread: {e}")))?;
        tracing::info!(address = %addr, "metrics at http://{addr}/metrics");
        Ok(())
    }
}

/// `server` with every `notify` recorded into `recorder`.
pub fn metered(server: ServerControl, recorder: Recorder) -> ServerControl {
    Arc::new(Metered::new(server, recorder))
}
