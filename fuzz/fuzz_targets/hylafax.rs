#![no_main]
// hfaxd's event stream and queue listings, in arbitrary chunks, with
// connects and disconnects: see faxnotify_hylafax::fuzzing::bridge.
libfuzzer_sys::fuzz_target!(|data: &[u8]| faxnotify_hylafax::fuzzing::bridge(data));
