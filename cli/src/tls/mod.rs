//! TLS files and trust for the commands: the server's certificate and key
//! (loaded, checked, within their dates, reloaded when they change), and the client's trust
//! settings turned into what the core takes.

pub mod dates;
pub mod ephemeral;
pub mod files;
pub mod trust;
