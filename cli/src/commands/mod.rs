//! One module per subcommand.

pub mod client;
pub mod conformance;
pub mod demo;
pub mod hylafax;
pub mod notify;
pub mod server;
pub mod sessions;
pub mod settings;
pub mod tls;
pub mod user;
