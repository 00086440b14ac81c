//! Encoding notifications on the application's thread, with one
//! [`NotificationEncoder`] (the core's: small payloads inline, larger ones
//! into its arena) per thread.

use std::cell::RefCell;

pub use faxnotify_core::wire::NotificationEncoder;
use faxnotify_core::wire::{EncodeError, EncodedNotification, Notification};

thread_local! {
    /// The arena of `notify` calls made on this thread.
    static ENCODER: RefCell<NotificationEncoder> = RefCell::new(NotificationEncoder::new());
}

/// Encodes `notification` into the calling thread's arena (a
/// [`NotificationEncoder`] of its own): what the runtimes' `notify` and
/// `notify_batch` do on the application's thread before they hand the
/// notification to the event loop.
pub fn encode_on_this_thread(
    notification: &Notification,
) -> Result<EncodedNotification, EncodeError> {
    ENCODER.with(|encoder| encoder.borrow_mut().encode(notification))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_threads_arena_encodes_what_the_core_encodes() {
        for i in 0..600 {
            let n = Notification::server_message(format!("message {i}"));
            let encoded = encode_on_this_thread(&n).expect("encode");
            assert_eq!(encoded.decode(), n);
        }
    }
}
