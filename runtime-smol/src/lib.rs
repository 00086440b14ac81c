//! faxnotify-smol: an async FNP/1 client and server on smol (async-io).
//!
//! Not yet implemented; see issue 6.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used)]
