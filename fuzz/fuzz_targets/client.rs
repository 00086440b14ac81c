#![no_main]
// The fuzzer plays the server around one client: see faxnotify_core::fuzzing::client.
libfuzzer_sys::fuzz_target!(|data: &[u8]| faxnotify_core::fuzzing::client(data));
