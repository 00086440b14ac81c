//! # faxnotify-runtime
//!
//! The socket code every runtime adapter of faxnotify needs and none of
//! them should copy: how a listener is bound ([`bind_listener`]), which
//! local address the client's callback listener uses ([`fill_local_ip`]),
//! and, for the test hooks, how a suspended listener keeps its port
//! (`PortHold`, with the `test-hooks` feature); and the requests an
//! application sends a running client or server ([`ServerRequest`],
//! [`ClientRequest`]), generic over the runtime's reply channel, with their
//! errors ([`Closed`] when the loop has ended); and fire-and-forget
//! notifications: encoded on the application's thread
//! ([`NotificationEncoder`]), posted into a bounded [`PostInbox`] that the
//! loop empties once per turn, with one wake-up per turn ([`WakeGate`]) and
//! an aggregated [`PostReport`]; and an application handler the server
//! loop calls on its own thread with each event ([`ServerHandler`]), which
//! may notify right there ([`LoopNotifier`]) without a thread hand-off.
//!
//! The runtimes (`faxnotify-mio`, `faxnotify-smol`) wrap the standard
//! library sockets this crate returns in their own types. Dependencies
//! point one way: runtimes → this crate → `faxnotify-core`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

mod encoder;
mod errors;
mod handler;
mod listener;
#[cfg(all(unix, feature = "test-hooks"))]
mod port_hold;
#[cfg(feature = "test-hooks")]
pub mod port_range;
mod post;
mod request;
mod route;

pub use encoder::{NotificationEncoder, encode_on_this_thread};
pub use errors::{
    ChangeSettingsError, Closed, EndSessionError, LogoutError, NotifyError, SetTlsIdentityError,
};
pub use handler::{LoopNotifier, ServerHandler};
pub use listener::{bind_listener, is_transient_accept_error};
#[cfg(all(unix, feature = "test-hooks"))]
pub use port_hold::PortHold;
pub use post::{LISTED_REFUSALS, PostError, PostInbox, PostReport, WakeGate};
pub use request::{ClientRequest, EncodedBatch, Replies, ServerRequest};
pub use route::{fill_local_ip, no_listener_addr, route_local_ip};

// Cluster mode's requests [D-17], apart from the ones every server answers.
mod cluster_request;
pub use cluster_request::ClusterRequest;
