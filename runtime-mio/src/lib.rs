//! faxnotify-mio: runs the FNP/1 client and server cores on a mio event loop.
//!
//! Not yet implemented; see issue 5.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]
