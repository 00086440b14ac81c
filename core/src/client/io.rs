//! The client's inputs and outputs: the shared vocabulary of [`crate::io`]
//! with the client's [`Event`].

use super::events::Event;

/// Something that happened on the network, reported by the adapter with
/// [`Client::handle_input`](super::Client::handle_input); see
/// [`crate::io::Input`].
pub use crate::io::Input;

/// Something the adapter must do, taken from
/// [`Client::poll_output`](super::Client::poll_output); see
/// [`crate::io::Output`]. Written [`Output::Transmit`] buffers go back with
/// [`Client::recycle`](super::Client::recycle).
pub type Output = crate::io::Output<Event>;
