#![no_main]
// What arrives from the NATS bus in cluster mode — log messages, sealed
// session records, reports: see faxnotify_cluster::fuzzing::bus.
libfuzzer_sys::fuzz_target!(|data: &[u8]| faxnotify_cluster::fuzzing::bus(data));
