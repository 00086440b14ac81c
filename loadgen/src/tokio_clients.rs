//! Where the tokio processes run their tasks ([`TokioThreads`]), and the
//! tokio clients process ([`TokioClients`]) that faxnotify's and the raw
//! baseline's share.
//!
//! One thread is a **current-thread** runtime run by a thread of its own,
//! as smol's dedicated executor thread and mio's loop thread are, so a row
//! of the table compares runtimes on the same number of threads. More
//! threads (`--client-threads N`) is a multi-thread runtime with N workers.

use std::thread::JoinHandle;

use async_channel::Sender;
use tokio::runtime::{Builder, Handle, Runtime};

use super::messages::Spec;
use super::smol_clients::ClientsProcess;
use super::tally;

/// A tokio runtime on `threads` threads of this process.
#[derive(Debug)]
pub struct TokioThreads {
    handle: Handle,
    owner: Owner,
}

#[derive(Debug)]
enum Owner {
    /// The thread running the current-thread runtime, and what stops it.
    CurrentThread {
        thread: JoinHandle<()>,
        stop: Sender<()>,
    },
    /// The multi-thread runtime (its workers run by themselves).
    MultiThread(Runtime),
}

impl TokioThreads {
    /// Starts a runtime on `threads` threads named `{name}-{i}`.
    pub fn start(threads: usize, name: &str) -> Result<Self, String> {
        if threads <= 1 {
            let runtime = Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = async_channel::bounded::<()>(1);
            let thread = std::thread::Builder::new()
                .name(format!("{name}-0"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.recv().await;
                    });
                })
                .map_err(|e| e.to_string())?;
            Ok(Self {
                handle,
                owner: Owner::CurrentThread { thread, stop },
            })
        } else {
            let name = name.to_owned();
            let next = std::sync::atomic::AtomicUsize::new(0);
            let runtime = Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name_fn(move || {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    format!("{name}-{i}")
                })
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            Ok(Self {
                handle: runtime.handle().clone(),
                owner: Owner::MultiThread(runtime),
            })
        }
    }

    /// Spawns on it; waits on it with `Handle::block_on` from other threads.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime, dropping the tasks it still has.
    pub fn stop(self) {
        match self.owner {
            Owner::CurrentThread { thread, stop } => {
                stop.close();
                let _ = thread.join();
            }
            Owner::MultiThread(runtime) => runtime.shutdown_background(),
        }
    }
}

/// A tokio clients process before it reports: its tasks on a runtime of
/// `client_threads` threads.
pub type TokioClients = ClientsProcess<TokioThreads>;

impl TokioClients {
    /// Sets up the process's shared parts for `spec` and starts its runtime
    /// (threads named `{name}-{i}`).
    pub fn start(spec: &Spec, name: &str) -> Result<Self, String> {
        Ok(ClientsProcess::with(
            spec,
            TokioThreads::start(spec.client_threads, name)?,
        ))
    }

    /// Reports progress to the parent until it says quit, then stops the
    /// runtime.
    pub fn run(self, spec: &Spec) {
        tally::report_loop(spec, &self.tally, 1);
        self.stop.0.close();
        self.executor.stop();
    }
}

/// Spawns `task` on `threads`, detached.
pub fn spawn(threads: &TokioThreads, task: impl Future<Output = ()> + Send + 'static) {
    drop(threads.handle().spawn(task));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a task on `threads` and returns the name of the thread it ran on.
    fn thread_of_a_task(threads: &TokioThreads) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(threads, async move {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = tx.send(name.unwrap_or_default());
        });
        rx.recv().expect("the task ran")
    }

    #[test]
    fn one_thread_is_a_current_thread_runtime_on_a_thread_of_its_own() {
        let threads = TokioThreads::start(1, "t1").expect("a runtime");
        assert!(matches!(threads.owner, Owner::CurrentThread { .. }));
        assert_eq!(thread_of_a_task(&threads), "t1-0");
        threads.stop(); // joins its thread: does not hang
    }

    #[test]
    fn more_threads_are_a_multi_thread_runtime_with_that_many_workers() {
        let threads = TokioThreads::start(3, "t3").expect("a runtime");
        assert!(matches!(threads.owner, Owner::MultiThread(_)));
        assert_eq!(threads.handle().metrics().num_workers(), 3);
        assert!(thread_of_a_task(&threads).starts_with("t3-"));
        threads.stop();
    }
}
