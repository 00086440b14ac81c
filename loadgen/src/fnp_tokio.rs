//! faxnotify on tokio: the `faxnotify-tokio` server (its tasks on a
//! current-thread runtime run by one thread, as smol's server has its
//! dedicated thread) with the load application on the main thread, and the
//! clients as `faxnotify-tokio` clients sharing one runtime of
//! `client_threads` threads ([`super::tokio_clients`]), with one more task
//! per client reading its events — the runtime as an application would use
//! it.

use std::net::SocketAddr;
use std::time::Duration;

use faxnotify_core::server::Target;
use faxnotify_core::wire::EncodedNotification;
use faxnotify_tokio::{Options, Server, ServerEvents, TaskRunner};
use futures_lite::future;

use super::closed_loop::{InLoop, in_loop_handler};
use super::fnp_smol::{client_config, run_client};
use super::messages::{self, ChildMsg, Spec};
use super::producer::{self, Seen, ServerApi};
use super::sys;
use super::tokio_clients::{self, TokioClients, TokioThreads};
use faxnotify_runtime::PostReport;

struct TokioServer<'a> {
    threads: &'a TokioThreads,
    server: Server,
    events: ServerEvents,
}

impl ServerApi for TokioServer<'_> {
    fn post_batch(&mut self, batch: &mut Vec<(Target, EncodedNotification)>) -> Result<(), String> {
        self.server
            .post_batch(batch.drain(..))
            .map_err(|e| e.to_string())
    }

    fn take_post_report(&mut self) -> PostReport {
        self.server.take_post_report()
    }

    fn next_event(&mut self, timeout: Duration) -> Option<Seen> {
        let event = if timeout.is_zero() {
            self.events.try_next()
        } else if timeout >= Duration::from_secs(1) {
            // Delivery: events keep coming; wait without a timer.
            future::block_on(self.events.next())
        } else {
            self.threads.handle().block_on(async {
                tokio::time::timeout(timeout, self.events.next())
                    .await
                    .ok()
                    .flatten()
            })
        };
        event.map(super::fnp_mio::seen)
    }
}

/// The server process.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let threads = TokioThreads::start(1, "load-tokio-server")?;
    let mut options = Options::default();
    options.runner = TaskRunner::Handle(threads.handle().clone());
    options.post_capacity = producer::post_capacity(spec);
    let in_loop = InLoop::default();
    let (server, events) = future::block_on(Server::bind_with_handler(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        producer::config(spec)?,
        producer::LoadUsers::new(spec.clients)?,
        options,
        in_loop_handler(in_loop.clone()),
    ))
    .map_err(|e| e.to_string())?;
    messages::send(&ChildMsg::Listening {
        addr: server.local_addr(),
    });
    let result = producer::run(
        spec,
        &mut TokioServer {
            threads: &threads,
            server,
            events,
        },
        Some(&in_loop),
    );
    threads.stop();
    result
}

/// The clients process: every client on one runtime of `client_threads`
/// threads.
pub fn clients(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let server = spec.server.ok_or("no server address")?;
    let process = TokioClients::start(spec, "load-tokio-clients")?;
    let mut options = Options::default();
    options.runner = TaskRunner::Handle(process.executor.handle().clone());
    for i in 0..spec.clients {
        let task = run_client(
            client_config(spec, server, i),
            options.clone(),
            process.slots.clone(),
            std::sync::Arc::clone(&process.recorder),
            process.tally.clone(),
        );
        tokio_clients::spawn(&process.executor, task);
    }
    process.run(spec);
    Ok(())
}
