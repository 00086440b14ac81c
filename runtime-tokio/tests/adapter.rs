//! The checks every faxnotify-async adapter passes (faxnotify-async's
//! `adapter_tests`), on a multi-threaded tokio runtime of two workers per
//! test, the runtime the instances' tasks are spawned on. `flavours.rs`
//! checks what only this adapter has.

mod harness;

use harness::MultiThread;

faxnotify_async::adapter_tests!(MultiThread);
