//! Fuzzing harnesses (feature `fuzzing`).
//!
//! The cargo-fuzz targets in `fuzz/` are three-line shims over these
//! functions, so the harness code compiles with every build that enables the
//! feature, and `cargo test` replays the committed corpora through the same
//! code on machines without a nightly toolchain.
//!
//! Each harness panics only when an invariant of the library is broken; any
//! input, however hostile, must otherwise be handled.
//!
//! - [`decode`]: arbitrary bytes in arbitrary chunks through the decoder.
//! - [`client`]: the fuzzer plays the server and the network around one
//!   client core, from binding its listener through login, callbacks and
//!   delivery to logout.
//! - [`server`]: the fuzzer plays any number of clients and the network
//!   around one server core, and its application (notify, end a session,
//!   shut down). An input whose first byte is `0xec` runs the server in
//!   cluster mode [D-17], where the harness also plays the application
//!   between the server and the bus: it answers claims, hands sessions
//!   notifications from the log at their seqs, releases sessions and
//!   says whether the bus is reachable.
//! - [`server_tls`]: the same around a server with a TLS identity; the
//!   input's first byte says whether the fuzzer's bytes are sealed by an
//!   honest TLS client per connection (so they reach FNP/1 behind a
//!   completed handshake, channel-bound proofs and all), go into the TLS
//!   stream as forged records after honest handshakes, or replace TLS
//!   altogether (the handshake's parsing and failure paths).
//!
//! The structured harnesses read their input as a short setup followed by
//! operations (see `bytes` for the format), offering "valid frame"
//! operations — a correct LOGIN_PROOF, LOGIN_OK, CB_HELLO or CB_READY
//! computed from what the core sent — besides raw bytes, so the fuzzer gets
//! past the handshakes into the delivery states. Both check, after every
//! operation: no panic; every `Transmit` is whole frames; outputs only for
//! connections that are open; handle ids never reused; `handle_timeout(now)`
//! moves every deadline past `now`; the core's own count of connections
//! matches what its outputs and inputs left open; queues, windows, buffers and
//! tables within their bounds; and the delivery rules ([B-2], [B-3], [C-10]).
//! [`seeds`] builds the seed corpora from operation lists.

mod bytes;
mod client;
mod decode;
mod seeds;
mod server;
mod tls_peer;

pub use client::client;
pub use decode::decode;
pub use seeds::{Seed, seeds};
pub use server::{server, server_tls};

use crate::ConnId;
use crate::wire::{Frame, decode_whole_frames};

/// Decodes one `Transmit`, which must hold only whole, valid frames.
fn decode_transmit(data: &[u8]) -> Vec<Frame<'static>> {
    assert!(!data.is_empty(), "an empty Transmit");
    decode_whole_frames(data).unwrap_or_else(|err| panic!("a Transmit {err}"))
}

/// The connections a core issued, as the harness (its adapter) sees them,
/// each with a tag of the harness's.
#[derive(Debug)]
struct Conns<T> {
    list: Vec<(ConnId, T, bool)>,
    last: u64,
}

impl<T> Default for Conns<T> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            last: 0,
        }
    }
}

impl<T> Conns<T> {
    /// A handle the core issued: never one issued before.
    fn issued(&mut self, conn: ConnId, tag: T) {
        assert!(
            conn.into_raw() > self.last,
            "{conn} issued after conn#{}: handles are never reused",
            self.last
        );
        self.last = conn.into_raw();
        self.list.push((conn, tag, true));
    }

    fn is_live(&self, conn: ConnId) -> bool {
        self.list.iter().any(|(c, _, live)| *c == conn && *live)
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(entry) = self.list.iter_mut().find(|(c, _, _)| *c == conn) {
            entry.2 = false;
        }
    }

    fn tag_mut(&mut self, conn: ConnId) -> Option<&mut T> {
        self.list
            .iter_mut()
            .find(|(c, _, _)| *c == conn)
            .map(|(_, t, _)| t)
    }

    fn live_where(&self, f: impl Fn(&T) -> bool) -> usize {
        self.list
            .iter()
            .filter(|(_, t, live)| *live && f(t))
            .count()
    }

    fn live(&self) -> usize {
        self.list.iter().filter(|(_, _, live)| *live).count()
    }

    /// The newest connection whose tag matches, open or not.
    fn last_where(&self, f: impl Fn(&T) -> bool) -> Option<ConnId> {
        self.list.iter().rev().find(|(_, t, _)| f(t)).map(|e| e.0)
    }

    /// The `n`-th open connection whose tag matches (modulo how many).
    fn nth_live_where(&self, n: usize, f: impl Fn(&T) -> bool) -> Option<ConnId> {
        let matching: Vec<ConnId> = self
            .list
            .iter()
            .filter(|(_, t, live)| *live && f(t))
            .map(|e| e.0)
            .collect();
        (!matching.is_empty()).then(|| matching[n % matching.len()])
    }

    /// Any handle: one issued (open or not), or for 255 one never issued.
    fn any(&self, n: u8) -> Option<ConnId> {
        if n == 255 {
            return Some(ConnId::from_raw(self.last + 1));
        }
        (!self.list.is_empty()).then(|| self.list[usize::from(n) % self.list.len()].0)
    }
}
