//! What every async clients process — faxnotify's and the raw baseline's,
//! on smol and on tokio ([`super::tokio_clients`]) — sets up alike: where
//! its tasks run, a stop signal that closes when the parent says quit, one
//! latency recorder for the process, and the login slots. On smol, one
//! executor run by `client_threads` threads.

use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender};
use faxnotify_smol::Executor;

use super::messages::Spec;
use super::tally::{self, Recorder, Tally};

/// Login slots: one token per login allowed at once; a client takes one to
/// start and gives it back when its delivery path is up.
pub type Slots = (Sender<()>, Receiver<()>);

/// An async clients process before its tasks run: `E` is where they run.
#[derive(Debug)]
pub struct ClientsProcess<E> {
    /// Where every client task is spawned.
    pub executor: E,
    /// The process's counts and its link to the parent.
    pub tally: Arc<Tally>,
    /// One recorder for the process (tasks move between threads).
    pub recorder: Arc<Mutex<Recorder>>,
    /// The login slots, `spec.logins_in_flight` of them.
    pub slots: Slots,
    /// Closed when the parent says quit (or the process is done).
    pub(crate) stop: (Sender<()>, Receiver<()>),
}

/// A smol clients process before its executor runs.
pub type SmolClients = ClientsProcess<Arc<Executor<'static>>>;

impl SmolClients {
    /// Sets up the process's shared parts for `spec`, with an executor.
    pub fn new(spec: &Spec) -> Self {
        ClientsProcess::with(spec, Arc::new(Executor::new()))
    }
}

impl<E> ClientsProcess<E> {
    /// Sets up the process's shared parts for `spec`, its tasks to run on
    /// `executor`.
    pub fn with(spec: &Spec, executor: E) -> Self {
        let total = spec.clients as u64 * spec.per_client;
        let tally = Tally::new(total);
        let stop = async_channel::bounded::<()>(1);
        tally.on_command({
            let tally = tally.clone();
            let stop_tx = stop.0.clone();
            move || {
                if tally.quitting() {
                    stop_tx.close();
                }
            }
        });
        let recorder = Arc::new(Mutex::new(Recorder::new(&tally, total)));
        let in_flight = spec.logins_in_flight.max(1);
        let slots = async_channel::bounded::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = slots.0.try_send(());
        }
        ClientsProcess {
            executor,
            tally,
            recorder,
            slots,
            stop,
        }
    }
}

impl SmolClients {
    /// Runs the executor on `spec.client_threads` threads (named
    /// `{name}-{i}`) and reports progress to the parent until it says quit.
    pub fn run(self, spec: &Spec, name: &str) -> Result<(), String> {
        let mut handles = Vec::new();
        for t in 0..spec.client_threads.max(1) {
            handles.push(executor_thread(
                &self.executor,
                &self.stop.1,
                format!("{name}-{t}"),
            )?);
        }
        tally::report_loop(spec, &self.tally, 1);
        self.stop.0.close();
        for h in handles {
            let _ = h.join();
        }
        Ok(())
    }
}

/// Runs `executor` on a thread of its own until `stop` closes.
pub fn executor_thread(
    executor: &Arc<Executor<'static>>,
    stop: &Receiver<()>,
    name: String,
) -> Result<std::thread::JoinHandle<()>, String> {
    let executor = Arc::clone(executor);
    let stop = stop.clone();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            async_io::block_on(executor.run(async {
                let _ = stop.recv().await;
            }));
        })
        .map_err(|e| e.to_string())
}
