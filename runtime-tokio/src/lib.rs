//! # faxnotify-tokio
//!
//! An async FNP/1 [`Server`] and [`Client`] on [tokio](https://docs.rs/tokio):
//! faxnotify-async's driver, connections and handles, written once for any
//! runtime, on `tokio::net` and `tokio::time`. The tasks (a driver per
//! instance, one per connection) are spawned on the
//! caller's runtime through a [`tokio::runtime::Handle`]; this crate starts
//! no thread of its own. A tokio application embeds a server or a client
//! with `#[tokio::main]` and nothing else. Backpressure, sockets and
//! logging are as described in [faxnotify-async](faxnotify_async#backpressure).
//!
//! ```text
//! Server::bind(addr, config, users).await -> (Server, ServerEvents)
//!     server.notify(target, notification).await, sessions(), end_session(), shutdown()
//! Server::bind_with_handler(addr, config, users, options, handler).await
//!     handler(event, notifier) on the driver task, which may notifier.post(..)
//!     (see faxnotify-async, "A handler on the driver task")
//! Client::start(config).await -> Client
//!     client.next_event().await (next_events(&mut vec, limit): a batch), logout(), state(), change_settings()
//! ```
//!
//! The runtime needs I/O and time enabled (`#[tokio::main]` and
//! `#[tokio::test]` do that); either flavour works.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]

mod runtime;

pub use faxnotify_async::{
    ChangeSettingsError, ClientStartError, Closed, EndSessionError, LogoutError, LoopNotifier,
    NotificationEncoder, NotifyError, OptionsError, PostError, PostReport, ServerEvents,
    ServerHandler, ServerStartError, ServerStats, SetTlsIdentityError,
};
pub use runtime::TaskRunner;

/// The core this runtime drives (its configs, events and notifications),
/// re-exported for convenience, as `faxnotify_mio::core` is.
pub use faxnotify_core as core;

/// A running FNP/1 server on tokio ([`faxnotify_async::Server`]).
///
/// # Example
///
/// ```
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
/// use faxnotify_core::wire::{Notification, Role, ServerMessage};
/// use faxnotify_tokio::Server;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut users = MemoryUserStore::new();
/// users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)?;
/// let config = ServerConfig::new([1; 32]); // persist a random secret in production
/// let (server, events) = Server::bind("127.0.0.1:0".parse()?, config, users).await?;
/// println!("listening on {}", server.local_addr());
///
/// // Notify everyone logged in (nobody yet).
/// let text = "hello".to_owned();
/// let report = server
///     .notify(Target::All, Notification::ServerMessage(ServerMessage { text: text.into() }))
///     .await?;
/// assert!(report.accepted.is_empty());
///
/// server.shutdown().await;
/// assert!(events.next().await.is_none()); // the event stream ends with the server
/// # Ok(())
/// # }
/// ```
pub type Server = faxnotify_async::Server<TaskRunner>;

/// A running FNP/1 client on tokio ([`faxnotify_async::Client`]).
///
/// # Example
///
/// ```
/// use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
/// use faxnotify_core::wire::{Notification, Role, ServerMessage};
/// use faxnotify_tokio::{Client, Server};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut users = MemoryUserStore::new();
/// users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)?;
/// let (server, _events) =
///     Server::bind("127.0.0.1:0".parse()?, ServerConfig::new([1; 32]), users).await?;
///
/// let settings = NetworkSettings::new(ListenPolicy::Dynamic);
/// let config = ClientConfig::new(server.local_addr(), "alice", "correct horse", settings);
/// let client = Client::start(config).await?;
/// println!("callbacks on {}", client.listen_addr());
///
/// // Wait until the server can reach the callback port, then notify.
/// while let Some(event) = client.next_event().await {
///     if let Event::CallbackEstablished { .. } = event {
///         break;
///     }
/// }
/// let text = "toner low".to_owned();
/// server.notify(Target::All, Notification::ServerMessage(ServerMessage { text: text.into() })).await?;
/// loop {
///     match client.next_event().await {
///         Some(Event::Notification { seq, .. }) => break assert_eq!(seq, 1),
///         Some(_) => {}
///         None => panic!("the client stopped"),
///     }
/// }
///
/// client.logout().await?;
/// while let Some(event) = client.next_event().await {
///     if let Event::LoggedOut { confirmed } = event {
///         assert!(confirmed);
///     }
/// }
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub type Client = faxnotify_async::Client<TaskRunner>;

/// Runtime options: the seed, the I/O bounds, and which tokio runtime the
/// tasks run on ([`faxnotify_async::Options`]).
///
/// ```
/// use std::time::Duration;
/// use faxnotify_tokio::Options;
///
/// let mut options = Options::default();
/// options.seed = Some([7; 32]); // reproducible nonces, for tests only
/// options.close_timeout = Duration::from_secs(1);
/// assert!(options.validate().is_ok());
/// ```
pub type Options = faxnotify_async::Options<TaskRunner>;
