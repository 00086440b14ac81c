//! Test adapters that run faxnotify's sans-IO cores over real sockets for
//! the conformance suite, optionally with an injected fault (the mutants).
//! Each test binary uses a different part.
#![allow(dead_code)]

pub mod amnesiac;
pub mod client_process;
pub mod server_loop;
pub mod sockets;
pub mod tls;
