//! Fuzz target `rules`: see `authgate::fuzzing::fuzz_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::fuzzing::fuzz_rules(data));
