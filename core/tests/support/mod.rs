//! Helpers shared by the integration tests of faxnotify-core.
pub mod examples;
pub mod transcript;
