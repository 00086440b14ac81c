//! Commands from the application's threads to the loop: a channel plus the
//! loop's waker. Every call that returns something waits for the loop's
//! reply, so the channel never holds more than one command per calling
//! thread (plus fire-and-forget shutdowns).
//!
//! Wake-ups are coalesced by a [`WakeGate`]: a sender writes the loop's
//! eventfd only when no wake is pending, and the loop re-arms the gate
//! before it takes the commands ([`Inbound::rearm`]).

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use faxnotify_runtime::WakeGate;
use mio::Waker;

use crate::errors::{Closed, RunError};

pub(crate) struct Mailbox<C> {
    tx: Sender<C>,
    waker: Arc<Waker>,
    gate: Arc<WakeGate>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
            gate: Arc::clone(&self.gate),
        }
    }
}

/// The loop's end of a mailbox.
pub(crate) struct Inbound<C> {
    rx: Receiver<C>,
    gate: Arc<WakeGate>,
}

impl<C> Inbound<C> {
    /// Call before taking commands: a command sent from here on wakes the
    /// loop again.
    pub(crate) fn rearm(&self) {
        self.gate.rearm();
    }

    /// The next command, if one is waiting.
    pub(crate) fn try_recv(&self) -> Result<C, TryRecvError> {
        self.rx.try_recv()
    }
}

impl<C> fmt::Debug for Mailbox<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

/// A mailbox and the loop's end of it, with a gate of its own.
pub(crate) fn mailbox<C>(waker: Arc<Waker>) -> (Mailbox<C>, Inbound<C>) {
    mailbox_with_gate(waker, Arc::new(WakeGate::new()))
}

/// A mailbox whose wake-ups share `gate` with another way into the loop
/// (the server's post inbox): one wake-up serves both.
pub(crate) fn mailbox_with_gate<C>(
    waker: Arc<Waker>,
    gate: Arc<WakeGate>,
) -> (Mailbox<C>, Inbound<C>) {
    let (tx, rx) = mpsc::channel();
    (
        Mailbox {
            tx,
            waker,
            gate: Arc::clone(&gate),
        },
        Inbound { rx, gate },
    )
}

impl<C> Mailbox<C> {
    /// Sends a command without waiting.
    pub(crate) fn send(&self, cmd: C) -> Result<(), Closed> {
        self.tx.send(cmd).map_err(|_| Closed)?;
        self.wake()
    }

    /// Wakes the loop unless a wake is pending already.
    fn wake(&self) -> Result<(), Closed> {
        if self.gate.should_wake() {
            self.ring()?;
        }
        Ok(())
    }

    /// Wakes the loop: for a sender that has asked the shared gate itself
    /// (the server's post inbox).
    pub(crate) fn ring(&self) -> Result<(), Closed> {
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
