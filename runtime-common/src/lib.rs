//! # faxnotify-runtime
//!
//! The socket code every runtime adapter of faxnotify needs and none of
//! them should copy: how a listener is bound ([`bind_listener`]), which
//! local address the client's callback listener uses ([`fill_local_ip`]),
//! and, for the test hooks, how a suspended listener keeps its port
//! (`PortHold`, with the `test-hooks` feature); and the requests an
//! application sends a running client or server ([`ServerRequest`],
//! [`ClientRequest`]), generic over the runtime's reply channel, with their
//! errors ([`Closed`] when the loop has ended).
//!
//! The runtimes (`faxnotify-mio`, `faxnotify-smol`) wrap the standard
//! library sockets this crate returns in their own types. Dependencies
//! point one way: runtimes → this crate → `faxnotify-core`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

mod errors;
mod listener;
#[cfg(all(unix, feature = "test-hooks"))]
mod port_hold;
mod request;
mod route;

pub use errors::{
    ChangeSettingsError, Closed, EndSessionError, LogoutError, NotifyError, SetTlsIdentityError,
};
pub use listener::{bind_listener, is_transient_accept_error};
#[cfg(all(unix, feature = "test-hooks"))]
pub use port_hold::PortHold;
pub use request::{ClientRequest, Replies, ServerRequest};
pub use route::{fill_local_ip, route_local_ip};

// Cluster mode's requests [D-17], apart from the ones every server answers.
mod cluster_request;
pub use cluster_request::ClusterRequest;
