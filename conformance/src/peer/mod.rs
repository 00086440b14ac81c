//! The suite's protocol engine: connections with deadlines, listeners,
//! hand-crafted frames, the client under test as a process, the sessions
//! the suite holds with a server under test, and the suite's own TLS.

pub mod conn;
pub mod group;
pub mod listener;
pub mod log;
pub mod pki;
pub mod process;
pub mod raw;
pub mod rng;
pub mod session;
pub(crate) mod stream;
pub mod tls;
