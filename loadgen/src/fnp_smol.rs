//! faxnotify on smol: the `faxnotify-smol` server (its driver on its own
//! thread, the default) with the load application, and the clients as
//! `faxnotify-smol` clients sharing one executor.
//!
//! The smol runtime's API is not one thread per client: a client is a few
//! tasks (a driver, and a reader and a writer per connection) on any
//! executor. So the clients process runs every client on one
//! [`Executor`](faxnotify_smol::Executor) driven by `client_threads` threads (default 1), with one
//! more task per client reading its events — the runtime exactly as an
//! application would use it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_io::Timer;
use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
use faxnotify_core::server::Target;
use faxnotify_core::wire::{CallbackState, EncodedNotification};
use faxnotify_smol::{Options, Server, ServerEvents, TaskRunner};
use futures_lite::future;

use super::closed_loop::{InLoop, in_loop_handler};
use super::messages::{self, ChildMsg, Spec};
use super::mio_fleet::{PASSWORD, user_name};
use super::payload;
use super::producer::{self, Seen, ServerApi};
use super::smol_clients::{Slots, SmolClients};
use super::sys;
use super::tally::{Recorder, StartFailure, Tally};
use faxnotify_runtime::PostReport;

/// Events a client task takes from its client at a time, at most.
const EVENT_BATCH: usize = 256;

struct SmolServer {
    server: Server,
    events: ServerEvents,
}

impl ServerApi for SmolServer {
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
            // Delivery: events keep coming; wait without a timer (a timer
            // per wait would cost the reactor a wake-up each time).
            future::block_on(self.events.next())
        } else {
            async_io::block_on(future::or(self.events.next(), async {
                Timer::after(timeout).await;
                None
            }))
        };
        event.map(super::fnp_mio::seen)
    }
}

/// The server process.
pub fn server(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let mut options = Options::default();
    options.post_capacity = producer::post_capacity(spec);
    let in_loop = InLoop::default();
    let (server, events) = async_io::block_on(Server::bind_with_handler(
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
    producer::run(spec, &mut SmolServer { server, events }, Some(&in_loop))
}

/// One client: starts it (when a login slot is free), reads its events
/// until the process quits. The same on every faxnotify-async runtime
/// (smol, tokio).
pub(crate) async fn run_client<R: faxnotify_async::Runtime>(
    config: ClientConfig,
    options: faxnotify_async::Options<R>,
    slots: Slots,
    recorder: Arc<Mutex<Recorder>>,
    tally: Arc<Tally>,
) {
    // A login slot: taken now, given back once the delivery path is up.
    let _ = slots.1.recv().await;
    let client = match faxnotify_async::Client::start_with(config, options).await {
        Ok(c) => c,
        Err(e) => {
            tally.client_failed(match &e {
                faxnotify_async::ClientStartError::Listen(reason) => StartFailure::stopped(reason),
                other => StartFailure::other(format!("client start failed: {other}")),
            });
            let _ = slots.0.try_send(());
            return;
        }
    };
    let mut ready = false;
    // Events in batches, and the recorder locked once per batch: what the
    // raw baseline's clients do per read.
    let mut batch = Vec::new();
    while client.next_events(&mut batch, EVENT_BATCH).await > 0 {
        let mut recorder = recorder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in batch.drain(..) {
            if !ready && let Event::Stopped { reason } = &event {
                // Stopped before its delivery path was up (e.g. no callback
                // port): it never will be. Counted, and its login slot given
                // back so that the other clients go on starting.
                tally.client_failed(StartFailure::stopped(reason));
                let _ = slots.0.try_send(());
                return;
            }
            match event {
                Event::Notification { notification, .. } => {
                    if let Some(sent) = payload::sent_ns(&notification) {
                        recorder.record(sent);
                    }
                }
                Event::CallbackEstablished { .. }
                | Event::CallbackStatus {
                    state: CallbackState::Backchannel,
                    ..
                } => {
                    if !ready {
                        ready = true;
                        tally.client_ready();
                        let _ = slots.0.try_send(());
                    }
                }
                Event::Listening { .. } | Event::LoggedIn { .. } | Event::CallbackStatus { .. } => {
                }
                other => tally.note(format!("{other:?}")),
            }
        }
    }
}

/// The configuration of the process's `i`th client: the first
/// `spec.backchannel` advertise no callback port.
pub(crate) fn client_config(spec: &Spec, server: SocketAddr, i: usize) -> ClientConfig {
    let policy = if i < spec.backchannel {
        ListenPolicy::None
    } else {
        spec.listen_policy()
    };
    let mut config = ClientConfig::new(
        server,
        user_name(spec.first_client + i),
        PASSWORD,
        NetworkSettings::new(policy),
    );
    config.tls = spec.tls.as_ref().map(|tls| tls.client());
    config
}

/// The clients process: every client on one executor run by
/// `client_threads` threads.
pub fn clients(spec: &Spec) -> Result<(), String> {
    sys::raise_fd_limit();
    let server = spec.server.ok_or("no server address")?;
    let process = SmolClients::new(spec);
    let mut options = Options::default();
    options.runner = TaskRunner::Executor(Arc::clone(&process.executor));
    for i in 0..spec.clients {
        let config = client_config(spec, server, i);
        let slots = process.slots.clone();
        let recorder = Arc::clone(&process.recorder);
        let tally = process.tally.clone();
        let options = options.clone();
        process
            .executor
            .spawn(run_client(config, options, slots, recorder, tally))
            .detach();
    }
    process.run(spec, "load-smol-clients")
}
