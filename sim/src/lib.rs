//! A deterministic simulator of FNP/1: one server core and N client cores
//! joined by simulated TCP, in virtual time, under injected faults.
//!
//! In the manner of quinn-proto's test `Pair` and str0m's netem, nothing here
//! touches a socket or a real clock. A [`Sim`] owns:
//!
//! - **a virtual clock** that jumps straight to the next thing due: the next
//!   network event or the earliest `poll_timeout` of any core. Every machine
//!   reads the clock plus its own skew, so a machine's clock can leap ahead
//!   ([`Action::ClockJump`]: a VM or laptop waking from suspend);
//! - **a seeded RNG** ([`SimRng`]) for every random choice: segment sizes,
//!   latencies, the cores' own seeds. The same seed and scenario give the
//!   same run, byte for byte ([`Report::log`], [`Report::traffic_digest`]);
//! - **processes**: a server core, client cores (several may share a host's
//!   IP address, as on a Terminal Server), and foreign processes that squat
//!   ports;
//! - **simulated TCP**: each connection is two ordered byte pipes that
//!   deliver what a core writes in segments of random size (down to single
//!   bytes) and sometimes coalesce them, after the link's latency. Closing
//!   sends a FIN after the data; writing to a closed socket gets a RST back.
//!
//! # Faults
//!
//! A [`Scenario`]'s schedule mixes the server application's work
//! (notifications, ending sessions) with faults: connection reset (control
//! and callback separately), added delay, partition and heal, a firewall that
//! drops or rejects the server's dials to callback ports, client crash and
//! restart, server restart (graceful shutdown, or the process dies), a port
//! taken by another process (silent, an impostor speaking the callback
//! handshake without the key, or garbage), and clock jumps.
//!
//! # TLS
//!
//! Three scenarios in ten ([`Scenario::tls`]) run FNP/1 over TLS 1.3: the
//! server presents a fixed test certificate (`pki/`), each client trusts it
//! through the test CA or by pinning it ([`ClientSpec::pinned`]), and every
//! control and callback connection runs the cores' own TLS sessions inside
//! the simulated network, faults and all. (A TLS server never falls back to
//! plain TCP [T-3], so a run is all TLS or none.) The run stays a function
//! of its seed: the cores' TLS randomness comes from their seeded streams,
//! and rustls reads only a fixed wall clock.
//!
//! The wiretap cannot read frames inside TLS. There it checks that every
//! `Transmit` is whole TLS records; the session a connection serves comes
//! from the client core's events (LoggedIn, CallbackEstablished; in plain
//! runs these are checked against the frames on the wire); and an honest
//! peer's TLS may fail only by a handshake timeout. The accounting is the
//! same, except that the ACKs the server read are unknown, so "an ACK the
//! server read was ignored" is checked by the plain runs only — behind TLS
//! the same decoder reads the same plaintext.
//!
//! # What "the end" is
//!
//! After the schedule, the run **settles**: every partition heals, firewalls
//! open, delays end, squatters exit, and every process that is down or has
//! stopped starts again. The healed system runs for [`SimConfig::settle`];
//! then each client's user gets one more notification and the system runs
//! as long again. Then the **liveness check**: every running client is
//! logged in, to a session the server has, whose queue is empty. Then every
//! client logs out, and the run continues until every session has ended
//! (logged out, or expired with its lease because its client died or
//! stopped) and every client has finished. Only then is the accounting
//! closed.
//!
//! # The accounting
//!
//! Every notification the server accepts (an [`Accepted`] entry of a
//! `notify` report) is a pair (session, seq) with a payload unique to the
//! `notify` call. Sessions are those of one server *process*: a restarted
//! server starts afresh. Notifications are *handed* to a client application
//! by an [`Event::Notification`] of a client core; the simulator attributes
//! it to the session the server named on that connection (LOGIN_OK or
//! CB_HELLO).
//!
//! At the end every accepted notification has exactly one server-side
//! outcome, and its client-side fate must agree with it:
//!
//! | server's application was told | handed to the client application | counted as |
//! |---|---|---|
//! | `Delivered` (acknowledged) | exactly once | confirmed |
//! | `Undelivered` | never | undelivered |
//! | `Undelivered` | exactly once, and no ACK for it was read by the server while the session lived | unconfirmed |
//! | nothing: the server process died holding it | at most once | lost with the server |
//!
//! *Unconfirmed* is the case the protocol cannot avoid: the client handed
//! the notification over and sent its ACK, but the ACK never reached the
//! server before the session ended — the client crashed (a crash loses the
//! client's delivered-but-unacknowledged state by design), or a reset,
//! partition or the end of the session swallowed the ACK. The server then
//! reports it undelivered, and the application must treat "undelivered" as
//! "not confirmed". What may never happen: an ACK the server *read* being
//! ignored (the notification is then reported undelivered anyway), a
//! notification acknowledged but never handed over, one neither acknowledged
//! nor reported, or one reported twice.
//!
//! A client process that crashes and restarts logs in anew [B-2]: it gets a
//! new session, so nothing handed to the old process is ever handed to the
//! new one *as the same session*; the old session's unacknowledged
//! notifications are reported undelivered when it ends (its lease runs out,
//! or another session takes its callback endpoint over [C-4]). The
//! simulator checks that a session's notifications go to one client process
//! only. (One `notify` call may reach several sessions of a user — the old
//! one of a crashed process and the new one — and each session gets and
//! hands over its own copy.)
//!
//! # Invariants checked as the simulation runs
//!
//! - per session, seqs are accepted as 1, 2, 3, ... [B-2] and handed to the
//!   client application exactly once each, in order [B-3], with the payload
//!   accepted for them;
//! - `Delivered` ranges continue each other, never exceed what the client
//!   acknowledged or what its application was handed; `Undelivered` lists
//!   exactly the unacknowledged seqs [C-10];
//! - `notify` refuses a session only when its queue is full [B-6]; no queue
//!   exceeds its limit and no path more than its window in flight [B-4];
//!   no direction of a connection buffers without bound; a client holds no
//!   more connections than its limits allow;
//! - the adapter contract: every `Transmit` is whole frames, no output for a
//!   connection that was closed (by the core, or by a `Closed` input), no
//!   dial to an address other than a client host [C-1], and the server's
//!   connection count equals the connections its outputs and inputs left open
//!   (none forgotten without `Close`);
//! - `handle_timeout(now)` moves every deadline past `now`; no panic;
//! - at the end: nothing is left on the server — no session, no connection.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
mod faults;
mod ledger;
mod net;
mod rng;
mod route;
mod scenario;
mod tls;
mod wiretap;
mod world;

pub use ledger::{SessionKey, Tally};
pub use net::{NodeId, SERVER_ADDR, host_ip};
pub use rng::SimRng;
pub use scenario::{
    Action, ClientSpec, Firewall, HostSpec, Machine, Recipient, Scenario, Squatter, Step,
};
pub use world::{Report, Sim, SimConfig, Violation};

#[cfg(doc)]
use faxnotify_core::client::Event;
#[cfg(doc)]
use faxnotify_core::server::Accepted;
