//! The admin socket: how a fax engine and an administrator talk to a
//! running `faxnotify server` (notify, list sessions, end a session).

pub mod client;
pub mod cluster;
pub mod delivery;
pub mod path;
pub mod peer;
pub mod protocol;
pub mod server;
