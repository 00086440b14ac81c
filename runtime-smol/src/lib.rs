//! # faxnotify-smol
//!
//! An async FNP/1 [`Server`] and [`Client`] on
//! [async-io](https://docs.rs/async-io), the reactor under smol. The driver,
//! the connections and the handles are faxnotify-async's, written once for
//! any runtime; this crate is their [`Runtime`](faxnotify_async::Runtime) on
//! async-io and names them for it. Backpressure, sockets and logging are
//! described in [faxnotify-async](faxnotify_async#backpressure).
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
//! # Which executor runs it
//!
//! Each server and each client has a *driver* task that owns its core and
//! runs the core's loop (drain outputs, arm an [`async_io::Timer`] at
//! `poll_timeout`, wait for a socket message, an application command or the
//! timer), plus one task per connection. Where those
//! tasks run is the [`TaskRunner`] in [`Options::runner`](faxnotify_async::Options::runner):
//!
//! - [`TaskRunner::DedicatedThread`] (the default): a thread per instance
//!   runs an executor of its own. Nothing is spawned on any global
//!   executor, so the API works unchanged under smol, under
//!   `async_std::task::block_on` (this crate's tests check it), under
//!   `futures_lite::future::block_on`, or any other executor.
//! - [`TaskRunner::Executor`]: the tasks go to an
//!   [`async_executor::Executor`] (`smol::Executor`) the caller owns and runs.
//!
//! Either way the futures the API returns only wait on channels, so they
//! can be awaited from anywhere. async-std is discontinued; this crate does
//! not depend on it (it is a dev-dependency for that one test).
//!
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

/// The executor type [`TaskRunner::Executor`] takes (the same as `smol::Executor`).
pub use async_executor::Executor;

/// A running FNP/1 server on async-io ([`faxnotify_async::Server`]).
///
/// # Example
///
/// ```
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
/// use faxnotify_core::wire::{Notification, Role, ServerMessage};
/// use faxnotify_smol::Server;
///
/// # futures_lite::future::block_on(async {
/// let mut users = MemoryUserStore::new();
/// users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)?;
/// let config = ServerConfig::new([1; 32]); // persist a random secret in production
/// let (server, mut events) = Server::bind("127.0.0.1:0".parse()?, config, users).await?;
/// println!("listening on {}", server.local_addr());
///
/// // Notify everyone logged in (nobody yet).
/// let report = server
///     .notify(Target::All, Notification::ServerMessage(ServerMessage { text: "hello".into() }))
///     .await?;
/// assert!(report.accepted.is_empty());
///
/// server.shutdown().await;
/// assert!(events.next().await.is_none()); // the event stream ends with the server
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type Server = faxnotify_async::Server<TaskRunner>;

/// A running FNP/1 client on async-io ([`faxnotify_async::Client`]).
///
/// # Example
///
/// ```
/// use faxnotify_core::client::{ClientConfig, Event, ListenPolicy, NetworkSettings};
/// use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
/// use faxnotify_core::wire::{Notification, Role, ServerMessage};
/// use faxnotify_smol::{Client, Server};
///
/// # futures_lite::future::block_on(async {
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
/// // Wait until the server can reach the callback port.
/// while let Some(event) = client.next_event().await {
///     if let Event::CallbackEstablished { .. } = event {
///         break;
///     }
/// }
/// let text = "toner low".to_owned();
/// server.notify(Target::All, Notification::ServerMessage(ServerMessage { text: text.into() })).await?;
/// loop {
///     match client.next_event().await {
///         Some(Event::Notification { seq, notification }) => {
///             assert_eq!(seq, 1);
///             println!("{notification:?}");
///             break;
///         }
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type Client = faxnotify_async::Client<TaskRunner>;

/// Runtime options: the seed, the I/O bounds, and where the tasks run
/// ([`faxnotify_async::Options`]).
///
/// ```
/// use std::time::Duration;
/// use faxnotify_smol::Options;
///
/// let mut options = Options::default();
/// options.seed = Some([7; 32]); // reproducible nonces, for tests only
/// options.close_timeout = Duration::from_secs(1);
/// assert!(options.validate().is_ok());
/// ```
pub type Options = faxnotify_async::Options<TaskRunner>;
