#![no_main]
// The fuzzer plays the clients around one server over TLS: see faxnotify_core::fuzzing::server_tls.
libfuzzer_sys::fuzz_target!(|data: &[u8]| faxnotify_core::fuzzing::server_tls(data));
