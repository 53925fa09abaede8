//! Fuzz target `credential`: see `authgate::fuzzing::fuzz_credential`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::fuzzing::fuzz_credential(data));
