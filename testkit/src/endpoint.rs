//! One core and what it asked for: the unit the in-memory network wires
//! together, and on its own a driver for tests that script the other side.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::wire::Frame;

use faxnotify_core::io::{Input, Output};

use crate::core::Core;
use crate::frames::frames;

/// A core, its outputs not yet handled (in the order it produced them), and
/// the events already handed over. Derefs to the core, so its own API
/// (`notify`, `logout`, `state`, ...) is at hand.
#[derive(Debug)]
pub struct Endpoint<C: Core> {
    /// The core.
    pub core: C,
    /// Events taken from [`Endpoint::pending`] by the network (or by
    /// [`Endpoint::take_events`]), in order.
    pub events: Vec<C::Event>,
    pending: VecDeque<Output<C::Event>>,
}

impl<C: Core> Endpoint<C> {
    /// Wraps `core`, taking what it already has to say.
    pub fn new(core: C) -> Self {
        let mut endpoint = Self::new_undrained(core);
        endpoint.drain();
        endpoint
    }

    /// Wraps `core` and leaves its outputs in it until [`Endpoint::drain`].
    pub fn new_undrained(core: C) -> Self {
        Self {
            core,
            events: Vec::new(),
            // Room for a handshake's outputs from the start, so that the
            // queue's growth does not show in the memory benchmarks'
            // per-session figures.
            pending: VecDeque::with_capacity(32),
        }
    }

    /// Moves every output of the core into the pending queue; returns
    /// whether there was any.
    pub fn drain(&mut self) -> bool {
        let before = self.pending.len();
        while let Some(output) = self.core.poll() {
            self.pending.push_back(output);
        }
        self.pending.len() != before
    }

    /// Reports `input`, then drains.
    ///
    /// # Panics
    /// If the core refuses the input: the test fed something that cannot
    /// be true. Use [`Endpoint::try_input`] to test refusals.
    pub fn input(&mut self, now: Instant, input: Input<'_>) {
        // A copy for the failure report (borrowed bytes: no allocation,
        // which the allocation tests rely on).
        let shown = input.clone();
        if let Err(err) = self.try_input(now, input) {
            panic!("the core refused {shown:?}: {err}");
        }
    }

    /// Reports `input`, then drains, returning the core's verdict.
    pub fn try_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), C::Error> {
        let result = self.core.input(now, input);
        self.drain();
        result
    }

    /// Bytes arrived on `conn`.
    pub fn receive(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        self.input(now, Input::Received { conn, data });
    }

    /// Frames arrived on `conn`, as one read.
    pub fn receive_frames(&mut self, now: Instant, conn: ConnId, frames: &[Frame<'_>]) {
        let data = crate::frames::encode(frames);
        self.receive(now, conn, &data);
    }

    /// A connection from `peer` was accepted.
    pub fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        let conn = self.core.accept(now, peer);
        self.drain();
        conn
    }

    /// Runs the timers if one is due at `now`; returns whether one was.
    pub fn fire_due(&mut self, now: Instant) -> bool {
        if self.core.next_timeout().is_some_and(|at| at <= now) {
            self.core.timeout(now);
            self.drain();
            true
        } else {
            false
        }
    }

    /// The outputs not yet taken, oldest first.
    pub fn pending(&self) -> &VecDeque<Output<C::Event>> {
        &self.pending
    }

    /// The oldest output not yet taken.
    pub fn next_output(&mut self) -> Option<Output<C::Event>> {
        self.pending.pop_front()
    }

    /// Every output not yet taken.
    pub fn take_pending(&mut self) -> Vec<Output<C::Event>> {
        self.pending.drain(..).collect()
    }

    /// Takes the pending events (and those the network filed), in order,
    /// leaving the other outputs pending.
    pub fn take_events(&mut self) -> Vec<C::Event> {
        let mut events = std::mem::take(&mut self.events);
        // In place: the queue keeps its allocation (see `drain_into`).
        let mut i = 0;
        while i < self.pending.len() {
            if matches!(self.pending[i], Output::Event(_)) {
                if let Some(Output::Event(e)) = self.pending.remove(i) {
                    events.push(e);
                }
            } else {
                i += 1;
            }
        }
        events
    }

    /// Takes the pending bytes transmitted on `conn`, concatenated; other
    /// outputs stay pending. (The buffers are dropped, not recycled: see
    /// [`Endpoint::discard_outputs`].)
    pub fn take_transmitted(&mut self, conn: ConnId) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.pending.retain_mut(|output| match output {
            Output::Transmit { conn: c, data } if *c == conn => {
                bytes.extend_from_slice(data);
                false
            }
            _ => true,
        });
        bytes
    }

    /// The frames of [`Endpoint::take_transmitted`].
    ///
    /// # Panics
    /// If the bytes are not whole, valid frames.
    pub fn take_frames(&mut self, conn: ConnId) -> Vec<Frame<'static>> {
        frames(&self.take_transmitted(conn))
    }

    /// Takes the pending dials, leaving the other outputs pending.
    pub fn take_connects(&mut self) -> Vec<(ConnId, SocketAddr)> {
        let mut dials = Vec::new();
        self.pending.retain(|output| match output {
            Output::Connect { conn, addr } => {
                dials.push((*conn, *addr));
                false
            }
            _ => true,
        });
        dials
    }

    /// Hands every output, pending or still in the core, to `each`, in
    /// order. What is still in the core never passes through the pending
    /// queue, so a burst (a broadcast's thousands of transmits) leaves no
    /// queue capacity behind to blur a memory figure.
    pub fn drain_into(&mut self, mut each: impl FnMut(&mut C, Output<C::Event>)) {
        while let Some(output) = self.pending.pop_front() {
            each(&mut self.core, output);
        }
        while let Some(output) = self.core.poll() {
            each(&mut self.core, output);
        }
    }

    /// Drops every output, pending or still in the core (without queueing,
    /// as [`Endpoint::drain_into`]). Transmitted buffers are dropped, not
    /// recycled, so the core's buffer pool stays as an adapter that drops
    /// them would leave it (the memory benchmarks count it).
    pub fn discard_outputs(&mut self) {
        self.drain_into(|_, _| {});
    }
}

impl<C: Core> Deref for Endpoint<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.core
    }
}

impl<C: Core> DerefMut for Endpoint<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.core
    }
}

impl Endpoint<faxnotify_core::client::Client> {
    /// The seqs of the notifications handed to the application so far
    /// (`Event::Notification`), in order.
    pub fn notified_seqs(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                faxnotify_core::client::Event::Notification { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    }
}
