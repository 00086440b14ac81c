//! The suite's protocol engine: connections with deadlines, listeners,
//! hand-crafted frames, the client under test as a process, and the
//! sessions the suite holds with a server under test.

pub mod conn;
pub mod listener;
pub mod log;
pub mod process;
pub mod raw;
pub mod rng;
pub mod session;
