//! The server's open files: the soft limit raised to the hard one at start
//! (the usual soft limit, 1 024, is far below what a server of thousands of
//! sessions needs), and the connections that have not logged in yet held
//! to a share of it. [D-15]'s global bound on those connections is what
//! makes room for others during a flood; a flood that reached the
//! descriptor limit first would leave the server able to accept nobody.

use faxnotify_core::server::ServerConfig;

/// One in this many descriptors may hold a connection that has not logged
/// in: the rest is for sessions (a control and a callback connection
/// each), dials and the server's own files.
const UNAUTHENTICATED_SHARE: u64 = 4;

/// Raises the limit and fits `config.max_unauthenticated` to it.
pub fn fit_to_descriptor_limit(config: &mut ServerConfig) {
    let limit = faxnotify_loadgen::sys::raise_fd_limit();
    let most = usize::try_from(limit / UNAUTHENTICATED_SHARE)
        .unwrap_or(usize::MAX)
        .max(1);
    if config.max_unauthenticated > most {
        tracing::info!(
            "this process may open {limit} files (`ulimit -n`, or LimitNOFILE= under systemd): \
             at most {most} connections that have not logged in yet at once, not {}; raise the \
             limit for more",
            config.max_unauthenticated
        );
        config.max_unauthenticated = most;
    }
}
