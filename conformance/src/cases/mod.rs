//! The cases, by the side under test and then by section.

pub(crate) mod client;
pub(crate) mod server;
