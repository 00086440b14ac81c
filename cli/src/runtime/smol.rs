//! The commands' runtime interface on `faxnotify-smol`.
//!
//! faxnotify-smol is still being finished on its branch; until it lands on
//! main, choosing it says so.

use std::net::SocketAddr;

use faxnotify_core::client::ClientConfig;
use faxnotify_core::server::{ServerConfig, UserStore};

use super::{ClientRunner, ClientStartError, ServerRunner, ServerStartError};

const NOT_YET: &str = "the smol runtime is not available in this build yet: use --runtime mio";

pub(super) fn start_server(
    _listen: SocketAddr,
    _config: ServerConfig,
    _users: impl UserStore + Send + 'static,
) -> Result<Box<dyn ServerRunner>, ServerStartError> {
    Err(ServerStartError::Other(NOT_YET.to_owned()))
}

pub(super) fn start_client(
    _config: ClientConfig,
) -> Result<Box<dyn ClientRunner>, ClientStartError> {
    Err(ClientStartError::Other(NOT_YET.to_owned()))
}
