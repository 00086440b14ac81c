#![no_main]
// Arbitrary bytes in arbitrary chunks: see faxnotify_core::fuzzing::decode.
libfuzzer_sys::fuzz_target!(|data: &[u8]| faxnotify_core::fuzzing::decode(data));
