#![no_main]
// The fuzzer plays the clients around one server: see faxnotify_core::fuzzing::server.
libfuzzer_sys::fuzz_target!(|data: &[u8]| faxnotify_core::fuzzing::server(data));
