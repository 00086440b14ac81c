//! Commands from the application's threads to the loop: a channel plus the
//! loop's waker. Every call that returns something waits for the loop's
//! reply, so the channel never holds more than one command per calling
//! thread (plus fire-and-forget shutdowns).

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use mio::Waker;

use crate::errors::{Closed, RunError};

pub(crate) struct Mailbox<C> {
    tx: Sender<C>,
    waker: Arc<Waker>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }
}

impl<C> fmt::Debug for Mailbox<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

/// A mailbox and the loop's end of it.
pub(crate) fn mailbox<C>(waker: Arc<Waker>) -> (Mailbox<C>, Receiver<C>) {
    let (tx, rx) = mpsc::channel();
    (Mailbox { tx, waker }, rx)
}

impl<C> Mailbox<C> {
    /// Sends a command without waiting.
    pub(crate) fn send(&self, cmd: C) -> Result<(), Closed> {
        self.tx.send(cmd).map_err(|_| Closed)?;
        self.waker.wake().map_err(|_| Closed)
    }

    /// Sends a command made around a reply channel and waits for the reply.
    pub(crate) fn call<T>(&self, make: impl FnOnce(SyncSender<T>) -> C) -> Result<T, Closed> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.send(make(reply_tx))?;
        // The loop drops the command (and the reply sender) if it ends first.
        reply_rx.recv().map_err(|_| Closed)
    }
}

/// The loop's reply channels, for the requests of `faxnotify_runtime`.
#[derive(Debug)]
pub(crate) struct SyncReplies;

impl faxnotify_runtime::Replies for SyncReplies {
    type Reply<T> = SyncSender<T>;

    fn send<T>(reply: SyncSender<T>, value: T) {
        // The caller gave up waiting: nobody to tell.
        let _ = reply.send(value);
    }
}

/// Waits for the loop thread and maps how it ended.
pub(crate) fn join(thread: JoinHandle<std::io::Result<()>>) -> Result<(), RunError> {
    match thread.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(RunError::Io(err)),
        Err(_) => Err(RunError::Panicked),
    }
}

/// 32 bytes from the operating system's CSPRNG, for a core's seed.
pub(crate) fn os_seed() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(seed)
}
